//! Value coercion shared by `canonicalize` and PATCH: one function per attribute shape
//! (simple, complex, multi-valued), driven by the schema's attribute definitions.
//! Included from `resource.rs`.

use serde_json::{Map, Value};

use super::{MemberRef, Mode, UnknownAttrs, is_blank};
use crate::directory::patch::MemberChange;
use crate::directory::schema::{Attr, AttrType, Mutability, ResourceKind};
use crate::error::Error;
/// State shared by `canonicalize` and PATCH while reading one request.
pub(crate) struct Ctx<'a> {
    pub kind: ResourceKind,
    pub mode: &'a Mode,
    /// Unknown attributes dropped in lenient mode.
    pub ignored: Vec<String>,
    /// Membership changes, in request order (groups).
    pub members: Vec<MemberChange>,
    /// True for PATCH; false while reading a POST/PUT body (nulls are simply absent and
    /// keys cannot carry value filters).
    pub patch: bool,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(kind: ResourceKind, mode: &'a Mode, patch: bool) -> Self {
        Self {
            kind,
            mode,
            ignored: Vec::new(),
            members: Vec::new(),
            patch,
        }
    }

    /// An unknown attribute: recorded (lenient) or refused (strict). Names in a PATCH path
    /// are refused with `invalidPath`, names inside a value with `invalidValue`.
    pub(crate) fn unknown(&mut self, name: &str, in_path: bool) -> Result<(), Error> {
        match self.mode.unknown {
            UnknownAttrs::Ignore => {
                if !self.ignored.iter().any(|n| n == name) {
                    self.ignored.push(name.to_string());
                }
                Ok(())
            }
            UnknownAttrs::Reject if in_path => {
                Err(Error::invalid_path(format!("unknown attribute \"{name}\"")))
            }
            UnknownAttrs::Reject => Err(Error::invalid_value(format!(
                "unknown attribute \"{name}\""
            ))),
        }
    }

    /// The canonical form of `v` for `attr` (called `label` in messages); `None` when it
    /// amounts to nothing (null, `""`, empty array or object).
    pub(crate) fn value(
        &mut self,
        attr: &'static Attr,
        label: &str,
        v: &Value,
    ) -> Result<Option<Value>, Error> {
        if is_blank(v) {
            Ok(None)
        } else if attr.multi_valued {
            Ok(self.multi(attr, label, v)?.map(Value::Array))
        } else if attr.is_complex() {
            self.complex(attr, label, v)
        } else {
            scalar(attr, label, v).map(Some)
        }
    }

    /// The values of a multi-valued attribute; a single value is taken as a one-element
    /// array. Duplicates are dropped; more than one `primary: true` is refused.
    pub(crate) fn multi(
        &mut self,
        attr: &'static Attr,
        label: &str,
        v: &Value,
    ) -> Result<Option<Vec<Value>>, Error> {
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            Value::Object(_) => vec![v],
            _ if !attr.is_complex() => vec![v],
            _ => return Err(Error::invalid_value(format!("{label} must be an array"))),
        };
        let mut out: Vec<Value> = Vec::new();
        for item in items {
            let canon = if attr.is_complex() {
                self.element(attr, label, item)?
            } else if item.is_array() {
                return Err(Error::invalid_value(format!("{label} must be an array")));
            } else if is_blank(item) {
                None
            } else {
                Some(scalar(attr, label, item)?)
            };
            if let Some(c) = canon.filter(|c| !out.contains(c)) {
                out.push(c);
            }
        }
        let all: Vec<usize> = (0..out.len()).collect();
        check_primary(label, &mut out, &all)?;
        Ok((!out.is_empty()).then_some(out))
    }

    /// One value of a multi-valued complex attribute.
    pub(crate) fn element(
        &mut self,
        attr: &'static Attr,
        label: &str,
        item: &Value,
    ) -> Result<Option<Value>, Error> {
        match item {
            Value::Object(o) => {
                let mut m = Map::new();
                self.merge_subs(attr, label, &mut m, o)?;
                Ok((!m.is_empty()).then_some(Value::Object(m)))
            }
            v if is_blank(v) => Ok(None),
            _ => Err(Error::invalid_value(format!(
                "{label} values must be objects"
            ))),
        }
    }

    /// A single-valued complex attribute: an object; Entra's one-element array
    /// (`"manager": [{"value": …}]`); or, for an attribute with a `value` sub-attribute
    /// (manager), a bare string.
    pub(crate) fn complex(
        &mut self,
        attr: &'static Attr,
        label: &str,
        v: &Value,
    ) -> Result<Option<Value>, Error> {
        match v {
            Value::Object(_) => self.element(attr, label, v),
            Value::Array(items) if items.len() <= 1 => match items.first() {
                Some(item) if !item.is_array() => self.complex(attr, label, item),
                Some(_) => Err(Error::invalid_value(format!("{label} must be an object"))),
                None => Ok(None),
            },
            Value::String(s) if !s.is_empty() => match attr.sub("value") {
                Some(sub) => {
                    let mut m = Map::new();
                    m.insert(sub.name.to_string(), Value::String(s.clone()));
                    Ok(Some(Value::Object(m)))
                }
                None => Err(Error::invalid_value(format!("{label} must be an object"))),
            },
            v if is_blank(v) => Ok(None),
            _ => Err(Error::invalid_value(format!("{label} must be an object"))),
        }
    }

    /// Sets (or, for blank values, removes) in `m` each sub-attribute given in `o`.
    /// Read-only sub-attributes (`manager.displayName`) are dropped.
    pub(crate) fn merge_subs(
        &mut self,
        attr: &'static Attr,
        label: &str,
        m: &mut Map<String, Value>,
        o: &Map<String, Value>,
    ) -> Result<(), Error> {
        for (k, v) in o {
            let Some(sub) = attr.sub(k) else {
                if !v.is_null() {
                    self.unknown(&format!("{label}.{k}"), false)?;
                }
                continue;
            };
            if sub.mutability == Mutability::ReadOnly {
                continue;
            }
            match self.value(sub, &format!("{label}.{}", sub.name), v)? {
                Some(c) => m.insert(sub.name.to_string(), c),
                None => m.remove(sub.name),
            };
        }
        Ok(())
    }
}

