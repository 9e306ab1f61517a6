//! What each SCIM operation does, between the HTTP handlers and the store: canonicalize,
//! check org rules, resolve roles, write through the group-commit writer.

use serde_json::Value;

use crate::clock::timestamp;
use crate::directory::patch::{self, MemberChange};
use crate::directory::resource::{self, Mode, UnknownAttrs};
use crate::directory::schema::ResourceKind;
use crate::directory::{new_id, product};
use crate::error::{Error, Result};
use crate::events::{self, Event, Kind, OrgRef, Source};
use crate::identity;
use crate::state::AppState;
use crate::store::orgs::{self, Org};
use crate::store::resources::{self as res, MemberChanged, Roles, Stored};
use crate::store::sessions;

/// A written resource, and the attributes that were dropped because the schema does not
/// define them (lenient mode) — the provisioning log shows them to the admin.
pub struct Written {
    pub stored: Stored,
    pub ignored: Vec<String>,
}

fn note_ignored(ignored: &[String]) {
    if !ignored.is_empty() {
        tracing::info!(
            ?ignored,
            "ignored attributes the schema does not define (lenient mode)"
        );
    }
}

/// A user written without `active` is active (RFC 7643 leaves the default to the service
/// provider); storing it makes `active eq true` filters and sign-in agree.
fn default_active(mut doc: Value) -> Value {
    if let Some(obj) = doc.as_object_mut() {
        obj.entry("active").or_insert(Value::Bool(true));
    }
    doc
}

/// The org's attribute-handling mode.
pub fn mode(org: &Org) -> Mode {
    Mode {
        unknown: if org.strict_attributes {
            UnknownAttrs::Reject
        } else {
            UnknownAttrs::Ignore
        },
        extra_allowed: if org.role_attribute.eq_ignore_ascii_case("roles") {
            Vec::new()
        } else {
            vec![org.role_attribute.clone()]
        },
    }
}

fn check_required(org: &Org, doc: &Value) -> Result<()> {
    match resource::required_missing(doc, &org.required_attrs) {
        Some(missing) => Err(Error::invalid_value(format!(
            "{missing} is required by this organization's settings"
        ))),
        None => Ok(()),
    }
}

/// Resolves the user's role inside the write transaction (mappings are read there).
fn roles(conn: &crate::store::db::Conn, org: &Org, doc: &Value) -> Result<Roles> {
    let mappings = orgs::role_mappings(conn, org.id)?;
    let raw = identity::raw_role(doc, &org.role_attribute);
    let resolved = identity::resolve_role(raw.as_deref(), &mappings, org.default_role.as_deref());
    Ok(Roles { raw, resolved })
}

/// `If-Match`: `*` or the current ETag; anything else → 412.
fn check_version(if_match: Option<&str>, current: i64) -> Result<()> {
    match if_match {
        Some(header) if !super::render::etag_matches(header, current) => {
            Err(Error::PreconditionFailed)
        }
        _ => Ok(()),
    }
}

/// Records events for one write, inside it.
struct Log<'a> {
    conn: &'a crate::store::db::Conn<'a>,
    org: OrgRef<'a>,
    source: &'a Source,
    now: &'a str,
}

impl<'a> Log<'a> {
    fn new(
        conn: &'a crate::store::db::Conn,
        org: &'a Org,
        source: &'a Source,
        now: &'a str,
    ) -> Self {
        Self {
            conn,
            org: OrgRef {
                id: org.id,
                slug: &org.slug,
            },
            source,
            now,
        }
    }

    fn event<'d>(
        &self,
        kind: Kind,
        data: impl Into<events::Data<'d>>,
        previous: Option<Value>,
    ) -> Result<()> {
        let event = Event {
            kind,
            data: data.into(),
            previous,
        };
        events::record(self.conn, self.org, self.source, self.now, event)
    }

    /// A user written over `before`: its deactivation, reactivation or update, if any.
    fn user_written(&self, before: &Stored, after: &Stored) -> Result<()> {
        let new = product::user_ref(after);
        match events::user_change(&product::user_ref(before), &new) {
            Some((kind, previous)) => self.event(kind, new, Some(previous)),
            None => Ok(()),
        }
    }

    fn group_written(&self, before: &Stored, after: &Stored) -> Result<()> {
        let new = product::group_ref(after);
        match events::changed(&product::group_ref(before), &new) {
            Some(previous) => self.event(Kind::GroupUpdated, new, Some(previous)),
            None => Ok(()),
        }
    }

    /// One event per changed membership of `group` (as it is after the write, so that the
    /// product's copy of the group's version follows).
    fn members(&self, group: &Stored, kind: Kind, changed: &[MemberChanged]) -> Result<()> {
        for m in changed {
            let data = events::membership(&product::group(group), &m.id, &m.type_);
            self.event(kind, data, None)?;
        }
        Ok(())
    }
}

