// PLACEHOLDER until the PATCH engine lands.
use serde_json::Value;
use crate::directory::resource::{MemberRef, Mode};
use crate::directory::schema::ResourceKind;
use crate::error::Error;
pub struct PatchRequest { pub ops: Vec<Value> }
pub enum MemberChange { Add(Vec<MemberRef>), Remove(Vec<String>), RemoveAll, Replace(Vec<MemberRef>) }
pub fn parse_patch(body: &Value) -> Result<PatchRequest, Error> { Ok(PatchRequest { ops: body.get("Operations").and_then(Value::as_array).cloned().unwrap_or_default() }) }
pub fn apply(_kind: ResourceKind, _doc: &mut Value, _req: &PatchRequest, _mode: &Mode) -> Result<Vec<MemberChange>, Error> { Err(Error::internal("patch not yet")) }
