//! PATCH on multi-valued attributes: value filters (`emails[type eq "work"].value`) and
//! group `members`. Included from `patch.rs`.

use serde_json::{Map, Value};

use super::{MemberChange, OpKind, PathTarget, array_mut, field, set_or_remove};
use crate::directory::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::directory::fold;
use crate::directory::resource::{Ctx, check_primary, is_blank, label, member_refs};
use crate::directory::schema::Attr;
use crate::error::Error;

/// The first attribute a value filter names that `attr` does not have. Nested value
/// filters are refused.
pub(super) fn filter_unknown(attr: &'static Attr, f: &Filter) -> Result<Option<String>, Error> {
    let check = |p: &AttrPath| {
        let known = p.urn.is_none() && p.sub.is_none() && attr.sub(&p.attr).is_some();
        (!known).then(|| p.attr.clone())
    };
    match f {
        Filter::Compare { path, .. } | Filter::Present(path) => Ok(check(path)),
        Filter::And(a, b) | Filter::Or(a, b) => match filter_unknown(attr, a)? {
            Some(n) => Ok(Some(n)),
            None => filter_unknown(attr, b),
        },
        Filter::Not(a) => filter_unknown(attr, a),
        Filter::ValuePath { .. } => Err(Error::invalid_filter(
            "a value filter cannot contain another value filter",
        )),
    }
}

/// Operations with a value filter: `emails[type eq "work"]`, `emails[type eq "work"].value`.
/// add/replace with no matching value create one from the filter's `eq` terms (Entra relies
/// on it); a filter that cannot describe a value then gives `noTarget`.
pub(super) fn filtered_op(
    ctx: &mut Ctx,
    h: &mut Map<String, Value>,
    op: OpKind,
    attr: &'static Attr,
    f: &Filter,
    after: Option<&'static Attr>,
    value: Option<&Value>,
) -> Result<(), Error> {
    let lbl = label(None, attr, after);
    let value = value.unwrap_or(&Value::Null);
    let new_sub = match (op, after) {
        (OpKind::Remove, _) | (_, None) => None,
        (_, Some(s)) => ctx.value(s, &lbl, value)?,
    };
    if op != OpKind::Remove && after.is_none() && !value.is_object() && !is_blank(value) {
        return Err(Error::invalid_value(format!(
            "{lbl}: the value for a filtered path must be an object"
        )));
    }
    let seed = if op == OpKind::Remove {
        None
    } else {
        synthesize(ctx, attr, f)?
    };
    let Some(items) = (match op {
        OpKind::Remove => match h.get_mut(attr.name) {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        },
        _ => array_mut(h, attr.name),
    }) else {
        return Ok(());
    };
    let mut matches: Vec<usize> = (0..items.len())
        .filter(|&i| items.get(i).is_some_and(|e| eval(attr, f, e)))
        .collect();
    if op == OpKind::Remove {
        match after {
            None => {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !matches.contains(&(i - 1))
                });
            }
            Some(s) => {
                for &i in &matches {
                    if let Some(m) = items.get_mut(i).and_then(Value::as_object_mut) {
                        m.remove(s.name);
                    }
                }
            }
        }
        return Ok(());
    }
    let clearing = match after {
        Some(_) => new_sub.is_none(),
        None => is_blank(value),
    };
    if matches.is_empty() {
        if clearing {
            return Ok(()); // nothing to clear
        }
        let seed = seed.ok_or_else(|| {
            Error::no_target(format!(
                "no {} value matches the filter, and the filter does not describe one to create",
                attr.name
            ))
        })?;
        items.push(Value::Object(seed));
        matches.push(items.len() - 1);
    } else if clearing && after.is_none() {
        let mut i = 0;
        items.retain(|_| {
            i += 1;
            !matches.contains(&(i - 1))
        });
        return Ok(());
    }
    for &i in &matches {
        let Some(m) = items.get_mut(i).and_then(Value::as_object_mut) else {
            continue;
        };
        match (after, value) {
            (Some(s), _) => set_or_remove(m, s.name, new_sub.clone()),
            (None, Value::Object(o)) => ctx.merge_subs(attr, &lbl, m, o)?,
            (None, _) => {}
        }
    }
    check_primary(attr.name, items, &matches)
}

/// A new value described by a filter made of `eq` terms joined with `and`.
fn synthesize(
    ctx: &mut Ctx,
    attr: &'static Attr,
    f: &Filter,
) -> Result<Option<Map<String, Value>>, Error> {
    fn terms<'f>(f: &'f Filter, out: &mut Vec<(&'f str, &'f CompValue)>) -> bool {
        match f {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => {
                out.push((&path.attr, value));
                true
            }
            Filter::And(a, b) => terms(a, out) && terms(b, out),
            _ => false,
        }
    }
    let mut pairs = Vec::new();
    if !terms(f, &mut pairs) {
        return Ok(None);
    }
    let mut m = Map::new();
    for (name, value) in pairs {
        let Some(sub) = attr.sub(name) else {
            return Ok(None);
        };
        let json = match value {
            CompValue::String(s) => Value::String(s.clone()),
            CompValue::Bool(b) => Value::Bool(*b),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::Null => return Ok(None),
        };
        if let Some(c) = ctx.value(sub, &label(None, attr, Some(sub)), &json)? {
            m.insert(sub.name.to_string(), c);
        }
    }
    Ok(Some(m))
}

