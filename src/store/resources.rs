//! SCIM users and groups: the canonical JSON document plus the key columns derived from it.

use crate::store::db::Value as SqlValue;
use crate::store::db::{Conn, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use super::conflict_on_unique;
use super::dialect;
use super::filter_sql::{SortKey, filter_to_sql};
use crate::directory::filter::Filter;
use crate::directory::fold;
use crate::directory::resource::MemberRef;
use crate::directory::schema::ResourceKind;
use crate::error::{Error, Result};

/// A resource as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Insertion order; pages of unfiltered lists are cut by it.
    pub seq: i64,
    pub id: String,
    pub data: Value,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    pub role_raw: Option<String>,
    pub role: Option<String>,
    /// Group members, when asked for.
    pub members: Option<Vec<Member>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub type_: String,
    pub display: Option<String>,
}

/// The role of a user as stored next to its document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    pub raw: Option<String>,
    pub resolved: Option<String>,
}

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    }
}

fn text<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn to_json(doc: &Value) -> Result<String> {
    serde_json::to_string(doc).map_err(Error::internal)
}

/// A unique violation as a `uniqueness` conflict naming the value: `externalId`, else the
/// type's unique name (`userName` of a user, `displayName` of a group).
fn conflict(e: crate::store::db::Error, kind: ResourceKind, doc: &Value) -> Error {
    let attr = match &e {
        crate::store::db::Error::Unique(m) if m.contains("external_id") => "externalId",
        _ if kind == ResourceKind::User => "userName",
        _ => "displayName",
    };
    let msg = format!(
        "a {} with {attr} {:?} already exists",
        kind.name().to_lowercase(),
        text(doc, attr).unwrap_or_default()
    );
    conflict_on_unique(e, msg)
}

/// The email values of a user document, case-folded, for the lookup table.
fn email_keys(doc: &Value) -> Vec<String> {
    let mut keys: Vec<String> = doc
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .map(fold)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn write_emails(conn: &Conn, id: &str, doc: &Value) -> Result<()> {
    conn.prepare_cached("DELETE FROM user_emails WHERE user_id = ?1")?
        .execute([id])?;
    let mut ins =
        conn.prepare_cached("INSERT INTO user_emails (user_id, value_key) VALUES (?1, ?2)")?;
    for key in email_keys(doc) {
        ins.execute(params![id, key])?;
    }
    Ok(())
}

pub fn insert_user(
    conn: &Conn,
    org_id: i64,
    id: &str,
    doc: &Value,
    roles: &Roles,
    now: &str,
) -> Result<Stored> {
    let user_name =
        text(doc, "userName").ok_or_else(|| Error::invalid_value("userName is required"))?;
    let seq = conn.prepare_cached(
        "INSERT INTO users (id, org_id, user_name, user_name_key, external_id, display_name_key,
                            active, role_raw, role, data, version, created, last_modified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?11)
         RETURNING seq",
    )?
    .query_row(params![
        id,
        org_id,
        user_name,
        fold(user_name),
        text(doc, "externalId"),
        text(doc, "displayName").map(fold),
        doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        roles.raw,
        roles.resolved,
        to_json(doc)?,
            now,
        ],
        |r| r.get::<_, i64>(0),
    )
    .map_err(|e| conflict(e, ResourceKind::User, doc))?;
    write_emails(conn, id, doc)?;
    Ok(Stored {
        seq,
        id: id.to_string(),
        data: doc.clone(),
        version: 1,
        created: now.to_string(),
        last_modified: now.to_string(),
        role_raw: roles.raw.clone(),
        role: roles.resolved.clone(),
        members: None,
    })
}

