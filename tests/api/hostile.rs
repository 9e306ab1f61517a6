//! The hostile-input run over HTTP, against the real binary with its real log: malformed
//! values for every query parameter, header, form field, path parameter and JSON field of
//! every route, as an anonymous client and with valid credentials (SCIM token, operator
//! admin session with its CSRF token). Seeded and bounded. Every request must get a
//! response (no dropped connection) with a status below 500 and a body where one is due,
//! and the server log must have no panic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use idgate::fuzzing::SplitMix;
use serde_json::{Value, json};

use crate::hostile_world::{self, World, credentials, fill, header, request};
use crate::raw_http::Conn;

/// Every query parameter and form field any handler reads (their wire names).
#[rustfmt::skip]
const FIELDS: &[&str] = &[
    "filter", "attributes", "excludedAttributes", "startIndex", "count", "sortBy", "sortOrder",
    "return_to", "rd", "redirect", "email", "password", "csrf", "q", "status", "page", "outcome",
    "since", "slug", "name", "domains", "domain", "sso_only", "back", "confirm", "scim_enabled",
    "group_sync", "strict_attributes", "role_attribute", "default_role", "idp_value", "role",
    "idp_initiated", "jit", "clock_skew", "grant_type", "client_id", "client_secret",
    "SAMLResponse", "RelayState", "done",
];

/// The query parameters and form fields a route's surface reads.
fn fields_of(path: &str) -> &'static [&'static str] {
    const SCIM: &[&str] = &[
        "filter",
        "attributes",
        "excludedAttributes",
        "startIndex",
        "count",
        "sortBy",
        "sortOrder",
    ];
    const SIGNIN: &[&str] = &["return_to", "email", "password", "csrf"];
    const ADMIN: &[&str] = &[
        "q",
        "status",
        "page",
        "outcome",
        "since",
        "slug",
        "name",
        "domains",
        "domain",
        "sso_only",
        "back",
        "confirm",
        "scim_enabled",
        "group_sync",
        "strict_attributes",
        "role_attribute",
        "default_role",
        "idp_value",
        "role",
        "idp_initiated",
        "jit",
        "clock_skew",
        "email",
        "given_name",
        "surname",
        "display_name",
        "csrf",
        "done",
    ];
    // The product-integration pages: API keys, webhook endpoints, an org's events.
    const PRODUCT_ADMIN: &[&str] = &[
        "csrf",
        "done",
        "name",
        "scope",
        "orgs",
        "expires_days",
        "url",
        "types",
        "description",
        "state",
        "confirm",
        "seq",
        "org",
        "from",
        "failures",
        "event_id",
        "before",
        "type",
    ];
    match path {
        p if p.starts_with("/scim/") => SCIM,
        "/login" | "/admin/login" => SIGNIN,
        p if p.starts_with("/admin/api-keys")
            || p.starts_with("/admin/webhooks")
            || p.ends_with("/events") =>
        {
            PRODUCT_ADMIN
        }
        p if p.starts_with("/admin") => ADMIN,
        "/auth/verify" => &["rd", "redirect"],
        p if p.starts_with("/saml/") => &["return_to", "SAMLResponse", "RelayState"],
        "/oauth/token" => &["grant_type", "client_id", "client_secret"],
        "/api/v1/events" => &["after", "limit", "types", "org", "wait"],
        p if p.starts_with("/api/v1/orgs") => {
            &["limit", "cursor", "active", "email", "external_id", "group"]
        }
        _ => FIELDS,
    }
}

/// Headers a handler or the HTTP layer reads.
#[rustfmt::skip]
const HEADERS: &[&str] = &[
    "Authorization", "Content-Type", "If-Match", "If-None-Match", "Cookie", "Accept",
    "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri",
    "X-Request-Id", "User-Agent", "Expect", "Transfer-Encoding",
];

/// Malformed values, as they go on the wire in a query string, form or path segment.
#[rustfmt::skip]
const WIRE_VALUES: &[&[u8]] = &[
    b"", b"%", b"%ZZ", b"%00", b"%C3%28", b"%FF%FE", b"%E9", "é".as_bytes(), b"\"", b"'", b"\\",
    b"<script>", b"..%2F..%2Fetc%2Fpasswd", b"-1", b"0", b"99999999999999999999999", b"1e309",
    b"NaN", b"true", b"null", b"[]", b"{}", b"((((((((((", b"userName eq",
    b"userName+eq+\"x\"+and+", b"urn:ietf:params:scim:schemas:core:2.0:Use%C3%A9",
    b"%0D%0ASet-Cookie:+x=1", b"https://evil.example/", b"//evil.example", b"a,b,,c", b"\xc3",
    b"\xff\xfe", b"%2e%2e", b"members[value eq \"x\"]", b"Bearer", b"*",
];

