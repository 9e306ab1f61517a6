//! The event log's domain: what happened (the event types), where it came from, what changed
//! (`previous`), and the envelope — the exact bytes stored once and served (and signed) as
//! they are. Events are appended by `record`, inside the write that makes the change, so an
//! event exists exactly when its change committed; a write that changes nothing records
//! nothing.

use crate::store::db::Conn;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::directory::product;
use crate::directory::schema::ResourceKind;
use crate::error::Result;
use crate::store::events::{self as store, Appending};
use crate::store::{orgs, resources};

/// Every event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    UserCreated,
    UserUpdated,
    UserDeactivated,
    UserReactivated,
    UserDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    OrgCreated,
    OrgUpdated,
    OrgDeleted,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::UserCreated,
        Kind::UserUpdated,
        Kind::UserDeactivated,
        Kind::UserReactivated,
        Kind::UserDeleted,
        Kind::GroupCreated,
        Kind::GroupUpdated,
        Kind::GroupDeleted,
        Kind::GroupMemberAdded,
        Kind::GroupMemberRemoved,
        Kind::OrgCreated,
        Kind::OrgUpdated,
        Kind::OrgDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UserCreated => "user.created",
            Kind::UserUpdated => "user.updated",
            Kind::UserDeactivated => "user.deactivated",
            Kind::UserReactivated => "user.reactivated",
            Kind::UserDeleted => "user.deleted",
            Kind::GroupCreated => "group.created",
            Kind::GroupUpdated => "group.updated",
            Kind::GroupDeleted => "group.deleted",
            Kind::GroupMemberAdded => "group.member_added",
            Kind::GroupMemberRemoved => "group.member_removed",
            Kind::OrgCreated => "org.created",
            Kind::OrgUpdated => "org.updated",
            Kind::OrgDeleted => "org.deleted",
        }
    }
}

/// Where a change came from: `scim` (with the provisioning log's request id), `admin` (with
/// the admin's email), `cli`, `signin` or `metadata_refresh` (`saml::metadata_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: &'static str,
    pub request_id: Option<String>,
    pub actor: Option<String>,
}

impl Source {
    pub fn scim(request_id: Option<String>) -> Self {
        Self {
            kind: "scim",
            request_id,
            actor: None,
        }
    }

    /// An admin of the web UI, by email.
    pub fn admin(email: &str) -> Self {
        Self {
            kind: "admin",
            request_id: None,
            actor: Some(email.to_string()),
        }
    }

    pub fn cli() -> Self {
        Self {
            kind: "cli",
            request_id: None,
            actor: None,
        }
    }

    /// A sign-in that created its user (just-in-time).
    pub fn signin() -> Self {
        Self {
            kind: "signin",
            request_id: None,
            actor: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"type": self.kind});
        if let Some(id) = &self.request_id {
            v["request_id"] = json!(id);
        }
        if let Some(actor) = &self.actor {
            v["actor"] = json!(actor);
        }
        v
    }
}

/// The org an event belongs to.
#[derive(Debug, Clone, Copy)]
pub struct OrgRef<'a> {
    pub id: i64,
    pub slug: &'a str,
}

/// Fields that change with every write and say nothing by themselves.
const BOOKKEEPING: [&str; 2] = ["updated", "version"];

/// What changed between two states of a resource (an org's, a product form's fields):
/// `None` when nothing did, else the old values of the changed fields.
pub fn previous(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return (before != after).then(|| before.clone());
    };
    let changed: Map<String, Value> = b
        .iter()
        .filter(|(k, v)| !BOOKKEEPING.contains(&k.as_str()) && a.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!changed.is_empty()).then_some(Value::Object(changed))
}

/// What changed from `before` to `after` (a resource's product forms, `Form::fields` and the
/// SCIM document beside them): the changed fields, or the old SCIM document when it is all
/// that changed, without copying either document otherwise.
pub fn changed(before: &product::Form<'_>, after: &product::Form<'_>) -> Option<Value> {
    if let Some(p) = previous(&before.fields, &after.fields) {
        return Some(p);
    }
    if product::same_scim(before.of, after.of) {
        return None;
    }
    let mut only = Map::with_capacity(1);
    only.insert("scim".into(), product::scim(before.of));
    Some(Value::Object(only))
}

