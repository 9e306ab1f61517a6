//! The PATCH engine (RFC 7644 §3.5.2) over canonical documents, with Entra's habits.
//!
//! `apply` is atomic: it works on a copy and writes the document back only when every
//! operation succeeded. Group membership is not in the document: operations on `members`
//! come back as [`MemberChange`]s, in request order, for the store to apply.

use serde_json::{Map, Value};

use super::filter::{Filter, PatchPath, parse_patch_path};
use super::resource::{
    Ctx, MemberRef, Mode, Target, check_primary, check_required, is_blank, label, prune,
    resolve_name,
};
use super::schema::{Attr, Mutability, PATCH_OP_URN, ResourceKind};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    /// The path as the client wrote it.
    pub raw_path: Option<String>,
    /// `Some(Value::Null)` when the client sent `"value": null`.
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub ops: Vec<PatchOp>,
}

/// A change to a group's membership table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<MemberRef>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<MemberRef>),
}

/// What `apply_report` did besides changing the document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Applied {
    pub members: Vec<MemberChange>,
    /// Unknown attributes whose operations were skipped (lenient mode).
    pub ignored: Vec<String>,
}

fn field<'v>(o: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Reads a PATCH body: `schemas` must list the PatchOp URN, `Operations` must be a non-empty
/// array; `op` is add/replace/remove in any case; paths are parsed (`invalidPath`).
pub fn parse_patch(body: &Value) -> Result<PatchRequest, Error> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::invalid_syntax("the PATCH body must be a JSON object"))?;
    let has_urn = field(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .any(|s| s.eq_ignore_ascii_case(PATCH_OP_URN))
        });
    if !has_urn {
        return Err(Error::invalid_syntax(format!(
            "schemas must contain \"{PATCH_OP_URN}\""
        )));
    }
    let ops = field(obj, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| Error::invalid_syntax("Operations must be a non-empty array"))?;
    ops.iter()
        .map(parse_op)
        .collect::<Result<_, _>>()
        .map(|ops| PatchRequest { ops })
}

fn parse_op(v: &Value) -> Result<PatchOp, Error> {
    let o = v
        .as_object()
        .ok_or_else(|| Error::invalid_syntax("each operation must be a JSON object"))?;
    let name = field(o, "op").and_then(Value::as_str).unwrap_or_default();
    let op = match name.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "replace" => OpKind::Replace,
        "remove" => OpKind::Remove,
        _ => {
            return Err(Error::invalid_syntax(format!(
                "op must be \"add\", \"replace\" or \"remove\", not \"{name}\""
            )));
        }
    };
    let raw_path = match field(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => return Err(Error::invalid_path("path must be a string")),
    };
    let path = match &raw_path {
        Some(p) => Some(
            parse_patch_path(p)
                .map_err(|e| Error::invalid_path(format!("invalid path \"{p}\": {e}")))?,
        ),
        None => None,
    };
    let value = field(o, "value").cloned();
    if op != OpKind::Remove {
        match (&path, &value) {
            (_, None) => {
                return Err(Error::invalid_syntax(format!("{name} requires a value")));
            }
            (None, Some(v)) if !v.is_object() => {
                return Err(Error::invalid_syntax(format!(
                    "{name} without a path requires an object value"
                )));
            }
            _ => {}
        }
    }
    Ok(PatchOp {
        op,
        path,
        raw_path,
        value,
    })
}

/// Applies `req` to `doc` (a canonical document); returns the membership changes. On error
/// `doc` is left untouched.
pub fn apply(
    kind: ResourceKind,
    doc: &mut Value,
    req: &PatchRequest,
    mode: &Mode,
) -> Result<Vec<MemberChange>, Error> {
    apply_report(kind, doc, req, mode).map(|a| a.members)
}

/// [`apply`], also reporting the unknown attributes that were skipped.
pub fn apply_report(
    kind: ResourceKind,
    doc: &mut Value,
    req: &PatchRequest,
    mode: &Mode,
) -> Result<Applied, Error> {
    let mut work = match doc {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(Error::internal("stored document is not a JSON object")),
    };
    let mut ctx = Ctx::new(kind, mode, true);
    for op in &req.ops {
        apply_op(&mut ctx, &mut work, op)?;
    }
    prune(kind, &mut work);
    check_required(kind, &work)?;
    *doc = Value::Object(work);
    Ok(Applied {
        members: ctx.members,
        ignored: ctx.ignored,
    })
}

