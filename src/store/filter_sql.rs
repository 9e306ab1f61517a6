// PLACEHOLDER until the translator lands.
use crate::directory::filter::{AttrPath, Filter};
use crate::directory::schema::ResourceKind;
use crate::error::Error;
pub struct SqlFilter { pub sql: String, pub params: Vec<rusqlite::types::Value> }
pub fn filter_to_sql(_kind: ResourceKind, _f: &Filter, _first: usize) -> Result<SqlFilter, Error> { Err(Error::invalid_filter("filters not yet")) }
pub fn sort_expr(_kind: ResourceKind, _p: &AttrPath) -> Result<String, Error> { Ok("r.seq".into()) }
pub fn register_functions(_c: &rusqlite::Connection) -> rusqlite::Result<()> { Ok(()) }
