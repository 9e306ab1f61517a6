//! A small, strict, namespace-aware element tree for SAML responses, built with quick-xml.
//!
//! It is strict on purpose: xmlsec (libxml2, which samael runs in *recover* mode) must never
//! see a tree different from the one our checks see, so anything that is not plainly
//! well-formed XML without a DTD is refused here, before libxml2 is called.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Deeper than any SAML response; bounds the recursion of every walk over the tree.
const MAX_DEPTH: usize = 48;
/// More elements than any genuine response (Entra: ~40) with ample room for group claims.
const MAX_ELEMENTS: usize = 20_000;

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
pub(crate) struct Attr {
    pub ns: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// The namespace URI, empty when unbound.
    pub ns: String,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// An attribute without a namespace (all SAML attributes are unqualified).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.name == name)
            .map(|a| a.value.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, name))
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// The concatenated character data of the element's own text children.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Calls `f` with every element of the subtree (pre-order) and its path of ancestors.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Element, &[&'a Element])) {
        let mut path = Vec::new();
        walk_inner(self, &mut path, f);
    }
}

fn walk_inner<'a>(
    e: &'a Element,
    path: &mut Vec<&'a Element>,
    f: &mut dyn FnMut(&'a Element, &[&'a Element]),
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
    let mut i = 0;
    while let Some(off) = bytes[i..].windows(2).position(|w| w == b"<!") {
        let rest = &bytes[i + off + 2..];
        if !rest.starts_with(b"--") && !rest.starts_with(b"[CDATA[") {
            return Err(XmlError::Doctype);
        }
        i += off + 2;
    }
    let forbidden = |c: &char| {
        (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if let Some(c) = xml.chars().find(forbidden) {
        return Err(XmlError::Malformed(format!(
            "forbidden control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Parses a whole document into its root element.
pub(crate) fn parse(xml: &str) -> Result<Element, XmlError> {
    precheck(xml)?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().enable_all_checks(true);
    reader.config_mut().expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
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
                let element = element(&reader, &start)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(malformed("too many or too deeply nested elements"));
                }
                let element = element(&reader, &start)?;
                close(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unmatched end tag"))?;
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml_content(XmlVersion::Implicit1_0))?,
            Event::CData(c) => {
                let s = c.as_ref().replace("\r\n", "\n").replace('\r', "\n");
                push_text(&mut stack, &s)?;
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
                push_text(&mut stack, &resolved)?;
            }
            Event::Comment(_) => {
                if let Some(parent) = stack.last() {
                    return Err(XmlError::Comment(parent.name.clone()));
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

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    let Some(parent) = stack.last_mut() else {
        return if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            Ok(())
        } else {
            Err(malformed("text outside the root element"))
        };
    };
    if let Some(Node::Text(t)) = parent.children.last_mut() {
        t.push_str(text);
    } else {
        parent.children.push(Node::Text(text.to_string()));
    }
    Ok(())
}

fn element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let (ns, _) = reader.resolver().resolve_element(start.name());
    let ns = namespace(&ns, start.name().as_ref())?;
    let name = start.local_name().as_ref().to_string();
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
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Malformed(format!("attribute {key} of <{name}>: {e}")))?
            .into_owned();
        let (ans, local) = reader.resolver().resolve_attribute(a.key);
        let ans = namespace(&ans, key)?;
        attrs.push(Attr {
            ns: ans,
            name: local.as_ref().to_string(),
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

fn namespace(ns: &ResolveResult<'_>, qname: &str) -> Result<String, XmlError> {
    match ns {
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Bound(n) => Ok(n.as_ref().to_string()),
        ResolveResult::Unknown(p) => Err(XmlError::Malformed(format!(
            "undeclared namespace prefix {p} in {qname}"
        ))),
    }
}
