//! The event log's domain: what happened (the event types), where it came from, what changed
//! (`previous`), and the envelope — the exact bytes stored once and served (and signed) as
//! they are. Events are appended by `record`, inside the write that makes the change, so an
//! event exists exactly when its change committed; a write that changes nothing records
//! nothing.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use crate::error::Result;
use crate::store::events::{self as store, Appending};

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
/// the admin's email), `cli` or `signin`.
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

/// What changed between two product forms of a resource: `None` when nothing did, else the
/// old values of the changed fields (the SCIM document only when nothing else changed).
pub fn previous(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return (before != after).then(|| before.clone());
    };
    let changed: Map<String, Value> = b
        .iter()
        .filter(|(k, v)| !BOOKKEEPING.contains(&k.as_str()) && a.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changed.is_empty() {
        return None;
    }
    if changed.len() > 1 {
        let mut without_scim = changed;
        without_scim.remove("scim");
        return Some(Value::Object(without_scim));
    }
    Some(Value::Object(changed))
}

/// The event for a changed user: deactivated, reactivated or updated (`None`: no change).
pub fn user_change(before: &Value, after: &Value) -> Option<(Kind, Value)> {
    let previous = previous(before, after)?;
    let kind = match (before.get("active"), after.get("active")) {
        (Some(Value::Bool(true)), Some(Value::Bool(false))) => Kind::UserDeactivated,
        (Some(Value::Bool(false)), Some(Value::Bool(true))) => Kind::UserReactivated,
        _ => Kind::UserUpdated,
    };
    Some((kind, previous))
}

/// One event to record.
pub struct Event {
    pub kind: Kind,
    pub data: Value,
    pub previous: Option<Value>,
}

/// Appends `event` to the log inside the caller's write; returns its `seq`.
pub fn record(
    conn: &Connection,
    org: OrgRef<'_>,
    source: &Source,
    now: &str,
    event: Event,
) -> Result<i64> {
    let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let row = Appending {
        id: &id,
        org_id: org.id,
        type_: event.kind.as_str(),
        created: now,
        request_id: source.request_id.as_deref(),
    };
    store::append(conn, &row, |seq| {
        let mut envelope = json!({
            "id": id,
            "type": event.kind.as_str(),
            "seq": seq,
            "timestamp": now,
            "org": {"id": org.id, "slug": org.slug},
            "source": source.to_json(),
            "data": event.data,
        });
        if let Some(previous) = event.previous {
            envelope["previous"] = previous;
        }
        envelope.to_string()
    })
}

/// A membership event's `data`: the group and the member, by id.
pub fn membership(group_id: &str, member_id: &str, member_type: &str) -> Value {
    json!({"group_id": group_id, "member_id": member_id, "member_type": member_type})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_changed_is_previous() {
        let before = json!({"id": "1", "active": true, "email": "a@x", "version": 1, "updated": "t1", "scim": {"a": 1}});
        let same = json!({"id": "1", "active": true, "email": "a@x", "version": 2, "updated": "t2", "scim": {"a": 1}});
        assert_eq!(user_change(&before, &same), None);
        let off = json!({"id": "1", "active": false, "email": "a@x", "version": 2, "updated": "t2", "scim": {"a": 2}});
        assert_eq!(
            user_change(&before, &off),
            Some((Kind::UserDeactivated, json!({"active": true})))
        );
        assert_eq!(
            user_change(&off, &before).map(|c| c.0),
            Some(Kind::UserReactivated)
        );
        let renamed = json!({"id": "1", "active": true, "email": "b@x", "version": 2, "updated": "t2", "scim": {"a": 2}});
        assert_eq!(
            user_change(&before, &renamed),
            Some((Kind::UserUpdated, json!({"email": "a@x"})))
        );
        // A SCIM-only attribute: the old document is what changed.
        let scim_only = json!({"id": "1", "active": true, "email": "a@x", "version": 2, "updated": "t2", "scim": {"a": 9}});
        assert_eq!(
            user_change(&before, &scim_only),
            Some((Kind::UserUpdated, json!({"scim": {"a": 1}})))
        );
    }

    #[test]
    fn every_kind_has_its_name() {
        let names: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }
}