/// Replaces a user's document; the version goes up by one. NotFound if absent. `previous`,
/// when the caller has it, limits the write to what changed: an indexed key column (and
/// its index) or the email index is rewritten only when its value changed.
pub fn update_user(
    conn: &Conn,
    org_id: i64,
    id: &str,
    doc: Value,
    previous: Option<&Value>,
    roles: &Roles,
    now: &str,
) -> Result<Stored> {
    let user_name =
        text(&doc, "userName").ok_or_else(|| Error::invalid_value("userName is required"))?;
    let changed = |key: &str| previous.is_none_or(|p| text(p, key) != text(&doc, key));
    let mut sql = String::from(
        "UPDATE users SET active = ?3, role_raw = ?4, role = ?5, data = ?6, \
         version = version + 1, last_modified = ?7",
    );
    let mut values: Vec<crate::store::db::Value> = vec![
        org_id.into(),
        id.to_string().into(),
        doc.get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true)
            .into(),
        roles.raw.clone().into(),
        roles.resolved.clone().into(),
        to_json(&doc)?.into(),
        now.to_string().into(),
    ];
    if changed("userName") {
        sql.push_str(", user_name = ?8, user_name_key = ?9");
        values.extend([user_name.to_string().into(), fold(user_name).into()]);
    }
    if changed("externalId") {
        sql.push_str(&format!(", external_id = ?{}", values.len() + 1));
        values.push(text(&doc, "externalId").map(str::to_string).into());
    }
    if changed("displayName") {
        sql.push_str(&format!(", display_name_key = ?{}", values.len() + 1));
        values.push(text(&doc, "displayName").map(fold).into());
    }
    sql.push_str(" WHERE org_id = ?1 AND id = ?2 RETURNING version, created, seq");
    let updated: Option<(i64, String, i64)> = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(values.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .map_err(|e| conflict(e, ResourceKind::User, &doc))?;
    let Some((version, created, seq)) = updated else {
        return Err(not_found(ResourceKind::User, id));
    };
    if previous.is_none_or(|p| email_keys(p) != email_keys(&doc)) {
        write_emails(conn, id, &doc)?;
    }
    Ok(Stored {
        seq,
        id: id.to_string(),
        data: doc,
        version,
        created,
        last_modified: now.to_string(),
        role_raw: roles.raw.clone(),
        role: roles.resolved.clone(),
        members: None,
    })
}

pub fn insert_group(conn: &Conn, org_id: i64, id: &str, doc: &Value, now: &str) -> Result<()> {
    let name =
        text(doc, "displayName").ok_or_else(|| Error::invalid_value("displayName is required"))?;
    conn.prepare_cached(
        "INSERT INTO groups (id, org_id, display_name, display_name_key, external_id, data,
                             version, created, last_modified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
    )?
    .execute(params![
        id,
        org_id,
        name,
        fold(name),
        text(doc, "externalId"),
        to_json(doc)?,
        now
    ])
    .map_err(|e| conflict(e, ResourceKind::Group, doc))?;
    Ok(())
}

/// Replaces a group's document (not its members); the version goes up by one.
pub fn update_group(conn: &Conn, org_id: i64, id: &str, doc: &Value, now: &str) -> Result<()> {
    let name =
        text(doc, "displayName").ok_or_else(|| Error::invalid_value("displayName is required"))?;
    let n = conn
        .prepare_cached(
            "UPDATE groups SET display_name = ?3, display_name_key = ?4, external_id = ?5,
                    data = ?6, version = version + 1, last_modified = ?7
             WHERE org_id = ?1 AND id = ?2",
        )?
        .execute(params![
            org_id,
            id,
            name,
            fold(name),
            text(doc, "externalId"),
            to_json(doc)?,
            now
        ])
        .map_err(|e| conflict(e, ResourceKind::Group, doc))?;
    if n == 0 {
        return Err(not_found(ResourceKind::Group, id));
    }
    Ok(())
}

pub fn not_found(kind: ResourceKind, id: &str) -> Error {
    Error::NotFound(format!("{} {id:?} not found", kind.name()))
}

const COLUMNS: &str = "r.id, r.data, r.version, r.created, r.last_modified, r.seq";

