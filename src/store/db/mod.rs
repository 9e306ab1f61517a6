//! One connection API over the two engines: SQLite (embedded, the default) and PostgreSQL
//! (many instances). The store's modules write their SQL once, with `?N` placeholders, and
//! run it through a [`Conn`]; where the two dialects differ they branch on
//! [`Conn::dialect`] (only in `store/`).
//!
//! Values cross the boundary as [`ValueRef`] (SQLite's five storage classes). SQLite takes
//! them as they are; PostgreSQL is strictly typed, so a parameter is encoded as the type the
//! server inferred for its placeholder (an integer bound to a BIGINT column, or text to a
//! TEXT one), and a column is read by its declared type. The schemas keep the two close:
//! integers are BIGINT, 0/1 flags too, documents TEXT (see `migrations/postgres/`).
//!
//! Why not a crate: `sqlx` or `diesel` would mean rewriting every query and (for sqlx) an
//! async store; `r2d2_postgres` gives no statement cache. This module is the small part
//! that neither rusqlite nor postgres provide: one row/parameter API over both.

use std::cell::RefCell;
use std::fmt;

mod pg_wire;
mod value;

pub use pg_wire::{PgSession, pg_placeholders};
pub use value::{
    FromValue, Params, ParamsFromIter, RowIndex, ToParam, Value, ValueRef, params, params_from_iter,
};

/// Which SQL dialect a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug)]
pub enum Error {
    /// `query_row` found no row.
    NoRows,
    /// A unique or primary-key constraint refused the write; the engine's message (it
    /// names the constraint or the columns).
    Unique(String),
    /// The statement was chosen as a serialization or deadlock victim (PostgreSQL): the
    /// whole transaction may be retried.
    Retry(String),
    /// A column's value does not convert to the Rust type asked for.
    Conversion(String),
    Sqlite(rusqlite::Error),
    Pg(postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoRows => f.write_str("query returned no rows"),
            Error::Unique(m) => write!(f, "unique constraint: {m}"),
            Error::Retry(m) => write!(f, "transaction conflict: {m}"),
            Error::Conversion(m) => write!(f, "conversion: {m}"),
            Error::Sqlite(e) => write!(f, "sqlite: {e}"),
            Error::Pg(e) => match e.as_db_error() {
                Some(db) => write!(f, "postgres: {} ({})", db.message(), db.code().code()),
                // The connection's own cause ("Connection refused", a TLS failure) is the
                // error's source, which its Display leaves out.
                None => {
                    write!(f, "postgres: {e}")?;
                    let mut cause = std::error::Error::source(e);
                    while let Some(c) = cause {
                        write!(f, ": {c}")?;
                        cause = c.source();
                    }
                    Ok(())
                }
            },
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            rusqlite::Error::SqliteFailure(f, m)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Error::Unique(m.clone().unwrap_or_default())
            }
            _ => Error::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
                let db = e.as_db_error();
                let constraint = db.and_then(|d| d.constraint()).unwrap_or_default();
                let message = db.map(|d| d.message()).unwrap_or_default();
                Error::Unique(format!("{message} [{constraint}]"))
            }
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                // postgres::Error's own Display says only "db error".
                let db = e.as_db_error();
                Error::Retry(db.map_or_else(
                    || e.to_string(),
                    |d| format!("{} ({})", d.message(), d.code().code()),
                ))
            }
            _ => Error::Pg(e),
        }
    }
}

/// `.optional()` on a single-row result, as rusqlite's `OptionalExtension`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One result row.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Pg(&'a postgres::Row),
}

impl Row<'_> {
    pub fn get<I: RowIndex, T: FromValue>(&self, idx: I) -> Result<T> {
        match self {
            Row::Sqlite(r) => {
                let stmt = r.as_ref();
                let i = idx.index(&|name| stmt.column_index(name).ok())?;
                let v = match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => ValueRef::Null,
                    rusqlite::types::ValueRef::Integer(i) => ValueRef::Int(i),
                    rusqlite::types::ValueRef::Real(f) => ValueRef::Real(f),
                    rusqlite::types::ValueRef::Text(t) => ValueRef::Text(
                        std::str::from_utf8(t).map_err(|e| Error::Conversion(e.to_string()))?,
                    ),
                    rusqlite::types::ValueRef::Blob(b) => ValueRef::Blob(b),
                };
                T::from_value(v)
            }
            Row::Pg(r) => {
                let i = idx.index(&|name| {
                    r.columns()
                        .iter()
                        .position(|c| c.name().eq_ignore_ascii_case(name))
                })?;
                T::from_value(pg_wire::pg_value(r, i)?)
            }
        }
    }
}

/// A connection of either engine, as the store's functions take it.
pub enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Pg(&'a RefCell<PgSession>),
}