/// Does value `e` of multi-valued attribute `attr` match the value filter?
fn eval(attr: &'static Attr, f: &Filter, e: &Value) -> bool {
    let get = |name: &str| {
        attr.sub(name)
            .map(|s| (s, e.get(s.name).filter(|v| !v.is_null())))
    };
    match f {
        Filter::Compare { path, op, value } => match get(&path.attr) {
            Some((sub, found)) => compare(sub, found, *op, value),
            None => false,
        },
        Filter::Present(path) => get(&path.attr).is_some_and(|(_, v)| v.is_some()),
        Filter::And(a, b) => eval(attr, a, e) && eval(attr, b, e),
        Filter::Or(a, b) => eval(attr, a, e) || eval(attr, b, e),
        Filter::Not(a) => !eval(attr, a, e),
        Filter::ValuePath { .. } => false,
    }
}

fn compare(sub: &Attr, found: Option<&Value>, op: CompareOp, value: &CompValue) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (value, found) {
        (CompValue::Null, None) => Some(Ordering::Equal),
        (_, None) | (CompValue::Null, Some(_)) => None,
        (CompValue::String(want), Some(Value::String(have))) => {
            let (have, want) = if sub.case_exact {
                (have.clone(), want.clone())
            } else {
                (fold(have), fold(want))
            };
            match op {
                CompareOp::Co => return have.contains(&want),
                CompareOp::Sw => return have.starts_with(&want),
                CompareOp::Ew => return have.ends_with(&want),
                _ => Some(have.cmp(&want)),
            }
        }
        (CompValue::Bool(want), Some(Value::Bool(have))) => Some(have.cmp(want)),
        // Entra writes `roles[primary eq "True"]`: a quoted boolean against a stored one.
        (CompValue::String(want), Some(Value::Bool(have))) => {
            let want = if want.eq_ignore_ascii_case("true") {
                true
            } else if want.eq_ignore_ascii_case("false") {
                false
            } else {
                return op == CompareOp::Ne;
            };
            Some(have.cmp(&want))
        }
        (CompValue::Number(want), Some(Value::Number(have))) => have
            .as_f64()
            .zip(want.as_f64())
            .and_then(|(h, w)| h.partial_cmp(&w)),
        _ => None,
    };
    match op {
        CompareOp::Eq => ord == Some(Ordering::Equal),
        CompareOp::Ne => ord != Some(Ordering::Equal),
        CompareOp::Gt => ord == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => ord == Some(Ordering::Less),
        CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Operations on a group's `members`, turned into membership changes.
pub(super) fn member_op(
    ctx: &mut Ctx,
    op: OpKind,
    t: &PathTarget,
    sub: Option<&'static Attr>,
    value: Option<&Value>,
) -> Result<(), Error> {
    if sub.is_some() || t.after.is_some() {
        return Err(Error::invalid_path(
            "sub-attributes of members cannot be modified",
        ));
    }
    if let Some(f) = t.filter {
        if op != OpKind::Remove {
            return Err(Error::invalid_path(
                "a filter on members is only supported with remove",
            ));
        }
        let mut ids = Vec::new();
        member_ids(f, &mut ids)?;
        ctx.members.push(MemberChange::Remove(ids));
        return Ok(());
    }
    let change = match (op, value) {
        (OpKind::Remove, None | Some(Value::Null)) => Some(MemberChange::RemoveAll),
        (OpKind::Remove, Some(v)) => {
            let ids: Vec<String> = member_refs(v)?.into_iter().map(|m| m.value).collect();
            (!ids.is_empty()).then_some(MemberChange::Remove(ids))
        }
        (OpKind::Add, v) => {
            let refs = member_refs(v.unwrap_or(&Value::Null))?;
            (!refs.is_empty()).then_some(MemberChange::Add(refs))
        }
        (OpKind::Replace, v) => Some(MemberChange::Replace(member_refs(
            v.unwrap_or(&Value::Null),
        )?)),
    };
    ctx.members.extend(change);
    Ok(())
}

/// The ids of `value eq "a" or value eq "b"`; any other member filter is refused.
fn member_ids(f: &Filter, ids: &mut Vec<String>) -> Result<(), Error> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.attr.eq_ignore_ascii_case("value") =>
        {
            ids.push(id.clone());
            Ok(())
        }
        Filter::Or(a, b) => {
            member_ids(a, ids)?;
            member_ids(b, ids)
        }
        _ => Err(Error::invalid_filter(
            "members can only be selected with value eq \"id\" (optionally joined with or)",
        )),
    }
}

/// `remove` of a multi-valued attribute with a `value` listing what to remove (Entra's habit
/// for members, also honoured for other attributes): values are matched on their `value`.
pub(super) fn remove_values(
    h: &mut Map<String, Value>,
    attr: &'static Attr,
    value: &Value,
) -> Result<(), Error> {
    let exact = attr.sub("value").is_some_and(|s| s.case_exact);
    let key = |v: &Value| -> Option<String> {
        let s = match v {
            Value::Object(o) => field(o, "value")?.as_str()?,
            other => other.as_str()?,
        };
        Some(if exact { s.to_string() } else { fold(s) })
    };
    let doomed: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let Some(Value::Array(items)) = h.get_mut(attr.name) else {
        return Ok(());
    };
    items.retain(|item| {
        !doomed.iter().any(|d| match (key(d), key(item)) {
            (Some(a), Some(b)) => a == b,
            _ => *d == item,
        })
    });
    Ok(())
}
