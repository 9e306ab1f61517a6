//! The SCIM directory's domain: schemas, the filter/path grammar, resource documents and the
//! PATCH engine. Pure functions over `serde_json::Value`; no I/O, no HTTP, no SQL.

pub mod filter;
pub mod patch;
pub mod product;
pub mod resource;
pub mod schema;

/// The case folding used wherever SCIM compares case-insensitively (caseExact = false):
/// stored key columns, filter parameters and uniqueness checks all go through this one
/// function so that they agree.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}
