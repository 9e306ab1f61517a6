//! The PATCH table: input document + PATCH body → expected document (or scimType), plus
//! the membership changes and skipped unknown attributes.

use super::*;

pub(super) fn rows() -> Vec<Row> {
    let mut rows = entra_rows();
    rows.extend(rfc_rows());
    rows.extend(super::group_rows());
    rows
}

fn entra_rows() -> Vec<Row> {
    vec![
        // MS known issues, "Requests made to disable users", unflagged.
        user(
            "known issues: disable user, unflagged",
            u(),
            ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            Ok(u_with(json!({"active": false}))),
        ),
        // MS known issues, "Requests made to disable users", flagged.
        user(
            "known issues: disable user, flagged",
            u(),
            ops(json!([{"op": "replace", "path": "active", "value": false}])),
            Ok(u_with(json!({"active": false}))),
        ),
        // MS known issues, "add a single-value string attribute", unflagged.
        user(
            "known issues: add nickName, unflagged",
            u(),
            ops(json!([{"op": "Add", "path": "nickName", "value": "Babs"}])),
            Ok(u_with(json!({"nickName": "Babs"}))),
        ),
        // MS known issues, "add a single-value string attribute", flagged.
        user(
            "known issues: add nickName, flagged",
            u(),
            ops(json!([{"op": "add", "path": "nickName", "value": "Babs"}])),
            Ok(u_with(json!({"nickName": "Babs"}))),
        ),
        // MS known issues, "replace multiple attributes", unflagged (six path ops).
        user(
            "known issues: replace multiple, unflagged",
            u(),
            ops(json!([
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value",
                 "value": "TestBcwqnm@test.microsoft.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {"op": "Replace",
                 "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                 "value": "Eqpj"}
            ])),
            Ok(u_with(json!({
                "displayName": "Pvlo",
                "emails": [{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true}],
                "name": {"givenName": "Gtfd", "familyName": "Pkqf"},
                "externalId": "Eqpj",
                ENT: {"department": "Sales", "manager": {"value": "m1"}, "employeeNumber": "Eqpj"}
            }))),
        ),
        // MS known issues, "replace multiple attributes", flagged: path-less value with
        // dotted and URN-qualified keys.
        user(
            "known issues: replace multiple, flagged",
            u(),
            ops(json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value",
                 "value": "TestMhvaes@test.microsoft.com"},
                {"op": "replace", "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
                }}
            ])),
            Ok(u_with(json!({
                "displayName": "Bjfe",
                "emails": [{"value": "TestMhvaes@test.microsoft.com", "type": "work", "primary": true}],
                "name": {"givenName": "Kkom", "familyName": "Unua"},
                ENT: {"department": "Sales", "manager": {"value": "m1"}, "employeeNumber": "Aklq"}
            }))),
        ),
        // MS tutorial, "Update User [Multi-valued properties]".
        user(
            "tutorial: update user multi-valued",
            u(),
            ops(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value",
                 "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ])),
            Ok(u_with(json!({
                "emails": [{"value": "updatedEmail@microsoft.com", "type": "work", "primary": true}],
                "name": {"givenName": "Barbara", "familyName": "updatedFamilyName"}
            }))),
        ),
        // MS tutorial, "Update User [Single-valued properties]".
        user(
            "tutorial: update userName",
            u(),
            ops(json!([{"op": "Replace", "path": "userName",
                        "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}])),
            Ok(u_with(
                json!({"userName": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}),
            )),
        ),
        // MS tutorial, "Disable User" (Operations listed before schemas).
        user(
            "tutorial: disable user",
            u(),
            json!({"Operations": [{"op": "Replace", "path": "active", "value": false}],
                   "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            Ok(u_with(json!({"active": false}))),
        ),
        // MS tutorial, "Example 5": Add manager as a one-element array with $ref.
        user(
            "tutorial example 5: add manager",
            u(),
            ops(json!([{"op": "Add", "path": "manager", "value": [{
                "$ref": "http://example.com/scim/Users/2819c223-7f76-453a-919d-413861904646",
                "value": "2819c223-7f76-453a-919d-413861904646"}]}])),
            Ok(u_with(json!({ENT: {"department": "Sales",
                "manager": {"value": "2819c223-7f76-453a-919d-413861904646"}}}))),
        ),
        // Microsoft Q&A "Entra ID patch sending Add instead of Replace": Add on a filtered
        // email path replaces the matching value.
        user(
            "Q&A: Add emails[type eq work].value",
            u(),
            ops(json!([
                {"op": "Replace", "path": "title", "value": "tester"},
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@joe.com"}
            ])),
            Ok(u_with(json!({"title": "tester",
                "emails": [{"value": "new@joe.com", "type": "work", "primary": true}]}))),
        ),
        // DESIGN habit: filtered path creates the missing element (emails).
        user(
            "habit: create missing work email",
            u_with(json!({"emails": null})),
            ops(
                json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@x"}]),
            ),
            Ok(u_with(
                json!({"emails": [{"type": "work", "value": "a@x"}]}),
            )),
        ),
        // DESIGN habit: filtered path creates the missing element (addresses).
        user(
            "habit: create missing work address",
            u(),
            ops(
                json!([{"op": "Add", "path": "addresses[type eq \"work\"].streetAddress",
                        "value": "1 Main St"}]),
            ),
            Ok(u_with(
                json!({"addresses": [{"type": "work", "streetAddress": "1 Main St"}]}),
            )),
        ),
        user(
            "habit: update existing work address",
            u_with(
                json!({"addresses": [{"type": "work", "locality": "Paris", "primary": true},
                                         {"type": "home", "streetAddress": "home st"}]}),
            ),
            ops(
                json!([{"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress",
                        "value": "1 Main St"}]),
            ),
            Ok(u_with(json!({"addresses": [
                {"type": "work", "locality": "Paris", "primary": true, "streetAddress": "1 Main St"},
                {"type": "home", "streetAddress": "home st"}]}))),
        ),
        // DESIGN habit: manager as a plain string.
        user(
            "habit: manager as string",
            u(),
            ops(json!([{"op": "Replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                        "value": "m2"}])),
            Ok(u_with(
                json!({ENT: {"department": "Sales", "manager": {"value": "m2"}}}),
            )),
        ),
        user(
            "habit: manager as object with readOnly displayName",
            u(),
            ops(json!([{"op": "replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                        "value": {"value": "m3", "displayName": "Boss"}}])),
            Ok(u_with(
                json!({ENT: {"department": "Sales", "manager": {"value": "m3"}}}),
            )),
        ),
        // DESIGN habit: manager cleared with remove, with "" and with {"value": ""}.
        user(
            "habit: manager cleared with remove",
            u(),
            ops(json!([{"op": "Remove",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}])),
            Ok(u_with(json!({ENT: {"department": "Sales"}}))),
        ),
        user(
            "habit: manager cleared with empty string",
            u(),
            ops(json!([{"op": "Replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                        "value": ""}])),
            Ok(u_with(json!({ENT: {"department": "Sales"}}))),
        ),
        user(
            "habit: manager cleared with {value: \"\"}, empty extension removed",
            u_with(json!({ENT: {"manager": {"value": "m1"}}})),
            ops(json!([{"op": "Replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                        "value": {"value": ""}}])),
            Ok(u_with(json!({ENT: null}))),
        ),
        // DESIGN habit: clearing with null, with "" (path-less), and remove of nothing.
        user(
            "habit: clear with null",
            u_with(json!({"title": "CEO"})),
            ops(json!([{"op": "Replace", "path": "title", "value": null}])),
            Ok(u()),
        ),
        user(
            "habit: clear with empty string, path-less",
            u_with(json!({"title": "CEO"})),
            ops(json!([{"op": "Replace", "value": {"title": "", "name.givenName": ""}}])),
            Ok(u_with(json!({"name": {"familyName": "Jensen"}}))),
        ),
        // RFC 7644 §3.5.2.2: removing an attribute that has no value changes nothing.
        user(
            "remove missing attribute is a no-op",
            u(),
            ops(json!([{"op": "Remove", "path": "nickName"}])),
            Ok(u()),
        ),
        // DESIGN habit: op in any case.
        user(
            "op in upper case",
            u(),
            ops(json!([{"op": "REPLACE", "path": "displayName", "value": "B"}])),
            Ok(u_with(json!({"displayName": "B"}))),
        ),
        // DESIGN habit: path-less value with an extension object keyed by URN (any case).
        user(
            "path-less extension object",
            u(),
            ops(json!([{"op": "Replace", "value": {
                "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"Department": "Eng"}}}])),
            Ok(u_with(
                json!({ENT: {"department": "Eng", "manager": {"value": "m1"}}}),
            )),
        ),
        // DESIGN habit: path-less add of a URN-qualified manager.
        user(
            "path-less urn-qualified manager",
            u(),
            ops(json!([{"op": "Add", "value": {
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": {"value": "m9"},
                "active": "True"}}])),
            Ok(u_with(
                json!({ENT: {"department": "Sales", "manager": {"value": "m9"}}}),
            )),
        ),
    ]
}

fn rfc_rows() -> Vec<Row> {
    vec![
        // RFC 7644 §3.5.2: remove without a path → noTarget.
        user(
            "remove without path",
            u(),
            ops(json!([{"op": "remove"}])),
            Err(ScimType::NoTarget),
        ),
        // RFC 7643 §4.1.1: userName is required.
        user(
            "remove userName",
            u(),
            ops(json!([{"op": "remove", "path": "userName"}])),
            Err(ScimType::InvalidValue),
        ),
        user(
            "replace userName with empty string",
            u(),
            ops(json!([{"op": "replace", "path": "userName", "value": ""}])),
            Err(ScimType::InvalidValue),
        ),
        // RFC 7644 §3.5.2: readOnly attributes cannot be modified.
        user(
            "replace id",
            u(),
            ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
            Err(ScimType::Mutability),
        ),
        user(
            "replace meta.lastModified",
            u(),
            ops(json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}])),
            Err(ScimType::Mutability),
        ),
        user(
            "replace manager.displayName (readOnly)",
            u(),
            ops(json!([{"op": "replace",
                        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
                        "value": "Boss"}])),
            Err(ScimType::Mutability),
        ),
        // RFC 7644 §3.5.2: op must be add, remove or replace.
        user(
            "unknown op",
            u(),
            ops(json!([{"op": "update", "path": "title", "value": "x"}])),
            Err(ScimType::InvalidSyntax),
        ),
        // RFC 7644 §3.5.2: schemas must be the PatchOp URN; Operations non-empty.
        user(
            "missing schemas",
            u(),
            json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            Err(ScimType::InvalidSyntax),
        ),
        user("empty Operations", u(), ops(json!([])), Err(ScimType::InvalidSyntax)),
        user(
            "add without value",
            u(),
            ops(json!([{"op": "add", "path": "title"}])),
            Err(ScimType::InvalidSyntax),
        ),
        // RFC 7644 §3.5.2: an unparsable path → invalidPath.
        user(
            "bad path syntax",
            u(),
            ops(json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}])),
            Err(ScimType::InvalidPath),
        ),
        // RFC 7643 §2.3.2 booleans; Entra's strings accepted, anything else refused.
        user(
            "active not a boolean",
            u(),
            ops(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
            Err(ScimType::InvalidValue),
        ),
        // RFC 7644 §3.5.2: all operations succeed or none is applied.
        user(
            "all-or-nothing: second op fails",
            u(),
            ops(json!([
                {"op": "replace", "path": "displayName", "value": "ok"},
                {"op": "replace", "path": "name", "value": "not an object"}
            ])),
            Err(ScimType::InvalidValue),
        ),
        // RFC 7644 §3.5.2.1 + RFC 7643 §2.4: adding a primary value resets the others.
        user(
            "add primary email resets the old primary",
            u(),
            ops(json!([{"op": "add", "path": "emails",
                        "value": [{"value": "b@home", "type": "home", "primary": true}]}])),
            Ok(u_with(json!({"emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": false},
                {"value": "b@home", "type": "home", "primary": true}]}))),
        ),
        // RFC 7644 §3.5.2.1: a value already present is not added again.
        user(
            "add existing email is not duplicated",
            u(),
            ops(json!([{"op": "add", "path": "emails",
                        "value": [{"value": "bjensen@example.com", "type": "work", "primary": true}]}])),
            Ok(u()),
        ),
        user(
            "add two primaries at once",
            u(),
            ops(json!([{"op": "add", "path": "emails", "value": [
                {"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}])),
            Err(ScimType::InvalidValue),
        ),
        // Lenient: a single object for a multi-valued attribute.
        user(
            "add single phone object",
            u(),
            ops(json!([{"op": "add", "path": "phoneNumbers", "value": {"value": "555", "type": "work"}}])),
            Ok(u_with(json!({"phoneNumbers": [{"value": "555", "type": "work"}]}))),
        ),
        // RFC 7644 §3.5.2.3: replace of a multi-valued attribute replaces all values.
        user(
            "replace emails wholesale",
            u(),
            ops(json!([{"op": "replace", "path": "emails", "value": [{"value": "n@x", "type": "other"}]}])),
            Ok(u_with(json!({"emails": [{"value": "n@x", "type": "other"}]}))),
        ),
        // RFC 7644 §3.5.2.3: replace of a complex attribute merges its sub-attributes.
        user(
            "replace name merges",
            u(),
            ops(json!([{"op": "replace", "path": "name", "value": {"middleName": "J", "GIVENNAME": "Babs"}}])),
            Ok(u_with(json!({"name": {"givenName": "Babs", "familyName": "Jensen", "middleName": "J"}}))),
        ),
        // RFC 7644 §3.5.2.1: path-less add merges complex attributes.
        user(
            "path-less add merges name",
            u(),
            ops(json!([{"op": "add", "value": {"name": {"honorificPrefix": "Ms."}}}])),
            Ok(u_with(json!({"name": {"givenName": "Barbara", "familyName": "Jensen",
                                      "honorificPrefix": "Ms."}}))),
        ),
        // RFC 7644 §3.5.2.2: remove with a filter removes matching values.
        user(
            "remove emails[type eq work]",
            u_with(json!({"emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]})),
            ops(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}])),
            Ok(u_with(json!({"emails": [{"value": "b@x", "type": "home"}]}))),
        ),
        // RFC 7644 §3.5.2.2: remove of a sub-attribute of matching values; a value left
        // with only its label is dropped.
        user(
            "remove emails[type eq work].value",
            u(),
            ops(json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}])),
            Ok(u_with(json!({"emails": null}))),
        ),
        // RFC 7644 §3.5.2.3: filter on a boolean sub-attribute.
        user(
            "replace emails[primary eq true].value",
            u(),
            ops(json!([{"op": "replace", "path": "emails[primary eq true].value", "value": "p@x"}])),
            Ok(u_with(json!({"emails": [{"value": "p@x", "type": "work", "primary": true}]}))),
        ),
        // RFC 7644 §3.5.2.3: filter + object value merges into the matching values.
        user(
            "replace emails[type eq work] with object",
            u(),
            ops(json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"display": "Work"}}])),
            Ok(u_with(json!({"emails": [{"value": "bjensen@example.com", "type": "work",
                                         "primary": true, "display": "Work"}]}))),
        ),
        // RFC 7644 §3.5.2.3: no match and nothing to build the value from → noTarget.
        user(
            "no match, filter cannot describe a value",
            u(),
            ops(json!([{"op": "replace", "path": "emails[value co \"zzz\"].display", "value": "x"}])),
            Err(ScimType::NoTarget),
        ),
        // Entra app-role habit: a quoted boolean in the filter matches the stored boolean.
        user(
            "roles[primary eq \"True\"].value",
            u_with(json!({"roles": [{"value": "User", "primary": true}, {"value": "X"}]})),
            ops(json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "Admin"}])),
            Ok(u_with(json!({"roles": [{"value": "Admin", "primary": true}, {"value": "X"}]}))),
        ),
        // Filter keys inside a path-less value (key used as a path).
        user(
            "path-less value with a filtered key",
            u(),
            ops(json!([{"op": "replace", "value": {"emails[type eq \"work\"].value": "k@x"}}])),
            Ok(u_with(json!({"emails": [{"value": "k@x", "type": "work", "primary": true}]}))),
        ),
        // Names are case-insensitive in paths too (RFC 7643 §2.1), URN-qualified core path.
        user(
            "case-insensitive and core-qualified paths",
            u(),
            ops(json!([
                {"op": "replace", "path": "NAME.GIVENNAME", "value": "B"},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "D"}
            ])),
            Ok(u_with(json!({"name": {"givenName": "B", "familyName": "Jensen"}, "displayName": "D"}))),
        ),
        // Remove of a whole extension by its URN.
        user(
            "remove the enterprise extension",
            u(),
            ops(json!([{"op": "remove", "path": ENT}])),
            Ok(u_with(json!({ENT: null}))),
        ),
        // Entra-style remove with a value array, for a non-members attribute.
        user(
            "remove roles by value",
            u_with(json!({"roles": [{"value": "Admin"}, {"value": "User"}]})),
            ops(json!([{"op": "Remove", "path": "roles", "value": [{"value": "admin"}]}])),
            Ok(u_with(json!({"roles": [{"value": "User"}]}))),
        ),
        // Org setting: unknown attributes, lenient (skipped, reported) and strict.
        user(
            "unknown path, lenient",
            u(),
            ops(json!([{"op": "replace", "path": "shoeSize", "value": 44},
                       {"op": "replace", "path": "emails[type eq \"work\"].foo", "value": "x"}])),
            Ok(u()),
        )
        .ignored(&["emails.foo", "shoeSize"]),
        user(
            "unknown path, strict",
            u(),
            ops(json!([{"op": "replace", "path": "shoeSize", "value": 44}])),
            Err(ScimType::InvalidPath),
        )
        .strict(),
        user(
            "unknown filter attribute, strict",
            u(),
            ops(json!([{"op": "replace", "path": "emails[foo eq \"x\"].value", "value": "x"}])),
            Err(ScimType::InvalidPath),
        )
        .strict(),
        user(
            "unknown key in path-less value, strict",
            u(),
            ops(json!([{"op": "replace", "value": {"shoeSize": 44}}])),
            Err(ScimType::InvalidValue),
        )
        .strict(),
        user(
            "members on a user is unknown",
            u(),
            ops(json!([{"op": "add", "path": "members", "value": [{"value": "x"}]}])),
            Ok(u()),
        )
        .ignored(&["members"]),
        // Org setting: the custom role attribute is accepted (strict) and stored.
        user(
            "extra roleName, strict",
            u(),
            ops(json!([{"op": "Add", "path": "roleName", "value": "Admin"}])),
            Ok(u_with(json!({"roleName": "Admin"}))),
        )
        .strict()
        .extra(&["roleName"]),
        user(
            "extra urn-qualified role, path and removal",
            u(),
            ops(json!([
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName",
                 "value": "Admin"},
                {"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName": "Owner"}}
            ])),
            Ok(u_with(json!({ACME: {"roleName": "Owner"}}))),
        )
        .strict()
        .extra(&["urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName"]),
    ]
}
