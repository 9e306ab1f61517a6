// idgate patch: upstream's warnings are not ours to fix here (see IDGATE-PATCH.md).
#![allow(warnings)]
pub mod attribute;
pub mod crypto;
pub mod idp;
pub mod key_info;
pub mod metadata;
pub mod schema;
pub mod service_provider;
pub mod signature;

pub mod traits;

#[macro_use]
extern crate derive_builder;
