//! Keyset pages of users, groups and memberships for the product API: each page continues
//! after the last row's position (`seq`, or the member id), on existing indexes, so a page
//! costs the same at any depth and a write between two pages neither repeats nor skips a row
//! that was there all along. (A group's members: `resources::members_after`.)

use crate::store::db::Value as SqlValue;
use crate::store::db::{Conn, params_from_iter};

use super::resources::{Stored, finish, select_list, stored_from_row};
use crate::directory::fold;
use crate::directory::schema::ResourceKind;
use crate::error::Result;

/// Filters of a users page.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    pub active: Option<bool>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    /// Members of this group only.
    pub group: Option<String>,
}

/// Users or groups of an org after position `after`, at most `limit` (+1 to tell whether
/// there is more: the caller trims).
pub fn resources(
    conn: &Conn,
    kind: ResourceKind,
    org_id: i64,
    after: i64,
    limit: u32,
    filter: &UserFilter,
) -> Result<Vec<Stored>> {
    let table = match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "groups",
    };
    let mut sql = format!(
        "SELECT {} FROM {table} r WHERE r.org_id = ?1 AND r.seq > ?2",
        select_list(kind)
    );
    let mut values: Vec<SqlValue> = vec![org_id.into(), after.into()];
    let bind = |v: SqlValue, values: &mut Vec<SqlValue>| {
        values.push(v);
        format!("?{}", values.len())
    };
    if let Some(active) = filter.active {
        let p = bind(active.into(), &mut values);
        sql.push_str(&format!(" AND r.active = {p}"));
    }
    if let Some(id) = &filter.external_id {
        let p = bind(id.clone().into(), &mut values);
        sql.push_str(&format!(" AND r.external_id = {p}"));
    }
    if let Some(email) = &filter.email {
        let p = bind(fold(email.trim()).into(), &mut values);
        // As the product form reads it: a listed email, else a userName that is an address.
        sql.push_str(&format!(
            " AND (r.id IN (SELECT user_id FROM user_emails WHERE value_key = {p})
                   OR (r.user_name_key = {p}
                       AND NOT EXISTS (SELECT 1 FROM user_emails e WHERE e.user_id = r.id)))"
        ));
    }
    if let Some(group) = &filter.group {
        let p = bind(group.clone().into(), &mut values);
        sql.push_str(&format!(
            " AND r.id IN (SELECT member_id FROM group_members WHERE group_id = {p})"
        ));
    }
    let p = bind(i64::from(limit).into(), &mut values);
    sql.push_str(&format!(" ORDER BY r.seq LIMIT {p}"));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values.iter()), stored_from_row(kind))?;
    rows.map(|r| finish(r?)).collect()
}

/// The groups a user is a member of, after position `after`.
pub fn groups_of(
    conn: &Conn,
    org_id: i64,
    user_id: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<Stored>> {
    let sql = format!(
        "SELECT {} FROM groups r JOIN group_members m ON m.group_id = r.id
         WHERE m.member_id = ?1 AND r.org_id = ?2 AND r.seq > ?3 ORDER BY r.seq LIMIT ?4",
        select_list(ResourceKind::Group)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let params = [
        SqlValue::from(user_id.to_string()),
        org_id.into(),
        after.into(),
        i64::from(limit).into(),
    ];
    let rows = stmt.query_map(
        params_from_iter(params.iter()),
        stored_from_row(ResourceKind::Group),
    )?;
    rows.map(|r| finish(r?)).collect()
}
