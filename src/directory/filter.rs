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

/// Longest filter or path accepted, in bytes.
pub const MAX_INPUT_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value filters accepted.
pub const MAX_DEPTH: usize = 32;

/// Parses a `filter` query parameter (RFC 7644 §3.4.2.2).
///
/// Lenient extension: `emails[type eq "work"].value eq "x"` is accepted and read as
/// `emails[type eq "work" and value eq "x"]`.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input)?;
    if p.peek().is_none() {
        return Err(err("the filter is empty"));
    }
    let filter = p.parse_or(false)?;
    match p.peek() {
        None => Ok(filter),
        Some(t) if t.kind == Tok::RParen => Err(p.err_at(t, "unbalanced `)`")),
        Some(t) if t.kind == Tok::RBracket => Err(p.err_at(t, "unbalanced `]`")),
        Some(t) => Err(p.err_at(t, "expected `and`, `or` or the end of the filter")),
    }
}

/// Parses a PATCH `path` (RFC 7644 §3.5.2): `attrPath` or `valuePath ["." subAttr]`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input)?;
    let Some(first) = p.next() else {
        return Err(err("the path is empty"));
    };
    let Tok::Word(word) = first.kind else {
        return Err(p.err_at(&first, "expected an attribute path"));
    };
    let attr = p.attr_path(word, first.pos, false)?;
    let mut path = PatchPath {
        attr,
        filter: None,
        sub_after_filter: None,
    };
    if let Some(t) = p.peek()
        && t.kind == Tok::LBracket
    {
        let open = p.next_tok();
        path.filter = Some(p.value_filter(&path.attr, &open, 0)?);
        if let Some(t) = p.peek()
            && let Tok::Word(w) = t.kind
            && let Some(sub) = w.strip_prefix('.')
        {
            let t = p.next_tok();
            check_name(sub).map_err(|m| p.err_at(&t, m))?;
            path.sub_after_filter = Some(sub.to_string());
        }
    }
    match p.peek() {
        None => Ok(path),
        Some(t) => Err(p.err_at(t, "unexpected text after the path")),
    }
}

