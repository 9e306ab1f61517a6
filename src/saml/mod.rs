//! SAML 2.0 service provider: the IdP configuration an admin uploads (`metadata`) and the
//! validation of every response posted to the ACS (`sp`), and the SP endpoints (`routes`).
//! samael is used only inside this module.

mod acs;
pub mod attributes;
pub mod authn;
pub mod expiry;
pub mod metadata;
pub mod metadata_url;
mod routes;
pub mod slo;
mod slo_routes;
pub mod sp;
pub mod sp_keys;
#[doc(hidden)]
pub mod test_idp;

pub use acs::{sp_settings, start_signin};
pub use routes::{routes, sp_metadata};
pub use slo_routes::logout_redirect;

/// What the store keeps of a parsed IdP configuration (`source`: `metadata` or `manual`).
pub fn idp_record(
    idp: &metadata::IdpConfig,
    source: &str,
    updated: &str,
) -> crate::store::saml::IdpRecord {
    use crate::clock::timestamp;
    crate::store::saml::IdpRecord {
        entity_id: idp.entity_id.clone(),
        sso_url: idp.sso_url.clone(),
        slo_url: idp.slo_url.clone(),
        source: source.to_string(),
        updated: updated.to_string(),
        certificates: idp
            .certificates
            .iter()
            .map(|c| crate::store::saml::CertRecord {
                fingerprint: c.sha256_fingerprint.clone(),
                der: c.der.clone(),
                subject: c.subject.clone(),
                not_before: timestamp(c.not_before),
                not_after: timestamp(c.not_after),
            })
            .collect(),
    }
}
