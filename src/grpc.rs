//! The gRPC edge: request validation, the services, and the mapping of errors to statuses.
//! Protobuf types go no further than this module and `wire`.

mod admin;
mod catalog;
mod customer;
pub mod status;
pub mod validate;

pub use admin::CacheAdminApi;
pub use catalog::CatalogApi;
pub use customer::CustomerApi;