/// A resolved PATCH path.
struct PathTarget<'p> {
    target: Target,
    filter: Option<&'p Filter>,
    /// The sub-attribute after a value filter.
    after: Option<&'static Attr>,
}

fn plain<'p>(target: Target) -> PathTarget<'p> {
    PathTarget {
        target,
        filter: None,
        after: None,
    }
}

fn apply_op(ctx: &mut Ctx, doc: &mut Map<String, Value>, op: &PatchOp) -> Result<(), Error> {
    let Some(path) = &op.path else {
        return match (op.op, &op.value) {
            (OpKind::Remove, _) => Err(Error::no_target("remove requires a path")),
            (_, Some(Value::Object(o))) => apply_values(ctx, doc, op.op, o),
            _ => Err(Error::invalid_syntax(
                "an operation without a path requires an object value",
            )),
        };
    };
    match resolve_path(ctx, path, true)? {
        Some(t) => apply_target(ctx, doc, op.op, &t, op.value.as_ref(), true),
        None => Ok(()),
    }
}

/// Resolves a parsed path; `None` when it names an unknown attribute that lenient mode skips.
fn resolve_path<'p>(
    ctx: &mut Ctx,
    p: &'p PatchPath,
    in_path: bool,
) -> Result<Option<PathTarget<'p>>, Error> {
    let mut full = p
        .attr
        .urn
        .as_ref()
        .map(|u| format!("{u}:"))
        .unwrap_or_default();
    full.push_str(&p.attr.attr);
    if let Some(sub) = &p.attr.sub {
        full.push('.');
        full.push_str(sub);
    }
    let target = resolve_name(ctx.kind, ctx.mode, &full);
    if let Target::Unknown(name) = &target {
        ctx.unknown(name, in_path)?;
        return Ok(None);
    }
    let Some(filter) = &p.filter else {
        if p.sub_after_filter.is_some() {
            return Err(Error::invalid_path(format!("invalid path \"{full}\"")));
        }
        return Ok(Some(plain(target)));
    };
    let attr = match &target {
        Target::Attr {
            attr, sub: None, ..
        } if attr.multi_valued && attr.is_complex() => *attr,
        _ => {
            return Err(Error::invalid_path(format!(
                "{full} is not a multi-valued attribute: it cannot take a value filter"
            )));
        }
    };
    let is_members = is_members(ctx, attr);
    if !is_members && let Some(name) = filter_unknown(attr, filter)? {
        ctx.unknown(&format!("{}.{name}", attr.name), in_path)?;
        return Ok(None);
    }
    let after = match &p.sub_after_filter {
        Some(s) => match attr.sub(s) {
            Some(sub) => Some(sub),
            None if is_members => None,
            None => {
                ctx.unknown(&format!("{}.{s}", attr.name), in_path)?;
                return Ok(None);
            }
        },
        None => None,
    };
    if is_members && p.sub_after_filter.is_some() {
        return Err(Error::invalid_path(
            "sub-attributes of members cannot be modified",
        ));
    }
    Ok(Some(PathTarget {
        target,
        filter: Some(filter),
        after,
    }))
}

fn is_members(ctx: &Ctx, attr: &Attr) -> bool {
    ctx.kind == ResourceKind::Group && attr.name == "members"
}

/// Path-less add/replace (and POST/PUT bodies): each key of the value object is applied as
/// if it were the path. `schemas`, `id` and `meta` are ignored (RFC 7644 §3.5.1).
pub(crate) fn apply_values(
    ctx: &mut Ctx,
    doc: &mut Map<String, Value>,
    op: OpKind,
    obj: &Map<String, Value>,
) -> Result<(), Error> {
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") || (!ctx.patch && is_blank(v)) {
            continue;
        }
        if ctx.patch && key.contains('[') {
            let p = parse_patch_path(key)
                .map_err(|e| Error::invalid_path(format!("invalid path \"{key}\": {e}")))?;
            if let Some(t) = resolve_path(ctx, &p, false)? {
                apply_target(ctx, doc, op, &t, Some(v), false)?;
            }
            continue;
        }
        match resolve_name(ctx.kind, ctx.mode, key) {
            Target::Unknown(name) => {
                if !v.is_null() {
                    ctx.unknown(&name, false)?;
                }
            }
            Target::ReadOnly(_) => {}
            target => apply_target(ctx, doc, op, &plain(target), Some(v), false)?,
        }
    }
    Ok(())
}

