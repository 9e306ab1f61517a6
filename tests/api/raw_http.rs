//! HTTP/1.1 written byte by byte, for what no well-behaved client library will send: raw
//! quotes and UTF-8 in a request target, malformed heads, several requests on one connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// Asserts an RFC 7644 error body with this status.
    #[track_caller]
    pub fn assert_scim_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/scim+json"),
            "{self:?}"
        );
        let body = self.json();
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(body["status"], status.to_string());
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    /// Asserts an HTML page with this status.
    #[track_caller]
    pub fn assert_page(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("text/html")),
            "{self:?}"
        );
        assert!(self.body.contains("</html>"), "{self:?}");
    }
}

/// A connection to the server at `base` (`http://127.0.0.1:PORT`).
pub struct Conn(TcpStream);

impl Conn {
    pub fn open(base: &str) -> Self {
        let addr = base.trim_start_matches("http://");
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Self(s)
    }

    /// Writes `request` as it is and reads one response (by Content-Length, else to EOF).
    pub fn send(&mut self, request: &[u8]) -> RawResp {
        self.0.write_all(request).expect("write");
        self.read_one(request.starts_with(b"HEAD "))
    }

    /// `send`, with a connection closed before a whole response as an error.
    pub fn try_send(&mut self, request: &[u8]) -> Result<RawResp, String> {
        let request = request.to_vec();
        let mut conn = Conn(self.0.try_clone().map_err(|e| e.to_string())?);
        std::panic::catch_unwind(move || conn.send(&request)).map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "the connection failed".into())
        })
    }

    fn read_one(&mut self, head_only: bool) -> RawResp {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = self.0.read(&mut chunk).expect("read the response head");
            assert!(
                n > 0,
                "connection closed without a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut body = buf[head_end + 4..].to_vec();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        let mut resp = RawResp {
            status,
            head,
            body: String::new(),
        };
        match resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            _ if head_only => {}
            Some(len) => {
                while body.len() < len {
                    let n = self.0.read(&mut chunk).expect("read the body");
                    assert!(n > 0, "connection closed inside the body");
                    body.extend_from_slice(&chunk[..n]);
                }
            }
            None => {
                let _ = self.0.read_to_end(&mut body);
            }
        }
        resp.body = String::from_utf8_lossy(&body).into_owned();
        resp
    }
}

/// One request on a fresh connection, off the async runtime.
pub async fn send(base: &str, request: impl Into<Vec<u8>>) -> RawResp {
    let base = base.to_string();
    let request = request.into();
    actix_web::rt::task::spawn_blocking(move || Conn::open(&base).send(&request))
        .await
        .expect("raw request")
}

/// `METHOD TARGET HTTP/1.1` with a Host, the given extra header lines, and `Connection: close`.
pub fn request(method: &str, target: &[u8], headers: &[&str], body: &str) -> Vec<u8> {
    let mut r = format!("{method} ").into_bytes();
    r.extend_from_slice(target);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        r.extend_from_slice(h.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() {
        r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body.as_bytes());
    r
}
