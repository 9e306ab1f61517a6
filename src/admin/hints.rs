//! What to do about a failure in the logs: one sentence or two per sign-in reason code and
//! per SCIM error, naming the place in Entra (or in these pages) where the fix goes.

use crate::store::orgs::Org;

/// The fix for a refused sign-in with this reason code (None for an unknown code).
pub fn signin_hint(reason: &str, org: &Org, public_url: &str) -> Option<String> {
    let sp = crate::saml::sp_settings(public_url, org);
    let login = format!("{public_url}/saml/{}/login", org.slug);
    let metadata = "download the Federation Metadata XML again (Entra → Enterprise applications → \
                    the app → Single sign-on → SAML Certificates) and upload it in SSO setup";
    Some(match reason {
        "wrong_audience" => format!(
            "Entra's Identifier (Entity ID) must be exactly {} (Single sign-on → Basic SAML \
             Configuration).",
            sp.entity_id
        ),
        "wrong_recipient" | "wrong_destination" => format!(
            "Entra's Reply URL (Assertion Consumer Service URL) must be exactly {} (Single \
             sign-on → Basic SAML Configuration).",
            sp.acs_url
        ),
        "unknown_certificate" | "bad_signature" => format!(
            "The certificate is not in this org's metadata (Entra's signing certificate was \
             renewed or the app was recreated): {metadata}."
        ),
        "no_signature" => format!(
            "Entra sent an unsigned response: set Signing Option to \"Sign SAML response and \
             assertion\" (SAML Certificates → Edit), and if the app is new, {metadata}."
        ),
        "weak_algorithm" => "Entra signed with SHA-1: set its Signing Algorithm to SHA-256 \
                             (SAML Certificates → Edit)."
            .into(),
        "unsupported_signature" => "The signature uses an algorithm this server does not \
                                    support: set Entra's Signing Algorithm to SHA-256 \
                                    (SAML Certificates → Edit)."
            .into(),
        "expired" | "not_yet_valid" => format!(
            "The clocks differ: check this server's clock (NTP). The allowed difference is \
             {} seconds.",
            org.clock_skew_secs
        ),
        "wrong_issuer" => "The response came from another IdP or Entra tenant than this org's \
                           metadata names: the Issuer must be the IdP entity ID shown under \
                           Expected. If the app moved to another tenant, upload that tenant's \
                           Federation Metadata XML in SSO setup."
            .into(),
        "unsolicited" => format!(
            "The sign-in started in Entra (My Apps), not here: turn on IdP-initiated sign-in \
             in SSO setup, or start at the Sign on URL {login} (set it in Entra's Basic SAML \
             Configuration so My Apps starts there too)."
        ),
        "missing_in_response_to" => format!(
            "A sign-in was started here but the response does not say it answers it: the user \
             probably opened the app from My Apps meanwhile. Start again at the Sign on URL \
             {login}."
        ),
        "unexpected_in_response_to" => "The response answers a sign-in request that is \
                                        unknown here: the sign-in took longer than 10 minutes, \
                                        the page was reloaded or the response was replayed. \
                                        Start the sign-in again."
            .into(),
        "replayed_assertion" => "This assertion was already used once (the browser sent it \
                                 again, e.g. Back then resubmit, or someone replayed it): start \
                                 the sign-in again."
            .into(),
        "deactivated" => "The user is deactivated here (Entra sent active=false: the user was \
                          unassigned from the app or disabled): assign the user to the app in \
                          Entra (Users and groups) and wait for provisioning, or use Provision \
                          on demand."
            .into(),
        "not_provisioned" => "No such user here yet: assign the user to the app in Entra \
                              (Users and groups) and wait for provisioning (or use Provision on \
                              demand), or turn on just-in-time creation in SSO setup."
            .into(),
        "email_outside_domains" => "The email's domain is not one of this organization's \
                                    domains: if the domain belongs to this organization, add it \
                                    on the Overview page; otherwise the user belongs to another \
                                    organization."
            .into(),
        "no_email" => "The response carries no usable email: in Entra's Attributes & Claims, \
                       map emailaddress (or the Unique User Identifier) to user.mail or \
                       user.userprincipalname, and make sure the user has a mail address."
            .into(),
        "ambiguous_email" => "Several users here have this email and the response carries no \
                              objectidentifier that decides: give each user its own email, or \
                              delete the duplicates in Entra's provisioning."
            .into(),
        "test_would_create_user" => "A test sign-in creates nobody: no user matches this \
                                     account, and a real sign-in would create it just in time \
                                     (JIT is on). Provision it over SCIM to match instead."
            .into(),
        "linked_to_other_account" => "This user is already linked to another Entra account \
                                      (the tenant/object ID under Expected): the person was \
                                      recreated in Entra, or two Entra accounts share this \
                                      user's UPN or email. If the user was recreated, delete \
                                      the user here and let provisioning create it again (the \
                                      link goes with it)."
            .into(),
        "not_an_admin" => "Only users whose resolved role is admin may open these admin \
                           pages: assign the user the admin app role in Entra, or map its \
                           role to admin in the role mappings."
            .into(),
        "not_configured" => {
            format!("This organization has no IdP signing certificate yet: {metadata}.")
        }
        "status_not_success" => "Entra refused the sign-in itself (the user is not assigned to \
                                 the app, or needs MFA/consent): see the status under Received \
                                 and the sign-in logs in Entra."
            .into(),
        "malformed" | "not_base64" | "no_assertion" | "no_subject" => "The response is not a \
                 usable SAML response: make sure the Reply URL points at this org's ACS and \
                 that nothing between Entra and this server rewrites the form post."
            .into(),
        "too_large" => "The response is larger than this server accepts: usually too many \
                        group claims; emit groups assigned to the application only (Attributes \
                        & Claims → groups claim)."
            .into(),
        "multiple_assertions" => "The response carries more than one assertion, which is \
                                  refused because it is a way to smuggle one in: Entra sends \
                                  one, so look at what sits between Entra and this server."
            .into(),
        "encrypted_assertion" => "Entra encrypts the assertion but encrypted assertions are \
                                  off here: turn them on in SSO setup (SP certificates) and \
                                  upload that encryption certificate in Entra (Token \
                                  encryption), or turn off Token encryption in Entra."
            .into(),
        "not_encrypted" => "Encrypted assertions are on here but the assertion came \
                            unencrypted: in Entra, upload this org's encryption certificate \
                            (SSO setup → SP certificates) under Token encryption and activate \
                            it, or turn encrypted assertions off here."
            .into(),
        "decryption_failed" => "The assertion is encrypted for a certificate this org does \
                                not hold (any more): download the current encryption \
                                certificate from SSO setup (SP certificates), upload it in \
                                Entra under Token encryption and activate it."
            .into(),
        "unsupported_encryption" => "The assertion is encrypted with an algorithm this \
                                     server does not accept (AES-CBC or AES-GCM data, RSA-OAEP \
                                     key transport): Entra's defaults are accepted; check the \
                                     IdP's encryption settings."
            .into(),
        "doctype" => "The response contains a DOCTYPE, which Entra never sends: it was refused \
                      as an XML entity attack. Nothing to fix if you did not send it."
            .into(),
        "signature_wrapping" => "The signed part of the response is not the part that was \
                                 read (signature wrapping attack): refused; Entra never sends \
                                 this, so someone tampered with the response."
            .into(),
        "comment_injection" => "A signed value contains an XML comment (a way to change the \
                                email without breaking the signature): refused as an attack; \
                                Entra never sends this."
            .into(),
        "sso_only" => "The user's domain is SSO-only, so password sign-in is off: the user \
                       must use \"Sign in with your company (SSO)\"; or turn SSO-only off for \
                       the domain on the Overview page."
            .into(),
        "bad_password" => "The password was wrong. If the user forgot it, set a new local \
                           password, or have the user sign in with SSO."
            .into(),
        "no_local_account" => "The user has no local password here (or no user has this \
                               email): the user must sign in with SSO."
            .into(),
        "rate_limited" => "Too many failed password attempts from this address or for this \
                           email: sign-in is paused for a few minutes. Repeated cases may be \
                           password guessing; check the IP addresses."
            .into(),
        "internal" => "A problem on this server, not in Entra: look in the server log for this \
                       reference."
            .into(),
        _ => return None,
    })
}