/// Malformed header values (a header carries no CR or LF).
#[rustfmt::skip]
const HEADER_VALUES: &[&[u8]] = &[
    b"", b"Bearer", b"Bearer ", b"Basic !!!", b"Basic Og==", b"Bearer \xff\xfe", b"W/\"", b"\"",
    b"*, W/\"1\"", b"application/scim+json; charset=\xff", b"text/html",
    b"idgate_session=e30.e30.e30; idgate_admin=x", b"idgate_session=\xc3", b"999.999.1.1",
    b"a, b, c, d, e", b"\xe9\xe9\xe9", b"100-continue", b"chunked, gzip", b"http://",
];

/// Malformed JSON values for a field of a SCIM body.
fn json_values() -> Vec<Value> {
    let mut deep = json!("x");
    for _ in 0..64 {
        deep = json!([deep]);
    }
    vec![
        Value::Null,
        json!(0),
        json!(-1),
        json!(1.5e300),
        json!(""),
        json!("é".repeat(3000)),
        json!("True"),
        json!("\u{0}"),
        json!([]),
        json!({}),
        json!([null, 1, "a", {}]),
        json!({"value": null, "display": 5}),
        deep,
        json!(true),
    ]
}

/// The routes idgate serves (method, path with `{param}`s), read from the route tables in
/// `src/`, so that a new route is in this run without anyone remembering to add it.
fn routes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let prefix = if p.parent().unwrap().ends_with("scim") {
            "/scim/v2"
        } else {
            ""
        };
        for part in text.split(".route(").skip(1) {
            let part = part.trim_start();
            let Some(rest) = part.strip_prefix('"') else {
                continue;
            };
            let Some((path, rest)) = rest.split_once('"') else {
                continue;
            };
            if !path.starts_with('/') {
                continue; // code that reads route tables, not a route
            }
            let Some(method) = rest
                .split_once("web::")
                .map(|(_, m)| m.split('(').next().unwrap_or(""))
            else {
                continue;
            };
            let method = match method {
                "get" | "post" | "put" | "patch" | "delete" => method.to_ascii_uppercase(),
                // `other()`: every other method answers 405 there.
                _ => "OPTIONS".into(),
            };
            out.insert((method, format!("{prefix}{path}")));
        }
    }
    out
}

/// A SCIM body for a write route, valid before mutation.
fn scim_body(method: &str, path: &str) -> Option<Value> {
    if !path.starts_with("/scim/") {
        return None;
    }
    let group = path.contains("Groups");
    match method {
        "POST" if path.ends_with(".search") => Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"a\"", "attributes": ["userName"], "startIndex": 1, "count": 5,
        })),
        "PATCH" => Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": if group { "displayName" } else { "active" }, "value": "False"}],
        })),
        "POST" | "PUT" if group => Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Ops", "externalId": "g-1", "members": [{"value": "x"}],
        })),
        "POST" | "PUT" => Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bob@acme.com", "externalId": "b-1", "active": true,
            "name": {"givenName": "Bob", "familyName": "B"},
            "emails": [{"value": "bob@acme.com", "type": "work", "primary": true}],
            "roles": [{"value": "admin", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x", "manager": {"value": "m"}},
        })),
        _ => None,
    }
}

/// Every string-keyed place in `v` (`a`, `a.b`, `a.0`), to replace one at a time.
fn places(v: &Value, at: &str, out: &mut Vec<String>) {
    let mut visit = |key: String, child: &Value| {
        let here = if at.is_empty() {
            key
        } else {
            format!("{at}.{key}")
        };
        out.push(here.clone());
        places(child, &here, out);
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| visit(k.clone(), c)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| visit(i.to_string(), c)),
        _ => {}
    }
}

