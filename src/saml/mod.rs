//! SAML 2.0 service provider: the IdP configuration an admin uploads (`metadata`).
//! samael is used only inside this module.

pub mod metadata;
