//! SAML 2.0 service provider: the IdP configuration an admin uploads (`metadata`) and the
//! validation of every response posted to the ACS (`sp`), and the SP endpoints (`routes`).
//! samael is used only inside this module.

mod acs;
pub mod authn;
pub mod metadata;
mod routes;
pub mod sp;
#[doc(hidden)]
pub mod test_idp;

pub use acs::{sp_settings, start_signin};
pub use routes::{routes, sp_metadata};
