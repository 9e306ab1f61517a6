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
use std::collections::HashMap;
use std::fmt;

use bytes::BytesMut;
use postgres::types::{IsNull, Type, to_sql_checked};

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
                None => write!(f, "postgres: {e}"),
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
                Error::Retry(e.to_string())
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

/// A value, borrowed where it can be.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// An owned value (dynamic parameter lists: the filter builder, page queries).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(v as i64)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Something that can be bound to a placeholder.
pub trait ToParam {
    fn to_param(&self) -> ValueRef<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn to_param(&self) -> ValueRef<'_> {
                ValueRef::Int(*self as i64)
            }
        }
    )*};
}
int_param!(i64, i32, i16, u8, u16, u32);

impl ToParam for u64 {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToParam for usize {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToParam for bool {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Int(*self as i64)
    }
}
impl ToParam for f64 {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}
impl ToParam for str {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}
impl ToParam for String {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}
impl ToParam for [u8] {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}
impl ToParam for Vec<u8> {
    fn to_param(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}
impl ToParam for Value {
    fn to_param(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}
impl ToParam for ValueRef<'_> {
    fn to_param(&self) -> ValueRef<'_> {
        self.clone()
    }
}
impl<T: ToParam + ?Sized> ToParam for &T {
    fn to_param(&self) -> ValueRef<'_> {
        (**self).to_param()
    }
}
impl<T: ToParam> ToParam for Option<T> {
    fn to_param(&self) -> ValueRef<'_> {
        self.as_ref().map_or(ValueRef::Null, ToParam::to_param)
    }
}
impl<T: ToParam + ?Sized> ToParam for Box<T> {
    fn to_param(&self) -> ValueRef<'_> {
        (**self).to_param()
    }
}

/// A statement's parameters: `[]`, `[a, b]`, `params![a, b]`, `(a, b)`, `params_from_iter`.
pub trait Params {
    fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R;
}

impl Params for [&dyn ToParam; 0] {
    fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        f(&[])
    }
}

impl Params for &[&dyn ToParam] {
    fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        let v: Vec<ValueRef<'_>> = self.iter().map(|p| p.to_param()).collect();
        f(&v)
    }
}

impl Params for () {
    fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        f(&[])
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToParam> Params for [T; $n] {
            fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
                let v: Vec<ValueRef<'_>> = self.iter().map(|p| p.to_param()).collect();
                f(&v)
            }
        }
        impl<T: ToParam> Params for &[T; $n] {
            fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
                let v: Vec<ValueRef<'_>> = self.iter().map(|p| p.to_param()).collect();
                f(&v)
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

macro_rules! tuple_params {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: ToParam),+> Params for ($($t,)+) {
            fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
                let v = [$(self.$i.to_param()),+];
                f(&v)
            }
        }
    )*};
}
tuple_params! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// Parameters from an iterator of values (`params_from_iter(values.iter())`).
pub struct ParamsFromIter<I>(I);

pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToParam,
{
    ParamsFromIter(iter)
}

impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToParam,
{
    fn with_values<R>(self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        let items: Vec<I::Item> = self.0.into_iter().collect();
        let v: Vec<ValueRef<'_>> = items.iter().map(|p| p.to_param()).collect();
        f(&v)
    }
}

/// `params![a, b, c]`, as rusqlite's.
#[macro_export]
macro_rules! db_params {
    () => { &[] as &[&dyn $crate::store::db::ToParam] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::db::ToParam),+] as &[&dyn $crate::store::db::ToParam] };
}
pub use crate::db_params as params;

/// A Rust type read from a column.
pub trait FromValue: Sized {
    fn from_value(v: ValueRef<'_>) -> Result<Self>;
}

fn wrong(v: &ValueRef<'_>, want: &str) -> Error {
    let got = match v {
        ValueRef::Null => "NULL",
        ValueRef::Int(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    Error::Conversion(format!("{got} where {want} was expected"))
}

impl FromValue for i64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => Err(wrong(&other, "an integer")),
        }
    }
}

macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: ValueRef<'_>) -> Result<Self> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| Error::Conversion(format!("{i} out of range")))
            }
        }
    )*};
}
int_from!(i32, u32, u64, usize, u16, u8);

impl FromValue for bool {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        Ok(i64::from_value(v)? != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            other => Err(wrong(&other, "a number")),
        }
    }
}
impl FromValue for String {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Text(s) => Ok(s.to_string()),
            other => Err(wrong(&other, "text")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(wrong(&other, "a blob")),
        }
    }
}
impl FromValue for Value {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        Ok(match v {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A column by position or by name.
pub trait RowIndex {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Result<usize>;
}
impl RowIndex for usize {
    fn index(&self, _: &mut dyn Iterator<Item = &str>) -> Result<usize> {
        Ok(*self)
    }
}
impl RowIndex for &str {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Result<usize> {
        for (i, n) in names.enumerate() {
            if n.eq_ignore_ascii_case(self) {
                return Ok(i);
            }
        }
        Err(Error::Conversion(format!("no column {self}")))
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
                let i = idx.index(&mut stmt.column_names().into_iter())?;
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
                let i = idx.index(&mut r.columns().iter().map(|c| c.name()))?;
                T::from_value(pg_value(r, i)?)
            }
        }
    }
}

fn pg_value(r: &postgres::Row, i: usize) -> Result<ValueRef<'_>> {
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
}

impl PgSession {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client: Some(client),
            statements: HashMap::new(),
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

    fn query(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<Vec<postgres::Row>> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn postgres::types::ToSql + Sync))
            .collect();
        Ok(self.client().query(&stmt, &refs)?)
    }

    fn execute(&mut self, sql: &str, params: &[ValueRef<'_>]) -> Result<usize> {
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