pub(super) fn stored_from_row(
    kind: ResourceKind,
) -> impl Fn(&Row<'_>) -> crate::store::db::Result<(Stored, String)> {
    move |r| {
        let data: String = r.get(1)?;
        let (role_raw, role) = match kind {
            ResourceKind::User => (r.get(6)?, r.get(7)?),
            ResourceKind::Group => (None, None),
        };
        Ok((
            Stored {
                seq: r.get(5)?,
                id: r.get(0)?,
                data: Value::Null,
                version: r.get(2)?,
                created: r.get(3)?,
                last_modified: r.get(4)?,
                role_raw,
                role,
                members: None,
            },
            data,
        ))
    }
}

pub(super) fn select_list(kind: ResourceKind) -> String {
    match kind {
        ResourceKind::User => format!("{COLUMNS}, r.role_raw, r.role"),
        ResourceKind::Group => COLUMNS.to_string(),
    }
}

pub(super) fn finish(pair: (Stored, String)) -> Result<Stored> {
    let (mut s, data) = pair;
    s.data = serde_json::from_str(&data).map_err(Error::internal)?;
    Ok(s)
}

pub fn get(
    conn: &Conn,
    kind: ResourceKind,
    org_id: i64,
    id: &str,
    with_members: bool,
) -> Result<Option<Stored>> {
    get_locking(conn, kind, org_id, id, with_members, "")
}

/// `get` for a write that will change the resource: on PostgreSQL the row stays locked to
/// the end of the transaction, so a concurrent write of the same resource through another
/// instance waits and then sees this one's version (If-Match and version semantics hold
/// across instances: no lost update). SQLite's single writer serializes writes already.
pub fn get_for_update(
    conn: &Conn,
    kind: ResourceKind,
    org_id: i64,
    id: &str,
) -> Result<Option<Stored>> {
    let lock = if conn.is_pg() { " FOR UPDATE OF r" } else { "" };
    get_locking(conn, kind, org_id, id, false, lock)
}

fn get_locking(
    conn: &Conn,
    kind: ResourceKind,
    org_id: i64,
    id: &str,
    with_members: bool,
    lock: &str,
) -> Result<Option<Stored>> {
    let sql = format!(
        "SELECT {} FROM {} r WHERE r.id = ?1 AND r.org_id = ?2{lock}",
        select_list(kind),
        table(kind)
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![id, org_id], stored_from_row(kind))
        .optional()?;
    let Some(pair) = found else { return Ok(None) };
    let mut s = finish(pair)?;
    if with_members && kind == ResourceKind::Group {
        s.members = Some(members(conn, &s.id)?);
    }
    Ok(Some(s))
}

/// Deletes a resource and every membership that names it. False when absent.
/// Deletes a resource and its memberships in other groups; `None` if it did not exist, else
/// the groups it was a member of.
pub fn delete(
    conn: &Conn,
    kind: ResourceKind,
    org_id: i64,
    id: &str,
) -> Result<Option<Vec<String>>> {
    let sql = format!("DELETE FROM {} WHERE org_id = ?1 AND id = ?2", table(kind));
    let n = conn.prepare_cached(&sql)?.execute(params![org_id, id])?;
    if n == 0 {
        return Ok(None);
    }
    let mut del =
        conn.prepare_cached("DELETE FROM group_members WHERE member_id = ?1 RETURNING group_id")?;
    let groups = del.query_map([id], |r| r.get(0))?;
    Ok(Some(groups.collect::<crate::store::db::Result<_>>()?))
}

/// A list query: filter, order, and a 1-based page.
pub struct ListQuery<'a> {
    pub filter: Option<&'a Filter>,
    /// A `sortBy` from `filter_sql::sort_expr`, and descending.
    pub sort: Option<(SortKey, bool)>,
    pub start_index: u64,
    pub count: u64,
    pub with_members: bool,
    /// For an unfiltered list in insertion order: the page starts after this `seq` (a
    /// cursor remembered from the previous page), so no rows are skipped one by one.
    pub after_seq: Option<i64>,
}

