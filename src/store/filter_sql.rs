//! Translates a parsed SCIM filter (RFC 7644 §3.4.2.2) into a SQLite `WHERE` fragment over
//! the `users` / `groups` tables (alias `r`), and `sortBy` into an `ORDER BY` expression.
//!
//! Semantics chosen here:
//! - Names resolve case-insensitively through `schema::resolve` (then, unqualified, in
//!   the extensions, so Entra's `manager eq "…"` works); an unknown attribute, an
//!   attribute of the other resource type, or an operator/value that does not fit the
//!   attribute's type is `invalidFilter`. Nothing unsupported silently matches everything.
//! - Comparisons on `caseExact = false` attributes fold both sides with `directory::fold`
//!   (the SQL function `scim_fold`); `co`/`sw`/`ew` use registered functions, so `%` and `_`
//!   in values are literal.
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
use rusqlite::types::{Value, ValueRef};

use crate::directory::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::directory::fold;
use crate::directory::schema::{self, Attr, AttrType, ResolvedAttr, ResourceKind};
use crate::error::Error;

/// A `WHERE` fragment and the values for its `?N` placeholders, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<Value>,
}

/// Most comparisons (and `pr` tests) one filter may contain.
pub const MAX_TERMS: usize = 100;

/// Translates `filter` for resources of `kind`. `first_param` is the number of the first
/// `?N` placeholder the fragment may use (the caller binds `?1..` before it).
pub fn filter_to_sql(
    kind: ResourceKind,
    filter: &Filter,
    first_param: usize,
) -> Result<SqlFilter, Error> {
    let mut b = Builder {
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

/// ORDER BY expression for `sortBy` (RFC 7644 §3.4.2.3). Multi-valued attributes sort by
/// their primary (else first) element. Non-caseExact strings sort by their folded form.
pub fn sort_expr(kind: ResourceKind, path: &AttrPath) -> Result<String, Error> {
    let t = resolve_path(kind, path)?;
    match place(kind, &t)? {
        Place::Column { expr, .. } => Ok(expr.to_string()),
        Place::ResourceType => Ok("NULL".to_string()),
        Place::Version => Ok("r.version".to_string()),
        Place::Members => {
            let col = member_column(&t, t.sub)?.0;
            Ok(format!(
                "(SELECT min({col}) FROM group_members gm WHERE gm.group_id = r.id)"
            ))
        }
        Place::MultiJson { array } => {
            let sub = value_sub(&t, t.sub)?;
            let value = sort_value("j.value", &format!("$.{}", label(sub.name)), sub);
            Ok(format!(
                "(SELECT {value} FROM json_each(r.data, '{array}') j WHERE j.type = 'object' \
                 ORDER BY json_type(j.value, '$.\"primary\"') = 'true' DESC, j.key LIMIT 1)"
            ))
        }
        Place::Json { .. } if t.top.attr.is_complex() => {
            let sub = value_sub(&t, t.sub)?;
            Ok(sort_value("r.data", &json_path(&t.top, Some(sub)), sub))
        }
        Place::Json { path } => Ok(sort_value("r.data", &path, t.top.attr)),
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

/// A resolved top-level attribute, an optional sub-attribute and the name as written.
struct Target {
    top: ResolvedAttr,
    sub: Option<&'static Attr>,
    name: String,
}

fn resolve_path(kind: ResourceKind, path: &AttrPath) -> Result<Target, Error> {
    let full = match &path.urn {
        Some(urn) => format!("{urn}:{}", path.attr),
        None => path.attr.clone(),
    };
    let name = match &path.sub {
        Some(s) => format!("{full}.{s}"),
        None => full.clone(),
    };
    // Unqualified extension attributes (`manager`, as Entra ID sends) are accepted when
    // no core or common attribute has that name.
    let unqualified_ext = || {
        path.urn.is_none().then(|| {
            kind.extensions().iter().find_map(|&schema| {
                schema
                    .attr(&path.attr)
                    .map(|attr| ResolvedAttr { schema, attr })
            })
        })?
    };
    let top = schema::resolve(kind, &full)
        .or_else(unqualified_ext)
        .ok_or_else(|| {
            bad(format!(
                "unknown attribute `{name}` for {} resources",
                kind.name()
            ))
        })?;
    let sub = match &path.sub {
        Some(s) => Some(top.attr.sub(s).ok_or_else(|| {
            bad(format!(
                "unknown attribute `{name}`: `{}` has no sub-attribute `{s}`",
                top.attr.name
            ))
        })?),
        None => None,
    };
    Ok(Target { top, sub, name })
}

/// How stored text compares with a filter value.
#[derive(Clone, Copy, PartialEq)]
enum Case {
    /// Compare exactly.
    Exact,
    /// The column already holds `fold(value)`: fold only the filter value.
    Key,
    /// Fold both sides.
    Fold,
}

/// Where a top-level attribute is stored.
enum Place {
    Column {
        expr: &'static str,
        case: Case,
    },
    ResourceType,
    Version,
    Members,
    /// A multi-valued complex attribute stored as a JSON array at `array`.
    MultiJson {
        array: String,
    },
    /// A value in `r.data` at `path` (for a complex attribute, the object).
    Json {
        path: String,
    },
}

fn place(kind: ResourceKind, t: &Target) -> Result<Place, Error> {
    let attr = t.top.attr;
    if t.top.schema.id.is_empty() {
        return Ok(match (attr.name, t.sub.map(|s| s.name)) {
            ("id", _) => Place::Column {
                expr: "r.id",
                case: Case::Exact,
            },
            ("externalId", _) => Place::Column {
                expr: "r.external_id",
                case: Case::Exact,
            },
            ("meta", Some("created")) => Place::Column {
                expr: "r.created",
                case: Case::Exact,
            },
            ("meta", Some("lastModified")) => Place::Column {
                expr: "r.last_modified",
                case: Case::Exact,
            },
            ("meta", Some("resourceType")) => Place::ResourceType,
            ("meta", Some("version")) => Place::Version,
            ("meta", Some(other)) => {
                return Err(bad(format!("filtering on `meta.{other}` is not supported")));
            }
            _ => {
                return Err(bad(format!(
                    "`{}` is complex: use one of its sub-attributes, such as meta.lastModified",
                    t.name
                )));
            }
        });
    }
    let core = !t.top.in_extension();
    Ok(match (kind, attr.name) {
        (ResourceKind::User, "userName") if core => Place::Column {
            expr: "r.user_name_key",
            case: Case::Key,
        },
        (_, "displayName") if core => Place::Column {
            expr: "r.display_name_key",
            case: Case::Key,
        },
        (ResourceKind::Group, "members") if core => Place::Members,
        _ if attr.is_complex() && attr.multi_valued => Place::MultiJson {
            array: json_path(&t.top, None),
        },
        _ => Place::Json {
            path: json_path(&t.top, t.sub),
        },
    })
}

/// `$."attr"."sub"`, under `."urn"` for extension attributes. Names come from the schema.
fn json_path(top: &ResolvedAttr, sub: Option<&Attr>) -> String {
    let mut p = String::from("$");
    if top.in_extension() {
        p.push('.');
        p.push_str(&label(top.schema.id));
    }
    p.push('.');
    p.push_str(&label(top.attr.name));
    if let Some(s) = sub {
        p.push('.');
        p.push_str(&label(s.name));
    }
    p
}

fn label(name: &str) -> String {
    format!("\"{name}\"")
}

/// The sub-attribute to compare: the one named, else `value` for complex attributes.
fn value_sub(t: &Target, sub: Option<&'static Attr>) -> Result<&'static Attr, Error> {
    sub.or_else(|| t.top.attr.sub("value")).ok_or_else(|| {
        bad(format!(
            "`{}` is complex: compare one of its sub-attributes",
            t.name
        ))
    })
}

/// The `group_members` column for a `members` sub-attribute.
fn member_column(t: &Target, sub: Option<&Attr>) -> Result<(&'static str, Case), Error> {
    match sub.map_or("value", |s| s.name) {
        "value" => Ok(("gm.member_id", Case::Exact)),
        "type" => Ok(("gm.member_type", Case::Fold)),
        other => Err(bad(format!(
            "filtering on `{}` is not supported (members.{other} is not stored)",
            t.name
        ))),
    }
}

fn sort_value(src: &str, path: &str, attr: &Attr) -> String {
    let x = format!("json_extract({src}, '{path}')");
    if matches!(attr.ty, AttrType::String | AttrType::Reference) && !attr.case_exact {
        format!("scim_fold({x})")
    } else {
        x
    }
}

fn present_json(src: &str, path: &str) -> String {
    let ty = format!("json_type({src}, '{path}')");
    let x = format!("json_extract({src}, '{path}')");
    format!(
        "COALESCE(CASE {ty} WHEN 'text' THEN {x} <> '' WHEN 'array' THEN \
         json_array_length({src}, '{path}') > 0 WHEN 'object' THEN {x} <> '{{}}' \
         WHEN 'null' THEN 0 ELSE {ty} IS NOT NULL END, 0)"
    )
}

/// A leaf location: a column or a JSON value.
enum Leaf<'a> {
    Col(&'a str, Case),
    Json(&'a str, String),
}

/// The element of a value filter `attr[…]`.
enum Elem {
    /// Sub-attributes are at `base."sub"` in the JSON `src`.
    Json {
        src: &'static str,
        base: String,
    },
    Members,
}

struct Ctx {
    target: Target,
    elem: Elem,
}

struct Builder {
    kind: ResourceKind,
    first_param: usize,
    params: Vec<Value>,
    terms: usize,
}

/// The string value of a top-level `value eq "…"` conjunct of a value filter.
fn value_eq(f: &Filter) -> Option<&str> {
    match f {
        Filter::And(l, r) => value_eq(l).or_else(|| value_eq(r)),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(v),
        } if path.attr.eq_ignore_ascii_case("value") && path.sub.is_none() => Some(v),
        _ => None,
    }
}

impl Builder {
    fn bind(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("?{}", self.first_param + self.params.len() - 1)
    }

    fn count(&mut self) -> Result<(), Error> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(bad(format!(
                "the filter is too complex (more than {MAX_TERMS} comparisons)"
            )));
        }
        Ok(())
    }

    fn filter(&mut self, f: &Filter, ctx: Option<&Ctx>) -> Result<String, Error> {
        match f {
            Filter::And(l, r) => Ok(format!(
                "({} AND {})",
                self.filter(l, ctx)?,
                self.filter(r, ctx)?
            )),
            Filter::Or(l, r) => Ok(format!(
                "({} OR {})",
                self.filter(l, ctx)?,
                self.filter(r, ctx)?
            )),
            Filter::Not(inner) => Ok(format!("(NOT COALESCE({}, 0))", self.filter(inner, ctx)?)),
            Filter::Compare { path, op, value } => {
                self.count()?;
                match ctx {
                    Some(c) => self.elem_term(c, path, Some((*op, value))),
                    None => self.compare(path, *op, value),
                }
            }
            Filter::Present(path) => {
                self.count()?;
                match ctx {
                    Some(c) => self.elem_term(c, path, None),
                    None => self.present(path),
                }
            }
            Filter::ValuePath { attr, filter } => match ctx {
                Some(_) => Err(bad("nested value filters are not allowed")),
                None => self.value_path(attr, filter),
            },
        }
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, Error> {
        let t = resolve_path(self.kind, path)?;
        let plc = place(self.kind, &t)?;
        if t.top.attr.is_complex()
            && t.sub.is_none()
            && matches!(
                op,
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            )
        {
            return Err(bad(format!(
                "operator `{}` is not valid for the complex attribute `{}`",
                op_name(op),
                t.name
            )));
        }
        match plc {
            Place::Column { expr, case } => {
                let attr = t.sub.unwrap_or(t.top.attr);
                self.leaf(&Leaf::Col(expr, case), attr, &t.name, op, value)
            }
            Place::ResourceType => resource_type(self.kind, &t.name, op, value),
            Place::Version => self.version(&t.name, op, value),
            Place::Members => {
                let (col, case) = member_column(&t, t.sub)?;
                if col == "gm.member_id"
                    && op == CompareOp::Eq
                    && let CompValue::String(v) = value
                {
                    return Ok(self.member_index(v));
                }
                let attr = value_sub(&t, t.sub)?;
                let cond = self.leaf(&Leaf::Col(col, case), attr, &t.name, op, value)?;
                Ok(format!(
                    "EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = r.id AND {cond})"
                ))
            }
            Place::MultiJson { array } => {
                let sub = value_sub(&t, t.sub)?;
                if self.kind == ResourceKind::User
                    && t.top.attr.name == "emails"
                    && sub.name == "value"
                    && op == CompareOp::Eq
                    && let CompValue::String(v) = value
                {
                    return Ok(self.email_index(v));
                }
                let leaf = Leaf::Json("j.value", format!("$.{}", label(sub.name)));
                let cond = self.leaf(&leaf, sub, &t.name, op, value)?;
                Ok(each(&array, &cond))
            }
            Place::Json { path } => {
                if !t.top.attr.is_complex() {
                    return self.leaf(&Leaf::Json("r.data", path), t.top.attr, &t.name, op, value);
                }
                let attr = value_sub(&t, t.sub)?;
                let leaf = Leaf::Json("r.data", json_path(&t.top, Some(attr)));
                self.leaf(&leaf, attr, &t.name, op, value)
            }
        }
    }

    fn email_index(&mut self, v: &str) -> String {
        let p = self.bind(Value::Text(fold(v)));
        // Through the rowid, so that SQLite drives the query from the email index rather than
        // walking the org's rows.
        format!(
            "r.seq IN (SELECT u.seq FROM user_emails e JOIN users u ON u.id = e.user_id \
             WHERE e.value_key = {p})"
        )
    }

    fn member_index(&mut self, v: &str) -> String {
        let p = self.bind(Value::Text(v.to_string()));
        format!(
            "r.seq IN (SELECT g.seq FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.member_id = {p})"
        )
    }

    fn present(&mut self, path: &AttrPath) -> Result<String, Error> {
        let t = resolve_path(self.kind, path)?;
        Ok(match place(self.kind, &t)? {
            Place::Column { expr, .. } => format!("({expr} IS NOT NULL AND {expr} <> '')"),
            Place::ResourceType | Place::Version => "1".to_string(),
            Place::Members => {
                let cond = match t.sub {
                    Some(_) => {
                        let (col, _) = member_column(&t, t.sub)?;
                        format!(" AND {col} <> ''")
                    }
                    None => String::new(),
                };
                format!("EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = r.id{cond})")
            }
            Place::MultiJson { array } => match t.sub {
                Some(sub) => each(
                    &array,
                    &present_json("j.value", &format!("$.{}", label(sub.name))),
                ),
                None => present_json("r.data", &array),
            },
            Place::Json { path } => present_json("r.data", &path),
        })
    }

    fn value_path(&mut self, attr: &AttrPath, inner: &Filter) -> Result<String, Error> {
        if attr.sub.is_some() {
            return Err(bad(
                "a value filter must follow an attribute, not a sub-attribute",
            ));
        }
        let t = resolve_path(self.kind, attr)?;
        let plc = place(self.kind, &t)?;
        if !t.top.attr.is_complex() || t.top.schema.id.is_empty() {
            return Err(bad(format!(
                "a value filter needs a complex attribute; `{}` is not one that can be filtered this way",
                t.name
            )));
        }
        let is_emails = self.kind == ResourceKind::User && t.top.attr.name == "emails";
        match plc {
            Place::Members => {
                let prefix = match value_eq(inner) {
                    Some(v) => {
                        format!("{} AND ", self.member_index(v))
                    }
                    None => String::new(),
                };
                let ctx = Ctx {
                    target: t,
                    elem: Elem::Members,
                };
                let cond = self.filter(inner, Some(&ctx))?;
                Ok(format!(
                    "({prefix}EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = r.id AND {cond}))"
                ))
            }
            Place::MultiJson { array } => {
                let prefix = match value_eq(inner) {
                    Some(v) if is_emails => format!("{} AND ", self.email_index(v)),
                    _ => String::new(),
                };
                let ctx = Ctx {
                    target: t,
                    elem: Elem::Json {
                        src: "j.value",
                        base: "$".to_string(),
                    },
                };
                let cond = self.filter(inner, Some(&ctx))?;
                Ok(format!("({prefix}{})", each(&array, &cond)))
            }
            Place::Json { path } => {
                let ctx = Ctx {
                    target: t,
                    elem: Elem::Json {
                        src: "r.data",
                        base: path,
                    },
                };
                self.filter(inner, Some(&ctx))
            }
            _ => Err(bad(format!(
                "a value filter on `{}` is not supported",
                attr.attr
            ))),
        }
    }

    /// A comparison (`cmp` set) or presence test inside the value filter `ctx`.
    fn elem_term(
        &mut self,
        ctx: &Ctx,
        path: &AttrPath,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> Result<String, Error> {
        let t = &ctx.target;
        let name = format!("{}.{}", t.name, path.attr);
        if path.urn.is_some() || path.sub.is_some() {
            return Err(bad(format!(
                "inside the value filter of `{}`, use bare sub-attribute names",
                t.name
            )));
        }
        let sub = t.top.attr.sub(&path.attr).ok_or_else(|| {
            bad(format!(
                "unknown attribute `{name}`: `{}` has no sub-attribute `{}`",
                t.top.attr.name, path.attr
            ))
        })?;
        let leaf = match &ctx.elem {
            Elem::Json { src, base } => Leaf::Json(src, format!("{base}.{}", label(sub.name))),
            Elem::Members => {
                let (col, case) = member_column(t, Some(sub))?;
                Leaf::Col(col, case)
            }
        };
        match cmp {
            Some((op, value)) => self.leaf(&leaf, sub, &name, op, value),
            None => Ok(match leaf {
                Leaf::Col(c, _) => format!("({c} IS NOT NULL AND {c} <> '')"),
                Leaf::Json(src, path) => present_json(src, &path),
            }),
        }
    }

    fn version(&mut self, name: &str, op: CompareOp, value: &CompValue) -> Result<String, Error> {
        let CompValue::String(v) = value else {
            return Err(bad(format!(
                "`{name}` is a string (an ETag such as W/\"3\")"
            )));
        };
        let n = v
            .strip_prefix("W/")
            .unwrap_or(v)
            .trim_matches('"')
            .parse::<i64>()
            .ok();
        let (sql_op, none) = match op {
            CompareOp::Eq => ("=", "0"),
            CompareOp::Ne => ("<>", "1"),
            _ => {
                return Err(bad(format!(
                    "operator `{}` is not valid for `{name}`: use eq or ne",
                    op_name(op)
                )));
            }
        };
        Ok(match n {
            Some(n) => format!("r.version {sql_op} {}", self.bind(Value::Integer(n))),
            None => none.to_string(),
        })
    }

    /// A comparison on a simple value at `leaf`, typed by `attr`.
    fn leaf(
        &mut self,
        leaf: &Leaf<'_>,
        attr: &Attr,
        name: &str,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, Error> {
        if *value == CompValue::Null {
            return Err(bad(format!(
                "comparing `{name}` with null is not supported: use `{name} pr` or `not ({name} pr)`"
            )));
        }
        let (raw, case) = match leaf {
            Leaf::Col(expr, case) => (expr.to_string(), *case),
            Leaf::Json(src, path) => (
                format!("json_extract({src}, '{path}')"),
                if attr.case_exact {
                    Case::Exact
                } else {
                    Case::Fold
                },
            ),
        };
        match attr.ty {
            AttrType::String | AttrType::Reference => {
                let CompValue::String(v) = value else {
                    return Err(bad(format!(
                        "`{name}` is a string attribute: compare it with a quoted string"
                    )));
                };
                let (x, v) = match case {
                    Case::Exact => (raw.clone(), v.clone()),
                    Case::Key => (raw.clone(), fold(v)),
                    Case::Fold => (format!("scim_fold({raw})"), fold(v)),
                };
                if op == CompareOp::Sw && matches!(leaf, Leaf::Col(..)) && case != Case::Fold {
                    // A range on the (indexed) column. Valid UTF-8 never contains 0xFF, so
                    // `prefix || 0xFF` is above every string that starts with the prefix.
                    let mut hi = v.clone().into_bytes();
                    hi.push(0xFF);
                    let lo = self.bind(Value::Text(v));
                    let hi = self.bind(Value::Blob(hi));
                    return Ok(format!("({x} >= {lo} AND {x} < CAST({hi} AS TEXT))"));
                }
                let p = self.bind(Value::Text(v));
                Ok(text_op(&x, op, &p))
            }
            AttrType::Boolean => {
                let CompValue::Bool(b) = value else {
                    return Err(bad(format!(
                        "`{name}` is a boolean attribute: compare it with true or false"
                    )));
                };
                let want = match op {
                    CompareOp::Eq => *b,
                    CompareOp::Ne => !*b,
                    _ => {
                        return Err(bad(format!(
                            "operator `{}` is not valid for the boolean attribute `{name}`: use eq or ne",
                            op_name(op)
                        )));
                    }
                };
                let Leaf::Json(src, path) = leaf else {
                    return Err(bad(format!("`{name}` cannot be filtered on")));
                };
                Ok(format!("json_type({src}, '{path}') = '{want}'"))
            }
            AttrType::DateTime => {
                let CompValue::String(v) = value else {
                    return Err(bad(format!(
                        "`{name}` is a dateTime attribute: compare it with a quoted RFC 3339 timestamp"
                    )));
                };
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Err(bad(format!(
                        "operator `{}` is not valid for the dateTime attribute `{name}`",
                        op_name(op)
                    )));
                }
                let v = normalize_datetime(v).ok_or_else(|| {
                    bad(format!(
                        "`{name}`: \"{v}\" is not an RFC 3339 timestamp such as 2011-05-13T04:42:34Z"
                    ))
                })?;
                let p = self.bind(Value::Text(v));
                Ok(text_op(&raw, op, &p))
            }
            AttrType::Integer | AttrType::Decimal => {
                let CompValue::Number(n) = value else {
                    return Err(bad(format!(
                        "`{name}` is a number: compare it with a number"
                    )));
                };
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Err(bad(format!(
                        "operator `{}` is not valid for the numeric attribute `{name}`",
                        op_name(op)
                    )));
                }
                let v = match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => Value::Integer(i),
                    (None, Some(f)) => Value::Real(f),
                    _ => return Err(bad(format!("`{name}`: number out of range"))),
                };
                let p = self.bind(v);
                Ok(text_op(&raw, op, &p))
            }
            AttrType::Complex => Err(bad(format!(
                "`{name}` is complex: compare one of its sub-attributes"
            ))),
        }
    }
}

fn each(array: &str, cond: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM json_each(r.data, '{array}') j WHERE j.type = 'object' AND {cond})"
    )
}

fn text_op(x: &str, op: CompareOp, p: &str) -> String {
    match op {
        CompareOp::Eq => format!("{x} = {p}"),
        // An empty string is "not present" (see `pr`), so it does not match `ne` either.
        CompareOp::Ne => format!("({x} <> {p} AND {x} <> '')"),
        CompareOp::Gt => format!("{x} > {p}"),
        CompareOp::Ge => format!("{x} >= {p}"),
        CompareOp::Lt => format!("{x} < {p}"),
        CompareOp::Le => format!("{x} <= {p}"),
        CompareOp::Co => format!("scim_co({x}, {p})"),
        CompareOp::Sw => format!("scim_sw({x}, {p})"),
        CompareOp::Ew => format!("scim_ew({x}, {p})"),
    }
}

fn op_name(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "eq",
        CompareOp::Ne => "ne",
        CompareOp::Co => "co",
        CompareOp::Sw => "sw",
        CompareOp::Ew => "ew",
        CompareOp::Gt => "gt",
        CompareOp::Ge => "ge",
        CompareOp::Lt => "lt",
        CompareOp::Le => "le",
    }
}