pub async fn create_user(
    state: &AppState,
    org: Org,
    source: Source,
    body: Value,
) -> Result<Written> {
    let canonical = resource::canonicalize(ResourceKind::User, &body, &mode(&org))?;
    let (doc, ignored) = (default_active(canonical.doc), canonical.ignored);
    note_ignored(&ignored);
    check_required(&org, &doc)?;
    let at = state.clock.now();
    let now = timestamp(at);
    state
        .store
        .write(move |c| {
            let roles = roles(c, &org, &doc)?;
            let stored = res::insert_user(c, org.id, &new_id(at), &doc, &roles, &now)?;
            let log = Log::new(c, &org, &source, &now);
            log.event(Kind::UserCreated, product::user_ref(&stored), None)?;
            Ok(stored)
        })
        .await
        .map(|stored| Written { stored, ignored })
}

pub async fn replace_user(
    state: &AppState,
    org: Org,
    source: Source,
    id: String,
    body: Value,
    if_match: Option<String>,
) -> Result<Written> {
    let canonical = resource::canonicalize(ResourceKind::User, &body, &mode(&org))?;
    let (doc, ignored) = (default_active(canonical.doc), canonical.ignored);
    note_ignored(&ignored);
    check_required(&org, &doc)?;
    let now = timestamp(state.clock.now());
    let written = state
        .store
        .write(move |c| {
            let current = res::get_for_update(c, ResourceKind::User, org.id, &id)?
                .ok_or_else(|| res::not_found(ResourceKind::User, &id))?;
            check_version(if_match.as_deref(), current.version)?;
            let roles = roles(c, &org, &doc)?;
            let stored = save_user(c, &org, &id, doc, Some(&current.data), &roles, &now)?;
            Log::new(c, &org, &source, &now).user_written(&current, &stored)?;
            Ok(stored)
        })
        .await
        .map(|stored| Written { stored, ignored });
    forget_revoked(state, written)
}

/// Stores a changed user document, re-resolving its role; deactivation revokes sessions.
fn save_user(
    c: &crate::store::db::Conn,
    org: &Org,
    id: &str,
    doc: Value,
    previous: Option<&Value>,
    roles: &Roles,
    now: &str,
) -> Result<Stored> {
    let stored = res::update_user(c, org.id, id, doc, previous, roles, now)?;
    if stored.data.get("active").and_then(Value::as_bool) == Some(false) {
        on_user_deprovisioned(c, id, now)?;
    }
    Ok(stored)
}

pub async fn patch_user(
    state: &AppState,
    org: Org,
    source: Source,
    id: String,
    body: Value,
    if_match: Option<String>,
) -> Result<Written> {
    let req = patch::parse_patch(&body)?;
    let now = timestamp(state.clock.now());
    let written = state
        .store
        .write(move |c| write_user_patch(c, &org, &source, &id, &req, if_match.as_deref(), &now))
        .await;
    forget_revoked(state, written)
}

/// A user PATCH, all of it inside the writer: the read (the writer's page cache holds what
/// it wrote), `If-Match`, the PATCH itself, the role its document resolves to, the UPDATE
/// and the event. A PATCH that changes nothing writes nothing and records no event.
fn write_user_patch(
    c: &crate::store::db::Conn,
    org: &Org,
    source: &Source,
    id: &str,
    req: &patch::PatchRequest,
    if_match: Option<&str>,
    now: &str,
) -> Result<Written> {
    let current = res::get_for_update(c, ResourceKind::User, org.id, id)?
        .ok_or_else(|| res::not_found(ResourceKind::User, id))?;
    check_version(if_match, current.version)?;
    let mut doc = current.data.clone();
    let applied = patch::apply_report(ResourceKind::User, &mut doc, req, &mode(org))?;
    note_ignored(&applied.ignored);
    if doc == current.data {
        return Ok(Written {
            stored: current,
            ignored: applied.ignored,
        });
    }
    check_required(org, &doc)?;
    let roles = roles(c, org, &doc)?;
    let stored = save_user(c, org, id, doc, Some(&current.data), &roles, now)?;
    Log::new(c, org, source, now).user_written(&current, &stored)?;
    Ok(Written {
        stored,
        ignored: applied.ignored,
    })
}

