//! What a SCIM request did and to whom, for the provisioning log, named as Entra's
//! provisioning log names it ("Create user", "Disable user", "Add member" …). Read from what
//! the request already carries (method, path, query, body) and from the resource the handler
//! wrote (a response extension): no store round trip.

use actix_web::HttpResponse;
use serde_json::Value;

use crate::directory::schema::ResourceKind;
use crate::store::resources::Stored;

/// The resource a handler read or wrote, noted on its response for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LoggedTarget {
    pub id: Option<String>,
    /// userName of a user, displayName of a group.
    pub name: Option<String>,
    pub external_id: Option<String>,
}

impl LoggedTarget {
    fn of(kind: ResourceKind, stored: &Stored) -> Self {
        let name_attr = match kind {
            ResourceKind::User => "userName",
            ResourceKind::Group => "displayName",
        };
        Self {
            id: Some(stored.id.clone()),
            name: stored.data[name_attr].as_str().map(str::to_string),
            external_id: stored.data["externalId"].as_str().map(str::to_string),
        }
    }
}

/// Notes `stored` as the target of this response.
pub(crate) fn note_target(res: &mut HttpResponse, kind: ResourceKind, stored: &Stored) {
    res.extensions_mut().insert(LoggedTarget::of(kind, stored));
}

/// The action and target of a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Described {
    pub action: Option<String>,
    pub target: LoggedTarget,
}

/// Names what `method` on `path` (under `/scim/v2`) with `query` and `body` did; `noted` is
/// the target the handler noted, if any.
pub(crate) fn describe(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    noted: Option<LoggedTarget>,
) -> Described {
    let rest = path.split_once("/scim/v2").map_or("", |(_, r)| r);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (kind, id) = match segments.as_slice() {
        ["Users", rest @ ..] => (Some(ResourceKind::User), rest.first().copied()),
        ["Groups", rest @ ..] => (Some(ResourceKind::Group), rest.first().copied()),
        _ => (None, None),
    };
    let search = id == Some(".search");
    let id = id.filter(|_| !search && segments.len() == 2);
    let Some(kind) = kind else {
        let action = (segments == [".search"] && method == "POST").then(|| "Search".to_string());
        return Described {
            action,
            target: noted.unwrap_or_default(),
        };
    };
    let (user, noun) = match kind {
        ResourceKind::User => (true, "user"),
        ResourceKind::Group => (false, "group"),
    };
    let action = match (method, id.is_some(), search) {
        ("POST", false, false) => Some(format!("Create {noun}")),
        ("POST", false, true) => Some(format!("Search {noun}s")),
        ("GET", true, _) => Some(format!("Get {noun}")),
        ("GET", false, false) => Some(format!("List {noun}s")),
        ("PUT", true, _) if user && body.is_some_and(|b| falsy(field(b, "active"))) => {
            Some("Disable user".into())
        }
        ("PUT", true, _) => Some(format!("Update {noun}")),
        ("PATCH", true, _) if user => Some(user_patch(body).into()),
        ("PATCH", true, _) => Some(group_patch(body).into()),
        ("DELETE", true, _) => Some(format!("Delete {noun}")),
        _ => None,
    };
    let target = noted.unwrap_or_else(|| {
        let name_attr = if user { "userName" } else { "displayName" };
        let from_body = |attr| {
            body.filter(|_| matches!(method, "POST" | "PUT") && !search)
                .and_then(|b| field(b, attr))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let filtered = |attr| (method == "GET" && id.is_none()).then(|| eq_filter(query, attr));
        LoggedTarget {
            id: id.map(str::to_string),
            name: from_body(name_attr).or_else(|| filtered(name_attr).flatten()),
            external_id: from_body("externalId").or_else(|| filtered("externalId").flatten()),
        }
    });
    Described { action, target }
}

/// An attribute of a JSON object, any case.
fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// False, or "False" as Entra sends it.
fn falsy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

fn ops(body: Option<&Value>) -> Vec<&Value> {
    body.and_then(|b| field(b, "Operations"))
        .and_then(Value::as_array)
        .map(|ops| ops.iter().collect())
        .unwrap_or_default()
}

fn op_name(op: &Value) -> String {
    field(op, "op")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn op_path(op: &Value) -> Option<String> {
    field(op, "path")
        .and_then(Value::as_str)
        .map(|p| p.trim().to_ascii_lowercase())
}

/// A user PATCH that sets active to false disables; any other updates.
fn user_patch(body: Option<&Value>) -> &'static str {
    let disables = ops(body).into_iter().any(|op| {
        let value = field(op, "value");
        matches!(op_name(op).as_str(), "replace" | "add")
            && match op_path(op).as_deref() {
                Some("active") => falsy(value),
                None => value.is_some_and(|v| falsy(field(v, "active"))),
                _ => false,
            }
    });
    if disables {
        "Disable user"
    } else {
        "Update user"
    }
}

/// A group PATCH that only adds members is "Add member", one that only removes members
/// "Remove member"; anything else "Update group".
fn group_patch(body: Option<&Value>) -> &'static str {
    let kinds: Vec<&str> = ops(body)
        .into_iter()
        .map(|op| {
            let members = match op_path(op) {
                Some(p) => p == "members" || p.starts_with("members[") || p.starts_with("members."),
                None => field(op, "value")
                    .and_then(Value::as_object)
                    .is_some_and(|v| {
                        v.len() == 1 && v.keys().all(|k| k.eq_ignore_ascii_case("members"))
                    }),
            };
            match (members, op_name(op).as_str()) {
                (true, "add") => "add",
                (true, "remove") => "remove",
                _ => "other",
            }
        })
        .collect();
    match kinds.first() {
        Some(&"add") if kinds.iter().all(|k| *k == "add") => "Add member",
        Some(&"remove") if kinds.iter().all(|k| *k == "remove") => "Remove member",
        _ => "Update group",
    }
}