fn replace(v: &mut Value, place: &str, with: Value) {
    let mut cur = v;
    let parts: Vec<&str> = place.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let next = match cur {
            Value::Object(m) => m.get_mut(*part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        let Some(next) = next else { return };
        if i + 1 == parts.len() {
            *next = with;
            return;
        }
        cur = next;
    }
}

/// One request of the run.
struct Probe {
    what: String,
    request: Vec<u8>,
}

fn probes(world: &World, seed: u64) -> Vec<Probe> {
    let mut rng = SplitMix(seed);
    let mut out = Vec::new();
    let routes = routes();
    assert!(
        routes.len() >= 60,
        "found only {} routes in src/",
        routes.len()
    );
    // Deletions last, so that the user and group live through the run, and the admin pages
    // after the rest: their forms turn settings off (SCIM among them) when a field is
    // missing, which would leave the rest of the run knocking on a closed door.
    let mut ordered: Vec<&(String, String)> = routes.iter().collect();
    ordered.sort_by_key(|(m, p)| (p.starts_with("/admin"), m == "DELETE"));
    for (method, path) in ordered {
        let (base_headers, base_form) = credentials(path, world);
        let body = scim_body(method, path);
        let plain_body = |form: &[(String, String)]| match &body {
            Some(b) => b.to_string().into_bytes(),
            None => serde_urlencoded::to_string(form).unwrap().into_bytes(),
        };
        // As an anonymous client, then with credentials and valid values.
        out.push(Probe {
            what: format!("{method} {path} anonymous"),
            request: request(method, &fill(path, world, None), &[], &plain_body(&[])),
        });
        out.push(Probe {
            what: format!("{method} {path} valid"),
            request: request(
                method,
                &fill(path, world, None),
                &base_headers,
                &plain_body(&base_form),
            ),
        });
        // Hostile path parameters.
        if path.contains('{') {
            for _ in 0..4 {
                let v = rng.pick(WIRE_VALUES);
                out.push(Probe {
                    what: format!("{method} {path} path={}", String::from_utf8_lossy(v)),
                    request: request(
                        method,
                        &fill(path, world, Some(v)),
                        &base_headers,
                        &plain_body(&base_form),
                    ),
                });
            }
        }
        // Hostile query parameters and form fields: each of the surface's, several values;
        // on SCIM's resource routes every value for every parameter.
        let fields = fields_of(path);
        let every = path.starts_with("/scim/v2/Users") || path.starts_with("/scim/v2/Groups");
        let per_field = if fields.len() > 10 { 2 } else { 4 };
        let pairs: Vec<(&str, &[u8])> = if every {
            fields
                .iter()
                .flat_map(|f| WIRE_VALUES.iter().map(move |v| (*f, *v)))
                .collect()
        } else {
            fields
                .iter()
                .flat_map(|f| std::iter::repeat_n(*f, per_field))
                .map(|f| (f, rng.pick(WIRE_VALUES)))
                .collect()
        };
        for (name, v) in pairs {
            if method == "GET" || body.is_some() || every {
                let mut target = fill(path, world, None);
                target.extend_from_slice(format!("?{name}=").as_bytes());
                target.extend_from_slice(v);
                out.push(Probe {
                    what: format!("{method} {path} ?{name}={}", String::from_utf8_lossy(v)),
                    request: request(method, &target, &base_headers, &plain_body(&base_form)),
                });
            }
            if body.is_none() && method != "GET" {
                let mut form = serde_urlencoded::to_string(&base_form)
                    .unwrap()
                    .into_bytes();
                form.extend_from_slice(format!("&{name}=").as_bytes());
                form.extend_from_slice(v);
                out.push(Probe {
                    what: format!("{method} {path} form {name}={}", String::from_utf8_lossy(v)),
                    request: request(method, &fill(path, world, None), &base_headers, &form),
                });
            }
        }
        // Hostile headers (each replacing the valid one of its name).
        for _ in 0..6 {
            let (name, v) = (rng.pick(HEADERS), rng.pick(HEADER_VALUES));
            let mut headers: Vec<Vec<u8>> = base_headers
                .iter()
                .filter(|h| {
                    !h.to_ascii_lowercase()
                        .starts_with(name.to_ascii_lowercase().as_bytes())
                })
                .cloned()
                .collect();
            headers.push(header(name, v));
            out.push(Probe {
                what: format!("{method} {path} {name}: {}", String::from_utf8_lossy(v)),
                request: request(
                    method,
                    &fill(path, world, None),
                    &headers,
                    &plain_body(&base_form),
                ),
            });
        }
        // Every JSON field of a SCIM body, each replaced by malformed values; broken JSON.
        if let Some(body) = &body {
            let mut at = Vec::new();
            places(body, "", &mut at);
            for place in at {
                for v in json_values() {
                    if !rng.next().is_multiple_of(3) {
                        continue;
                    }
                    // A fresh name each time, so that a uniqueness conflict hides nothing.
                    let mut b = body.clone();
                    let n = rng.next() % 1_000_000;
                    replace(&mut b, "userName", json!(format!("u{n}@acme.com")));
                    replace(&mut b, "displayName", json!(format!("G{n}")));
                    replace(&mut b, "externalId", json!(format!("x{n}")));
                    replace(&mut b, &place, v);
                    out.push(Probe {
                        what: format!("{method} {path} json {place}"),
                        request: request(
                            method,
                            &fill(path, world, None),
                            &base_headers,
                            b.to_string().as_bytes(),
                        ),
                    });
                }
            }
            let text = body.to_string();
            let half: String = text.chars().take(text.len() / 2).collect();
            for broken in [
                half.as_str(),
                "{\"schemas\": [",
                "[1,2]",
                "\u{feff}{}",
                "{\"a\":1}}",
            ] {
                out.push(Probe {
                    what: format!("{method} {path} broken json"),
                    request: request(
                        method,
                        &fill(path, world, None),
                        &base_headers,
                        broken.as_bytes(),
                    ),
                });
            }
        }
    }
    out
}

/// Sends each probe on a connection of its own: what failed, and how many of each status.
fn run(base: &str, probes: &[&Probe]) -> (Vec<String>, BTreeMap<u16, usize>) {
    let mut failures = Vec::new();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for p in probes {
        let r = match Conn::open(base).try_send(&p.request) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{} → no response: {e}", p.what));
                continue;
            }
        };
        *statuses.entry(r.status).or_default() += 1;
        let bodiless = r.status < 200
            || [204, 304].contains(&r.status)
            || (300..400).contains(&r.status)
            || p.request.starts_with(b"HEAD ");
        let scim = p
            .what
            .split(' ')
            .nth(1)
            .is_some_and(|t| t.starts_with("/scim/"));
        let scim_body = r.header("content-type").as_deref() == Some("application/scim+json")
            && r.body
                .contains("urn:ietf:params:scim:api:messages:2.0:Error");
        if r.status >= 500
            || (r.status >= 400 && r.body.is_empty() && !bodiless)
            || (r.status >= 400 && scim && !bodiless && !scim_body)
        {
            failures.push(format!("{} → {} {:?}", p.what, r.status, r.body));
        }
    }
    (failures, statuses)
}

