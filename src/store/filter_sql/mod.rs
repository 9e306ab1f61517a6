//! Translates a parsed SCIM filter (RFC 7644 §3.4.2.2) into a `WHERE` fragment over the
//! `users` / `groups` tables (alias `r`), and `sortBy` into an `ORDER BY` expression, for
//! SQLite or PostgreSQL (the fragments that differ come from `store::dialect`).
//!
//! Semantics chosen here:
//! - Names resolve case-insensitively through `schema::resolve` (then, unqualified, in
//!   the extensions, so Entra's `manager eq "…"` works); an unknown attribute, an
//!   attribute of the other resource type, or an operator/value that does not fit the
//!   attribute's type is `invalidFilter`. Nothing unsupported silently matches everything.
//! - Comparisons on `caseExact = false` attributes fold both sides with `directory::fold`
//!   (the SQL function `scim_fold` on SQLite, ICU's `lower()` on PostgreSQL: see
//!   `dialect::fold`); `co`/`sw`/`ew` use registered functions (SQLite) or `strpos`,
//!   `starts_with`, `right` (PostgreSQL), so `%` and `_` in values are literal.
//! - A missing attribute matches no comparison, **including `ne`**: `title ne "x"` only
//!   matches resources that have a (non-empty) title other than "x". `not (…)` treats an unknown (NULL)
//!   inner result as "no match", so `not (title eq "x")` does match resources without title.
//! - A comparison on a multi-valued attribute matches when any element matches; a
//!   comparison on a complex attribute without a sub-attribute compares its `value`.
//! - `pr`: present and not null, not "", not [] and not {}.
//! - Group members live in `group_members`; `members.value` is compared exactly (it holds
//!   resource ids, which are caseExact); `members.display` and `members.$ref` are not
//!   stored there and cannot be filtered on.
//! - dateTime values are normalized to the stored `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC,
//!   truncated to milliseconds) and compared as text, i.e. chronologically.
//! - `eq null` is rejected (use `pr`); `meta.location` cannot be filtered on.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;

use crate::store::db::{Dialect, Value};
use crate::store::dialect;

use crate::directory::filter::{AttrPath, Filter};
use crate::directory::fold;
use crate::directory::schema::ResourceKind;
use crate::error::Error;

/// A `WHERE` fragment and the values for its `?N` placeholders, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<Value>,
}

/// Most comparisons (and `pr` tests) one filter may contain.
pub const MAX_TERMS: usize = 100;

/// Translates `filter` for resources of `kind` into the dialect `d`. `first_param` is the
/// number of the first `?N` placeholder the fragment may use (the caller binds `?1..`
/// before it).
pub fn filter_to_sql(
    d: Dialect,
    kind: ResourceKind,
    filter: &Filter,
    first_param: usize,
) -> Result<SqlFilter, Error> {
    let mut b = Builder {
        d,
        kind,
        first_param,
        params: Vec::new(),
        terms: 0,
    };
    let sql = b.filter(filter, None)?;
    Ok(SqlFilter {
        sql,
        params: b.params,
    })
}

/// A checked `sortBy` attribute; its ORDER BY expression is `SortKey::sql` of a dialect.
#[derive(Debug, Clone)]
pub struct SortKey {
    kind: ResourceKind,
    path: AttrPath,
}

impl SortKey {
    /// The ORDER BY expression in the dialect `d`.
    pub fn sql(&self, d: Dialect) -> Result<String, Error> {
        sort_sql(d, self.kind, &self.path)
    }
}

/// Checks `sortBy` (RFC 7644 §3.4.2.3) for resources of `kind`: `invalidFilter` for an
/// attribute that cannot be sorted by.
pub fn sort_expr(kind: ResourceKind, path: &AttrPath) -> Result<SortKey, Error> {
    sort_sql(Dialect::Sqlite, kind, path)?;
    Ok(SortKey {
        kind,
        path: path.clone(),
    })
}

