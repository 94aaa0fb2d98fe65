//! The wire form: domain types to protobuf, and profiles pre-encoded section by section, as
//! the caches hold them and the edge serves them.

pub(crate) mod convert;
mod encoded;
mod raw;

pub use encoded::{DecodeError, EncodedProfile, Tier};
pub use raw::{WireBatch, WireProfile};
