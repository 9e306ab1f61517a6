//! Randomised never-panic test: `canonicalize`, `parse_patch` and `apply` on arbitrary JSON
//! trees whose strings and keys come from a small alphabet of attribute names, `"True"`,
//! dots, URNs, brackets and filters. Self-contained (a seeded splitmix64 generator) so it
//! needs no extra dev-dependency; a failure prints the seed and the input.

use serde_json::{Map, Value, json};

use super::super::{apply, parse_patch};
use super::{g, u};
use crate::directory::resource::{Mode, UnknownAttrs, canonicalize};
use crate::directory::schema::ResourceKind;
use crate::fuzzing::SplitMix;

const WORDS: &[&str] = &[
    "userName",
    "USERNAME",
    "name",
    "givenName",
    "name.givenName",
    "name.x.y",
    "emails",
    "value",
    "type",
    "work",
    "primary",
    "True",
    "False",
    "true",
    "members",
    "manager",
    "active",
    "displayName",
    "externalId",
    "id",
    "meta",
    "schemas",
    "roles",
    "addresses",
    "streetAddress",
    "roleName",
    "op",
    "path",
    "Operations",
    "Replace",
    "add",
    "remove",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:ietf:params:scim:api:messages:2.0:PatchOp",
    "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
    "urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName",
    "emails[type eq \"work\"].value",
    "emails[type eq \"work\"]",
    "addresses[type eq \"work\"].streetAddress",
    "members[value eq \"a\"]",
    "members[value eq \"a\" or value eq \"b\"]",
    "emails[primary eq true]",
    "emails[value co \"x\"].display",
    "emails[not (type eq \"work\")]",
    "[",
    "]",
    ".",
    "..",
    ":",
    "\"",
    "",
    " ",
    "é",
    "urn:",
    "a[b[c]]",
];

struct Rng(SplitMix);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }

    fn word(&mut self) -> String {
        let i = self.below(WORDS.len());
        WORDS.get(i).copied().unwrap_or_default().to_string()
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth == 0 { 4 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 1),
            2 => json!(self.below(5)),
            3 => Value::String(self.word()),
            4 => (0..self.below(5)).map(|_| self.value(depth - 1)).collect(),
            _ => Value::Object(
                (0..self.below(6))
                    .map(|_| (self.word(), self.value(depth - 1)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// A PATCH body that parses more often than an arbitrary value would.
    fn patch_body(&mut self) -> Value {
        let ops: Vec<Value> = (0..1 + self.below(3))
            .map(|_| {
                let mut o = Map::new();
                let op = ["add", "Replace", "remove", "bogus"]
                    .get(self.below(4))
                    .copied();
                o.insert("op".into(), json!(op));
                if self.below(4) > 0 {
                    o.insert("path".into(), Value::String(self.word()));
                }
                if self.below(4) > 0 {
                    o.insert("value".into(), self.value(3));
                }
                Value::Object(o)
            })
            .collect();
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    }
}

fn modes() -> [Mode; 2] {
    [
        Mode::default(),
        Mode {
            unknown: UnknownAttrs::Reject,
            extra_allowed: vec![
                "roleName".into(),
                "urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName".into(),
            ],
        },
    ]
}

#[test]
fn never_panics_on_arbitrary_json() {
    let mut parsed = 0;
    for seed in 0..3000u64 {
        let mut rng = Rng(SplitMix(seed));
        let arbitrary = rng.value(4);
        let body = rng.patch_body();
        let doc = rng.value(3);
        let _ = parse_patch(&arbitrary);
        let req = parse_patch(&body);
        for mode in modes() {
            for kind in [ResourceKind::User, ResourceKind::Group] {
                let _ = canonicalize(kind, &arbitrary, &mode);
                let Ok(req) = &req else { continue };
                parsed += 1;
                for start in [doc.clone(), u(), g()] {
                    let mut d = start.clone();
                    let res = apply(kind, &mut d, req, &mode);
                    // Atomic: an error leaves the document as it was.
                    assert!(res.is_ok() || d == start, "seed {seed}: {body}");
                }
            }
        }
    }
    assert!(parsed > 1000, "only {parsed} PATCH bodies parsed");
}
