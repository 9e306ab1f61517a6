//! Stored resources → SCIM JSON: `schemas`, `id`, `meta`, members, the resolved role, and the
//! `attributes` / `excludedAttributes` projection (RFC 7644 §3.4.2.5).

use serde_json::{Map, Value, json};

use crate::directory::schema::{
    ENTERPRISE_URN, IDGATE_URN, ResourceKind, strip_prefix_ignore_case,
};
use crate::store::resources::Stored;

/// `W/"<version>"`, the ETag and `meta.version` of a resource.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// True when an `If-Match` / `If-None-Match` header names the current version: `*`, or one
/// of its comma-separated tags, compared weakly (with or without the `W/` prefix).
pub fn etag_matches(header: &str, version: i64) -> bool {
    let current = version.to_string();
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).trim_matches('"') == current)
}

pub fn location(base_url: &str, kind: ResourceKind, id: &str) -> String {
    format!("{base_url}{}/{id}", kind.endpoint())
}

/// The full SCIM representation of a stored resource.
pub fn resource(kind: ResourceKind, s: &Stored, base_url: &str) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![json!(kind.core().id)];
    if kind == ResourceKind::User && s.data.get(ENTERPRISE_URN).is_some() {
        schemas.push(json!(ENTERPRISE_URN));
    }
    out.insert("schemas".into(), Value::Null);
    out.insert("id".into(), json!(s.id));
    if let Value::Object(data) = &s.data {
        for (k, v) in data {
            out.insert(k.clone(), v.clone());
        }
    }
    if kind == ResourceKind::User && (s.role_raw.is_some() || s.role.is_some()) {
        schemas.push(json!(IDGATE_URN));
        let mut ext = Map::new();
        if let Some(raw) = &s.role_raw {
            ext.insert("roleValue".into(), json!(raw));
        }
        if let Some(role) = &s.role {
            ext.insert("role".into(), json!(role));
        }
        out.insert(IDGATE_URN.into(), Value::Object(ext));
    }
    if let Some(members) = &s.members {
        let members: Vec<Value> = members
            .iter()
            .map(|m| {
                let mut v = json!({
                    "value": m.value,
                    "type": m.type_,
                    "$ref": format!("{base_url}/{}s/{}", m.type_, m.value),
                });
                if let Some(d) = &m.display {
                    v["display"] = json!(d);
                }
                v
            })
            .collect();
        out.insert("members".into(), Value::Array(members));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": s.created,
            "lastModified": s.last_modified,
            "location": location(base_url, kind, &s.id),
            "version": etag(s.version),
        }),
    );
    Value::Object(out)
}

/// One requested attribute: `[urn:]attr[.sub]`.
struct Spec {
    urn: Option<String>,
    attr: Option<String>,
    sub: Option<String>,
}

fn parse_spec(kind: ResourceKind, raw: &str) -> Spec {
    let raw = raw.trim();
    let known_urns = [kind.core().id, ENTERPRISE_URN, IDGATE_URN];
    for urn in known_urns {
        if let Some(rest) = strip_prefix_ignore_case(raw, urn) {
            let rest = rest.trim_start_matches(':');
            let (attr, sub) = split_dot(rest);
            let urn = (urn != kind.core().id).then(|| urn.to_string());
            return Spec { urn, attr, sub };
        }
    }
    let (attr, sub) = split_dot(raw);
    Spec {
        urn: None,
        attr,
        sub,
    }
}

fn split_dot(s: &str) -> (Option<String>, Option<String>) {
    if s.is_empty() {
        return (None, None);
    }
    match s.split_once('.') {
        Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
        None => (Some(s.to_string()), None),
    }
}

fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Keeps only `sub` in an object, or in each object of an array.
fn only_sub(v: &Value, sub: &str) -> Value {
    let pick = |o: &Map<String, Value>| {
        let mut m = Map::new();
        if let Some(k) = key_of(o, sub) {
            m.insert(k.clone(), o[&k].clone());
        }
        Value::Object(m)
    };
    match v {
        Value::Object(o) => pick(o),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| i.as_object().map_or_else(|| i.clone(), pick))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies `attributes` (keep only these, plus `id` and `schemas`) or `excludedAttributes`
/// (drop these; `id` and `schemas` stay).
pub fn project(
    kind: ResourceKind,
    full: Value,
    attributes: &[String],
    excluded: &[String],
) -> Value {
    let Value::Object(src) = full else {
        return full;
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for always in ["schemas", "id"] {
            if let Some(v) = src.get(always) {
                out.insert(always.into(), v.clone());
            }
        }
        for spec in attributes.iter().map(|a| parse_spec(kind, a)) {
            copy_spec(&src, &mut out, &spec);
        }
        return Value::Object(out);
    }
    let mut out = src;
    for spec in excluded.iter().map(|a| parse_spec(kind, a)) {
        remove_spec(&mut out, &spec);
    }
    Value::Object(out)
}

fn container<'a>(
    map: &'a Map<String, Value>,
    urn: &Option<String>,
) -> Option<&'a Map<String, Value>> {
    match urn {
        None => Some(map),
        Some(u) => map.get(&key_of(map, u)?)?.as_object(),
    }
}