impl<'a> Conn<'a> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Pg(_) => Dialect::Postgres,
        }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }

    /// The SQLite connection, for what only SQLite has (pragmas, functions, backups).
    pub fn sqlite(&self) -> Option<&'a rusqlite::Connection> {
        match self {
            Conn::Sqlite(c) => Some(c),
            Conn::Pg(_) => None,
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn query_row<T, P: Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'a>> {
        Ok(match self {
            Conn::Sqlite(c) => Stmt::Sqlite(c.prepare_cached(sql)?),
            Conn::Pg(s) => Stmt::Pg(s, sql.to_string()),
        })
    }

    /// A statement used once (built SQL): not kept in SQLite's small statement cache.
    /// PostgreSQL keeps every statement per connection.
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'a>> {
        Ok(match self {
            Conn::Sqlite(c) => Stmt::SqliteOnce(c.prepare(sql)?),
            Conn::Pg(s) => Stmt::Pg(s, sql.to_string()),
        })
    }

    /// Runs `f` in one read transaction: everything it reads is one snapshot.
    pub fn snapshot<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let begin = match self {
            Conn::Sqlite(_) => "BEGIN",
            Conn::Pg(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.execute_batch(begin)?;
        match f(self) {
            Ok(v) => {
                self.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Several statements without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg(s) => Ok(s.borrow_mut().client().batch_execute(sql)?),
        }
    }
}

/// A prepared statement.
pub enum Stmt<'a> {
    Sqlite(rusqlite::CachedStatement<'a>),
    SqliteOnce(rusqlite::Statement<'a>),
    Pg(&'a RefCell<PgSession>, String),
}

/// The SQLite statement of a `Stmt`, cached or not.
macro_rules! sqlite_stmt {
    ($s:ident) => {
        match $s {
            Stmt::Sqlite(s) => Some(&mut **s),
            Stmt::SqliteOnce(s) => Some(s),
            Stmt::Pg(..) => None,
        }
    };
}

impl Stmt<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        params.with_values(|v| {
            if let Stmt::Pg(s, sql) = self {
                return s.borrow_mut().execute(sql, v);
            }
            let s = sqlite_stmt!(self).expect("a SQLite statement");
            Ok(s.execute(rusqlite::params_from_iter(v.iter()))?)
        })
    }

    /// Every row mapped by `f`, read to the end (or to the first error, which comes last).
    pub fn query_map<T, P: Params>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut out = Vec::new();
        params.with_values(|v| -> Result<()> {
            match self {
                Stmt::Sqlite(_) | Stmt::SqliteOnce(_) => {
                    let s = sqlite_stmt!(self).expect("a SQLite statement");
                    let mut rows = s.query(rusqlite::params_from_iter(v.iter()))?;
                    while let Some(r) = rows.next()? {
                        let mapped = f(&Row::Sqlite(r));
                        let failed = mapped.is_err();
                        out.push(mapped);
                        if failed {
                            break;
                        }
                    }
                }
                Stmt::Pg(s, sql) => {
                    let rows = s.borrow_mut().query(sql, v)?;
                    for r in &rows {
                        let mapped = f(&Row::Pg(r));
                        let failed = mapped.is_err();
                        out.push(mapped);
                        if failed {
                            break;
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(out.into_iter())
    }

    pub fn query_row<T, P: Params>(
        &mut self,
        params: P,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        params.with_values(|v| match self {
            Stmt::Sqlite(_) | Stmt::SqliteOnce(_) => {
                let s = sqlite_stmt!(self).expect("a SQLite statement");
                let mut rows = s.query(rusqlite::params_from_iter(v.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(Error::NoRows),
                }
            }
            Stmt::Pg(s, sql) => {
                let rows = s.borrow_mut().query(sql, v)?;
                match rows.first() {
                    Some(r) => f(&Row::Pg(r)),
                    None => Err(Error::NoRows),
                }
            }
        })
    }

    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("a = ?1 AND b = ?2", "a = $1 AND b = $2"),
            ("a = ? AND b = ?", "a = $1 AND b = $2"),
            ("a = ?2 AND b = ?", "a = $2 AND b = $3"),
            ("x = '?1' AND y = ?1", "x = '?1' AND y = $1"),
            ("\"q?\" = ?10 -- ?3\n AND ?", "\"q?\" = $10 -- ?3\n AND $11"),
        ];
        for (sql, want) in cases {
            assert_eq!(pg_placeholders(sql), want, "{sql}");
        }
    }

    /// "error connecting to server" alone does not say what to fix: the cause is named.
    #[test]
    fn a_connection_error_names_its_cause() {
        // Nothing listens on port 1 of the loopback address.
        let refused = postgres::Client::connect(
            "host=127.0.0.1 port=1 user=idgate connect_timeout=2",
            postgres::NoTls,
        )
        .err()
        .expect("nothing listens on port 1");
        let text = Error::from(refused).to_string();
        assert!(
            text.starts_with("postgres: error connecting to server: "),
            "{text}"
        );
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }

    #[test]
    fn sqlite_round_trip() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let conn = Conn::Sqlite(&c);
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            params![7i64, "x", vec![1u8, 2]],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, NULL)",
            (8i64, None::<String>),
        )
        .unwrap();
        let rows: Vec<(i64, Option<String>)> = conn
            .prepare_cached("SELECT a, b FROM t ORDER BY a")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get("b")?)))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(rows, vec![(7, Some("x".into())), (8, None)]);
        let none = conn
            .query_row("SELECT a FROM t WHERE a = ?1", [99i64], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .unwrap();
        assert_eq!(none, None);
        let err = conn
            .query_row("SELECT b FROM t WHERE a = 7", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(matches!(err, Error::Conversion(_)), "{err}");
    }
}
