//! Values that cross between Rust and either engine: parameters in, columns out.

use super::{Error, Result};

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
/// `find` looks a name up among the row's columns; a position needs no lookup (reading a
/// column by position, the common case, costs nothing extra).
pub trait RowIndex {
    fn index(&self, find: &dyn Fn(&str) -> Option<usize>) -> Result<usize>;
}
impl RowIndex for usize {
    fn index(&self, _: &dyn Fn(&str) -> Option<usize>) -> Result<usize> {
        Ok(*self)
    }
}
impl RowIndex for &str {
    fn index(&self, find: &dyn Fn(&str) -> Option<usize>) -> Result<usize> {
        find(self).ok_or_else(|| Error::Conversion(format!("no column {self}")))
    }
}