#[test]
fn hostile_input_on_every_route_gets_a_clear_answer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (server, world) = hostile_world::create(data);

    let probes = probes(&world, 8);
    assert!(
        probes.len() > 1000 && probes.len() < 12_000,
        "{} probes",
        probes.len()
    );
    // In the order `probes` gives (deletions, then the admin pages, last), four connections
    // at a time within each phase.
    let phase_of = |p: &Probe| {
        let line = p.what.as_str();
        (line.contains(" /admin"), line.starts_with("DELETE "))
    };
    let mut phases = BTreeMap::<(bool, bool), Vec<&Probe>>::new();
    for p in &probes {
        phases.entry(phase_of(p)).or_default().push(p);
    }
    let mut failures = Vec::new();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for phase in phases.into_values() {
        let chunk = phase.len().div_ceil(4).max(1);
        std::thread::scope(|scope| {
            let runs: Vec<_> = phase
                .chunks(chunk)
                .map(|part| scope.spawn(|| run(&server.base, part)))
                .collect();
            for r in runs {
                let (f, st) = r.join().unwrap();
                failures.extend(f);
                for (k, v) in st {
                    *statuses.entry(k).or_default() += v;
                }
            }
        });
    }
    let panics: Vec<String> = server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("panicked"))
        .cloned()
        .collect();
    assert!(panics.is_empty(), "panics in the server log: {panics:#?}");
    eprintln!(
        "{} probes over {} routes; statuses {statuses:?}",
        probes.len(),
        routes().len()
    );
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        probes.len(),
        failures.join("\n")
    );
    // Still serving, and the session survived the run.
    let alive = Conn::open(&server.base).send(&request("GET", b"/healthz", &[], b""));
    assert_eq!(alive.status, 200);
}
