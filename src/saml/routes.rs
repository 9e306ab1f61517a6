//! The SAML endpoints of each org: `GET /saml/{org}/metadata` (the SP metadata an admin
//! downloads into Entra's "Basic SAML Configuration"), `/login` and `/acs` (in `acs`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::acs;
use crate::state::AppState;
use crate::store::orgs;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/saml/{org}/metadata", web::get().to(metadata))
        .route("/saml/{org}/login", web::get().to(acs::login))
        .route("/saml/{org}/acs", web::post().to(acs::acs))
        .route("/saml/{org}/slo", web::get().to(super::slo_routes::slo));
}

/// Escapes text for an XML attribute value or element content.
fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// SAML 2.0 SP metadata: entity ID `{public_url}/saml/{org}`, one HTTP-POST ACS, the NameID
/// formats Entra sends, signed assertions wanted; with the org's live SP certificates
/// (`keys`: signed AuthnRequests and encrypted assertions, when on).
pub fn sp_metadata(public_url: &str, slug: &str, keys: &super::sp_keys::Published) -> String {
    let signed = keys.sign_requests;
    let key_descriptors = keys.key_descriptors();
    let entity = xml_escape(&format!("{public_url}/saml/{slug}"));
    let acs = xml_escape(&format!("{public_url}/saml/{slug}/acs"));
    let slo = xml_escape(&super::slo_routes::slo_url(public_url, slug));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
{key_descriptors}    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{slo}"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#
    )
}

async fn metadata(state: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    let slug = slug.into_inner();
    let lookup = slug.clone();
    let now = crate::clock::timestamp(state.clock.now());
    match state
        .store
        .read(move |c| {
            let Some(org) = orgs::org_by_slug(c, &lookup)? else {
                return Ok(None);
            };
            let keys = super::sp_keys::published(c, org.id, &now)?;
            Ok(Some((org, keys)))
        })
        .await
    {
        Ok(Some((org, keys))) => HttpResponse::Ok()
            .content_type("application/samlmetadata+xml")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment; filename=\"idgate-{}-sp-metadata.xml\"",
                    org.slug
                ),
            ))
            .body(sp_metadata(&state.config.public_url, &org.slug, &keys)),
        Ok(None) => page(StatusCode::NOT_FOUND, "No such organization."),
        Err(e) => {
            tracing::error!(error = %e, "SP metadata: store read failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            )
        }
    }
}

/// A short, readable page for the browser.
fn page(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><meta charset=\"utf-8\"><title>idgate</title><p>{}</p>",
            xml_escape(message)
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_well_formed_and_escaped() {
        let none = crate::saml::sp_keys::Published::default();
        let xml = sp_metadata("https://login.example.com", "acme", &none);
        assert!(xml.contains(r#"entityID="https://login.example.com/saml/acme""#));
        assert!(xml.contains(r#"Location="https://login.example.com/saml/acme/acs""#));
        assert!(xml.contains(r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://login.example.com/saml/acme/slo"/>"#));
        // Our own metadata parser recognises it as SP metadata, not an IdP's.
        let err =
            crate::saml::metadata::parse_metadata(xml.as_bytes(), time::OffsetDateTime::now_utc())
                .unwrap_err();
        assert!(
            matches!(err, crate::saml::metadata::MetadataError::SpMetadata),
            "{err}"
        );
        assert!(sp_metadata("https://a.example/x\"<", "s", &none).contains("x&quot;&lt;/saml/s"));
    }
}
