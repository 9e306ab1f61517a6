//! idgate's patch to actix-http (see IDGATE-PATCH.md at the top of this crate).
//!
//! 1. Request targets with bytes that real clients send raw but the `http` crate refuses
//!    (`"`, `<`, `>`, `` ` ``, `{`, `}`, DEL, and raw UTF-8 or other bytes >= 0x80) are
//!    percent-encoded before the `Uri` is built. Percent-decoding gives back the same bytes, so
//!    the application sees exactly the values the client sent. (Microsoft's SCIM Validator
//!    sends `filter=userName eq "x"` with raw double quotes.)
//! 2. The responses the HTTP/1 dispatcher sends on its own, without calling the application
//!    (400 for a malformed request, 431 for a head too large, 408 for a slow request), are built
//!    by a function the application registers, so that they carry a body.

use std::{borrow::Cow, cell::RefCell, sync::OnceLock};

use http::{StatusCode, Uri};

use crate::{body::BoxBody, Response};

/// Builds the response for a request the dispatcher could not hand to the application: the
/// status, and the raw request target when the request line could be read (else empty).
pub type CodecErrorResponder = fn(StatusCode, &[u8]) -> Response<BoxBody>;

static RESPONDER: OnceLock<CodecErrorResponder> = OnceLock::new();

/// Registers the builder of codec-level error responses (first registration wins).
pub fn set_codec_error_responder(f: CodecErrorResponder) {
    let _ = RESPONDER.set(f);
}

thread_local! {
    /// The target of a request refused after its head was taken out of the read buffer
    /// (a bad header value): the dispatcher on this thread answers it next.
    static FAILED_TARGET: RefCell<Option<Uri>> = const { RefCell::new(None) };
}

/// Notes the target of a request the decoder refuses after parsing its request line.
pub(crate) fn failed<E>(uri: &Uri, e: E) -> E {
    FAILED_TARGET.with(|t| *t.borrow_mut() = Some(uri.clone()));
    e
}

/// The response for a codec-level failure: the registered builder's, else an empty one.
pub(crate) fn codec_error_response(status: StatusCode, head: &[u8]) -> (Response<()>, BoxBody) {
    let noted = FAILED_TARGET.with(|t| t.borrow_mut().take());
    match RESPONDER.get() {
        Some(f) => match noted {
            Some(uri) => f(status, uri.path().as_bytes()).into_parts(),
            None => f(status, request_target(head)).into_parts(),
        },
        None => (Response::with_body(status, ()), BoxBody::new(())),
    }
}

/// The request target of a (possibly malformed or partial) request head: the second
/// space-separated token of its first line, or empty.
pub(crate) fn request_target(head: &[u8]) -> &[u8] {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    parts.next();
    parts.next().unwrap_or_default()
}

fn needs_encoding(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | 0x7f..=0xff)
}

/// The request target with the bytes the `http` crate refuses percent-encoded.
pub(crate) fn normalize_target(target: &str) -> Cow<'_, str> {
    if !target.bytes().any(needs_encoding) {
        return Cow::Borrowed(target);
    }
    let mut out = String::with_capacity(target.len() + 16);
    for b in target.bytes() {
        if needs_encoding(b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_only_what_http_refuses() {
        assert_eq!(normalize_target("/a?b=c%20d"), "/a?b=c%20d");
        assert_eq!(
            normalize_target("/scim/v2/Users?filter=userName+eq+\"a%40b\""),
            "/scim/v2/Users?filter=userName+eq+%22a%40b%22"
        );
        assert_eq!(normalize_target("/x?q=é<>`{}"), "/x?q=%C3%A9%3C%3E%60%7B%7D");
        for t in ["/a\"b?c=\"d\"", "/é?x=ü", "/a{b}?c=<d>"] {
            http::Uri::try_from(normalize_target(t).as_ref()).expect(t);
        }
    }

    #[test]
    fn finds_the_target_of_a_broken_head() {
        assert_eq!(request_target(b"GET /scim/v2/Users HTTP/1.1\r\nX"), b"/scim/v2/Users");
        assert_eq!(request_target(b"GET"), b"");
        assert_eq!(request_target(b""), b"");
    }
}
