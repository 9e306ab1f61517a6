//! SCIM filter and PATCH-path grammar (RFC 7644 §3.4.2.2, §3.5.2), parsed into an AST.
//!
//! The parser knows the grammar only; attribute names are resolved against the schemas by
//! whoever consumes the AST (the SQL translator in `store/`, the PATCH engine).

use std::fmt;

/// An attribute path as written: `[urn ":"] attr ["." sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path was qualified (`urn:…:enterprise:2.0:User`).
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// Comparison operators (RFC 7644 §3.4.2.2, Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value: JSON `false`, `null`, `true`, a number or a string.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: the inner filter's paths are relative to the elements of `attr`
    /// (their `attr` field names the sub-attribute, `urn` and `sub` are `None`).
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH operation path (RFC 7644 §3.5.2): `attrPath` or `valuePath ["." subAttr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute; `attr.sub` is set for `name.givenName` style paths.
    pub attr: AttrPath,
    /// The value filter of `emails[type eq "work"]`, relative to the elements.
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter: `emails[type eq "work"].value` → `value`.
    pub sub_after_filter: Option<String>,
}

/// Why a filter or path did not parse. The message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

// PLACEHOLDER parse functions until the parser lands.
pub fn parse_filter(_input: &str) -> Result<Filter, FilterError> { Err(FilterError { message: "not yet".into() }) }
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> { Ok(PatchPath { attr: AttrPath { urn: None, attr: input.into(), sub: None }, filter: None, sub_after_filter: None }) }
