//! The filter → SQL builder: walks the AST, binds every value as a parameter.

use crate::directory::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::directory::fold;
use crate::directory::schema::{Attr, AttrType, ResourceKind};
use crate::error::Error;
use crate::store::db::{Dialect, Value};
use crate::store::dialect;

use super::target::*;
use super::{MAX_TERMS, bad};

/// A leaf location: a column or a JSON value.
pub(super) enum Leaf<'a> {
    Col(&'a str, Case),
    Json(&'a str, String),
}

/// The element of a value filter `attr[…]`.
pub(super) enum Elem {
    /// Sub-attributes are at `base."sub"` in the JSON `src`.
    Json {
        src: &'static str,
        base: String,
    },
    Members,
}

pub(super) struct Ctx {
    pub(super) target: Target,
    pub(super) elem: Elem,
}

pub(super) struct Builder {
    pub(super) d: Dialect,
    pub(super) kind: ResourceKind,
    pub(super) first_param: usize,
    pub(super) params: Vec<Value>,
    pub(super) terms: usize,
}

/// The string value of a top-level `value eq "…"` conjunct of a value filter.
pub(super) fn value_eq(f: &Filter) -> Option<&str> {
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

    pub(super) fn filter(&mut self, f: &Filter, ctx: Option<&Ctx>) -> Result<String, Error> {
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
            Filter::Not(inner) => Ok(format!(
                "(NOT COALESCE({}, FALSE))",
                self.filter(inner, ctx)?
            )),
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
                Ok(each(self.d, &array, &cond))
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

    /// `x` starts with `v`, as a range on `x` so that an index on it serves the search.
    fn prefix_range(&mut self, x: &str, v: String) -> String {
        match self.d {
            Dialect::Sqlite => {
                // Valid UTF-8 never contains 0xFF, so `prefix || 0xFF` is above every string
                // that starts with the prefix.
                let mut hi = v.clone().into_bytes();
                hi.push(0xFF);
                let lo = self.bind(Value::Text(v));
                let hi = self.bind(Value::Blob(hi));
                format!("({x} >= {lo} AND {x} < CAST({hi} AS TEXT))")
            }
            // PostgreSQL refuses invalid UTF-8 in text: the bound is the prefix with its
            // last character incremented (the columns compare by bytes, COLLATE "C").
            Dialect::Postgres => match dialect::prefix_upper_bound(&v) {
                Some(hi) => {
                    let lo = self.bind(Value::Text(v));
                    let hi = self.bind(Value::Text(hi));
                    format!("({x} >= {lo} AND {x} < {hi})")
                }
                None => {
                    let lo = self.bind(Value::Text(v));
                    format!("{x} >= {lo}")
                }
            },
        }
    }

    fn present(&mut self, path: &AttrPath) -> Result<String, Error> {
        let t = resolve_path(self.kind, path)?;
        Ok(match place(self.kind, &t)? {
            Place::Column { expr, .. } => format!("({expr} IS NOT NULL AND {expr} <> '')"),
            Place::ResourceType | Place::Version => "TRUE".to_string(),
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
                    self.d,
                    &array,
                    &dialect::json_present(self.d, "j.value", &format!("$.{}", label(sub.name))),
                ),
                None => dialect::json_present(self.d, "r.data", &array),
            },
            Place::Json { path } => dialect::json_present(self.d, "r.data", &path),
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
                Ok(format!("({prefix}{})", each(self.d, &array, &cond)))
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
                Leaf::Json(src, path) => dialect::json_present(self.d, src, &path),
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
            CompareOp::Eq => ("=", "FALSE"),
            CompareOp::Ne => ("<>", "TRUE"),
            _ => {
                return Err(bad(format!(
                    "operator `{}` is not valid for `{name}`: use eq or ne",
                    op_name(op)
                )));
            }
        };
        Ok(match n {
            Some(n) => format!("r.version {sql_op} {}", self.bind(Value::Int(n))),
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
                dialect::json_text(self.d, src, path),
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
                    Case::Fold => (dialect::fold(self.d, &raw), fold(v)),
                };
                if op == CompareOp::Sw && matches!(leaf, Leaf::Col(..)) && case != Case::Fold {
                    return Ok(self.prefix_range(&x, v));
                }
                let p = self.bind(Value::Text(v));
                Ok(text_op(self.d, &x, op, &p))
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
                Ok(dialect::json_bool_is(self.d, src, path, want))
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
                Ok(text_op(self.d, &raw, op, &p))
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
                    (Some(i), _) => Value::Int(i),
                    (None, Some(f)) => Value::Real(f),
                    _ => return Err(bad(format!("`{name}`: number out of range"))),
                };
                let is_int = matches!(v, Value::Int(_));
                let x = match leaf {
                    Leaf::Json(src, path) => dialect::json_number(self.d, src, path),
                    Leaf::Col(..) => raw,
                };
                let p = dialect::number_param(self.d, &self.bind(v), is_int);
                Ok(text_op(self.d, &x, op, &p))
            }
            AttrType::Complex => Err(bad(format!(
                "`{name}` is complex: compare one of its sub-attributes"
            ))),
        }
    }
}

/// `cond` holds for an object of the JSON array at `array` (`j.value`).
pub(super) fn each(d: Dialect, array: &str, cond: &str) -> String {
    let (from, objects) = dialect::json_objects(d, "r.data", array);
    format!("EXISTS (SELECT 1 FROM {from} WHERE {objects} AND {cond})")
}

pub(super) fn text_op(d: Dialect, x: &str, op: CompareOp, p: &str) -> String {
    match op {
        CompareOp::Eq => format!("{x} = {p}"),
        // An empty string is "not present" (see `pr`), so it does not match `ne` either.
        CompareOp::Ne => format!("({x} <> {p} AND {x} <> '')"),
        CompareOp::Gt => format!("{x} > {p}"),
        CompareOp::Ge => format!("{x} >= {p}"),
        CompareOp::Lt => format!("{x} < {p}"),
        CompareOp::Le => format!("{x} <= {p}"),
        CompareOp::Co => dialect::contains(d, x, p),
        CompareOp::Sw => dialect::starts_with(d, x, p),
        CompareOp::Ew => dialect::ends_with(d, x, p),
    }
}

pub(super) fn op_name(op: CompareOp) -> &'static str {
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
pub(super) fn resource_type(
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
    Ok(if hit { "TRUE" } else { "FALSE" }.to_string())
}

/// RFC 3339 → the stored `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, truncated to milliseconds).
pub(super) fn normalize_datetime(s: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let dt = time::OffsetDateTime::parse(s, &Rfc3339)
        .ok()?
        .to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&fmt).ok()
}