pub async fn delete(
    state: &AppState,
    org: Org,
    source: Source,
    kind: ResourceKind,
    id: String,
    if_match: Option<String>,
    actor: String,
) -> Result<Stored> {
    let now = timestamp(state.clock.now());
    let deleted = id.clone();
    let last = state
        .store
        .write(move |c| {
            let last = res::get_for_update(c, kind, org.id, &id)?
                .ok_or_else(|| res::not_found(kind, &id))?;
            check_version(if_match.as_deref(), last.version)?;
            let was_member_of =
                res::delete(c, kind, org.id, &id)?.ok_or_else(|| res::not_found(kind, &id))?;
            if kind == ResourceKind::User {
                on_user_deprovisioned(c, &id, &now)?;
            }
            let log = Log::new(c, &org, &source, &now);
            let member_type = kind.name();
            let gone = [MemberChanged {
                id: id.clone(),
                type_: member_type.to_string(),
            }];
            for group in &was_member_of {
                if let Some(g) = res::get(c, ResourceKind::Group, org.id, group, false)? {
                    log.members(&g, Kind::GroupMemberRemoved, &gone)?;
                }
            }
            match kind {
                ResourceKind::User => {
                    log.event(Kind::UserDeleted, product::user_ref(&last), None)?
                }
                ResourceKind::Group => {
                    log.event(Kind::GroupDeleted, product::group_ref(&last), None)?
                }
            }
            let action = format!("scim.{}.delete", kind.name().to_lowercase());
            orgs::audit(c, Some(org.id), &now, &actor, &action, Some(&id), None)?;
            Ok(last)
        })
        .await?;
    // After the commit: positions in lists may have shifted; the user's sessions are gone.
    state.store.cursors.note_delete();
    if kind == ResourceKind::User {
        state.sessions.forget_user(&deleted);
    }
    Ok(last)
}

/// The one place where a user's deactivation or deletion ends their live sessions, inside
/// the write; `forget_revoked` then clears the verified-session memory after the commit.
fn on_user_deprovisioned(conn: &crate::store::db::Conn, user_id: &str, now: &str) -> Result<()> {
    let n = sessions::revoke_user(conn, user_id, now)?;
    if n > 0 {
        tracing::info!(
            user = user_id,
            sessions = n,
            "revoked the sessions of a deprovisioned user"
        );
    }
    Ok(())
}

/// After the commit of a user write: an inactive user's remembered sessions are forgotten,
/// so their very next `/auth/verify` asks the store (and is refused).
fn forget_revoked(state: &AppState, written: Result<Written>) -> Result<Written> {
    if let Ok(w) = &written
        && w.stored.data.get("active").and_then(Value::as_bool) == Some(false)
    {
        state.sessions.forget_user(&w.stored.id);
    }
    written
}

pub async fn create_group(
    state: &AppState,
    org: Org,
    source: Source,
    body: Value,
) -> Result<Written> {
    let canonical = resource::canonicalize(ResourceKind::Group, &body, &mode(&org))?;
    let (doc, ignored) = (canonical.doc, canonical.ignored);
    let members = canonical.members.unwrap_or_default();
    note_ignored(&ignored);
    let at = state.clock.now();
    let now = timestamp(at);
    state
        .store
        .write(move |c| {
            let id = new_id(at);
            res::insert_group(c, org.id, &id, &doc, &now)?;
            let added = res::add_members(c, org.id, &id, &members)?;
            let stored = res::get(c, ResourceKind::Group, org.id, &id, true)?
                .ok_or_else(|| Error::internal("group vanished after insert"))?;
            let log = Log::new(c, &org, &source, &now);
            log.event(Kind::GroupCreated, product::group_ref(&stored), None)?;
            log.members(&stored, Kind::GroupMemberAdded, &added)?;
            Ok(stored)
        })
        .await
        .map(|stored| Written { stored, ignored })
}

