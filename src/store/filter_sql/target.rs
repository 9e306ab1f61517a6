//! Where an attribute lives in storage: resolving a filter path against the schemas and
//! placing it in a column, the JSON document or the membership table.

use crate::directory::filter::AttrPath;
use crate::directory::schema::{self, Attr, AttrType, ResolvedAttr, ResourceKind};
use crate::error::Error;
use crate::store::db::Dialect;
use crate::store::dialect;

use super::bad;

/// A resolved top-level attribute, an optional sub-attribute and the name as written.
pub(super) struct Target {
    pub(super) top: ResolvedAttr,
    pub(super) sub: Option<&'static Attr>,
    pub(super) name: String,
}

pub(super) fn resolve_path(kind: ResourceKind, path: &AttrPath) -> Result<Target, Error> {
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
pub(super) enum Case {
    /// Compare exactly.
    Exact,
    /// The column already holds `fold(value)`: fold only the filter value.
    Key,
    /// Fold both sides.
    Fold,
}

/// Where a top-level attribute is stored.
pub(super) enum Place {
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

pub(super) fn place(kind: ResourceKind, t: &Target) -> Result<Place, Error> {
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
pub(super) fn json_path(top: &ResolvedAttr, sub: Option<&Attr>) -> String {
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

pub(super) fn label(name: &str) -> String {
    format!("\"{name}\"")
}

/// The sub-attribute to compare: the one named, else `value` for complex attributes.
pub(super) fn value_sub(t: &Target, sub: Option<&'static Attr>) -> Result<&'static Attr, Error> {
    sub.or_else(|| t.top.attr.sub("value")).ok_or_else(|| {
        bad(format!(
            "`{}` is complex: compare one of its sub-attributes",
            t.name
        ))
    })
}

/// The `group_members` column for a `members` sub-attribute.
pub(super) fn member_column(t: &Target, sub: Option<&Attr>) -> Result<(&'static str, Case), Error> {
    match sub.map_or("value", |s| s.name) {
        "value" => Ok(("gm.member_id", Case::Exact)),
        "type" => Ok(("gm.member_type", Case::Fold)),
        other => Err(bad(format!(
            "filtering on `{}` is not supported (members.{other} is not stored)",
            t.name
        ))),
    }
}

pub(super) fn sort_value(d: Dialect, src: &str, path: &str, attr: &Attr) -> String {
    let x = dialect::json_text(d, src, path);
    if matches!(attr.ty, AttrType::String | AttrType::Reference) && !attr.case_exact {
        dialect::fold(d, &x)
    } else {
        x
    }
}
