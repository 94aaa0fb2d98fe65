//! The core: the request path of a profile read and everything beneath it, edge-independent.
//! The `# Layout` map of `lib.rs` says what each module does and in which order they depend.

pub mod attention;
pub mod cache;
pub mod convert;
pub mod db;
pub mod entry;
pub mod fanout;
pub mod histogram;
pub mod logs;
pub mod offers;
pub mod profile;
pub mod queries;
pub mod read;
pub mod records;
pub mod reference;
pub mod search;
pub mod settings;
pub mod sources;
pub mod text;
pub mod vocab;