/// Returns (totalResults, the page).
pub fn list(
    conn: &Conn,
    kind: ResourceKind,
    org_id: i64,
    q: &ListQuery<'_>,
) -> Result<(u64, Vec<Stored>)> {
    let mut params: Vec<SqlValue> = vec![SqlValue::Int(org_id)];
    let mut where_sql = "r.org_id = ?1".to_string();
    if let Some(f) = q.filter {
        let frag = filter_to_sql(conn.dialect(), kind, f, 2)?;
        where_sql = format!("{where_sql} AND ({})", frag.sql);
        params.extend(frag.params);
    }
    let total: i64 = match q.filter {
        // Unfiltered totals come from the org's counters, kept by triggers: no row count.
        None => conn
            .prepare_cached(dialect::org_count(
                conn.dialect(),
                kind == ResourceKind::User,
            ))?
            .query_row([org_id], |r| r.get(0))?,
        Some(_) => conn
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM {} r WHERE {where_sql}",
                table(kind)
            ))?
            .query_row(params_from_iter(params.iter()), |r| r.get(0))?,
    };
    let mut page = Vec::new();
    if q.count > 0 {
        let order = match &q.sort {
            Some((key, desc)) => {
                let dir = if *desc { "DESC" } else { "ASC" };
                format!("{} {dir} NULLS LAST, r.seq", key.sql(conn.dialect())?)
            }
            None => "r.seq".to_string(),
        };
        // With a cursor the page is a seek; otherwise its rows are chosen by `seq` alone
        // first, so that skipping `startIndex` rows walks an index, not whole rows.
        let cursor = q
            .after_seq
            .filter(|_| q.filter.is_none() && q.sort.is_none());
        let mut bound = params.clone();
        let sql = if let Some(after) = cursor {
            bound.push(SqlValue::Int(after));
            format!(
                "SELECT {cols} FROM {t} r WHERE r.org_id = ?1 AND r.seq > ?2
                 ORDER BY r.seq LIMIT {}",
                q.count,
                cols = select_list(kind),
                t = table(kind),
            )
        } else {
            format!(
                "SELECT {cols} FROM {t} r WHERE r.seq IN (
                 SELECT r.seq FROM {t} r WHERE {where_sql} ORDER BY {order} LIMIT {} OFFSET {}
             ) ORDER BY {order}",
                q.count,
                q.start_index.saturating_sub(1),
                cols = select_list(kind),
                t = table(kind),
            )
        };
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(bound.iter()), stored_from_row(kind))?;
        for row in rows {
            let mut s = finish(row?)?;
            if q.with_members && kind == ResourceKind::Group {
                s.members = Some(members(conn, &s.id)?);
            }
            page.push(s);
        }
    }
    Ok((u64::try_from(total).unwrap_or(0), page))
}

/// A group's members, with a display name from the member resource.
/// Every member of a group, in member id order.
pub fn members(conn: &Conn, group_id: &str) -> Result<Vec<Member>> {
    members_after(conn, group_id, "", u32::MAX)
}