/// The event for the user `after` written over `before`: deactivated, reactivated or updated
/// with its `previous` (`None`: no change).
pub fn user_change(before: &product::Form<'_>, after: &product::Form<'_>) -> Option<(Kind, Value)> {
    let previous = changed(before, after)?;
    let kind = match (before.fields.get("active"), after.fields.get("active")) {
        (Some(Value::Bool(true)), Some(Value::Bool(false))) => Kind::UserDeactivated,
        (Some(Value::Bool(false)), Some(Value::Bool(true))) => Kind::UserReactivated,
        _ => Kind::UserUpdated,
    };
    Some((kind, previous))
}

/// An event's `data`.
pub enum Data<'a> {
    /// A user's or group's product form, its SCIM document serialized from the resource.
    Form(product::Form<'a>),
    /// Anything else (an org, a membership).
    Json(Value),
}

impl From<Value> for Data<'_> {
    fn from(v: Value) -> Self {
        Data::Json(v)
    }
}

impl<'a> From<product::Form<'a>> for Data<'a> {
    fn from(f: product::Form<'a>) -> Self {
        Data::Form(f)
    }
}

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Data::Form(f) => f.serialize(ser),
            Data::Json(v) => v.serialize(ser),
        }
    }
}

/// One event to record.
pub struct Event<'a> {
    pub kind: Kind,
    pub data: Data<'a>,
    pub previous: Option<Value>,
}

/// The envelope as it is stored and sent, serialized from its parts: the keys in this order,
/// compact, as `serde_json` writes a `Value` (the form events were stored in before).
struct Envelope<'a> {
    id: &'a str,
    kind: &'a str,
    timestamp: &'a str,
    org: OrgRef<'a>,
    source: Value,
    data: &'a Data<'a>,
    previous: Option<&'a Value>,
}

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(6 + usize::from(self.previous.is_some())))?;
        map.serialize_entry("id", self.id)?;
        map.serialize_entry("type", self.kind)?;
        map.serialize_entry("timestamp", self.timestamp)?;
        map.serialize_entry("org", &OrgText(self.org))?;
        map.serialize_entry("source", &self.source)?;
        map.serialize_entry("data", self.data)?;
        if let Some(previous) = self.previous {
            map.serialize_entry("previous", previous)?;
        }
        map.end()
    }
}

/// `{"id": …, "slug": …}`.
struct OrgText<'a>(OrgRef<'a>);

impl Serialize for OrgText<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(2))?;
        map.serialize_entry("id", &self.0.id)?;
        map.serialize_entry("slug", self.0.slug)?;
        map.end()
    }
}

/// Appends `event` to the log inside the caller's write (its `seq` is given as it commits).
pub fn record(
    conn: &Conn,
    org: OrgRef<'_>,
    source: &Source,
    now: &str,
    event: Event<'_>,
) -> Result<()> {
    store::append(conn, envelope(org, source, now, event))
}

/// The row of `event`, its envelope rendered.
fn envelope(org: OrgRef<'_>, source: &Source, now: &str, event: Event<'_>) -> Appending {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    // Serialized from its parts: a `Value` of the envelope would copy the whole user with
    // its SCIM document once more before writing it out.
    let envelope = Envelope {
        id: &id,
        kind: event.kind.as_str(),
        timestamp: now,
        org,
        source: source.to_json(),
        data: &event.data,
        previous: event.previous.as_ref(),
    };
    let body = serde_json::to_string(&envelope).unwrap_or_default();
    Appending {
        id,
        org_id: org.id,
        type_: event.kind.as_str(),
        created: now.to_string(),
        request_id: source.request_id.clone(),
        body,
    }
}

/// Checks an event type (`user.created`) or a pattern (`user.*`, `*`) against the known
/// types; the message names them all.
pub fn type_pattern(t: &str) -> std::result::Result<String, String> {
    let known = Kind::ALL.iter().map(|k| k.as_str());
    let ok = match t.strip_suffix('*') {
        Some(prefix) => known.clone().any(|k| k.starts_with(prefix)),
        None => known.clone().any(|k| k == t),
    };
    if ok {
        Ok(t.to_string())
    } else {
        Err(format!(
            "unknown event type {t:?}; the types are {}",
            known.collect::<Vec<_>>().join(", ")
        ))
    }
}

