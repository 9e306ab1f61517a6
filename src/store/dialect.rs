//! The SQL fragments that differ between SQLite and PostgreSQL, in one place. Everything else
//! in `store/` is written once and runs on both. Each builder returns SQLite's text unchanged
//! (what the store ran before PostgreSQL existed, tuned for SQLite's planner) and the
//! PostgreSQL equivalent beside it.
//!
//! JSON documents are TEXT on both engines (their exact bytes are served back); PostgreSQL
//! reads them as `jsonb`, and every text taken out of a document is `COLLATE "C"`, so that
//! comparisons and sorts are by bytes (SQLite's BINARY) whatever the database's locale is.
//! JSON paths are written as SQLite's (`$.a` or `$."a"."b"`) and translated.

use super::db::Dialect;

/// The keys of a SQLite JSON path: `$.a.b`, `$."a:b.c"."d"` → `["a", "b"]`, `["a:b.c", "d"]`.
fn keys(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    while let Some(r) = rest.strip_prefix('.') {
        if let Some(q) = r.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            out.push(&q[..end]);
            rest = q.get(end + 1..).unwrap_or("");
        } else {
            let end = r.find('.').unwrap_or(r.len());
            out.push(&r[..end]);
            rest = &r[end..];
        }
    }
    out
}

/// A PostgreSQL `text[]` literal of the path's keys, for `#>` and `#>>`: `'{"a","b"}'`.
fn pg_path(path: &str) -> String {
    let items: Vec<String> = keys(path)
        .iter()
        .map(|k| format!("\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("'{{{}}}'", items.join(",").replace('\'', "''"))
}

/// The JSON value at `path` of the document `src` (PostgreSQL only: `jsonb`).
fn pg_value(src: &str, path: &str) -> String {
    format!("({src}::jsonb #> {})", pg_path(path))
}

/// The scalar at `path` of the JSON document in `src`: a string as text, NULL when absent.
/// (SQLite keeps numbers and booleans as such; PostgreSQL gives their JSON text.)
pub fn json_text(d: Dialect, src: &str, path: &str) -> String {
    match d {
        Dialect::Sqlite => format!("json_extract({src}, '{path}')"),
        Dialect::Postgres => format!("(({src}::jsonb #>> {}) COLLATE \"C\")", pg_path(path)),
    }
}

/// The number at `path` (NULL when absent or not a number on PostgreSQL), to compare with
/// `number_param`.
pub fn json_number(d: Dialect, src: &str, path: &str) -> String {
    match d {
        Dialect::Sqlite => json_text(d, src, path),
        Dialect::Postgres => {
            let v = pg_value(src, path);
            format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v} #>> '{{}}')::numeric END)")
        }
    }
}

/// A placeholder for a number (`is_int`: an integer, else a real). PostgreSQL must be told
/// the type: it would infer NUMERIC from the comparison, which values are not sent as.
pub fn number_param(d: Dialect, p: &str, is_int: bool) -> String {
    match (d, is_int) {
        (Dialect::Sqlite, _) => p.to_string(),
        (Dialect::Postgres, true) => format!("CAST({p} AS BIGINT)"),
        (Dialect::Postgres, false) => format!("CAST({p} AS DOUBLE PRECISION)"),
    }
}

/// True when the value at `path` is the JSON boolean `want` (NULL when absent).
pub fn json_bool_is(d: Dialect, src: &str, path: &str, want: bool) -> String {
    match d {
        Dialect::Sqlite => format!("json_type({src}, '{path}') = '{want}'"),
        Dialect::Postgres => format!("({} = '{want}'::jsonb)", pg_value(src, path)),
    }
}

/// SCIM's `pr` on a JSON value: present, not null, not "", not [] and not {}. Never NULL.
pub fn json_present(d: Dialect, src: &str, path: &str) -> String {
    match d {
        Dialect::Sqlite => {
            let ty = format!("json_type({src}, '{path}')");
            let x = json_text(d, src, path);
            format!(
                "COALESCE(CASE {ty} WHEN 'text' THEN {x} <> '' WHEN 'array' THEN \
                 json_array_length({src}, '{path}') > 0 WHEN 'object' THEN {x} <> '{{}}' \
                 WHEN 'null' THEN 0 ELSE {ty} IS NOT NULL END, 0)"
            )
        }
        Dialect::Postgres => {
            let v = pg_value(src, path);
            format!(
                "COALESCE(CASE jsonb_typeof({v}) WHEN 'string' THEN ({v} #>> '{{}}') <> '' \
                 WHEN 'array' THEN jsonb_array_length({v}) > 0 \
                 WHEN 'object' THEN {v} <> '{{}}'::jsonb WHEN 'null' THEN FALSE \
                 ELSE {v} IS NOT NULL END, FALSE)"
            )
        }
    }
}

/// The objects of the JSON array at `path` of `src`, as a FROM item `j` with `j.value` (the
/// object) and `j.key` (its position), and the condition that keeps only objects. An absent
/// value or one that is not an array has no elements on PostgreSQL (SQLite's json_each
/// would walk the members of an object; the stored documents have arrays there).
pub fn json_objects(d: Dialect, src: &str, path: &str) -> (String, &'static str) {
    match d {
        Dialect::Sqlite => (format!("json_each({src}, '{path}') j"), "j.type = 'object'"),
        Dialect::Postgres => {
            let v = pg_value(src, path);
            (
                format!(
                    "jsonb_array_elements(CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} END) \
                     WITH ORDINALITY j(value, key)"
                ),
                "jsonb_typeof(j.value) = 'object'",
            )
        }
    }
}

/// ORDER BY terms over `json_objects`: the element marked `"primary": true` first, then in
/// array order.
pub fn primary_first(d: Dialect) -> String {
    let primary = json_bool_is(d, "j.value", "$.\"primary\"", true);
    match d {
        Dialect::Sqlite => format!("{primary} DESC, j.key"),
        // PostgreSQL puts NULLs first in a descending order; SQLite last.
        Dialect::Postgres => format!("{primary} DESC NULLS LAST, j.key"),
    }
}

/// `x` case-folded as `directory::fold` (Rust's `str::to_lowercase`) does, for comparisons
/// of non-caseExact JSON values with a value folded in Rust. SQLite calls the registered
/// `scim_fold`, which is that function. PostgreSQL lowercases with ICU's root locale
/// (`und-x-icu`: full Unicode lowercase mapping, as Rust; the server must be built with ICU,
/// as Debian's, the official images and the managed services are), then compares by bytes.
/// Where the two lowercase mappings disagree, see `fold_tests` below.
pub fn fold(d: Dialect, x: &str) -> String {
    match d {
        Dialect::Sqlite => format!("scim_fold({x})"),
        Dialect::Postgres => format!("(lower(({x}) COLLATE \"und-x-icu\") COLLATE \"C\")"),
    }
}

/// `x` contains the text `p` (`%` and `_` are literal). NULL when either is NULL.
pub fn contains(d: Dialect, x: &str, p: &str) -> String {
    match d {
        Dialect::Sqlite => format!("scim_co({x}, {p})"),
        Dialect::Postgres => format!("(strpos({x}, {p}) > 0)"),
    }
}

/// `x` starts with the text `p`.
pub fn starts_with(d: Dialect, x: &str, p: &str) -> String {
    match d {
        Dialect::Sqlite => format!("scim_sw({x}, {p})"),
        Dialect::Postgres => format!("starts_with({x}, {p})"),
    }
}

/// `x` ends with the text `p`.
pub fn ends_with(d: Dialect, x: &str, p: &str) -> String {
    match d {
        Dialect::Sqlite => format!("scim_ew({x}, {p})"),
        Dialect::Postgres => format!("(right({x}, length({p})) = {p})"),
    }
}

/// The smallest string above every string that starts with `prefix` in byte order (UTF-8
/// byte order is code point order): the prefix with its last character incremented (or
/// dropped when it is the last code point). `None` when there is no such bound: every
/// string is at or above an empty prefix.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(c) = next {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `col = ?` ignoring ASCII case (SQLite's NOCASE), as a condition with one `?`, and the
/// value to bind. PostgreSQL: `lower(col) = ?` with the value lowercased in ASCII only, so
/// that the `lower(col)` indexes serve it (on a `COLLATE "C"` column `lower()` folds ASCII
/// only, as NOCASE does).
pub fn nocase_eq(d: Dialect, col: &str, value: &str) -> (String, String) {
    match d {
        Dialect::Sqlite => (format!("{col} = ? COLLATE NOCASE"), value.to_string()),
        Dialect::Postgres => (format!("lower({col}) = ?"), value.to_ascii_lowercase()),
    }
}

/// `col` in a condition that must not drive the query: SQLite's unary `+` keeps its planner
/// off the column's index; PostgreSQL rejects `+` on text, and its planner chooses by cost.
pub fn unindexed(d: Dialect, col: &str) -> String {
    match d {
        Dialect::Sqlite => format!("+{col}"),
        Dialect::Postgres => col.to_string(),
    }
}

/// One query for an org's (users, groups) counts, `?1` the org id. SQLite's triggers keep
/// them on the org's row; PostgreSQL's add to striped counters (`org_counters`, see
/// migrations/postgres/0001) so that the org's row is not a hot row. The PostgreSQL query
/// also answers (0, 0) for an org that does not exist.
pub fn org_counts(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "SELECT user_count, group_count FROM orgs WHERE id = ?1",
        Dialect::Postgres => {
            "SELECT COALESCE(SUM(n) FILTER (WHERE kind = 'user'), 0)::BIGINT,
                    COALESCE(SUM(n) FILTER (WHERE kind = 'group'), 0)::BIGINT
             FROM org_counters WHERE org_id = ?1"
        }
    }
}

/// One query for one count of an org (`user` or `group`), `?1` the org id.
pub fn org_count(d: Dialect, user: bool) -> &'static str {
    match (d, user) {
        (Dialect::Sqlite, true) => "SELECT user_count FROM orgs WHERE id = ?1",
        (Dialect::Sqlite, false) => "SELECT group_count FROM orgs WHERE id = ?1",
        (Dialect::Postgres, true) => {
            "SELECT COALESCE(SUM(n), 0)::BIGINT FROM org_counters WHERE org_id = ?1 AND kind = 'user'"
        }
        (Dialect::Postgres, false) => {
            "SELECT COALESCE(SUM(n), 0)::BIGINT FROM org_counters WHERE org_id = ?1 AND kind = 'group'"
        }
    }
}

/// The smaller of two values, NULL when either is NULL (SQLite's scalar `MIN(a, b)`;
/// PostgreSQL's LEAST would skip a NULL). The same on both engines.
pub fn min2(a: &str, b: &str) -> String {
    format!("CASE WHEN {a} <= {b} THEN {a} WHEN {b} < {a} THEN {b} END")
}

#[cfg(test)]
#[path = "dialect_tests.rs"]
pub(crate) mod tests;
