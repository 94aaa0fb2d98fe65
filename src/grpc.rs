//! The gRPC edge: request validation, the services, protobuf conversions, and the mapping of
//! errors to statuses. Protobuf types go no further than this module.

mod catalog;
mod convert;
mod customer;
pub mod status;
pub mod validate;

pub use catalog::CatalogApi;
pub use customer::CustomerApi;