/// The type patterns the product API documents (its OpenAPI enum): `*`, one `x.*` per kind of
/// resource, then every type. `type_pattern` also takes any other prefix of a type with `*`.
pub fn canonical_patterns() -> Vec<String> {
    let mut out = vec!["*".to_string()];
    for k in Kind::ALL {
        let prefix = k.as_str().split('.').next().unwrap_or_default();
        let pattern = format!("{prefix}.*");
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    out.extend(Kind::ALL.iter().map(|k| k.as_str().to_string()));
    out
}

/// Whether `type_` matches one of `patterns` (empty: every type).
pub fn type_matches(patterns: &[String], type_: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => type_.starts_with(prefix),
            None => p == type_,
        })
}

/// An org's product form, read inside the write: settings, domains, role mapping, SAML IdP.
/// `None` when there is no such org (not created yet, or deleted).
pub fn org_state(conn: &Conn, org_id: i64) -> Result<Option<Value>> {
    let Some(org) = orgs::org_by_id(conn, org_id)? else {
        return Ok(None);
    };
    let domains: Vec<Value> = orgs::domains(conn, org_id)?
        .into_iter()
        .map(|d| json!({"domain": d.domain, "sso_only": d.sso_only}))
        .collect();
    let mapping: Map<String, Value> = orgs::role_mappings(conn, org_id)?
        .into_iter()
        .map(|(value, role)| (value, json!(role)))
        .collect();
    let idp = crate::store::saml::idp(conn, org_id)?.map(|i| {
        json!({"protocol": "saml", "idp_entity_id": i.entity_id, "sso_url": i.sso_url,
               "certificates": i.certificates.len()})
    });
    Ok(Some(json!({
        "id": org.id,
        "slug": org.slug,
        "name": org.name,
        "domains": domains,
        "scim_enabled": org.scim_enabled,
        "group_sync": org.group_sync,
        "strict_attributes": org.strict_attributes,
        "required_attributes": org.required_attrs,
        "role_attribute": org.role_attribute,
        "role_mapping": mapping,
        "default_role": org.default_role,
        "sso": idp,
        "idp_initiated": org.idp_initiated,
        "jit": org.jit,
        "clock_skew_seconds": org.clock_skew_secs,
        "created": org.created,
    })))
}

/// Records what an admin or CLI change did to an org, given its form before the change
/// (`org_state` read in the same write): org.created, org.updated with `previous`, or
/// org.deleted with the last state; nothing when nothing changed.
pub fn org_changed(
    conn: &Conn,
    org_id: i64,
    before: Option<Value>,
    source: &Source,
    now: &str,
) -> Result<()> {
    let after = org_state(conn, org_id)?;
    let slug_of = |v: &Value| v["slug"].as_str().unwrap_or_default().to_string();
    let (kind, data, previous) = match (before, after) {
        (None, Some(a)) => (Kind::OrgCreated, a, None),
        (Some(b), None) => (Kind::OrgDeleted, b, None),
        (Some(b), Some(a)) => match previous(&b, &a) {
            Some(p) => (Kind::OrgUpdated, a, Some(p)),
            None => return Ok(()),
        },
        (None, None) => return Ok(()),
    };
    let slug = slug_of(&data);
    let org = OrgRef {
        id: org_id,
        slug: &slug,
    };
    let event = Event {
        kind,
        data: data.into(),
        previous,
    };
    record(conn, org, source, now, event)
}

/// An admin or CLI write to an existing org: its state is read when the write begins, and
/// `finish` records what changed (inside the same write).
pub struct OrgWrite<'a> {
    conn: &'a Conn<'a>,
    org_id: i64,
    slug: String,
    before: Option<Value>,
    source: Source,
    now: String,
}

impl<'a> OrgWrite<'a> {
    pub fn begin(conn: &'a Conn, org_id: i64, source: Source, now: &str) -> Result<Self> {
        let before = org_state(conn, org_id)?;
        let slug = before
            .as_ref()
            .and_then(|b| b["slug"].as_str())
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            conn,
            org_id,
            slug,
            before,
            source,
            now: now.to_string(),
        })
    }

    /// A new org, written just now.
    pub fn created(conn: &Conn, org_id: i64, source: &Source, now: &str) -> Result<()> {
        org_changed(conn, org_id, None, source, now)
    }

    /// The users whose role the change re-resolved (`orgs::reresolve_roles`).
    pub fn roles(&self, changes: &[orgs::RoleChange]) -> Result<()> {
        let org = OrgRef {
            id: self.org_id,
            slug: &self.slug,
        };
        roles_changed(self.conn, org, changes, &self.source, &self.now)
    }

    pub fn finish(self) -> Result<()> {
        org_changed(self.conn, self.org_id, self.before, &self.source, &self.now)
    }
}

