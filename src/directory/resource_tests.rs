//! Table tests for `canonicalize` and `required_missing`. Each row names where its shape
//! comes from: Microsoft's "Tutorial: Develop and plan provisioning for a SCIM endpoint"
//! (MS tutorial), Microsoft's "Known issues and resolutions with SCIM 2.0 protocol
//! compliance" (MS known issues), RFC 7643/7644 sections, or DESIGN.md's Entra habits.

use serde_json::{Value, json};

use super::*;
use crate::directory::schema::ENTERPRISE_URN as ENT;
use crate::error::ScimType;

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

struct Row {
    name: &'static str,
    kind: ResourceKind,
    mode: Mode,
    body: Value,
    expect: Result<Value, ScimType>,
    members: Option<Vec<MemberRef>>,
    ignored: Vec<&'static str>,
}

fn user(name: &'static str, body: Value, expect: Result<Value, ScimType>) -> Row {
    Row {
        name,
        kind: ResourceKind::User,
        mode: Mode::default(),
        body,
        expect,
        members: None,
        ignored: Vec::new(),
    }
}

fn group(name: &'static str, body: Value, expect: Result<Value, ScimType>) -> Row {
    Row {
        kind: ResourceKind::Group,
        ..user(name, body, expect)
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
    fn members(mut self, m: &[(&str, Option<&str>)]) -> Self {
        self.members = Some(
            m.iter()
                .map(|(v, t)| MemberRef {
                    value: v.to_string(),
                    type_: t.map(str::to_string),
                    display: None,
                })
                .collect(),
        );
        self
    }
    fn members_displayed(mut self, m: &[(&str, Option<&str>, Option<&str>)]) -> Self {
        self.members = Some(
            m.iter()
                .map(|(v, t, d)| MemberRef {
                    value: v.to_string(),
                    type_: t.map(str::to_string),
                    display: d.map(str::to_string),
                })
                .collect(),
        );
        self
    }
    fn ignored(mut self, names: &[&'static str]) -> Self {
        self.ignored = names.to_vec();
        self
    }
}

fn scim_type(e: &Error) -> Option<ScimType> {
    match e {
        Error::BadRequest { scim_type, .. } => *scim_type,
        _ => None,
    }
}

fn rows() -> Vec<Row> {
    vec![
        // MS tutorial, "Create User" request, verbatim shape (meta and empty roles dropped).
        user(
            "tutorial create user",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
                "active": true,
                "emails": [{"primary": true, "type": "work",
                            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName",
                         "givenName": "givenName"},
                "roles": []
            }),
            Ok(json!({
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
                "active": true,
                "emails": [{"primary": true, "type": "work",
                            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
                "name": {"formatted": "givenName familyName", "familyName": "familyName",
                         "givenName": "givenName"}
            })),
        ),
        // MS tutorial, "Example 2. Provision a user": nulls everywhere, unqualified
        // department/manager, and the typo'd extension URN in schemas. Strict mode: nulls
        // carry nothing, so they never trip the unknown-attribute check.
        user(
            "tutorial example 2 nulls (strict)",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
                "externalId": "jyoung", "userName": "jyoung@testuser.com", "active": true,
                "addresses": null, "displayName": "Joy Young",
                "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
                "meta": {"resourceType": "User"},
                "name": {"familyName": "Young", "givenName": "Joy"},
                "phoneNumbers": null, "preferredLanguage": null, "title": null,
                "department": null, "manager": null
            }),
            Ok(json!({
                "externalId": "jyoung", "userName": "jyoung@testuser.com", "active": true,
                "displayName": "Joy Young",
                "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
                "name": {"familyName": "Young", "givenName": "Joy"}
            })),
        )
        .strict(),
        // MS tutorial, "Create Group": Microsoft's extra ADSCIM schema URN is tolerated.
        group(
            "tutorial create group",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"}
            }),
            Ok(json!({"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                      "displayName": "displayName"})),
        ),
        // MS tutorial group notes: "Groups shall always be created with an empty members list".
        group(
            "group with empty members",
            json!({"displayName": "g", "members": []}),
            Ok(json!({"displayName": "g"})),
        )
        .members(&[]),
        // RFC 7643 §4.2: members are {value, $ref, display, type}; type normalised.
        group(
            "group members with type and display",
            json!({"displayName": "g", "members": [
                {"value": "u1", "type": "user", "display": "U One", "$ref": null},
                {"value": "g2", "type": "Group"},
                {"value": "u1"}
            ]}),
            Ok(json!({"displayName": "g"})),
        )
        .members_displayed(&[("u1", Some("User"), Some("U One")), ("g2", Some("Group"), None)]),
        // RFC 7643 §4.2: value is the member's id; without it the member is meaningless.
        group(
            "group member without value",
            json!({"displayName": "g", "members": [{"display": "x"}]}),
            Err(ScimType::InvalidValue),
        ),
        group(
            "group member type not User/Group",
            json!({"displayName": "g", "members": [{"value": "x", "type": "Robot"}]}),
            Err(ScimType::InvalidValue),
        ),
        // RFC 7643 §2.1: attribute names are case-insensitive; stored in canonical case.
        user(
            "names in any case",
            json!({"USERNAME": "a", "Name": {"GIVENNAME": "A"}, "EMAILS": [{"VALUE": "a@x", "Type": "work"}],
                   "ExternalID": "e"}),
            Ok(json!({"userName": "a", "name": {"givenName": "A"},
                      "emails": [{"value": "a@x", "type": "work"}], "externalId": "e"})),
        ),
        // RFC 7644 §3.10: fully qualified attribute names.
        user(
            "urn-qualified core and extension keys",
            json!({"urn:ietf:params:scim:schemas:core:2.0:User:userName": "a",
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Eng"}),
            Ok(json!({"userName": "a", ENT: {"department": "Eng"}})),
        ),
        // RFC 7643 §3.3: extension attributes in an object under the URN (any case here).
        user(
            "extension object in any case",
            json!({"userName": "a",
                   "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER":
                       {"EmployeeNumber": "42", "costcenter": "CC"}}),
            Ok(json!({"userName": "a", ENT: {"employeeNumber": "42", "costCenter": "CC"}})),
        ),
        // DESIGN habit: dotted keys (Entra's path-less values); merged with the object form.
        user(
            "dotted keys merge",
            json!({"userName": "a", "name": {"familyName": "F"}, "name.givenName": "G"}),
            Ok(json!({"userName": "a", "name": {"familyName": "F", "givenName": "G"}})),
        ),
        // RFC 7644 §3.3: id and meta (readOnly) are ignored on input.
        user(
            "id and meta ignored",
            json!({"id": "client-chosen", "meta": {"version": "W/\"1\""}, "userName": "a"}),
            Ok(json!({"userName": "a"})),
        ),
        // DESIGN habit: manager as a string; MS tutorial example 5: as [{"$ref", "value"}].
        user(
            "manager as string",
            json!({"userName": "a", ENT: {"manager": "m1"}}),
            Ok(json!({"userName": "a", ENT: {"manager": {"value": "m1"}}})),
        ),
        user(
            "manager as one-element array, readOnly subs dropped",
            json!({"userName": "a", ENT: {"manager": [
                {"$ref": "https://x/Users/m1", "value": "m1", "displayName": "Boss"}]}}),
            Ok(json!({"userName": "a", ENT: {"manager": {"value": "m1"}}})),
        ),
        // MS known issues, "disable users" without the flag: "False" as a string.
        user(
            "string booleans",
            json!({"userName": "a", "active": "False",
                   "emails": [{"value": "a@x", "primary": "True"}]}),
            Ok(json!({"userName": "a", "active": false,
                      "emails": [{"value": "a@x", "primary": true}]})),
        ),
        user(
            "active not a boolean",
            json!({"userName": "a", "active": "yes"}),
            Err(ScimType::InvalidValue),
        ),
        // RFC 7643 §2.3.1: strings are JSON strings (a number is refused, not converted).
        user("userName as number", json!({"userName": 42}), Err(ScimType::InvalidValue)),
        user(
            "name as string",
            json!({"userName": "a", "name": "A B"}),
            Err(ScimType::InvalidValue),
        ),
        user(
            "emails as string",
            json!({"userName": "a", "emails": "a@x"}),
            Err(ScimType::InvalidValue),
        ),
        // Lenient: a single object for a multi-valued attribute.
        user(
            "single email object wrapped",
            json!({"userName": "a", "emails": {"value": "a@x", "type": "work"}}),
            Ok(json!({"userName": "a", "emails": [{"value": "a@x", "type": "work"}]})),
        ),
        // RFC 7643 §2.4: primary true at most once.
        user(
            "two primaries",
            json!({"userName": "a", "emails": [{"value": "a@x", "primary": true},
                                               {"value": "b@x", "primary": true}]}),
            Err(ScimType::InvalidValue),
        ),
        user(
            "duplicate values dropped",
            json!({"userName": "a", "emails": [{"value": "a@x"}, {"value": "a@x"}]}),
            Ok(json!({"userName": "a", "emails": [{"value": "a@x"}]})),
        ),
        // DESIGN habit: "" and null mean absent; an emptied extension object disappears.
        user(
            "empty values removed",
            json!({"userName": "a", "title": "", "nickName": null, "name": {"givenName": ""},
                   ENT: {"department": "", "manager": {"value": ""}},
                   "emails": [{"type": "work", "value": ""}]}),
            Ok(json!({"userName": "a"})),
        ),
        user("userName missing", json!({"active": true}), Err(ScimType::InvalidValue)),
        user("userName empty", json!({"userName": ""}), Err(ScimType::InvalidValue)),
        group("displayName missing", json!({"externalId": "x"}), Err(ScimType::InvalidValue)),
        // RFC 7644 §3.3 / §3.12: schemas must name the resource's core schema.
        user(
            "schemas without core urn",
            json!({"schemas": [ENT], "userName": "a"}),
            Err(ScimType::InvalidSyntax),
        ),
        user(
            "schemas not an array",
            json!({"schemas": "urn:ietf:params:scim:schemas:core:2.0:User", "userName": "a"}),
            Err(ScimType::InvalidSyntax),
        ),
        group(
            "group body with user schema",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "displayName": "g"}),
            Err(ScimType::InvalidSyntax),
        ),
        user("body not an object", json!(["userName"]), Err(ScimType::InvalidSyntax)),
        // Org setting: lenient drops unknown attributes (reported), strict refuses them.
        user(
            "unknown attribute lenient",
            json!({"userName": "a", "shoeSize": 44, "name": {"nick": "x"}, "members": []}),
            Ok(json!({"userName": "a"})),
        )
        .ignored(&["shoeSize", "name.nick", "members"]),
        user(
            "unknown attribute strict",
            json!({"userName": "a", "shoeSize": 44}),
            Err(ScimType::InvalidValue),
        )
        .strict(),
        user(
            "unknown extension strict",
            json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:other:2.0:User": {"x": 1}}),
            Err(ScimType::InvalidValue),
        )
        .strict(),
        // Org setting: the custom role attribute is kept as given, even in strict mode.
        user(
            "extra role attributes kept",
            json!({"userName": "a", "ROLENAME": "Admin",
                   ACME: {"costCode": "7", "region": "EU"}}),
            Ok(json!({"userName": "a", "roleName": "Admin", ACME: {"costCode": "7"}})),
        )
        .extra(&["roleName", "urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCode"])
        .ignored(&["urn:ietf:params:scim:schemas:extension:acme:2.0:User:region"]),
        user(
            "extra urn-qualified key",
            json!({"userName": "a", "urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName": "Admin"}),
            Ok(json!({"userName": "a", ACME: {"roleName": "Admin"}})),
        )
        .extra(&["urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName"])
        .strict(),
    ]
}

fn sorted<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.collect();
    v.sort_unstable();
    v
}

#[test]
fn canonicalize_table() {
    let mut failures = Vec::new();
    for row in rows() {
        let got = canonicalize(row.kind, &row.body, &row.mode);
        let ok = match (&got, &row.expect) {
            (Ok(c), Ok(doc)) => {
                c.doc == *doc
                    && c.members == row.members
                    && sorted(c.ignored.iter().map(String::as_str))
                        == sorted(row.ignored.iter().copied())
            }
            (Err(e), Err(t)) => scim_type(e) == Some(*t),
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got {got:?}, want {:?}", row.name, row.expect));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_messages_name_the_attribute() {
    let m = Mode::default();
    let msg = |body: Value| match canonicalize(ResourceKind::User, &body, &m) {
        Err(e) => e.to_string(),
        Ok(c) => format!("ok {c:?}"),
    };
    assert_eq!(
        msg(json!({"userName": "a", "active": "yes"})),
        "active must be a boolean"
    );
    assert_eq!(
        msg(json!({"userName": "a", "emails": [{"value": 1}]})),
        "emails.value must be a string"
    );
    assert_eq!(msg(json!({"active": true})), "userName is required");
    let strict = Mode {
        unknown: UnknownAttrs::Reject,
        ..Mode::default()
    };
    let e = canonicalize(
        ResourceKind::User,
        &json!({"userName": "a", "foo": 1}),
        &strict,
    );
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("unknown attribute \"foo\"".to_string())
    );
}

#[test]
fn required_missing_finds_first_missing_path() {
    let doc = json!({
        "userName": "a", "name": {"givenName": "G"},
        "emails": [{"type": "work", "value": "a@x"}],
        ENT: {"department": "Eng"}
    });
    let req = |paths: &[&str]| {
        let paths: Vec<String> = paths.iter().map(|s| s.to_string()).collect();
        required_missing(&doc, &paths)
    };
    assert_eq!(req(&["name.givenName", "emails", "emails.value"]), None);
    assert_eq!(req(&["NAME.GIVENNAME", &format!("{ENT}:department")]), None);
    assert_eq!(
        req(&["urn:ietf:params:scim:schemas:core:2.0:User:userName"]),
        None
    );
    assert_eq!(req(&["name.familyName"]), Some("name.familyName".into()));
    assert_eq!(
        req(&["emails", "phoneNumbers"]),
        Some("phoneNumbers".into())
    );
    assert_eq!(
        req(&[&format!("{ENT}:manager")]),
        Some(format!("{ENT}:manager"))
    );
    assert_eq!(req(&["emails.display"]), Some("emails.display".into()));
    assert_eq!(req(&[]), None);
}

/// The canonicalisation table's bodies as `scim_patch` fuzz seeds (POST/PUT bodies):
/// `cargo test --lib write_resource_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_resource_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/scim_patch");
    std::fs::create_dir_all(&dir).unwrap();
    for row in rows() {
        crate::directory::patch::tests::write_seed(&dir, &format!("post-{}", row.name), &row.body);
    }
}
