//! Identity rules that do not depend on any surface: email normalization, domains, slugs,
//! and role resolution (DESIGN "Roles").

use serde_json::Value;

/// Trims and lowercases an email address; `None` unless it looks like `local@domain`.
pub fn normalize_email(s: &str) -> Option<String> {
    let e = s.trim().to_lowercase();
    let (local, domain) = e.rsplit_once('@')?;
    (!local.is_empty() && is_domain(domain) && !e.contains(char::is_whitespace)).then_some(e)
}

/// A DNS name: labels of letters, digits and hyphens, at least two labels.
pub fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() >= 2
        && d.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Lowercases and validates a domain given by an operator.
pub fn normalize_domain(d: &str) -> Option<String> {
    let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
    is_domain(&d).then_some(d)
}

/// An org slug: 1–63 of `a-z 0-9 -`, starting with a letter or digit.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The raw role value a SCIM document carries in the org's role attribute.
///
/// `roles` (the default): the primary element's `value`, else the first element's. A custom
/// attribute (`roleName`, or URN-qualified `urn:…:User:roleName`): a string, or the `value`
/// of an object, or the primary/first element of an array. Trimmed; `None` when empty.
pub fn raw_role(doc: &Value, role_attribute: &str) -> Option<String> {
    let v = lookup_attribute(doc, role_attribute)?;
    let picked = match v {
        Value::Array(items) => items
            .iter()
            .find(|i| i.get("primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| items.first())?,
        other => other,
    };
    let s = match picked {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("value").and_then(Value::as_str)?,
        _ => return None,
    };
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Finds `name` in a document: a top-level key (case-insensitively), or for an URN-qualified
/// name `urn:…:Schema:attr`, the key `attr` inside the object under `urn:…:Schema`.
fn lookup_attribute<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = doc.as_object()?;
    let get = |o: &'a serde_json::Map<String, Value>, k: &str| {
        o.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    if let Some(v) = get(obj, name) {
        return Some(v);
    }
    let (urn, attr) = name.rsplit_once(':')?;
    get(get(obj, urn)?.as_object()?, attr)
}

/// Resolves a raw role: trimmed and lowercased, looked up in the org's mapping table,
/// else the org's default role, else none.
pub fn resolve_role(
    raw: Option<&str>,
    mappings: &[(String, String)],
    default_role: Option<&str>,
) -> Option<String> {
    raw.map(|r| r.trim().to_lowercase())
        .and_then(|key| {
            mappings
                .iter()
                .find(|(idp, _)| *idp == key)
                .map(|(_, role)| role.clone())
        })
        .or_else(|| default_role.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails_and_domains() {
        assert_eq!(
            normalize_email("  Alice@Example.COM "),
            Some("alice@example.com".into())
        );
        assert_eq!(normalize_email("nope"), None);
        assert_eq!(normalize_email("a@b"), None);
        assert_eq!(normalize_domain("Acme.CO.uk."), Some("acme.co.uk".into()));
        assert_eq!(normalize_domain("-bad.com"), None);
        assert!(is_slug("acme-2"));
        assert!(!is_slug("Acme"));
    }

    #[test]
    fn roles_resolve_as_design_says() {
        let maps = vec![("admin".to_string(), "Admin".to_string())];
        let doc = json!({"roles": [{"value": "User"}, {"value": " ADMIN ", "primary": true}]});
        let raw = raw_role(&doc, "roles");
        assert_eq!(raw.as_deref(), Some("ADMIN"));
        assert_eq!(
            resolve_role(raw.as_deref(), &maps, Some("viewer")).as_deref(),
            Some("Admin")
        );
        assert_eq!(
            resolve_role(Some("other"), &maps, Some("viewer")).as_deref(),
            Some("viewer")
        );
        assert_eq!(resolve_role(None, &maps, None), None);
        let doc = json!({"roleName": "admin"});
        assert_eq!(raw_role(&doc, "roleName").as_deref(), Some("admin"));
        let doc = json!({"urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"roleName": {"value": "x"}}});
        assert_eq!(
            raw_role(
                &doc,
                "urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName"
            )
            .as_deref(),
            Some("x")
        );
        assert_eq!(raw_role(&json!({"roles": []}), "roles"), None);
    }
}
