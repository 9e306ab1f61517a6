//! Resource documents: turning a POST/PUT body into the canonical document that is stored,
//! and the value coercion that PATCH shares with it.
//!
//! The canonical document is a JSON object with core attributes at the top level under their
//! canonical names, extension attributes in an object under the extension URN, `externalId`
//! at the top level, and no `id`, `meta`, `schemas` (derived) nor group `members` (kept in the
//! membership table). Null and empty values are never stored.

use serde_json::{Map, Value};

use super::patch::{self, MemberChange, OpKind};
use super::schema::{Attr, COMMON, Mutability, ResourceKind, Schema, split_urn};
use crate::error::Error;

/// What to do with attributes that no schema defines (an org setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownAttrs {
    /// Drop them (their names are reported so the server can log them). The default.
    #[default]
    Ignore,
    /// Refuse the request, naming the attribute.
    Reject,
}

/// How strictly request bodies are read.
#[derive(Debug, Clone, Default)]
pub struct Mode {
    pub unknown: UnknownAttrs,
    /// Attribute names accepted and kept as given even though no schema defines them (the
    /// org's custom role attribute): `roleName`, or URN-qualified
    /// `urn:ietf:params:scim:schemas:extension:acme:2.0:User:roleName` (stored under its URN).
    pub extra_allowed: Vec<String>,
}

/// The canonical form of a POST/PUT body.
#[derive(Debug, Clone, PartialEq)]
pub struct Canonical {
    pub doc: Value,
    /// Group members, when the body had a `members` attribute (`Some(vec![])` for `[]`).
    pub members: Option<Vec<MemberRef>>,
    /// Unknown attributes that were dropped (lenient mode), for the request log.
    pub ignored: Vec<String>,
}

/// One group member as the client named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    /// `"User"` or `"Group"` when the client said so.
    pub type_: Option<String>,
    /// The member's display name as the client sent it; kept so what it sent round-trips.
    pub display: Option<String>,
}

/// Turns a POST/PUT body into the canonical document (see the module documentation).
pub fn canonicalize(kind: ResourceKind, body: &Value, mode: &Mode) -> Result<Canonical, Error> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::invalid_syntax("the request body must be a JSON object"))?;
    check_schemas(kind, obj)?;
    let mut ctx = Ctx::new(kind, mode, false);
    let mut doc = Map::new();
    patch::apply_values(&mut ctx, &mut doc, OpKind::Replace, obj)?;
    prune(kind, &mut doc);
    check_required(kind, &doc)?;
    let mut members = None;
    for change in ctx.members {
        if let MemberChange::Replace(refs) = change {
            members = Some(refs);
        }
    }
    Ok(Canonical {
        doc: Value::Object(doc),
        members,
        ignored: ctx.ignored,
    })
}

/// The first of the org's required attribute paths (`name.givenName`, `emails`,
/// `urn:…:enterprise:2.0:User:department`) that `doc` lacks, as written in `required`.
/// Names are compared case-insensitively; a path through a multi-valued attribute is present
/// when any of its values has it.
pub fn required_missing(doc: &Value, required: &[String]) -> Option<String> {
    required
        .iter()
        .find(|path| !path_present(doc, path))
        .cloned()
}

fn path_present(doc: &Value, path: &str) -> bool {
    let (container, rest) = if has_urn_prefix(path) {
        let Some((urn, rest)) = path.rsplit_once(':') else {
            return false;
        };
        let core = [ResourceKind::User, ResourceKind::Group]
            .iter()
            .any(|k| k.core().id.eq_ignore_ascii_case(urn));
        if core {
            (Some(doc), rest)
        } else {
            (get_ci(doc, urn), rest)
        }
    } else {
        (Some(doc), path)
    };
    let mut current: Vec<&Value> = container.into_iter().collect();
    for part in rest.split('.') {
        current = current
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(|i| get_ci(i, part)).collect(),
                other => get_ci(other, part).into_iter().collect::<Vec<_>>(),
            })
            .collect();
    }
    current
        .into_iter()
        .any(|v| !is_blank(v) && !is_empty_container(v))
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn check_schemas(kind: ResourceKind, obj: &Map<String, Value>) -> Result<(), Error> {
    let Some(schemas) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
    else {
        return Ok(()); // lenient: Entra always sends it, other clients may not
    };
    let core = kind.core().id;
    let list = schemas
        .as_array()
        .filter(|items| items.iter().all(Value::is_string))
        .ok_or_else(|| Error::invalid_syntax("schemas must be an array of strings"))?;
    if list
        .iter()
        .filter_map(Value::as_str)
        .any(|s| s.eq_ignore_ascii_case(core))
    {
        Ok(())
    } else {
        Err(Error::invalid_syntax(format!(
            "schemas must contain \"{core}\""
        )))
    }
}

/// `userName` (User) / `displayName` (Group) must be present.
pub(crate) fn check_required(kind: ResourceKind, doc: &Map<String, Value>) -> Result<(), Error> {
    for attr in kind.core().attributes.iter().filter(|a| a.required) {
        if doc.get(attr.name).is_none_or(is_blank) {
            return Err(Error::invalid_value(format!("{} is required", attr.name)));
        }
    }
    Ok(())
}

