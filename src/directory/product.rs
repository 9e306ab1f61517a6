//! The product-facing form of users and groups: what events carry as `data` (and what the
//! directory API for the product returns). Not SCIM: flat snake_case fields, the email
//! trimmed and lowercased, the resolved role beside the raw value, a per-resource `version`;
//! the whole SCIM document under `scim` for anything else the product needs. Groups carry no
//! member list (memberships travel as events of their own).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::schema::ENTERPRISE_URN;
use crate::store::resources::Stored;

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// The primary email (else the first; else the userName when it is an address, as Entra's
/// UPN usually is), trimmed and lowercased.
fn email(doc: &Value) -> Option<String> {
    let emails = doc.get("emails").and_then(Value::as_array);
    let listed = emails.and_then(|emails| {
        emails
            .iter()
            .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| emails.first())
            .and_then(|e| e.get("value")?.as_str())
    });
    let value = listed
        .or_else(|| text(doc, &["userName"]).filter(|u| u.contains('@')))?
        .trim();
    (!value.is_empty()).then(|| value.to_lowercase())
}

/// The SCIM document with its `id`, as a SCIM client would read it (without `meta`).
pub fn scim(s: &Stored) -> Value {
    let mut doc = s.data.clone();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), s.id.as_str().into());
    }
    doc
}

/// Whether `scim(a) == scim(b)`, without building either.
pub fn same_scim(a: &Stored, b: &Stored) -> bool {
    let (Value::Object(x), Value::Object(y)) = (&a.data, &b.data) else {
        return scim(a) == scim(b);
    };
    let len = |m: &Map<String, Value>| m.len() + usize::from(!m.contains_key("id"));
    a.id == b.id && len(x) == len(y) && x.iter().all(|(k, v)| k == "id" || y.get(k) == Some(v))
}

/// `scim(s)` serialized from `s` itself: the same bytes, no copy of the document. Its `id`
/// takes the place of one the document carries, else comes last (as `Map::insert` puts it).
struct ScimText<'a>(&'a Stored);

impl Serialize for ScimText<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let Value::Object(data) = &s.data else {
            return scim(s).serialize(ser);
        };
        let has_id = data.contains_key("id");
        let mut map = ser.serialize_map(Some(data.len() + usize::from(!has_id)))?;
        for (k, v) in data {
            if k == "id" {
                map.serialize_entry(k, &s.id)?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        if !has_id {
            map.serialize_entry("id", &s.id)?;
        }
        map.end()
    }
}

/// A product form whose `scim` key is serialized straight from the stored resource: what
/// `user(s)` or `group(s)` would serialize to, without copying the SCIM document into it.
/// Events carry it (`events::Data`).
#[derive(Debug)]
pub struct Form<'a> {
    /// The form without `scim` (`user_fields`, `group_fields`).
    pub fields: Value,
    pub of: &'a Stored,
}

impl Serialize for Form<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let Value::Object(fields) = &self.fields else {
            return self.fields.serialize(ser);
        };
        let mut map = ser.serialize_map(Some(fields.len() + 1))?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("scim", &ScimText(self.of))?;
        map.end()
    }
}

/// `user(s)`, to serialize without the copy (see `Form`).
pub fn user_ref(s: &Stored) -> Form<'_> {
    Form {
        fields: user_fields(s),
        of: s,
    }
}

/// `group(s)`, to serialize without the copy (see `Form`).
pub fn group_ref(s: &Stored) -> Form<'_> {
    Form {
        fields: group_fields(s),
        of: s,
    }
}

/// A form's flat fields, with room for the `scim` key `whole` adds.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N + 1);
    for (k, v) in fields {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// The whole form as a value: its fields, then the SCIM document under `scim`.
fn whole(form: Form<'_>) -> Value {
    let Form { mut fields, of } = form;
    if let Some(m) = fields.as_object_mut() {
        m.insert("scim".into(), scim(of));
    }
    fields
}

pub fn user(s: &Stored) -> Value {
    whole(user_ref(s))
}

/// `user(s)` without its `scim` key: what a change is compared on before the document.
pub fn user_fields(s: &Stored) -> Value {
    let d = &s.data;
    object([
        ("id", s.id.as_str().into()),
        ("external_id", text(d, &["externalId"]).into()),
        ("user_name", text(d, &["userName"]).into()),
        ("email", email(d).into()),
        ("display_name", text(d, &["displayName"]).into()),
        ("given_name", text(d, &["name", "givenName"]).into()),
        ("family_name", text(d, &["name", "familyName"]).into()),
        (
            "active",
            d.get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true)
                .into(),
        ),
        ("role_value", s.role_raw.as_deref().into()),
        ("role", s.role.as_deref().into()),
        ("job_title", text(d, &["title"]).into()),
        (
            "department",
            text(d, &[ENTERPRISE_URN, "department"]).into(),
        ),
        (
            "employee_id",
            text(d, &[ENTERPRISE_URN, "employeeNumber"]).into(),
        ),
        (
            "manager_id",
            text(d, &[ENTERPRISE_URN, "manager", "value"]).into(),
        ),
        ("created", s.created.as_str().into()),
        ("updated", s.last_modified.as_str().into()),
        ("version", s.version.into()),
    ])
}

pub fn group(s: &Stored) -> Value {
    whole(group_ref(s))
}

/// `group(s)` without its `scim` key (see `user_fields`).
pub fn group_fields(s: &Stored) -> Value {
    let d = &s.data;
    object([
        ("id", s.id.as_str().into()),
        ("external_id", text(d, &["externalId"]).into()),
        ("display_name", text(d, &["displayName"]).into()),
        ("created", s.created.as_str().into()),
        ("updated", s.last_modified.as_str().into()),
        ("version", s.version.into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(data: Value) -> Stored {
        Stored {
            seq: 1,
            id: "u-1".into(),
            data,
            version: 3,
            created: "2026-01-01T00:00:00Z".into(),
            last_modified: "2026-01-02T00:00:00Z".into(),
            role_raw: Some("Admin".into()),
            role: Some("admin".into()),
            members: None,
        }
    }

    #[test]
    fn a_user_reads_flat_with_its_scim_document() {
        let u = user(&stored(json!({
            "userName": "Alice@Contoso.com",
            "emails": [{"value": "x@y.z"}, {"value": " Alice@Contoso.COM ", "primary": true}],
            "name": {"givenName": "Alice"},
            ENTERPRISE_URN: {"department": "Sales", "manager": {"value": "m-1"}},
        })));
        assert_eq!(u["email"], "alice@contoso.com");
        assert_eq!(u["user_name"], "Alice@Contoso.com");
        assert_eq!(u["given_name"], "Alice");
        assert_eq!(u["family_name"], Value::Null);
        assert_eq!(u["active"], true);
        assert_eq!(
            (u["role_value"].as_str(), u["role"].as_str()),
            (Some("Admin"), Some("admin"))
        );
        assert_eq!(
            (u["department"].as_str(), u["manager_id"].as_str()),
            (Some("Sales"), Some("m-1"))
        );
        assert_eq!(u["version"], 3);
        assert_eq!(u["scim"]["id"], "u-1");
        let upn = user(&stored(json!({"userName": "Bob@Contoso.com"})));
        assert_eq!(upn["email"], "bob@contoso.com");
        let none = user(&stored(
            json!({"userName": "b", "emails": [], "active": false}),
        ));
        assert_eq!(
            (none["email"].clone(), none["active"].clone()),
            (Value::Null, json!(false))
        );
    }
}
