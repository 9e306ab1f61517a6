//! A small, strict, namespace-aware element tree for SAML responses, built with quick-xml.
//!
//! It is strict on purpose: xmlsec (libxml2, which samael runs in *recover* mode) must never
//! see a tree different from the one our checks see, so anything that is not plainly
//! well-formed XML without a DTD is refused here, before libxml2 is called.
//!
//! The tree borrows from the text it was parsed from: names, attribute values and text are
//! slices of the document unless an entity or a line end had to be rewritten, and the
//! namespaces SAML uses are the constants below, so a parse allocates little beyond the
//! tree's own vectors.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Deeper than any SAML response; bounds the recursion of every walk over the tree.
const MAX_DEPTH: usize = 48;
/// More elements than any genuine response (Entra: ~40) with ample room for group claims.
const MAX_ELEMENTS: usize = 20_000;

/// Namespaces held as constants rather than copied out of each document.
const KNOWN_NAMESPACES: &[&str] = &[
    super::NS_P,
    super::NS_A,
    super::NS_DS,
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/XMLSchema-instance",
    "http://www.w3.org/2001/XMLSchema",
];

/// Why a document was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum XmlError {
    /// A DTD, or an entity or markup declaration.
    Doctype,
    /// A comment inside the root element; `String` names its parent element.
    Comment(String),
    /// Anything else that is not well-formed (or not plain) XML.
    Malformed(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Attr<'a> {
    pub ns: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

#[derive(Debug, Clone)]
pub(crate) enum Node<'a> {
    Element(Element<'a>),
    Text(Cow<'a, str>),
}

#[derive(Debug, Clone)]
pub(crate) struct Element<'a> {
    /// The namespace URI, empty when unbound.
    pub ns: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub attrs: Vec<Attr<'a>>,
    pub children: Vec<Node<'a>>,
}

impl<'a> Element<'a> {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// An attribute without a namespace (all SAML attributes are unqualified).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.name == name)
            .map(|a| a.value.as_ref())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element<'a>> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn children_named<'s>(
        &'s self,
        ns: &'s str,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.elements().filter(move |e| e.is(ns, name))
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element<'a>> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// The concatenated character data of the element's own text children.
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.children.iter().filter_map(|n| match n {
            Node::Text(t) => Some(t.as_ref()),
            Node::Element(_) => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        match texts.next() {
            None => Cow::Borrowed(first),
            Some(second) => {
                let mut out = format!("{first}{second}");
                texts.for_each(|t| out.push_str(t));
                Cow::Owned(out)
            }
        }
    }

    /// Calls `f` with every element of the subtree (pre-order) and its path of ancestors.
    pub fn walk<'s>(&'s self, f: &mut dyn FnMut(&'s Element<'a>, &[&'s Element<'a>])) {
        let mut path = Vec::new();
        walk_inner(self, &mut path, f);
    }
}

fn walk_inner<'s, 'a>(
    e: &'s Element<'a>,
    path: &mut Vec<&'s Element<'a>>,
    f: &mut dyn FnMut(&'s Element<'a>, &[&'s Element<'a>]),
) {
    f(e, path);
    path.push(e);
    for c in e.elements() {
        walk_inner(c, path, f);
    }
    path.pop();
}

/// Refuses `<!DOCTYPE`, `<!ENTITY` and every other `<!` markup except comments and CDATA,
/// anywhere in the text, before any parser sees it; and the characters XML 1.0 forbids.
pub(crate) fn precheck(xml: &str) -> Result<(), XmlError> {
    let bytes = xml.as_bytes();
    for (at, _) in xml.match_indices('<') {
        let Some(rest) = bytes[at + 1..].strip_prefix(b"!") else {
            continue;
        };
        if !rest.starts_with(b"--") && !rest.starts_with(b"[CDATA[") {
            return Err(XmlError::Doctype);
        }
    }
    // The forbidden characters are the ASCII controls but tab, line feed and carriage return,
    // and U+FFFE/U+FFFF: a byte scan finds whether there is one, the char scan which it is.
    let control = bytes.chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &b| {
            found | (b < b' ' && b != b'\t' && b != b'\n' && b != b'\r')
        })
    });
    if !control && !xml.contains('\u{FFFE}') && !xml.contains('\u{FFFF}') {
        return Ok(());
    }
    let forbidden = |c: &char| {
        (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    match xml.chars().find(forbidden) {
        Some(c) => Err(XmlError::Malformed(format!(
            "forbidden control character U+{:04X}",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Parses a whole document into its root element.
pub(crate) fn parse(xml: &str) -> Result<Element<'_>, XmlError> {
    precheck(xml)?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().enable_all_checks(true);
    reader.config_mut().expand_empty_elements = false;
    let mut stack: Vec<Element<'_>> = Vec::new();
    let mut root: Option<Element<'_>> = None;
    let mut count = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let at = reader.buffer_position();
                return Err(XmlError::Malformed(format!("at byte {at}: {e}")));
            }
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(malformed("content after the root element"));
            }
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(malformed("too many or too deeply nested elements"));
                }
                let element = element(xml, &reader, &start)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(malformed("too many or too deeply nested elements"));
                }
                let element = element(xml, &reader, &start)?;
                close(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unmatched end tag"))?;
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => push_text(&mut stack, t.xml_content(XmlVersion::Implicit1_0))?,
            Event::CData(c) => {
                let s = c.as_ref().replace("\r\n", "\n").replace('\r', "\n");
                push_text(&mut stack, Cow::Owned(s))?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => resolve_predefined_entity(&r)
                        .ok_or_else(|| XmlError::Malformed(format!("undefined entity &{};", &*r)))?
                        .to_string(),
                    Err(e) => {
                        return Err(XmlError::Malformed(format!("bad character reference: {e}")));
                    }
                };
                if stack.is_empty() {
                    return Err(malformed("reference outside the root element"));
                }
                push_text(&mut stack, Cow::Owned(resolved))?;
            }
            Event::Comment(_) => {
                if let Some(parent) = stack.last() {
                    return Err(XmlError::Comment(parent.name.to_string()));
                }
            }
            Event::Decl(decl) => {
                if let Some(Ok(enc)) = decl.encoding() {
                    let enc = enc.to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" {
                        return Err(XmlError::Malformed(format!(
                            "declared encoding {enc}, only UTF-8 is accepted"
                        )));
                    }
                }
            }
            Event::PI(_) => return Err(malformed("processing instruction")),
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("unclosed element"));
    }
    root.ok_or_else(|| malformed("no root element"))
}

