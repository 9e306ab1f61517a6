//! The bodies of the coverage-guided fuzz targets (`fuzz/`, `make fuzz`): one function per
//! target, taking the fuzzer's bytes. They live in the library so that `make test` replays
//! every committed seed and every crash ever found (`fuzz/corpus/`, `fuzz/regressions/`)
//! through exactly the code the fuzzer ran, on the stable toolchain. Each function checks
//! what must hold besides "no panic".

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use crate::directory::resource::{Mode, UnknownAttrs, canonicalize};
use crate::directory::schema::ResourceKind;
use crate::directory::{filter, patch};
use crate::saml::{metadata, sp, test_idp};
use crate::scim::render;
use crate::store::db::Dialect;
use crate::store::filter_sql;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name `cargo fuzz` knows them by.
pub const TARGETS: &[(&str, Target)] = &[
    ("scim_filter", scim_filter),
    ("scim_patch", scim_patch),
    ("scim_projection", scim_projection),
    ("saml_metadata", saml_metadata),
    ("saml_response", saml_response),
];

/// The clock every target runs at: the test IdP's responses are issued then.
pub const NOW: OffsetDateTime = datetime!(2026-03-01 10:00:30 UTC);

/// A splitmix64 generator for the seeded random tests: the same run for the same seed,
/// without a dependency.
pub struct SplitMix(pub u64);

impl SplitMix {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The filter grammar (`filter=`), the PATCH path grammar, and the SQL built from a filter
/// that parsed, for both resource types.
pub fn scim_filter(data: &[u8]) {
    let Some(input) = text(data) else { return };
    if let Ok(f) = filter::parse_filter(input) {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            for d in [Dialect::Sqlite, Dialect::Postgres] {
                if let Ok(sql) = filter_sql::filter_to_sql(d, kind, &f, 3) {
                    assert!(!sql.sql.is_empty(), "empty SQL for {input:?}");
                }
            }
        }
    }
    let _ = filter::parse_patch_path(input);
}

fn modes() -> [Mode; 2] {
    [
        Mode::default(),
        Mode {
            unknown: UnknownAttrs::Reject,
            extra_allowed: vec!["roleName".into()],
        },
    ]
}

/// A stored user and group, as canonicalisation leaves them.
fn documents() -> &'static [(ResourceKind, Value); 2] {
    static DOCS: OnceLock<[(ResourceKind, Value); 2]> = OnceLock::new();
    DOCS.get_or_init(|| {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "alice@contoso.com", "externalId": "6f2b8c1e", "active": true,
            "displayName": "Alice", "name": {"givenName": "Alice", "familyName": "Example"},
            "emails": [{"value": "alice@contoso.com", "type": "work", "primary": true}],
            "addresses": [{"type": "work", "streetAddress": "1 Main St"}],
            "roles": [{"value": "admin", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"department": "Sales", "manager": {"value": "m-1"}},
        });
        let group = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales",
        });
        let canon = |kind, v: &Value| {
            canonicalize(kind, v, &Mode::default())
                .expect("the fixed documents are valid")
                .doc
        };
        [
            (ResourceKind::User, canon(ResourceKind::User, &user)),
            (ResourceKind::Group, canon(ResourceKind::Group, &group)),
        ]
    })
}

/// A JSON body as a POST/PUT (canonicalisation) and as a PATCH applied to a stored user and
/// group: a refused PATCH leaves the document exactly as it was.
pub fn scim_patch(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let parsed = patch::parse_patch(&body);
    for mode in modes() {
        for (kind, stored) in documents() {
            let _ = canonicalize(*kind, &body, &mode);
            if let Ok(req) = &parsed {
                let mut doc = stored.clone();
                if patch::apply(*kind, &mut doc, req, &mode).is_err() {
                    assert_eq!(&doc, stored, "a refused PATCH changed the document");
                }
            }
        }
    }
}

