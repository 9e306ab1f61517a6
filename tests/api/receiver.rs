//! A webhook receiver for tests: a real HTTP server on 127.0.0.1:0 that records every
//! request and answers what the test says (per org, so one lane can fail while another
//! works).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status the receiver answered.
    pub status: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub fn seq(&self) -> i64 {
        self.json()["seq"].as_i64().unwrap_or(-1)
    }

    pub fn org(&self) -> String {
        self.json()["org"]["slug"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The headers as the `http` 1.x map the Standard Webhooks verifier takes.
    pub fn http_headers(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in &self.headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }
}

#[derive(Default)]
struct Behaviour {
    /// Status per org slug ("" for messages without an org); default 200.
    status: HashMap<String, (u16, Option<String>)>,
    hits: Vec<Hit>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Behaviour>>,
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Arc<Mutex<Behaviour>>>,
) -> HttpResponse {
    let body = String::from_utf8_lossy(&body).into_owned();
    let org = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["org"]["slug"].as_str().map(str::to_string))
        .unwrap_or_default();
    let mut b = inner.lock().unwrap();
    let (status, retry_after) = b
        .status
        .get(&org)
        .or_else(|| b.status.get("*"))
        .cloned()
        .unwrap_or((200, None));
    b.hits.push(Hit {
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body,
        status,
    });
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(r) = retry_after {
        res.insert_header(("Retry-After", r));
    }
    if status == 302 {
        res.insert_header(("Location", "http://169.254.169.254/latest/meta-data/"));
    }
    res.body(format!("receiver answered {status}"))
}

impl Receiver {
    /// Starts a receiver; it runs until the test's runtime ends.
    pub async fn start() -> Self {
        let inner: Arc<Mutex<Behaviour>> = Arc::default();
        let data = web::Data::new(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        Self {
            url: format!("http://127.0.0.1:{port}/hooks/idgate"),
            inner,
        }
    }

    /// Answers `status` to the org `slug`'s messages ("*": every org without its own).
    pub fn answer(&self, slug: &str, status: u16, retry_after: Option<&str>) {
        self.inner
            .lock()
            .unwrap()
            .status
            .insert(slug.to_string(), (status, retry_after.map(str::to_string)));
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.lock().unwrap().hits.clone()
    }

    /// The hits the receiver answered with a 2xx.
    pub fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.status))
            .collect()
    }

    /// Waits (at most 20 s) until `done` holds for the hits.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let hits = self.hits();
            if done(&hits) {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {} requests: {:#?}",
                hits.len(),
                hits.iter()
                    .map(|h| (h.status, h.body.chars().take(120).collect::<String>()))
                    .collect::<Vec<_>>()
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