fn malformed(what: &str) -> XmlError {
    XmlError::Malformed(what.to_string())
}

fn close<'a>(stack: &mut [Element<'a>], root: &mut Option<Element<'a>>, element: Element<'a>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
}

fn push_text<'a>(stack: &mut [Element<'a>], text: Cow<'a, str>) -> Result<(), XmlError> {
    let Some(parent) = stack.last_mut() else {
        return if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            Ok(())
        } else {
            Err(malformed("text outside the root element"))
        };
    };
    if let Some(Node::Text(t)) = parent.children.last_mut() {
        t.to_mut().push_str(&text);
    } else {
        parent.children.push(Node::Text(text));
    }
    Ok(())
}

/// `part` with the lifetime of `xml` when it is a slice of it — quick-xml reading from a
/// `&str` hands out names and unescaped values that point into the document, but only for
/// the lifetime of its event — else a copy.
fn from_document<'a>(xml: &'a str, part: &str) -> Cow<'a, str> {
    let start = (part.as_ptr() as usize).wrapping_sub(xml.as_ptr() as usize);
    match xml.get(start..start.wrapping_add(part.len())) {
        Some(s) if std::ptr::eq(s.as_ptr(), part.as_ptr()) => Cow::Borrowed(s),
        _ => Cow::Owned(part.to_string()),
    }
}

fn element<'a>(
    xml: &'a str,
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
) -> Result<Element<'a>, XmlError> {
    let (ns, _) = reader.resolver().resolve_element(start.name());
    let ns = namespace(&ns, start.name().as_ref())?;
    let name = from_document(xml, start.local_name().as_ref());
    let mut attrs = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| XmlError::Malformed(format!("attribute of <{name}>: {e}")))?;
        let key = a.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        if a.value.contains('<') {
            return Err(XmlError::Malformed(format!(
                "'<' in attribute {key} of <{name}>"
            )));
        }
        let value = match a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Malformed(format!("attribute {key} of <{name}>: {e}")))?
        {
            Cow::Borrowed(v) => from_document(xml, v),
            Cow::Owned(v) => Cow::Owned(v),
        };
        let (ans, local) = reader.resolver().resolve_attribute(a.key);
        let ans = namespace(&ans, key)?;
        attrs.push(Attr {
            ns: ans,
            name: from_document(xml, local.as_ref()),
            value,
        });
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
    })
}

fn namespace(ns: &ResolveResult<'_>, qname: &str) -> Result<Cow<'static, str>, XmlError> {
    match ns {
        ResolveResult::Unbound => Ok(Cow::Borrowed("")),
        ResolveResult::Bound(n) => {
            let n = n.as_ref();
            Ok(match KNOWN_NAMESPACES.iter().find(|k| **k == n) {
                Some(known) => Cow::Borrowed(known),
                None => Cow::Owned(n.to_string()),
            })
        }
        ResolveResult::Unknown(p) => Err(XmlError::Malformed(format!(
            "undeclared namespace prefix {p} in {qname}"
        ))),
    }
}