/// `meta.resourceType` is the same for every row: evaluate it here (caseExact).
fn resource_type(
    kind: ResourceKind,
    name: &str,
    op: CompareOp,
    value: &CompValue,
) -> Result<String, Error> {
    let CompValue::String(v) = value else {
        return Err(bad(format!(
            "`{name}` is a string attribute: compare it with a quoted string"
        )));
    };
    let rt = kind.name();
    let hit = match op {
        CompareOp::Eq => rt == v,
        CompareOp::Ne => rt != v,
        CompareOp::Co => rt.contains(v.as_str()),
        CompareOp::Sw => rt.starts_with(v.as_str()),
        CompareOp::Ew => rt.ends_with(v.as_str()),
        CompareOp::Gt => rt > v.as_str(),
        CompareOp::Ge => rt >= v.as_str(),
        CompareOp::Lt => rt < v.as_str(),
        CompareOp::Le => rt <= v.as_str(),
    };
    Ok(if hit { "1" } else { "0" }.to_string())
}

/// RFC 3339 → the stored `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, truncated to milliseconds).
fn normalize_datetime(s: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let dt = time::OffsetDateTime::parse(s, &Rfc3339)
        .ok()?
        .to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&fmt).ok()
}

#[cfg(test)]
#[path = "filter_sql_tests.rs"]
mod tests;
