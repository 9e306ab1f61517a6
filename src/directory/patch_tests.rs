//! Table tests for the PATCH engine: one row per case, each naming where its shape comes
//! from: Microsoft's "Known issues and resolutions with SCIM 2.0 protocol compliance"
//! (MS known issues; "unflagged" = default Entra behaviour, "flagged" = `aadOptscim062020`),
//! Microsoft's "Tutorial: Develop and plan provisioning for a SCIM endpoint" (MS tutorial),
//! a Microsoft Q&A thread, RFC 7643/7644 sections, or DESIGN.md's Entra habits.

use serde_json::{Value, json};

use super::*;
use crate::directory::resource::{Mode, UnknownAttrs};
use crate::directory::schema::ENTERPRISE_URN as ENT;
use crate::error::ScimType;

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

struct Row {
    name: &'static str,
    kind: ResourceKind,
    mode: Mode,
    doc: Value,
    body: Value,
    expect: Result<Value, ScimType>,
    members: Vec<MemberChange>,
    ignored: Vec<&'static str>,
}

/// The stored user most rows start from.
fn u() -> Value {
    json!({
        "userName": "bjensen@example.com",
        "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
        "externalId": "e1",
        ENT: {"department": "Sales", "manager": {"value": "m1"}}
    })
}

/// `u()` with `patch` merged in at the top level (a `null` removes a key).
fn u_with(patch: Value) -> Value {
    let mut doc = u();
    if let (Some(d), Value::Object(p)) = (doc.as_object_mut(), patch) {
        for (k, v) in p {
            if v.is_null() {
                d.remove(&k);
            } else {
                d.insert(k, v);
            }
        }
    }
    doc
}

fn g() -> Value {
    json!({"displayName": "Engineering", "externalId": "g1"})
}