fn err(message: impl Into<String>) -> FilterError {
    FilterError {
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A run of characters other than spaces, brackets, parentheses and `"`.
    Word(&'a str),
    /// A JSON string literal, with its escapes already decoded.
    Str,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Tok<'a>,
    /// Byte offset in the input.
    pos: usize,
    /// The decoded string for `Tok::Str`.
    text: String,
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn lex(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut out = Vec::new();
    let bytes = input.as_bytes();
    let mut it = input.char_indices().peekable();
    while let Some((pos, c)) = it.next() {
        let simple = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(kind) = simple {
            out.push(Token {
                kind,
                pos,
                text: String::new(),
            });
            continue;
        }
        if is_space(c) {
            continue;
        }
        if c == '"' {
            // Find the closing quote, skipping escaped characters; serde_json decodes.
            let mut end = None;
            while let Some((i, c)) = it.next() {
                match c {
                    '\\' => {
                        it.next();
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else {
                return Err(err(format!(
                    "unterminated string starting at position {}",
                    char_pos(input, pos)
                )));
            };
            let raw = input.get(pos..=end).unwrap_or_default();
            let text: String = serde_json::from_str(raw).map_err(|_| {
                err(format!(
                    "invalid string at position {}: bad escape sequence or control character",
                    char_pos(input, pos)
                ))
            })?;
            out.push(Token {
                kind: Tok::Str,
                pos,
                text,
            });
            continue;
        }
        let mut end = input.len();
        while let Some(&(i, c)) = it.peek() {
            if is_space(c) || matches!(c, '(' | ')' | '[' | ']' | '"') {
                end = i;
                break;
            }
            it.next();
        }
        let word = std::str::from_utf8(bytes.get(pos..end).unwrap_or_default()).unwrap_or_default();
        out.push(Token {
            kind: Tok::Word(word),
            pos,
            text: String::new(),
        });
    }
    Ok(out)
}

/// 1-based character position of byte offset `pos`.
fn char_pos(input: &str, pos: usize) -> usize {
    input.get(..pos).map_or(pos, |s| s.chars().count()) + 1
}

fn compare_op(word: &str) -> Option<CompareOp> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    })
}

fn is_operator(word: &str) -> bool {
    compare_op(word).is_some() || word.eq_ignore_ascii_case("pr")
}

/// ATTRNAME = ALPHA *(nameChar), plus `$ref` (RFC 7644 §3.10).
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = name.eq_ignore_ascii_case("$ref")
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if ok {
        Ok(())
    } else if name.is_empty() {
        Err("missing attribute name".to_string())
    } else {
        Err(format!("invalid attribute name `{}`", clip(name)))
    }
}

/// Shortens user text quoted in an error message.
fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self, FilterError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(err(format!(
                "the filter is too long ({} bytes, at most {MAX_INPUT_LEN})",
                input.len()
            )));
        }
        Ok(Self {
            input,
            tokens: lex(input)?,
            at: 0,
        })
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.at)
    }

    fn peek_kind(&self, ahead: usize) -> Option<Tok<'a>> {
        self.tokens.get(self.at + ahead).map(|t| t.kind)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.at).cloned();
        if t.is_some() {
            self.at += 1;
        }
        t
    }

    /// Consumes the token just peeked.
    fn next_tok(&mut self) -> Token<'a> {
        let t = self.tokens.get(self.at).cloned().unwrap_or(Token {
            kind: Tok::RParen,
            pos: self.input.len(),
            text: String::new(),
        });
        self.at += 1;
        t
    }

    fn describe(t: &Token<'_>) -> String {
        match t.kind {
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Word(w) => format!("`{}`", clip(w)),
            Tok::Str => format!("string \"{}\"", clip(&t.text)),
        }
    }

    fn err_at(&self, t: &Token<'_>, what: impl std::fmt::Display) -> FilterError {
        err(format!(
            "{what} at position {} (found {})",
            char_pos(self.input, t.pos),
            Self::describe(t)
        ))
    }

    fn err_end(&self, what: impl std::fmt::Display) -> FilterError {
        err(format!("{what} at the end of the filter"))
    }

    fn enter(&self, depth: usize, t: &Token<'_>) -> Result<usize, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(err(format!(
                "the filter is nested too deeply (more than {MAX_DEPTH} levels) at position {}",
                char_pos(self.input, t.pos)
            )));
        }
        Ok(depth + 1)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek_kind(0), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// filter = andExpr *("or" andExpr). `depth` counts enclosing `(`, `not` and `[`;
    /// `in_value` is true inside a value filter.
    fn parse_or(&mut self, in_value: bool) -> Result<Filter, FilterError> {
        self.parse_or_at(in_value, 0)
    }

    fn parse_or_at(&mut self, in_value: bool, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.parse_and(in_value, depth)?;
        while self.keyword("or") {
            self.next();
            let right = self.parse_and(in_value, depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, in_value: bool, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary(in_value, depth)?;
        while self.keyword("and") {
            self.next();
            let right = self.parse_unary(in_value, depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, in_value: bool, depth: usize) -> Result<Filter, FilterError> {
        let Some(t) = self.next() else {
            return Err(self.err_end("expected an attribute path, `(` or `not`"));
        };
        match t.kind {
            Tok::LParen => {
                let depth = self.enter(depth, &t)?;
                let inner = self.parse_or_at(in_value, depth)?;
                self.expect_close(Tok::RParen, &t)?;
                Ok(inner)
            }
            // `not` is a keyword unless it is used as an attribute name (`not eq "x"`).
            Tok::Word(w)
                if w.eq_ignore_ascii_case("not")
                    && !matches!(self.peek_kind(0), Some(Tok::Word(op)) if is_operator(op))
                    && self.peek_kind(0) != Some(Tok::LBracket) =>
            {
                let depth = self.enter(depth, &t)?;
                let inner = self.parse_unary(in_value, depth)?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::Word(w) => self.parse_attr_expr(w, &t, in_value, depth),
            _ => Err(self.err_at(&t, "expected an attribute path, `(` or `not`")),
        }
    }

    fn expect_close(&mut self, close: Tok<'a>, open: &Token<'_>) -> Result<(), FilterError> {
        let name = if close == Tok::RParen { "`)`" } else { "`]`" };
        match self.next() {
            Some(t) if t.kind == close => Ok(()),
            Some(t) => Err(self.err_at(
                &t,
                format!(
                    "expected {name} closing the one opened at position {}",
                    char_pos(self.input, open.pos)
                ),
            )),
            None => Err(err(format!(
                "missing {name} for the {} opened at position {}",
                if close == Tok::RParen { "`(`" } else { "`[`" },
                char_pos(self.input, open.pos)
            ))),
        }
    }

    /// An attribute path token followed by an operator, or a value filter.
    fn parse_attr_expr(
        &mut self,
        word: &'a str,
        t: &Token<'a>,
        in_value: bool,
        depth: usize,
    ) -> Result<Filter, FilterError> {
        let path = self.attr_path(word, t.pos, in_value)?;
        if self.peek_kind(0) == Some(Tok::LBracket) {
            let open = self.next_tok();
            if in_value {
                return Err(self.err_at(&open, "nested value filters are not allowed"));
            }
            let inner = self.value_filter(&path, &open, depth)?;
            // Lenient: `emails[type eq "work"].value eq "x"`.
            if let Some(Tok::Word(w)) = self.peek_kind(0)
                && let Some(sub) = w.strip_prefix('.')
            {
                let st = self.next_tok();
                check_name(sub).map_err(|m| self.err_at(&st, m))?;
                let sub_path = AttrPath {
                    urn: None,
                    attr: sub.to_string(),
                    sub: None,
                };
                let cond = self.parse_operator(sub_path, &st)?;
                return Ok(Filter::ValuePath {
                    attr: path,
                    filter: Box::new(Filter::And(Box::new(inner), Box::new(cond))),
                });
            }
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(inner),
            });
        }
        self.parse_operator(path, t)
    }

    /// `[` has been consumed: parses the value filter and its `]`.
    fn value_filter(
        &mut self,
        path: &AttrPath,
        open: &Token<'a>,
        depth: usize,
    ) -> Result<Filter, FilterError> {
        if path.sub.is_some() {
            return Err(self.err_at(
                open,
                "a value filter must follow an attribute, not a sub-attribute",
            ));
        }
        let depth = self.enter(depth, open)?;
        if self.peek().is_none() {
            return Err(err(format!(
                "missing `]` for the `[` opened at position {}",
                char_pos(self.input, open.pos)
            )));
        }
        if self.peek_kind(0) == Some(Tok::RBracket) {
            let t = self.next_tok();
            return Err(self.err_at(&t, "empty value filter"));
        }
        let inner = self.parse_or_at(true, depth)?;
        self.expect_close(Tok::RBracket, open)?;
        Ok(inner)
    }

    /// The operator (and value) after `path`; `t` is the path's token, for messages.
    fn parse_operator(&mut self, path: AttrPath, t: &Token<'a>) -> Result<Filter, FilterError> {
        let Some(opt) = self.next() else {
            return Err(self.err_end(format!(
                "missing operator after `{}`",
                clip(Self::word_of(t))
            )));
        };
        let Tok::Word(opw) = opt.kind else {
            return Err(self.err_at(
                &opt,
                "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)",
            ));
        };
        if opw.eq_ignore_ascii_case("pr") {
            if let Some(n) = self.peek()
                && (n.kind == Tok::Str || matches!(n.kind, Tok::Word(w) if is_literal(w)))
            {
                return Err(self.err_at(n, "operator `pr` takes no value"));
            }
            return Ok(Filter::Present(path));
        }
        let Some(op) = compare_op(opw) else {
            return Err(self.err_at(&opt, "unknown operator"));
        };
        let Some(vt) = self.next() else {
            return Err(self.err_end(format!("missing value after `{opw}`")));
        };
        let value = match vt.kind {
            Tok::Str => CompValue::String(vt.text.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            Tok::Word(w) if is_json_number(w) => match w.parse::<serde_json::Number>() {
                Ok(n) => CompValue::Number(n),
                Err(_) => return Err(self.err_at(&vt, "number out of range")),
            },
            Tok::Word(_) => {
                return Err(self.err_at(
                    &vt,
                    "invalid value (expected a quoted string, a number, true, false or null)",
                ));
            }
            _ => return Err(self.err_at(&vt, format!("missing value after `{opw}`"))),
        };
        Ok(Filter::Compare { path, op, value })
    }

    fn word_of<'t>(t: &'t Token<'_>) -> &'t str {
        match t.kind {
            Tok::Word(w) => w,
            _ => "",
        }
    }

    /// Splits an attribute-path token: the URN runs up to the last `:`, then
    /// `attr ["." sub]`. Inside a value filter only a bare sub-attribute name is allowed.
    fn attr_path(&self, word: &str, pos: usize, in_value: bool) -> Result<AttrPath, FilterError> {
        let fail = |m: String| err(format!("{m} at position {}", char_pos(self.input, pos)));
        let (urn, rest) = match word.rfind(':') {
            Some(i) => {
                let urn = word.get(..i).unwrap_or_default();
                if !urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
                    || urn.split(':').any(str::is_empty)
                {
                    return Err(fail(format!("invalid schema URN in `{}`", clip(word))));
                }
                (Some(urn.to_string()), word.get(i + 1..).unwrap_or_default())
            }
            None => (None, word),
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        check_name(attr).map_err(|m| fail(format!("{m} in `{}`", clip(word))))?;
        if let Some(s) = sub {
            check_name(s).map_err(|m| fail(format!("{m} in `{}`", clip(word))))?;
        }
        if in_value && (urn.is_some() || sub.is_some()) {
            return Err(fail(format!(
                "`{}`: inside a value filter, use the bare sub-attribute name",
                clip(word)
            )));
        }
        Ok(AttrPath {
            urn,
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }
}

/// A comparison value written without quotes: `true`, `false`, `null` or a number.
fn is_literal(w: &str) -> bool {
    ["true", "false", "null"]
        .iter()
        .any(|l| w.eq_ignore_ascii_case(l))
        || is_json_number(w)
}

/// JSON number syntax: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(w: &str) -> bool {
    let b = w.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