/// The value of a `filter` of the form `attr eq "value"` (Entra's matching queries).
fn eq_filter(query: &str, attr: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    let filter = pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("filter"))?
        .1
        .trim();
    let (name, rest) = filter.split_once(char::is_whitespace)?;
    let (op, value) = rest.trim_start().split_once(char::is_whitespace)?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    (name.eq_ignore_ascii_case(attr) && op.eq_ignore_ascii_case("eq") && !value.contains('"'))
        .then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(method: &str, path: &str, body: Value) -> String {
        describe(method, path, "", Some(&body), None)
            .action
            .unwrap_or_default()
    }

    #[test]
    fn actions_as_entra_names_them() {
        let u = "/scim/v2/Users/abc";
        let g = "/scim/v2/Groups/g1";
        assert_eq!(action("POST", "/scim/v2/Users", json!({})), "Create user");
        assert_eq!(action("POST", "/scim/v2/Groups", json!({})), "Create group");
        assert_eq!(action("DELETE", u, json!(null)), "Delete user");
        assert_eq!(action("DELETE", g, json!(null)), "Delete group");
        let disable =
            json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
        assert_eq!(action("PATCH", u, disable), "Disable user");
        let disable = json!({"Operations": [{"op": "replace", "value": {"active": false}}]});
        assert_eq!(action("PATCH", u, disable), "Disable user");
        let update =
            json!({"Operations": [{"op": "Replace", "path": "displayName", "value": "x"}]});
        assert_eq!(action("PATCH", u, update), "Update user");
        let enable = json!({"Operations": [{"op": "Replace", "path": "active", "value": "True"}]});
        assert_eq!(action("PATCH", u, enable), "Update user");
        assert_eq!(action("PUT", u, json!({"active": false})), "Disable user");
        assert_eq!(action("PUT", u, json!({"active": true})), "Update user");
        let add =
            json!({"Operations": [{"op": "Add", "path": "members", "value": [{"value": "u"}]}]});
        assert_eq!(action("PATCH", g, add), "Add member");
        let remove = json!({"Operations": [{"op": "Remove", "path": "members[value eq \"u\"]"}]});
        assert_eq!(action("PATCH", g, remove), "Remove member");
        let both = json!({"Operations": [
            {"op": "Add", "path": "members", "value": [{"value": "u"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "v"}]}]});
        assert_eq!(action("PATCH", g, both), "Update group");
        let rename =
            json!({"Operations": [{"op": "Replace", "path": "displayName", "value": "x"}]});
        assert_eq!(action("PATCH", g, rename), "Update group");
        assert_eq!(action("GET", u, json!(null)), "Get user");
        assert_eq!(action("GET", "/scim/v2/Users", json!(null)), "List users");
        assert_eq!(
            action("POST", "/scim/v2/Users/.search", json!({})),
            "Search users"
        );
        assert_eq!(action("GET", "/scim/v2/Schemas", json!(null)), "");
    }

    #[test]
    fn targets_from_the_request_when_the_handler_noted_none() {
        let body = json!({"userName": "ann@x", "externalId": "e1"});
        let d = describe("POST", "/scim/v2/Users", "", Some(&body), None);
        assert_eq!(d.target.name.as_deref(), Some("ann@x"));
        assert_eq!(d.target.external_id.as_deref(), Some("e1"));
        assert_eq!(d.target.id, None);
        let d = describe("DELETE", "/scim/v2/Users/abc", "", None, None);
        assert_eq!(d.target.id.as_deref(), Some("abc"));
        let q = "filter=userName+eq+%22Ann%40x%22";
        let d = describe("GET", "/scim/v2/Users", q, None, None);
        assert_eq!(d.target.name.as_deref(), Some("Ann@x"));
        let q = "filter=externalId%20eq%20%22e9%22&count=1";
        let d = describe("GET", "/scim/v2/Users", q, None, None);
        assert_eq!(d.target.external_id.as_deref(), Some("e9"));
        let q = "filter=userName+eq+%22a%22+or+userName+eq+%22b%22";
        assert_eq!(
            describe("GET", "/scim/v2/Users", q, None, None).target.name,
            None
        );
        let noted = LoggedTarget {
            id: Some("id1".into()),
            ..LoggedTarget::default()
        };
        let d = describe(
            "POST",
            "/scim/v2/Users",
            "",
            Some(&body),
            Some(noted.clone()),
        );
        assert_eq!(d.target, noted);
    }
}