fn ops(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn user(name: &'static str, doc: Value, body: Value, expect: Result<Value, ScimType>) -> Row {
    Row {
        name,
        kind: ResourceKind::User,
        mode: Mode::default(),
        doc,
        body,
        expect,
        members: Vec::new(),
        ignored: Vec::new(),
    }
}

fn group(name: &'static str, body: Value, expect: Result<Value, ScimType>) -> Row {
    Row {
        kind: ResourceKind::Group,
        ..user(name, g(), body, expect)
    }
}

impl Row {
    fn strict(mut self) -> Self {
        self.mode.unknown = UnknownAttrs::Reject;
        self
    }
    fn extra(mut self, names: &[&str]) -> Self {
        self.mode.extra_allowed = names.iter().map(|s| s.to_string()).collect();
        self
    }
    fn members(mut self, m: Vec<MemberChange>) -> Self {
        self.members = m;
        self
    }
    fn ignored(mut self, names: &[&'static str]) -> Self {
        self.ignored = names.to_vec();
        self
    }
}

fn refs(ids: &[&str]) -> Vec<MemberRef> {
    ids.iter()
        .map(|v| MemberRef {
            value: v.to_string(),
            type_: None,
            display: None,
        })
        .collect()
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn scim_type(e: &Error) -> Option<ScimType> {
    match e {
        Error::BadRequest { scim_type, .. } => *scim_type,
        _ => None,
    }
}

/// Group rows (membership changes); user rows are in `patch_rows.rs`.
fn group_rows() -> Vec<Row> {
    vec![
        // MS tutorial, "Update Group [Non-member attributes]".
        group(
            "tutorial: replace group displayName",
            ops(json!([{"op": "Replace", "path": "displayName",
                        "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}])),
            Ok(json!({"displayName": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
                      "externalId": "g1"})),
        ),
        // MS tutorial, "Update Group [Add Members]".
        group(
            "tutorial: add members",
            ops(json!([{"op": "Add", "path": "members",
                        "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}])),
            Ok(g()),
        )
        .members(vec![MemberChange::Add(refs(&["f648f8d5ea4e4cd38e9c"]))]),
        // MS tutorial, "Update Group [Remove Members]" = MS known issues, unflagged.
        group(
            "tutorial: remove members with value array",
            ops(json!([{"op": "Remove", "path": "members",
                        "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}])),
            Ok(g()),
        )
        .members(vec![MemberChange::Remove(ids(&["f648f8d5ea4e4cd38e9c"]))]),
        // MS known issues, "remove a group member", flagged.
        group(
            "known issues: remove member by filter, flagged",
            ops(json!([{"op": "remove",
                        "path": "members[value eq \"7f4bc1a3-285e-48ae-8202-5accb43efb0e\"]"}])),
            Ok(g()),
        )
        .members(vec![MemberChange::Remove(ids(&["7f4bc1a3-285e-48ae-8202-5accb43efb0e"]))]),
        // RFC 7644 §3.5.2.2 filter grammar: a disjunction of value eq.
        group(
            "remove members by or-filter",
            ops(json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}])),
            Ok(g()),
        )
        .members(vec![MemberChange::Remove(ids(&["a", "b"]))]),
        // RFC 7644 §3.5.2.2: remove of a multi-valued attribute without filter removes all.
        group(
            "remove all members",
            ops(json!([{"op": "remove", "path": "members"}])),
            Ok(g()),
        )
        .members(vec![MemberChange::RemoveAll]),
        // RFC 7644 §3.5.2.3: replace members.
        group(
            "replace members",
            ops(json!([{"op": "replace", "path": "members",
                        "value": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "Group"}]}])),
            Ok(g()),
        )
        .members(vec![MemberChange::Replace(vec![
            MemberRef { value: "u1".into(), type_: Some("User".into()), display: None },
            MemberRef { value: "g2".into(), type_: Some("Group".into()), display: None },
        ])]),
        // RFC 7644 §3.5.2.1: path-less add with members; path-less replace with both.
        group(
            "path-less add members",
            ops(json!([{"op": "add", "value": {"members": [{"value": "u1"}]}}])),
            Ok(g()),
        )
        .members(vec![MemberChange::Add(refs(&["u1"]))]),
        group(
            "path-less replace displayName and members",
            ops(json!([{"op": "replace", "value": {"displayName": "Ops", "members": [{"value": "u2"}]}}])),
            Ok(json!({"displayName": "Ops", "externalId": "g1"})),
        )
        .members(vec![MemberChange::Replace(refs(&["u2"]))]),
        // DESIGN habit: re-adding an existing member is the store's no-op; changes in order.
        group(
            "changes come back in request order",
            ops(json!([
                {"op": "Add", "path": "members", "value": [{"value": "a"}]},
                {"op": "Remove", "path": "members[value eq \"b\"]"},
                {"op": "Add", "path": "members", "value": [{"value": "a"}]}
            ])),
            Ok(g()),
        )
        .members(vec![
            MemberChange::Add(refs(&["a"])),
            MemberChange::Remove(ids(&["b"])),
            MemberChange::Add(refs(&["a"])),
        ]),
        // Member filters other than value eq are refused.
        group(
            "member filter on display",
            ops(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])),
            Err(ScimType::InvalidFilter),
        ),
        group(
            "member filter with and",
            ops(json!([{"op": "remove", "path": "members[value eq \"a\" and type eq \"User\"]"}])),
            Err(ScimType::InvalidFilter),
        ),
        group(
            "replace with member filter",
            ops(json!([{"op": "replace", "path": "members[value eq \"a\"]", "value": {"value": "b"}}])),
            Err(ScimType::InvalidPath),
        ),
        group(
            "add member without value",
            ops(json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}])),
            Err(ScimType::InvalidValue),
        ),
        // RFC 7643 §4.2: displayName is required.
        group(
            "remove group displayName",
            ops(json!([{"op": "remove", "path": "displayName"}])),
            Err(ScimType::InvalidValue),
        ),
        // All-or-nothing for groups: no membership change escapes a failed request.
        group(
            "group all-or-nothing",
            ops(json!([
                {"op": "add", "path": "members", "value": [{"value": "a"}]},
                {"op": "replace", "path": "id", "value": "x"}
            ])),
            Err(ScimType::Mutability),
        ),
    ]
}

#[path = "patch_rows.rs"]
mod rows;

#[test]
fn patch_table() {
    let rows = rows::rows();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in rows {
        let mut doc = row.doc.clone();
        let got = parse_patch(&row.body)
            .and_then(|req| apply_report(row.kind, &mut doc, &req, &row.mode));
        let ok = match (&got, &row.expect) {
            (Ok(applied), Ok(want)) => {
                let mut ignored: Vec<&str> = applied.ignored.iter().map(String::as_str).collect();
                ignored.sort_unstable();
                doc == *want && applied.members == row.members && ignored == row.ignored
            }
            // All-or-nothing: on error the caller's document is untouched.
            (Err(e), Err(t)) => scim_type(e) == Some(*t) && doc == row.doc,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}:\n  got {got:?}\n  doc {doc}\n  want {:?} members {:?}",
                row.name, row.expect, row.members
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn parse_patch_reads_ops_and_paths() {
    let req = parse_patch(&ops(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "x@y"},
        {"op": "remove", "path": "members[value eq \"1\"]"},
        {"op": "ADD", "value": {"nickName": "Babs"}}
    ])))
    .map_err(|e| e.to_string());
    let Ok(req) = req else {
        panic!("{req:?}");
    };
    let kinds: Vec<OpKind> = req.ops.iter().map(|o| o.op).collect();
    assert_eq!(kinds, [OpKind::Replace, OpKind::Remove, OpKind::Add]);
    assert!(req.ops.iter().take(2).all(|o| o.path.is_some()));
    assert_eq!(req.ops.get(1).and_then(|o| o.value.as_ref()), None);
    assert_eq!(
        req.ops.first().and_then(|o| o.raw_path.as_deref()),
        Some("emails[type eq \"work\"].value")
    );
}

#[test]
fn apply_is_atomic_on_the_callers_document() {
    // The second operation fails: the first one's change must not be visible.
    let mut doc = u();
    let req = parse_patch(&ops(json!([
        {"op": "replace", "path": "displayName", "value": "Babs"},
        {"op": "replace", "path": "id", "value": "x"}
    ])));
    let res = req.and_then(|r| apply(ResourceKind::User, &mut doc, &r, &Mode::default()));
    assert!(res.is_err());
    assert_eq!(doc, u());
}

#[path = "patch_fuzz.rs"]
mod fuzz;

/// The PATCH table's bodies as the `scim_patch` fuzz target's seeds:
/// `cargo test --lib write_patch_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_patch_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/scim_patch");
    std::fs::create_dir_all(&dir).unwrap();
    for row in rows::rows() {
        write_seed(&dir, row.name, &row.body);
    }
}

/// One seed file, named after its table row.
pub(crate) fn write_seed(dir: &std::path::Path, name: &str, body: &Value) {
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    std::fs::write(dir.join(file), serde_json::to_vec_pretty(body).unwrap()).unwrap();
}