/// ORDER BY expression for `sortBy`. Multi-valued attributes sort by their primary (else
/// first) element. Non-caseExact strings sort by their folded form.
fn sort_sql(d: Dialect, kind: ResourceKind, path: &AttrPath) -> Result<String, Error> {
    let t = resolve_path(kind, path)?;
    match place(kind, &t)? {
        Place::Column { expr, .. } => Ok(expr.to_string()),
        // Not a bare NULL: PostgreSQL refuses a constant other than a column number in ORDER BY.
        Place::ResourceType => Ok("CAST(NULL AS TEXT)".to_string()),
        Place::Version => Ok("r.version".to_string()),
        Place::Members => {
            let col = member_column(&t, t.sub)?.0;
            Ok(format!(
                "(SELECT min({col}) FROM group_members gm WHERE gm.group_id = r.id)"
            ))
        }
        Place::MultiJson { array } => {
            let sub = value_sub(&t, t.sub)?;
            let value = sort_value(d, "j.value", &format!("$.{}", label(sub.name)), sub);
            let (from, objects) = dialect::json_objects(d, "r.data", &array);
            Ok(format!(
                "(SELECT {value} FROM {from} WHERE {objects} ORDER BY {} LIMIT 1)",
                dialect::primary_first(d)
            ))
        }
        Place::Json { .. } if t.top.attr.is_complex() => {
            let sub = value_sub(&t, t.sub)?;
            Ok(sort_value(d, "r.data", &json_path(&t.top, Some(sub)), sub))
        }
        Place::Json { path } => Ok(sort_value(d, "r.data", &path, t.top.attr)),
    }
}

/// Whether `filter` is one equality on a column with a unique index (a user's `id`,
/// `userName` or `externalId`; a group's `id`, `externalId` or `displayName`): one index
/// seek, at most one row (`tests::indexed_lookups_do_not_scan` checks the plans). Names
/// resolve as in `filter_to_sql`; anything it would refuse is not such a lookup.
pub fn is_unique_lookup(kind: ResourceKind, filter: &Filter) -> bool {
    let Filter::Compare {
        path,
        op: crate::directory::filter::CompareOp::Eq,
        value: crate::directory::filter::CompValue::String(_),
    } = filter
    else {
        return false;
    };
    let Ok(Place::Column { expr, .. }) = resolve_path(kind, path).and_then(|t| place(kind, &t))
    else {
        return false;
    };
    match expr {
        "r.id" | "r.external_id" => true,
        "r.user_name_key" => kind == ResourceKind::User,
        // Unique for groups only: users' display names repeat.
        "r.display_name_key" => kind == ResourceKind::Group,
        _ => false,
    }
}

/// Registers `scim_fold(x)`, `scim_co(a, b)`, `scim_sw(a, b)` and `scim_ew(a, b)`.
/// Call on every new connection.
pub fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("scim_fold", 1, flags, |ctx| {
        Ok(text(ctx.get_raw(0)).map(fold))
    })?;
    let pairs: [(&str, StrPredicate); 3] = [
        ("scim_co", |a, b| a.contains(b)),
        ("scim_sw", |a, b| a.starts_with(b)),
        ("scim_ew", |a, b| a.ends_with(b)),
    ];
    for (name, f) in pairs {
        conn.create_scalar_function(name, 2, flags, move |ctx| {
            Ok(match (text(ctx.get_raw(0)), text(ctx.get_raw(1))) {
                (Some(a), Some(b)) => Some(f(a, b)),
                _ => None,
            })
        })?;
    }
    Ok(())
}

type StrPredicate = fn(&str, &str) -> bool;

fn text(v: ValueRef<'_>) -> Option<&str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

fn bad(detail: impl Into<String>) -> Error {
    Error::invalid_filter(detail)
}

mod builder;
mod target;

use builder::*;
use target::*;

#[cfg(test)]
mod tests;