fn apply_target(
    ctx: &mut Ctx,
    doc: &mut Map<String, Value>,
    op: OpKind,
    t: &PathTarget,
    value: Option<&Value>,
    in_path: bool,
) -> Result<(), Error> {
    match &t.target {
        Target::Unknown(name) => ctx.unknown(name, in_path),
        Target::ReadOnly(name) => Err(Error::mutability(format!("{name} is read-only"))),
        Target::Container { prefix, stored } => {
            container_op(ctx, doc, op, prefix, stored.as_deref(), value)
        }
        Target::Extra { urn, name } => {
            let holder = match urn {
                Some(urn) => match holder(doc, Some(urn), op != OpKind::Remove) {
                    Some(h) => h,
                    None => return Ok(()),
                },
                None => doc,
            };
            match value.filter(|v| op != OpKind::Remove && !is_blank(v)) {
                Some(v) => holder.insert(name.clone(), v.clone()),
                None => holder.remove(name),
            };
            Ok(())
        }
        Target::Attr { ext, attr, sub } => {
            if is_members(ctx, attr) {
                return member_op(ctx, op, t, *sub, value);
            }
            let lbl = label(*ext, attr, *sub);
            if attr.mutability == Mutability::ReadOnly
                || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
            {
                return if in_path {
                    Err(Error::mutability(format!("{lbl} is read-only")))
                } else {
                    Ok(())
                };
            }
            let Some(h) = holder(doc, ext.map(|e| e.id), op != OpKind::Remove) else {
                return Ok(());
            };
            match (t.filter, sub) {
                (Some(f), _) => filtered_op(ctx, h, op, attr, f, t.after, value),
                (None, Some(sub)) => sub_op(ctx, h, op, attr, sub, &lbl, value),
                (None, None) => whole_op(ctx, h, op, attr, &lbl, value),
            }
        }
    }
}

/// The object holding attributes: the document itself, or the object under `key` (created
/// when `create`).
fn holder<'d>(
    doc: &'d mut Map<String, Value>,
    key: Option<&str>,
    create: bool,
) -> Option<&'d mut Map<String, Value>> {
    let Some(key) = key else {
        return Some(doc);
    };
    if !create && !doc.get(key).is_some_and(Value::is_object) {
        return None;
    }
    object_mut(doc, key)
}

fn object_mut<'d>(h: &'d mut Map<String, Value>, key: &str) -> Option<&'d mut Map<String, Value>> {
    let slot = h
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

fn array_mut<'d>(h: &'d mut Map<String, Value>, key: &str) -> Option<&'d mut Vec<Value>> {
    let slot = h
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
}

/// An object keyed by a URN (`"urn:…:enterprise:2.0:User": {…}`): its keys are applied one by
/// one; removing it removes the whole extension.
fn container_op(
    ctx: &mut Ctx,
    doc: &mut Map<String, Value>,
    op: OpKind,
    prefix: &str,
    stored: Option<&str>,
    value: Option<&Value>,
) -> Result<(), Error> {
    let obj = match value {
        Some(Value::Object(o)) if op != OpKind::Remove => o,
        Some(v) if op != OpKind::Remove && !is_blank(v) => {
            return Err(Error::invalid_value(format!("{prefix} must be an object")));
        }
        _ => {
            return match stored {
                Some(key) => {
                    doc.remove(key);
                    Ok(())
                }
                None => Err(Error::invalid_path(format!("{prefix} cannot be removed"))),
            };
        }
    };
    for (key, v) in obj {
        if !ctx.patch && is_blank(v) {
            continue;
        }
        let name = if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            key.clone()
        } else {
            format!("{prefix}:{key}")
        };
        match resolve_name(ctx.kind, ctx.mode, &name) {
            Target::Unknown(n) => {
                if !v.is_null() {
                    ctx.unknown(&n, false)?;
                }
            }
            Target::ReadOnly(_) | Target::Container { .. } => {}
            target => apply_target(ctx, doc, op, &plain(target), Some(v), false)?,
        }
    }
    Ok(())
}