/// The fix for a failed SCIM request (None for a success).
pub fn provisioning_hint(
    status: u16,
    scim_type: Option<&str>,
    path: &str,
    request_id: &str,
) -> Option<String> {
    let what = if path.contains("/Groups") {
        "group with that displayName or externalId"
    } else {
        "user with that userName or externalId"
    };
    Some(match (status, scim_type) {
        (401, _) => "The token in Entra (Provisioning → Admin Credentials → Secret Token) is \
                     wrong or was revoked: generate a new one in SCIM setup, paste it into \
                     Entra and click Test Connection."
            .into(),
        (403, _) => "SCIM or group sync is turned off for this organization: turn it on in \
                     SCIM setup."
            .into(),
        (404, _) => "The object Entra refers to is gone here (it was deleted here, or never \
                     arrived). Entra will recreate it on its next cycle; to hurry, use \
                     Provision on demand."
            .into(),
        (409, _) => format!(
            "A {what} already exists in this organization, and Entra does not know it is the \
             same one. Either let Entra match it (Attribute mappings → Matching precedence: \
             match on userName/externalId), or remove the existing one here (or in Entra) so \
             Entra can create it."
        ),
        (412, _) | (_, Some("invalidVers")) => "The object changed between Entra's read and \
                 its write (version mismatch): Entra retries on its next cycle; nothing to fix \
                 unless it keeps happening."
            .into(),
        (429, _) => "Entra sent more requests than this server accepts at once: Entra slows \
                     down and retries by itself."
            .into(),
        (400, Some(t)) => match t {
            "invalidFilter" => "Entra's query filter could not be read or names an attribute \
                                that cannot be filtered on: the Matching precedence attributes \
                                must be userName, externalId (users) or displayName (groups)."
                .into(),
            "invalidValue" => "An attribute is missing or has a value of the wrong form (see \
                               the detail): fix the attribute mapping in Entra for the \
                               attribute the detail names, or the source value on the user."
                .into(),
            "invalidSyntax" => "The request body is not valid SCIM JSON: usually a custom \
                                attribute mapping with a wrong name or type in Entra."
                .into(),
            "invalidPath" => "A PATCH names an attribute path this server does not know: check \
                              custom attribute mappings in Entra (the detail names the path)."
                .into(),
            "noTarget" => "A PATCH filter matched nothing (e.g. removing a member that is not \
                           a member): usually harmless; Entra catches up on its next cycle."
                .into(),
            "mutability" => "The request tries to change a read-only attribute (like id or \
                             meta): remove that attribute from Entra's attribute mappings."
                .into(),
            "tooMany" => "The query would return too many results: Entra pages by itself; \
                          if it repeats, check the Matching precedence attributes."
                .into(),
            "sensitive" => "The request put sensitive data in the URL: refused. Check custom \
                            attribute mappings in Entra."
                .into(),
            "uniqueness" => format!("A {what} already exists: see 409 above."),
            _ => return None,
        },
        (400, None) => "The request was refused as invalid: the detail says what was wrong; \
                        fix the attribute mapping in Entra it names."
            .into(),
        (500..=599, _) => format!(
            "A problem on this server, not in Entra: check the server log for the request id \
             {request_id}. Entra retries failed requests."
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Org {
        Org {
            id: 1,
            slug: "acme".into(),
            name: "Acme".into(),
            scim_enabled: true,
            group_sync: true,
            strict_attributes: false,
            role_attribute: "roles".into(),
            default_role: None,
            required_attrs: Vec::new(),
            created: String::new(),
            idp_initiated: false,
            jit: false,
            clock_skew_secs: 120,
        }
    }

    /// Every reason code the sign-in code writes, as listed by hand.
    const CODES: &[&str] = &[
        // saml::sp::FailureCode::as_str
        "malformed",
        "doctype",
        "not_base64",
        "too_large",
        "multiple_assertions",
        "encrypted_assertion",
        "no_assertion",
        "status_not_success",
        "no_signature",
        "bad_signature",
        "unknown_certificate",
        "weak_algorithm",
        "unsupported_signature",
        "signature_wrapping",
        "comment_injection",
        "wrong_issuer",
        "wrong_audience",
        "wrong_recipient",
        "wrong_destination",
        "expired",
        "not_yet_valid",
        "missing_in_response_to",
        "unexpected_in_response_to",
        "unsolicited",
        "no_subject",
        "not_configured",
        "not_encrypted",
        "decryption_failed",
        "unsupported_encryption",
        // saml::acs, signin, web::login
        "no_email",
        "email_outside_domains",
        "not_an_admin",
        "internal",
        "replayed_assertion",
        "ambiguous_email",
        "not_provisioned",
        "deactivated",
        "sso_only",
        "rate_limited",
        "bad_password",
        "no_local_account",
        // OIDC sign-in (signin::complete)
        "linked_to_other_account",
        "test_would_create_user",
    ];

    #[test]
    fn every_listed_reason_has_a_hint() {
        for code in CODES {
            let hint = signin_hint(code, &org(), "https://login.example.com");
            assert!(hint.as_deref().is_some_and(|h| h.len() > 20), "{code}");
        }
        assert_eq!(signin_hint("nonsense", &org(), "https://x"), None);
    }

    /// The string literals after `marker` in `src`, up to the next `"`.
    fn literals_after<'a>(src: &'a str, marker: &str) -> Vec<&'a str> {
        src.split(marker)
            .skip(1)
            .filter_map(|rest| {
                let rest = rest.trim_start().strip_prefix('"')?;
                rest.split('"').next()
            })
            .collect()
    }

    /// The codes in the source: a new one without a hint fails here.
    #[test]
    fn every_reason_in_the_source_has_a_hint() {
        let sp = include_str!("../saml/sp.rs");
        let start = sp.find("impl FailureCode {").expect("FailureCode::as_str");
        let end = start + sp[start..].find("impl fmt::Display").expect("its end");
        let mut found = literals_after(&sp[start..end], "=>");
        for src in [
            include_str!("../saml/acs.rs"),
            include_str!("../signin/mod.rs"),
            include_str!("../web/login.rs"),
        ] {
            found.extend(literals_after(src, "Refused::new("));
        }
        assert!(found.len() > 30, "{found:?}");
        for code in found {
            assert!(CODES.contains(&code), "{code} is not in CODES");
        }
    }

    #[test]
    fn hints_name_the_exact_values() {
        let o = org();
        let audience = signin_hint("wrong_audience", &o, "https://login.example.com").unwrap();
        assert!(audience.contains("exactly https://login.example.com/saml/acme "));
        for code in ["wrong_recipient", "wrong_destination"] {
            let h = signin_hint(code, &o, "https://login.example.com").unwrap();
            assert!(h.contains("https://login.example.com/saml/acme/acs"), "{h}");
        }
        assert!(signin_hint("expired", &o, "x").unwrap().contains("NTP"));
    }

    #[test]
    fn provisioning_hints() {
        let h = |s, t| provisioning_hint(s, t, "/scim/v2/Users", "req-1");
        assert!(h(401, None).unwrap().contains("Secret Token"));
        assert!(h(403, None).unwrap().contains("turned off"));
        assert!(h(404, None).unwrap().contains("recreate"));
        assert!(
            h(409, Some("uniqueness"))
                .unwrap()
                .contains("user with that userName")
        );
        assert!(
            provisioning_hint(409, Some("uniqueness"), "/scim/v2/Groups", "r")
                .unwrap()
                .contains("group with that displayName")
        );
        for t in [
            "invalidFilter",
            "invalidValue",
            "invalidSyntax",
            "invalidPath",
            "noTarget",
            "mutability",
            "tooMany",
            "sensitive",
            "invalidVers",
        ] {
            assert!(h(400, Some(t)).is_some(), "{t}");
        }
        assert!(h(500, None).unwrap().contains("req-1"));
        assert_eq!(h(200, None), None);
        assert_eq!(h(201, None), None);
    }
}