fn copy_spec(src: &Map<String, Value>, out: &mut Map<String, Value>, spec: &Spec) {
    let Some(from) = container(src, &spec.urn) else {
        return;
    };
    let Some(attr) = &spec.attr else {
        // A bare extension URN: the whole extension object.
        if let Some(u) = &spec.urn
            && let Some(k) = key_of(src, u)
        {
            out.insert(k.clone(), src[&k].clone());
        }
        return;
    };
    let Some(key) = key_of(from, attr) else {
        return;
    };
    let value = match &spec.sub {
        Some(sub) => only_sub(&from[&key], sub),
        None => from[&key].clone(),
    };
    let target = match &spec.urn {
        None => out,
        Some(u) => {
            let k = key_of(src, u).unwrap_or_else(|| u.clone());
            let entry = out.entry(k).or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(o) => o,
                None => return,
            }
        }
    };
    match (target.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(add)) => existing.extend(add),
        (_, value) => {
            target.insert(key, value);
        }
    }
}

fn remove_spec(out: &mut Map<String, Value>, spec: &Spec) {
    if spec.urn.is_none()
        && spec
            .attr
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case("id") || a.eq_ignore_ascii_case("schemas"))
    {
        return;
    }
    let map = match &spec.urn {
        None => out,
        Some(u) => {
            let Some(k) = key_of(out, u) else { return };
            if spec.attr.is_none() {
                out.remove(&k);
                return;
            }
            match out.get_mut(&k).and_then(Value::as_object_mut) {
                Some(m) => m,
                None => return,
            }
        }
    };
    let Some(attr) = &spec.attr else { return };
    let Some(key) = key_of(map, attr) else { return };
    match &spec.sub {
        None => {
            map.remove(&key);
        }
        Some(sub) => {
            let strip = |o: &mut Map<String, Value>| {
                if let Some(k) = key_of(o, sub) {
                    o.remove(&k);
                }
            };
            match map.get_mut(&key) {
                Some(Value::Object(o)) => strip(o),
                Some(Value::Array(items)) => items
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .for_each(strip),
                _ => {}
            }
        }
    }
}

/// True when the projection will show a group's members (so they must be loaded).
pub fn wants_members(attributes: &[String], excluded: &[String]) -> bool {
    let named = |list: &[String]| {
        list.iter().any(|a| {
            let a = a.trim();
            let a = a.rsplit(':').next().unwrap_or(a);
            a.split('.')
                .next()
                .is_some_and(|a| a.eq_ignore_ascii_case("members"))
        })
    };
    if attributes.is_empty() {
        !named(excluded)
    } else {
        named(attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_weakly() {
        assert!(etag_matches("W/\"3\"", 3));
        assert!(etag_matches("\"3\"", 3));
        assert!(etag_matches("W/\"1\", W/\"3\"", 3));
        assert!(etag_matches("*", 3));
        assert!(!etag_matches("W/\"33\"", 3));
        assert!(!etag_matches("", 3));
    }

    #[test]
    fn projection_keeps_and_drops() {
        let full = json!({
            "schemas": ["s"], "id": "1", "userName": "a", "title": "t",
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE_URN: {"department": "d", "costCenter": "c"},
            "meta": {"version": "W/\"1\""}
        });
        let p = project(
            ResourceKind::User,
            full.clone(),
            &[
                "USERNAME".into(),
                "emails.value".into(),
                format!("{ENTERPRISE_URN}:department"),
            ],
            &[],
        );
        assert_eq!(
            p,
            json!({"schemas": ["s"], "id": "1", "userName": "a",
            "emails": [{"value": "a@x"}], ENTERPRISE_URN: {"department": "d"}})
        );
        let p = project(
            ResourceKind::User,
            full,
            &[],
            &[
                "emails".into(),
                "id".into(),
                "meta".into(),
                format!("{ENTERPRISE_URN}:costCenter"),
            ],
        );
        assert_eq!(
            p,
            json!({"schemas": ["s"], "id": "1", "userName": "a", "title": "t",
            ENTERPRISE_URN: {"department": "d"}})
        );
        assert!(!wants_members(&[], &["members".into()]));
    }

    #[test]
    fn projection_takes_any_text_as_a_name() {
        let full = json!({"schemas": ["s"], "id": "1", "userName": "a", ENTERPRISE_URN: {"department": "d"}});
        // Multibyte characters where a URN's bytes end, inside it, and after a dot.
        for raw in [
            "urn:ietf:params:scim:schemas:core:2.0:Useé",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Usé:department",
            "urn:ietf:params:scim:schemas:core:2.0:User:userNamé",
            "é",
            "userName.é",
            "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
            "",
            ":",
            ".",
        ] {
            let kept = project(ResourceKind::User, full.clone(), &[raw.into()], &[]);
            assert_eq!(kept["id"], "1", "{raw}");
            let dropped = project(ResourceKind::User, full.clone(), &[], &[raw.into()]);
            assert_eq!(dropped["userName"], "a", "{raw}");
        }
        assert!(wants_members(&[], &[]));
        assert!(!wants_members(&["displayName".into()], &[]));
    }
}
