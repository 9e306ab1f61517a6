// PLACEHOLDER until the canonicalizer lands.
use serde_json::Value;
use crate::directory::schema::ResourceKind;
use crate::error::Error;
pub enum UnknownAttrs { Ignore, Reject }
pub struct Mode { pub unknown: UnknownAttrs, pub extra_allowed: Vec<String> }
#[derive(Debug, Clone)]
pub struct MemberRef { pub value: String, pub type_: Option<String> }
pub struct Canonical { pub doc: Value, pub members: Option<Vec<MemberRef>>, pub ignored: Vec<String> }
pub fn canonicalize(_kind: ResourceKind, body: &Value, _mode: &Mode) -> Result<Canonical, Error> {
    let mut doc = body.clone();
    if let Some(o) = doc.as_object_mut() { o.remove("id"); o.remove("meta"); o.remove("schemas"); }
    let members = doc.as_object_mut().and_then(|o| o.remove("members")).and_then(|m| m.as_array().map(|a| a.iter().filter_map(|x| x.get("value").and_then(Value::as_str)).map(|v| MemberRef{value: v.into(), type_: None}).collect()));
    Ok(Canonical { doc, members, ignored: vec![] })
}
pub fn required_missing(_doc: &Value, _required: &[String]) -> Option<String> { None }