pub async fn replace_group(
    state: &AppState,
    org: Org,
    source: Source,
    id: String,
    body: Value,
    if_match: Option<String>,
) -> Result<Written> {
    let canonical = resource::canonicalize(ResourceKind::Group, &body, &mode(&org))?;
    let (doc, ignored) = (canonical.doc, canonical.ignored);
    let members = canonical.members.unwrap_or_default();
    note_ignored(&ignored);
    let now = timestamp(state.clock.now());
    state
        .store
        .write(move |c| {
            let current = res::get_for_update(c, ResourceKind::Group, org.id, &id)?
                .ok_or_else(|| res::not_found(ResourceKind::Group, &id))?;
            check_version(if_match.as_deref(), current.version)?;
            res::update_group(c, org.id, &id, &doc, &now)?;
            let before = res::remove_all_members(c, &id)?;
            let after = res::add_members(c, org.id, &id, &members)?;
            let stored = res::get(c, ResourceKind::Group, org.id, &id, true)?
                .ok_or_else(|| res::not_found(ResourceKind::Group, &id))?;
            // Only the memberships that differ are events: a PUT re-sending the same members
            // changes none of them.
            let removed: Vec<MemberChanged> = before
                .iter()
                .filter(|m| !after.contains(m))
                .cloned()
                .collect();
            let added: Vec<MemberChanged> = after
                .iter()
                .filter(|m| !before.contains(m))
                .cloned()
                .collect();
            let log = Log::new(c, &org, &source, &now);
            log.group_written(&current, &stored)?;
            log.members(&stored, Kind::GroupMemberRemoved, &removed)?;
            log.members(&stored, Kind::GroupMemberAdded, &added)?;
            Ok(stored)
        })
        .await
        .map(|stored| Written { stored, ignored })
}

/// Applies membership changes in order; returns each membership that changed, in order (a
/// member removed and added back within one PATCH is both).
fn apply_member_changes(
    c: &crate::store::db::Conn,
    org_id: i64,
    id: &str,
    changes: &[MemberChange],
) -> Result<Vec<(Kind, MemberChanged)>> {
    let mut touched = Vec::new();
    for change in changes {
        let (removed, added) = match change {
            MemberChange::Add(m) => (Vec::new(), res::add_members(c, org_id, id, m)?),
            MemberChange::Remove(ids) => (res::remove_members(c, id, ids)?, Vec::new()),
            MemberChange::RemoveAll => (res::remove_all_members(c, id)?, Vec::new()),
            MemberChange::Replace(m) => {
                let before = res::remove_all_members(c, id)?;
                let after = res::add_members(c, org_id, id, m)?;
                (
                    before
                        .iter()
                        .filter(|b| !after.contains(b))
                        .cloned()
                        .collect(),
                    after.into_iter().filter(|a| !before.contains(a)).collect(),
                )
            }
        };
        touched.extend(removed.into_iter().map(|m| (Kind::GroupMemberRemoved, m)));
        touched.extend(added.into_iter().map(|m| (Kind::GroupMemberAdded, m)));
    }
    Ok(touched)
}