/// A simple (non-complex) value, type-checked; Entra's `"True"`/`"False"` are booleans.
fn scalar(attr: &Attr, label: &str, v: &Value) -> Result<Value, Error> {
    let bad = |what: &str| Error::invalid_value(format!("{label} must be {what}"));
    match attr.ty {
        AttrType::String | AttrType::Reference | AttrType::DateTime => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(bad("a string")),
        },
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(bad("a boolean")),
        },
        AttrType::Integer => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            _ => Err(bad("an integer")),
        },
        AttrType::Decimal => match v {
            Value::Number(_) => Ok(v.clone()),
            _ => Err(bad("a number")),
        },
        AttrType::Complex => Err(bad("an object")),
    }
}

fn is_primary(v: &Value) -> bool {
    v.get("primary").and_then(Value::as_bool) == Some(true)
}

/// RFC 7643 §2.4: `primary: true` appears at most once. When exactly one of the values just
/// written (`touched`) is primary, the others lose it; otherwise more than one is an error.
pub(crate) fn check_primary(
    label: &str,
    items: &mut [Value],
    touched: &[usize],
) -> Result<(), Error> {
    if items.iter().filter(|v| is_primary(v)).count() <= 1 {
        return Ok(());
    }
    let fresh: Vec<usize> = touched
        .iter()
        .copied()
        .filter(|&i| items.get(i).is_some_and(is_primary))
        .collect();
    let [keep] = fresh.as_slice() else {
        return Err(Error::invalid_value(format!(
            "at most one {label} value may be primary"
        )));
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != *keep
            && is_primary(item)
            && let Some(o) = item.as_object_mut()
        {
            o.insert("primary".to_string(), Value::Bool(false));
        }
    }
    Ok(())
}

/// Group members from a body or PATCH value: an array (or one) of `{value, type?, display?,
/// $ref?}`, or bare id strings.
pub(crate) fn member_refs(v: &Value) -> Result<Vec<MemberRef>, Error> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        v if is_blank(v) => Vec::new(),
        other => vec![other],
    };
    let mut out: Vec<MemberRef> = Vec::new();
    for item in items {
        let member = match item {
            Value::String(s) if !s.is_empty() => MemberRef {
                value: s.clone(),
                type_: None,
                display: None,
            },
            Value::Object(o) => member_ref(o)?,
            v if is_blank(v) => continue,
            _ => return Err(Error::invalid_value("members values must be objects")),
        };
        if !out.iter().any(|m| m.value == member.value) {
            out.push(member);
        }
    }
    Ok(out)
}

fn member_ref(o: &Map<String, Value>) -> Result<MemberRef, Error> {
    let field = |name: &str| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !is_blank(v))
    };
    let value = match field("value") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Error::invalid_value("members.value must be a string")),
        None => return Err(Error::invalid_value("members.value is required")),
    };
    let type_ = match field("type") {
        None => None,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("user") => Some("User".to_string()),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("group") => Some("Group".to_string()),
        Some(_) => {
            return Err(Error::invalid_value(
                "members.type must be \"User\" or \"Group\"",
            ));
        }
    };
    let display = match field("display") {
        None => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err(Error::invalid_value("members.display must be a string")),
    };
    Ok(MemberRef {
        value,
        type_,
        display,
    })
}