/// A group's members after member id `after` (keyset pages), in member id order, at most
/// `limit`; `display` is what the client sent, else the member's current name.
pub fn members_after(conn: &Conn, group_id: &str, after: &str, limit: u32) -> Result<Vec<Member>> {
    let sql = format!(
        "SELECT m.member_id, m.member_type,
                COALESCE(m.display, {}, u.user_name, g.display_name)
         FROM group_members m
         LEFT JOIN users u ON m.member_type = 'User' AND u.id = m.member_id
         LEFT JOIN groups g ON m.member_type = 'Group' AND g.id = m.member_id
         WHERE m.group_id = ?1 AND m.member_id > ?2 ORDER BY m.member_id LIMIT ?3",
        dialect::json_text(conn.dialect(), "u.data", "$.displayName")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![group_id, after, limit], |r| {
        Ok(Member {
            value: r.get(0)?,
            type_: r.get(1)?,
            display: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<crate::store::db::Result<_>>()?)
}

/// A membership that a write added or removed: the member's id and type (`User`, `Group`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChanged {
    pub id: String,
    pub type_: String,
}

/// Adds members, each a user or group of the same org; re-adding one changes nothing.
/// An id that names nothing in this org is an `invalidValue` error naming it. Returns the
/// memberships that are new.
pub fn add_members(
    conn: &Conn,
    org_id: i64,
    group_id: &str,
    add: &[MemberRef],
) -> Result<Vec<MemberChanged>> {
    let mut kind_of = conn.prepare_cached(
        "SELECT 'User' FROM users WHERE id = ?1 AND org_id = ?2
         UNION ALL SELECT 'Group' FROM groups WHERE id = ?1 AND org_id = ?2",
    )?;
    let mut ins = conn.prepare_cached(
        "INSERT INTO group_members (group_id, member_id, member_type, display)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    )?;
    let mut added = Vec::new();
    for m in add {
        let found: Option<String> = kind_of
            .query_row(params![m.value, org_id], |r| r.get(0))
            .optional()?;
        let Some(member_type) = found else {
            return Err(Error::invalid_value(format!(
                "members: no user or group with id {:?} exists",
                m.value
            )));
        };
        if member_type == "Group" && m.value == group_id {
            return Err(Error::invalid_value(
                "members: a group cannot be a member of itself",
            ));
        }
        if let Some(t) = m.type_.as_deref().filter(|t| *t != member_type) {
            return Err(Error::invalid_value(format!(
                "members: {:?} is a {member_type}, not a {t}",
                m.value
            )));
        }
        if ins.execute(params![group_id, m.value, member_type, m.display])? > 0 {
            added.push(MemberChanged {
                id: m.value.clone(),
                type_: member_type,
            });
        }
    }
    Ok(added)
}

fn changed_rows(r: &Row<'_>) -> crate::store::db::Result<MemberChanged> {
    Ok(MemberChanged {
        id: r.get(0)?,
        type_: r.get(1)?,
    })
}

/// Removes the named members; returns those that were members.
pub fn remove_members(conn: &Conn, group_id: &str, ids: &[String]) -> Result<Vec<MemberChanged>> {
    let mut del = conn.prepare_cached(
        "DELETE FROM group_members WHERE group_id = ?1 AND member_id = ?2
         RETURNING member_id, member_type",
    )?;
    let mut removed = Vec::new();
    for id in ids {
        if let Some(m) = del
            .query_row(params![group_id, id], changed_rows)
            .optional()?
        {
            removed.push(m);
        }
    }
    Ok(removed)
}

/// Removes every member; returns them.
pub fn remove_all_members(conn: &Conn, group_id: &str) -> Result<Vec<MemberChanged>> {
    let mut del = conn.prepare_cached(
        "DELETE FROM group_members WHERE group_id = ?1 RETURNING member_id, member_type",
    )?;
    let removed = del.query_map([group_id], changed_rows)?;
    Ok(removed.collect::<crate::store::db::Result<_>>()?)
}

/// Bumps a group's version after a membership change.
pub fn touch_group(conn: &Conn, org_id: i64, id: &str, now: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE groups SET version = version + 1, last_modified = ?3 WHERE org_id = ?1 AND id = ?2",
    )?
    .execute(params![org_id, id, now])?;
    Ok(())
}

/// The current version of a resource, for If-Match checks; NotFound if absent.
pub fn version(conn: &Conn, kind: ResourceKind, org_id: i64, id: &str) -> Result<i64> {
    let sql = format!(
        "SELECT version FROM {} WHERE org_id = ?1 AND id = ?2",
        table(kind)
    );
    conn.prepare_cached(&sql)?
        .query_row(params![org_id, id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| not_found(kind, id))
}