/// Records user.updated for each user whose role a mapping or setting change re-resolved.
pub fn roles_changed(
    conn: &Conn,
    org: OrgRef<'_>,
    changes: &[orgs::RoleChange],
    source: &Source,
    now: &str,
) -> Result<()> {
    for change in changes {
        let Some(user) = resources::get(conn, ResourceKind::User, org.id, &change.user_id, false)?
        else {
            continue;
        };
        let previous = json!({"role_value": change.old_raw, "role": change.old_role});
        let event = Event {
            kind: Kind::UserUpdated,
            data: product::user_ref(&user).into(),
            previous: Some(previous),
        };
        record(conn, org, source, now, event)?;
    }
    Ok(())
}

/// user.created for a user written outside SCIM (just-in-time at sign-in, a local account).
pub fn user_created(
    conn: &Conn,
    org: OrgRef<'_>,
    user: &crate::store::resources::Stored,
    source: &Source,
    now: &str,
) -> Result<()> {
    let event = Event {
        kind: Kind::UserCreated,
        data: product::user_ref(user).into(),
        previous: None,
    };
    record(conn, org, source, now, event)
}

/// A membership event's `data`: the group and the member by id, and the group's product
/// form after the change (its version moves with its members).
pub fn membership(group: &Value, member_id: &str, member_type: &str) -> Value {
    json!({
        "group_id": group["id"],
        "member_id": member_id,
        "member_type": member_type,
        "group": group,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(version: i64, data: Value, role: Option<&str>) -> resources::Stored {
        resources::Stored {
            seq: 1,
            id: "u-1".into(),
            data,
            version,
            created: "t0".into(),
            last_modified: format!("t{version}"),
            role_raw: role.map(str::to_string),
            role: role.map(str::to_string),
            members: None,
        }
    }

    /// `previous` over two whole product forms, `scim` keys included, keeping the old SCIM
    /// document only when nothing else changed: what `changed` answers without the copies.
    fn whole_comparison(before: &Value, after: &Value) -> Option<Value> {
        let mut p = previous(before, after)?;
        if let Some(m) = p.as_object_mut()
            && m.len() > 1
        {
            m.shift_remove("scim");
        }
        Some(p)
    }

    #[test]
    fn only_what_changed_is_previous() {
        let doc = |active: bool, email: &str, nick: &str| json!({"userName": "a", "active": active, "emails": [{"value": email}], "nickName": nick});
        let before = stored(1, doc(true, "a@x", "n"), None);
        let change = |b: &resources::Stored, a: &resources::Stored| {
            let got = user_change(&product::user_ref(b), &product::user_ref(a));
            // The same answer as the whole comparison of both product forms.
            let want = whole_comparison(&product::user(b), &product::user(a));
            assert_eq!(got.as_ref().map(|c| &c.1), want.as_ref());
            got
        };
        assert_eq!(
            change(&before, &stored(2, doc(true, "a@x", "n"), None)),
            None
        );
        let off = stored(2, doc(false, "a@x", "n"), None);
        assert_eq!(
            change(&before, &off),
            Some((Kind::UserDeactivated, json!({"active": true})))
        );
        assert_eq!(
            change(&off, &before).map(|c| c.0),
            Some(Kind::UserReactivated)
        );
        let renamed = stored(2, doc(true, "b@x", "n"), None);
        assert_eq!(
            change(&before, &renamed),
            Some((Kind::UserUpdated, json!({"email": "a@x"})))
        );
        // A SCIM-only attribute: the old document is what changed.
        let nick = stored(2, doc(true, "a@x", "m"), None);
        let old_scim = json!({"userName": "a", "active": true, "emails": [{"value": "a@x"}], "nickName": "n", "id": "u-1"});
        assert_eq!(
            change(&before, &nick),
            Some((Kind::UserUpdated, json!({"scim": old_scim})))
        );
        // The resolved role alone (the document unchanged).
        let admin = stored(2, doc(true, "a@x", "n"), Some("admin"));
        assert_eq!(
            change(&before, &admin),
            Some((Kind::UserUpdated, json!({"role_value": null, "role": null})))
        );
        // A document that carries an `id` of its own: the product form's id wins in both.
        let with_id = |nick: &str| {
            stored(
                1,
                json!({"userName": "a", "id": "x", "nickName": nick}),
                None,
            )
        };
        assert_eq!(change(&with_id("n"), &with_id("n")), None);
        assert!(change(&with_id("n"), &with_id("m")).is_some());
    }

    #[test]
    fn a_groups_change_is_the_whole_comparison() {
        let group = |v: i64, name: &str, extra: &str| {
            stored(v, json!({"displayName": name, "urn:x": extra}), None)
        };
        let before = group(1, "Eng", "a");
        for after in [
            group(2, "Eng", "a"),
            group(2, "Ops", "a"),
            group(2, "Eng", "b"),
        ] {
            let got = changed(&product::group_ref(&before), &product::group_ref(&after));
            assert_eq!(
                got,
                whole_comparison(&product::group(&before), &product::group(&after))
            );
        }
        let renamed = group(2, "Ops", "b");
        assert_eq!(
            changed(&product::group_ref(&before), &product::group_ref(&renamed)),
            Some(json!({"display_name": "Eng"}))
        );
    }

    /// The envelope as it was built before it was serialized from its parts: a `Value`,
    /// written out compact. Stored and signed bodies must keep these bytes.
    fn envelope_as_value(
        id: &str,
        org: OrgRef<'_>,
        source: &Source,
        now: &str,
        kind: Kind,
        data: Value,
        previous: Option<Value>,
    ) -> String {
        let mut body = Map::new();
        body.insert("id".into(), Value::String(id.into()));
        body.insert("type".into(), kind.as_str().into());
        body.insert("timestamp".into(), now.into());
        body.insert("org".into(), json!({"id": org.id, "slug": org.slug}));
        body.insert("source".into(), source.to_json());
        body.insert("data".into(), data);
        if let Some(previous) = previous {
            body.insert("previous".into(), previous);
        }
        crate::directory::compact(&Value::Object(body))
    }

    #[test]
    fn an_envelope_has_the_bytes_of_its_value() {
        let docs = [
            json!({"userName": "a@x", "emails": [{"value": "A@X", "primary": true}], "active": false}),
            // An `id` of its own keeps its place, with the resource's id in it.
            json!({"id": "x", "userName": "a", "n": -1.5, "big": 12345678901234_i64, "none": null}),
            json!({"userName": "q \" \\ \t \n \u{1} é 😀 </script>", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": {"value": "m"}}}),
            json!({}),
            json!("not an object"),
        ];
        let org = OrgRef {
            id: 7,
            slug: "acme",
        };
        let mut source = Source::scim(Some("req-1".into()));
        for (i, doc) in docs.into_iter().enumerate() {
            let s = stored(3, doc, (i % 2 == 0).then_some("admin"));
            let previous = (i % 2 == 1).then(|| json!({"email": "old@x", "scim": {"a": [1]}}));
            for (kind, data, value) in [
                (
                    Kind::UserUpdated,
                    Data::from(product::user_ref(&s)),
                    product::user(&s),
                ),
                (
                    Kind::GroupCreated,
                    Data::from(product::group_ref(&s)),
                    product::group(&s),
                ),
                (
                    Kind::OrgUpdated,
                    Data::from(json!({"slug": "acme", "n": 1})),
                    json!({"slug": "acme", "n": 1}),
                ),
            ] {
                let event = Event {
                    kind,
                    data,
                    previous: previous.clone(),
                };
                let got = envelope(org, &source, "2026-12-05T00:00:00Z", event);
                let want = envelope_as_value(
                    &got.id,
                    org,
                    &source,
                    "2026-12-05T00:00:00Z",
                    kind,
                    value,
                    previous.clone(),
                );
                assert_eq!(got.body, want);
                assert_eq!(
                    serde_json::from_str::<Value>(&got.body).unwrap()["id"],
                    got.id.as_str()
                );
            }
            source = Source::admin("ops@x");
        }
    }

    #[test]
    fn the_documented_patterns_are_the_ones_accepted() {
        let patterns = canonical_patterns();
        assert_eq!(&patterns[..4], ["*", "user.*", "group.*", "org.*"]);
        assert_eq!(patterns.len(), 4 + Kind::ALL.len());
        for p in &patterns {
            assert_eq!(type_pattern(p).as_deref(), Ok(p.as_str()));
        }
        for k in Kind::ALL {
            assert!(
                patterns
                    .iter()
                    .any(|p| type_matches(std::slice::from_ref(p), k.as_str()))
            );
        }
        assert!(type_pattern("user").is_err() && type_pattern("users.*").is_err());
    }

    #[test]
    fn every_kind_has_its_name() {
        let names: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }
}
