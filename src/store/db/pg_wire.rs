//! PostgreSQL's side of the value API: columns read by their declared type, parameters
//! encoded as the type the server inferred, and a connection with its prepared statements.

use std::collections::HashMap;

use bytes::BytesMut;
use postgres::types::{IsNull, Type, to_sql_checked};

use super::{Error, Result, ValueRef};

pub(super) fn pg_value(r: &postgres::Row, i: usize) -> Result<ValueRef<'_>> {
    let col = r
        .columns()
        .get(i)
        .ok_or_else(|| Error::Conversion(format!("no column {i}")))?;
    let ty = col.type_();
    Ok(if *ty == Type::INT8 {
        r.try_get::<_, Option<i64>>(i)?
            .map_or(ValueRef::Null, ValueRef::Int)
    } else if *ty == Type::INT4 {
        r.try_get::<_, Option<i32>>(i)?
            .map_or(ValueRef::Null, |v| ValueRef::Int(v.into()))
    } else if *ty == Type::INT2 {
        r.try_get::<_, Option<i16>>(i)?
            .map_or(ValueRef::Null, |v| ValueRef::Int(v.into()))
    } else if *ty == Type::BOOL {
        r.try_get::<_, Option<bool>>(i)?
            .map_or(ValueRef::Null, |v| ValueRef::Int(v.into()))
    } else if *ty == Type::FLOAT8 {
        r.try_get::<_, Option<f64>>(i)?
            .map_or(ValueRef::Null, ValueRef::Real)
    } else if *ty == Type::FLOAT4 {
        r.try_get::<_, Option<f32>>(i)?
            .map_or(ValueRef::Null, |v| ValueRef::Real(v.into()))
    } else if *ty == Type::BYTEA {
        r.try_get::<_, Option<&[u8]>>(i)?
            .map_or(ValueRef::Null, ValueRef::Blob)
    } else if *ty == Type::OID {
        r.try_get::<_, Option<u32>>(i)?
            .map_or(ValueRef::Null, |v| ValueRef::Int(v.into()))
    } else {
        // TEXT, VARCHAR, NAME, BPCHAR, UNKNOWN: strings. Anything else (NUMERIC, JSONB, time
        // types) must be cast to text or BIGINT in the SQL.
        r.try_get::<_, Option<&str>>(i)
            .map_err(|_| {
                Error::Conversion(format!(
                    "column {} has type {ty}: cast it in the SQL",
                    col.name()
                ))
            })?
            .map_or(ValueRef::Null, ValueRef::Text)
    })
}

impl postgres::types::ToSql for ValueRef<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Int(i) => {
                if *ty == Type::INT8 {
                    i.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*i as f64).to_sql(ty, out)
                } else {
                    i.to_string().as_str().to_sql(&Type::TEXT, out)
                }
            }
            ValueRef::Real(f) => {
                if *ty == Type::FLOAT4 {
                    (*f as f32).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    f.to_sql(ty, out)
                } else {
                    f.to_string().as_str().to_sql(&Type::TEXT, out)
                }
            }
            ValueRef::Text(s) => {
                if *ty == Type::INT8 {
                    s.parse::<i64>()?.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    s.parse::<i32>()?.to_sql(ty, out)
                } else if *ty == Type::BYTEA {
                    s.as_bytes().to_sql(ty, out)
                } else if *ty == Type::JSONB {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                } else {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
            }
            ValueRef::Blob(b) => {
                if *ty == Type::BYTEA {
                    b.to_sql(ty, out)
                } else {
                    out.extend_from_slice(b);
                    Ok(IsNull::No)
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match self {
            ValueRef::Null => V::Null,
            ValueRef::Int(i) => V::Integer(*i),
            ValueRef::Real(f) => V::Real(*f),
            ValueRef::Text(s) => V::Text(s.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

/// A PostgreSQL connection with its prepared statements (by SQL text, as rusqlite's
/// `prepare_cached`).
pub struct PgSession {
    /// Always Some until dropped (see `Drop`).
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
    /// Events the open transaction appended, inserted just before it commits
    /// (`store::events::append`).
    pub(crate) pending_events: Vec<crate::store::events::Appending>,
}

impl PgSession {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client: Some(client),
            statements: HashMap::new(),
            pending_events: Vec::new(),
        }
    }

    pub fn client(&mut self) -> &mut postgres::Client {
        self.client
            .as_mut()
            .expect("a PgSession has its client until dropped")
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client().prepare(&pg_placeholders(sql))?;
        if self.statements.len() > 512 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
    ) -> Result<Vec<postgres::Row>> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        Ok(self.client().query(&stmt, &refs)?)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        Ok(self.client().execute(&stmt, &refs)? as usize)
    }
}

impl Drop for PgSession {
    /// `postgres::Client` closes its connection by blocking on its own runtime, which panics
    /// inside an async task (a pool dropped there, with the app): there, it closes on a
    /// thread of its own.
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::Builder::new()
                .name("idgate-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// SQLite's `?N` and `?` placeholders as PostgreSQL's `$N` (outside quotes and comments).
pub fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1usize;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                // A comment runs to the end of the line.
                out.push(c);
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse::<usize>().unwrap_or(next);
                next = next.max(n + 1);
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}