/// `attributes` (first line) and `excludedAttributes` (second line), comma-separated as in
/// a query string: `id` and `schemas` always stay, and nothing appears that was not there.
pub fn scim_projection(data: &[u8]) {
    let Some(input) = text(data) else { return };
    let mut lines = input.splitn(2, '\n');
    let list = |l: Option<&str>| -> Vec<String> {
        l.unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (attributes, excluded) = (list(lines.next()), list(lines.next()));
    for (kind, stored) in documents() {
        let mut full = stored.clone();
        full["id"] = json!("a-1");
        let out = render::project(*kind, full.clone(), &attributes, &excluded);
        let (Value::Object(out), Value::Object(full)) = (&out, &full) else {
            panic!("projection of an object is not an object");
        };
        assert_eq!(out.get("id"), full.get("id"));
        assert_eq!(out.get("schemas"), full.get("schemas"));
        assert!(out.keys().all(|k| full.contains_key(k)), "{out:?}");
        let _ = render::wants_members(&attributes, &excluded);
    }
}

/// An uploaded Federation Metadata file; what it accepts has an entity ID, an SSO URL and at
/// least one certificate.
pub fn saml_metadata(data: &[u8]) {
    if let Ok((config, _)) = metadata::parse_metadata(data, NOW) {
        assert!(!config.entity_id.is_empty() && !config.sso_url.is_empty());
        assert!(!config.certificates.is_empty());
    }
}

fn sp_settings() -> sp::SpSettings {
    sp::SpSettings {
        entity_id: test_idp::SP.into(),
        acs_url: test_idp::ACS.into(),
        clock_skew: Duration::from_secs(120),
    }
}

/// A posted SAML response (the XML; the target base64-encodes it as the browser would),
/// through every check up to and including signature verification, against the test IdP's
/// certificate, solicited and unsolicited. Whatever is accepted came from the test IdP.
pub fn saml_response(data: &[u8]) {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(sp::init).as_ref().expect("xmlsec starts");
    let idp = sp::IdpSettings {
        entity_id: test_idp::IDP.into(),
        certificates_der: vec![test_idp::cert_der("idp-cert")],
    };
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data);
    for expect in [
        sp::Expectation {
            in_response_to: Some(test_idp::REQUEST_ID),
            allow_unsolicited: false,
        },
        sp::Expectation {
            in_response_to: None,
            allow_unsolicited: true,
        },
    ] {
        if let Ok(v) = sp::validate_response(&b64, &sp_settings(), &idp, &expect, NOW) {
            assert_eq!(v.issuer, test_idp::IDP);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every committed seed and every saved crash, through its target.
    #[test]
    fn the_committed_corpus_and_regressions_replay_cleanly() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for (name, target) in TARGETS {
            let mut seen = 0;
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.expect("corpus entry").path();
                    let data = std::fs::read(&path).expect("corpus file");
                    let outcome = std::panic::catch_unwind(|| target(&data));
                    assert!(outcome.is_ok(), "{name}: {} fails", path.display());
                    seen += 1;
                }
            }
            assert!(seen > 0, "no seeds committed for {name}");
            replayed += seen;
        }
        assert!(replayed >= TARGETS.len());
    }

    /// Writes the seeds that are generated rather than extracted (signed responses):
    /// `cargo test --lib write_generated_seeds -- --ignored`.
    #[test]
    #[ignore]
    fn write_generated_seeds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/saml_response");
        std::fs::create_dir_all(&dir).unwrap();
        let issued = NOW - time::Duration::seconds(30);
        type Adjust = fn(&mut test_idp::Entra);
        let variants: [(&str, Adjust); 4] = [
            ("signed-assertion", |_| {}),
            ("signed-response", |e| {
                e.sign_assertion = false;
                e.sign_response = true;
            }),
            ("signed-both", |e| e.sign_response = true),
            ("unsolicited", |e| e.in_response_to = None),
        ];
        for (name, adjust) in variants {
            let mut e = test_idp::Entra::new(issued);
            adjust(&mut e);
            std::fs::write(dir.join(format!("{name}.xml")), e.xml()).unwrap();
        }
    }

    #[test]
    fn a_genuine_seed_is_accepted() {
        let xml = test_idp::Entra::new(NOW - time::Duration::seconds(30)).xml();
        sp::init().unwrap();
        let b64 = test_idp::b64(&xml);
        let idp = sp::IdpSettings {
            entity_id: test_idp::IDP.into(),
            certificates_der: vec![test_idp::cert_der("idp-cert")],
        };
        let expect = sp::Expectation {
            in_response_to: Some(test_idp::REQUEST_ID),
            allow_unsolicited: false,
        };
        assert!(sp::validate_response(&b64, &sp_settings(), &idp, &expect, NOW).is_ok());
    }
}