/// `null` and `""`: "absent" in a request.
pub(crate) fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(str::is_empty)
}

fn is_empty_container(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty)
}

fn has_urn_prefix(name: &str) -> bool {
    name.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Removes nulls, empty strings, arrays and objects everywhere, and the values of
/// multi-valued attributes that only carry a label (`{"type": "work", "primary": true}`).
pub(crate) fn prune(kind: ResourceKind, doc: &mut Map<String, Value>) {
    doc.retain(|_, v| prune_value(v));
    for attr in kind.core().attributes.iter().filter(|a| a.multi_valued) {
        if let Some(Value::Array(items)) = doc.get_mut(attr.name) {
            items.retain(|e| {
                e.as_object()
                    .is_none_or(|o| o.keys().any(|k| k != "type" && k != "primary"))
            });
            if items.is_empty() {
                doc.remove(attr.name);
            }
        }
    }
}

fn prune_value(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => {
            items.retain_mut(prune_value);
            !items.is_empty()
        }
        Value::Object(o) => {
            o.retain(|_, x| prune_value(x));
            !o.is_empty()
        }
        _ => true,
    }
}

/// What an attribute name in a body, a PATCH value or a PATCH path designates.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A schema attribute (in extension `ext`, or core/common), optionally one sub-attribute.
    Attr {
        ext: Option<&'static Schema>,
        attr: &'static Attr,
        sub: Option<&'static Attr>,
    },
    /// An object of attributes keyed by a URN: an extension (`stored` = its key in the
    /// document), an extra attributes' URN, or the core URN itself (`stored` = None).
    Container {
        prefix: String,
        stored: Option<String>,
    },
    /// An org-allowed extra attribute, kept as given (under `urn` when qualified).
    Extra {
        urn: Option<String>,
        name: String,
    },
    /// `id`, `meta` or one of their sub-attributes.
    ReadOnly(String),
    Unknown(String),
}

/// Resolves `userName`, `NAME.givenName`, `urn:…:core:2.0:User:emails`,
/// `urn:…:enterprise:2.0:User:manager.value`, `urn:…:enterprise:2.0:User`, extra names.
pub(crate) fn resolve_name(kind: ResourceKind, mode: &Mode, name: &str) -> Target {
    if let Some(schema) = kind.extension(name) {
        return Target::Container {
            prefix: schema.id.to_string(),
            stored: Some(schema.id.to_string()),
        };
    }
    if kind.core().id.eq_ignore_ascii_case(name) {
        return Target::Container {
            prefix: kind.core().id.to_string(),
            stored: None,
        };
    }
    for extra in &mode.extra_allowed {
        let split = extra.rsplit_once(':').filter(|_| has_urn_prefix(extra));
        if extra.eq_ignore_ascii_case(name) {
            return match split {
                Some((urn, attr)) => Target::Extra {
                    urn: Some(urn.to_string()),
                    name: attr.to_string(),
                },
                None => Target::Extra {
                    urn: None,
                    name: extra.clone(),
                },
            };
        }
        if let Some((urn, _)) = split.filter(|(urn, _)| urn.eq_ignore_ascii_case(name)) {
            return Target::Container {
                prefix: urn.to_string(),
                stored: Some(urn.to_string()),
            };
        }
    }
    let unknown = || Target::Unknown(name.to_string());
    let (schema, rest, qualified) = match split_urn(kind, name) {
        Some((urn, rest)) => (kind.extension(urn), rest, true),
        None if has_urn_prefix(name) => return unknown(),
        None => (None, name, false),
    };
    let (attr_name, sub_name) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let (schema, attr) = match schema {
        Some(ext) => (schema, ext.attr(attr_name)),
        None => {
            if let Some(common) = COMMON.attr(attr_name) {
                if common.mutability == Mutability::ReadOnly {
                    return Target::ReadOnly(common.name.to_string());
                }
                (None, Some(common))
            } else if let Some(core) = kind.core().attr(attr_name) {
                (None, Some(core))
            } else if qualified {
                (None, None)
            } else {
                // Unqualified extension attribute (`"path": "manager"` in Microsoft's
                // tutorial): accepted when exactly one extension defines the name.
                let mut found = kind
                    .extensions()
                    .iter()
                    .filter_map(|ext| ext.attr(attr_name).map(|a| (Some(*ext), Some(a))));
                match (found.next(), found.next()) {
                    (Some(one), None) => one,
                    _ => (None, None),
                }
            }
        }
    };
    let Some(attr) = attr else {
        return unknown();
    };
    let sub = match sub_name {
        Some(s) => match attr.sub(s) {
            Some(sub) => Some(sub),
            None => return unknown(),
        },
        None => None,
    };
    Target::Attr {
        ext: schema,
        attr,
        sub,
    }
}

/// How an attribute is named in error messages.
pub(crate) fn label(ext: Option<&Schema>, attr: &Attr, sub: Option<&Attr>) -> String {
    let mut s = ext.map(|e| format!("{}:", e.id)).unwrap_or_default();
    s.push_str(attr.name);
    if let Some(sub) = sub {
        s.push('.');
        s.push_str(sub.name);
    }
    s
}

#[path = "resource_values.rs"]
mod values;
pub(crate) use values::{Ctx, check_primary, member_refs};

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