/// Applies a group PATCH; member operations touch only the named members. Returns the group
/// (with members when `with_members`).
pub async fn patch_group(
    state: &AppState,
    org: Org,
    source: Source,
    id: String,
    body: Value,
    if_match: Option<String>,
    with_members: bool,
) -> Result<Written> {
    let req = patch::parse_patch(&body)?;
    let now = timestamp(state.clock.now());
    state
        .store
        .write(move |c| {
            let current = res::get_for_update(c, ResourceKind::Group, org.id, &id)?
                .ok_or_else(|| res::not_found(ResourceKind::Group, &id))?;
            check_version(if_match.as_deref(), current.version)?;
            let mut doc = current.data.clone();
            let applied = patch::apply_report(ResourceKind::Group, &mut doc, &req, &mode(&org))?;
            note_ignored(&applied.ignored);
            if doc != current.data {
                res::update_group(c, org.id, &id, &doc, &now)?;
            }
            let touched = apply_member_changes(c, org.id, &id, &applied.members)?;
            // Re-adding a member or removing a non-member changes nothing, not even the version.
            if !touched.is_empty() && doc == current.data {
                res::touch_group(c, org.id, &id, &now)?;
            }
            let stored = res::get(c, ResourceKind::Group, org.id, &id, with_members)?
                .ok_or_else(|| res::not_found(ResourceKind::Group, &id))?;
            let log = Log::new(c, &org, &source, &now);
            if doc != current.data {
                log.group_written(&current, &stored)?;
            }
            for (kind, m) in &touched {
                log.members(&stored, *kind, std::slice::from_ref(m))?;
            }
            Ok(Written {
                stored,
                ignored: applied.ignored,
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    const NOW: &str = "2026-12-03T10:00:00Z";
    const LATER: &str = "2026-12-03T10:00:01Z";

    /// A store with one org and one user whose `roles` value is "Admin".
    fn setup() -> (tempfile::TempDir, Store, Org, Stored) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db"), 1, 8).unwrap();
        let (org, user) = store
            .write_now(|c| {
                let org = orgs::create_org(c, "acme", "Acme", &[], NOW)?;
                let doc = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "alice@acme.com", "displayName": "Alice", "active": true,
                    "roles": [{"value": "Admin", "primary": true}],
                });
                let roles = roles(c, &org, &doc)?;
                let user = res::insert_user(c, org.id, "u-1", &doc, &roles, NOW)?;
                Ok((org, user))
            })
            .unwrap();
        (dir, store, org, user)
    }

    fn patch(store: &Store, org: &Org, ops: Value, if_match: Option<&str>) -> Result<Written> {
        let req = patch::parse_patch(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": ops,
        }))
        .unwrap();
        let source = Source::scim(Some("req-1".into()));
        store.write_now(|c| write_user_patch(c, org, &source, "u-1", &req, if_match, LATER))
    }

    fn rename(name: &str) -> Value {
        json!([{"op": "Replace", "path": "displayName", "value": name}])
    }

    fn events(store: &Store) -> Vec<Value> {
        store
            .read_now(|c| crate::store::events::after(c, 0, None, 100))
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str(&e.envelope).unwrap())
            .collect()
    }

    fn stored(store: &Store, org: &Org) -> Stored {
        store
            .read_now(|c| res::get(c, ResourceKind::User, org.id, "u-1", false))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_patch_commits_the_change_and_its_event_together() {
        let (_dir, store, org, user) = setup();
        let written = patch(&store, &org, rename("Alice B"), None).unwrap();
        assert_eq!(written.stored.version, user.version + 1);
        let stored = stored(&store, &org);
        assert_eq!(
            (stored.version, &stored.data),
            (written.stored.version, &written.stored.data)
        );
        assert_eq!(stored.data["displayName"], "Alice B");
        let events = events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "user.updated");
        assert_eq!(events[0]["previous"], json!({"display_name": "Alice"}));
        assert_eq!(events[0]["data"], product::user(&stored));
        assert_eq!(events[0]["source"]["request_id"], "req-1");
    }

    #[test]
    fn a_patch_that_changes_nothing_writes_nothing() {
        let (_dir, store, org, user) = setup();
        let written = patch(&store, &org, rename("Alice"), None).unwrap();
        assert_eq!(written.stored.version, user.version);
        assert_eq!(stored(&store, &org).version, user.version);
        assert!(events(&store).is_empty());
    }

    #[test]
    fn a_stale_if_match_writes_nothing() {
        let (_dir, store, org, user) = setup();
        patch(&store, &org, rename("Alice B"), None).unwrap();
        let stale = crate::scim::render::etag(user.version);
        let refused = patch(&store, &org, rename("Alice C"), Some(&stale));
        assert!(matches!(refused, Err(Error::PreconditionFailed)));
        assert_eq!(stored(&store, &org).data["displayName"], "Alice B");
        assert_eq!(events(&store).len(), 1);
    }

    #[test]
    fn a_patch_resolves_the_role_as_the_mappings_are_now() {
        let (_dir, store, org, _) = setup();
        store
            .write_now(|c| orgs::set_role_mapping(c, org.id, "admin", "owner"))
            .unwrap();
        let written = patch(&store, &org, rename("Alice B"), None).unwrap();
        assert_eq!(written.stored.role.as_deref(), Some("owner"));
        assert_eq!(events(&store)[0]["data"]["role"], "owner");
    }
}