/// add/replace/remove of a whole attribute (`emails`, `name`, `userName`, `manager`).
fn whole_op(
    ctx: &mut Ctx,
    h: &mut Map<String, Value>,
    op: OpKind,
    attr: &'static Attr,
    lbl: &str,
    value: Option<&Value>,
) -> Result<(), Error> {
    let value = value.unwrap_or(&Value::Null);
    if op == OpKind::Remove {
        if attr.multi_valued && !is_blank(value) {
            return remove_values(h, attr, value);
        }
        if attr.required {
            return Err(Error::invalid_value(format!("{lbl} is required")));
        }
        h.remove(attr.name);
        return Ok(());
    }
    if attr.multi_valued {
        let new = ctx.multi(attr, lbl, value)?;
        match (op, new) {
            (OpKind::Add, None) => {}
            (OpKind::Add, Some(values)) => {
                let Some(items) = array_mut(h, attr.name) else {
                    return Ok(());
                };
                let mut touched = Vec::new();
                for v in values {
                    if !items.contains(&v) {
                        items.push(v);
                        touched.push(items.len() - 1);
                    }
                }
                check_primary(lbl, items, &touched)?;
            }
            (_, Some(values)) => {
                h.insert(attr.name.to_string(), Value::Array(values));
            }
            (_, None) => {
                h.remove(attr.name);
            }
        }
        return Ok(());
    }
    // Entra's `[{"value": …}]` for the manager: one element, taken as the object.
    let value = match value.as_array().map(Vec::as_slice) {
        Some([one]) if one.is_object() => one,
        _ => value,
    };
    if attr.is_complex() {
        match value {
            Value::Object(o) => {
                if let Some(m) = object_mut(h, attr.name) {
                    ctx.merge_subs(attr, lbl, m, o)?;
                }
            }
            other => match ctx.complex(attr, lbl, other)? {
                Some(Value::Object(c)) => {
                    if let Some(m) = object_mut(h, attr.name) {
                        m.extend(c);
                    }
                }
                _ => {
                    h.remove(attr.name);
                }
            },
        }
        return Ok(());
    }
    match ctx.value(attr, lbl, value)? {
        Some(c) => h.insert(attr.name.to_string(), c),
        None => h.remove(attr.name),
    };
    Ok(())
}

/// add/replace/remove of one sub-attribute without a filter: `name.givenName`,
/// `manager.value`, or `emails.value` (every value of a multi-valued attribute).
fn sub_op(
    ctx: &mut Ctx,
    h: &mut Map<String, Value>,
    op: OpKind,
    attr: &'static Attr,
    sub: &'static Attr,
    lbl: &str,
    value: Option<&Value>,
) -> Result<(), Error> {
    let new = match op {
        OpKind::Remove => None,
        _ => ctx.value(sub, lbl, value.unwrap_or(&Value::Null))?,
    };
    if attr.multi_valued {
        if let Some(Value::Array(items)) = h.get_mut(attr.name) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                set_or_remove(item, sub.name, new.clone());
            }
            let all: Vec<usize> = (0..items.len()).collect();
            check_primary(attr.name, items, &all)?;
        }
        return Ok(());
    }
    match new {
        Some(v) => {
            if let Some(m) = object_mut(h, attr.name) {
                m.insert(sub.name.to_string(), v);
            }
        }
        None => {
            if let Some(Value::Object(m)) = h.get_mut(attr.name) {
                m.remove(sub.name);
            }
        }
    }
    Ok(())
}

fn set_or_remove(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    match v {
        Some(v) => m.insert(key.to_string(), v),
        None => m.remove(key),
    };
}

#[path = "patch_multi.rs"]
mod multi;
use multi::{filter_unknown, filtered_op, member_op, remove_values};

#[cfg(test)]
#[path = "patch_tests.rs"]
pub(crate) mod tests;
