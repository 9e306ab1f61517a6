//! What each SCIM operation does, between the HTTP handlers and the store: canonicalize,
//! check org rules, resolve roles, write through the group-commit writer.

use serde_json::Value;

use crate::clock::timestamp;
use crate::directory::patch::{self, MemberChange};
use crate::directory::product;
use crate::directory::resource::{self, Mode, UnknownAttrs};
use crate::directory::schema::ResourceKind;
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
    let raw = identity::raw_role(doc, &org.role_attribute);
    let maps = orgs::role_mappings(conn, org.id)?;
    let resolved = identity::resolve_role(raw.as_deref(), &maps, org.default_role.as_deref());
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

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
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

    fn event(&self, kind: Kind, data: Value, previous: Option<Value>) -> Result<()> {
        let event = Event {
            kind,
            data,
            previous,
        };
        events::record(self.conn, self.org, self.source, self.now, event)
    }

    /// A user written over `before`: its deactivation, reactivation or update, if any.
    fn user_written(&self, before: &Stored, after: &Stored) -> Result<()> {
        let (old, new) = (product::user(before), product::user(after));
        match events::user_change(&old, &new) {
            Some((kind, previous)) => self.event(kind, new, Some(previous)),
            None => Ok(()),
        }
    }

    fn group_written(&self, before: &Stored, after: &Stored) -> Result<()> {
        let (old, new) = (product::group(before), product::group(after));
        match events::previous(&old, &new) {
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
    let now = timestamp(state.clock.now());
    state
        .store
        .write(move |c| {
            let roles = roles(c, &org, &doc)?;
            let stored = res::insert_user(c, org.id, &new_id(), &doc, &roles, &now)?;
            let log = Log::new(c, &org, &source, &now);
            log.event(Kind::UserCreated, product::user(&stored), None)?;
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
            let stored = save_user(c, &org, &id, &doc, Some(&current.data), &now)?;
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
    doc: &Value,
    previous: Option<&Value>,
    now: &str,
) -> Result<Stored> {
    let roles = roles(c, org, doc)?;
    let stored = res::update_user(c, org.id, id, doc, previous, &roles, now)?;
    if doc.get("active").and_then(Value::as_bool) == Some(false) {
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
        .write(move |c| {
            let current = res::get_for_update(c, ResourceKind::User, org.id, &id)?
                .ok_or_else(|| res::not_found(ResourceKind::User, &id))?;
            check_version(if_match.as_deref(), current.version)?;
            let mut doc = current.data.clone();
            let applied = patch::apply_report(ResourceKind::User, &mut doc, &req, &mode(&org))?;
            note_ignored(&applied.ignored);
            let stored = if doc == current.data {
                current
            } else {
                check_required(&org, &doc)?;
                let stored = save_user(c, &org, &id, &doc, Some(&current.data), &now)?;
                Log::new(c, &org, &source, &now).user_written(&current, &stored)?;
                stored
            };
            Ok(Written {
                stored,
                ignored: applied.ignored,
            })
        })
        .await;
    forget_revoked(state, written)
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
                ResourceKind::User => log.event(Kind::UserDeleted, product::user(&last), None)?,
                ResourceKind::Group => {
                    log.event(Kind::GroupDeleted, product::group(&last), None)?
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
    let now = timestamp(state.clock.now());
    state
        .store
        .write(move |c| {
            let id = new_id();
            res::insert_group(c, org.id, &id, &doc, &now)?;
            let added = res::add_members(c, org.id, &id, &members)?;
            let stored = res::get(c, ResourceKind::Group, org.id, &id, true)?
                .ok_or_else(|| Error::internal("group vanished after insert"))?;
            let log = Log::new(c, &org, &source, &now);
            log.event(Kind::GroupCreated, product::group(&stored), None)?;
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
