//! SAML 2.0 service provider: the IdP configuration an admin uploads (`metadata`) and the
//! validation of every response posted to the ACS (`sp`).
//! samael is used only inside this module.

pub mod metadata;
pub mod sp;
