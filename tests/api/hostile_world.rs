//! The world of the hostile-input run (`hostile.rs`): the real binary with its standard error
//! kept, an org with SAML, a SCIM token, a user and a group, an operator admin's session,
//! and the credentials each route is probed with.

use std::path::Path;

use serde_json::json;

use crate::admin_helpers::csrf_of;
use crate::raw_http::{Conn, RawResp};

const BIN: &str = env!("CARGO_BIN_EXE_idgate");
const ENTRA_METADATA: &str =
    include_str!("../fixtures/entra/entra-common-federationmetadata-2017.xml");
const ADMIN: &str = "root@operator.example";
const PASSWORD: &str = "correct horse battery staple";

/// The server under test, with its standard error kept.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn cli(data: &Path, args: &[&str], stdin: &str) -> String {
    let out = crate::cli::idgate_stdin(data, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn start(data: &Path) -> Server {
    use std::process::{Command, Stdio};
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::default();
    let base = crate::helpers::served_address(&mut child, &log);
    Server { child, base, log }
}

/// Credentials and ids the run uses.
pub struct World {
    pub token: String,
    /// A product API key with every scope.
    pub api_key: String,
    /// The sign-in pages' double-submit CSRF cookie and field.
    pub login_csrf: (String, String),
    pub admin_cookie: String,
    pub admin_csrf: String,
    pub user_id: String,
    pub group_id: String,
}

pub fn request(method: &str, target: &[u8], headers: &[Vec<u8>], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} ").into_bytes();
    r.extend_from_slice(target);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        r.extend_from_slice(h);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

pub fn header(name: &str, value: &[u8]) -> Vec<u8> {
    let mut h = format!("{name}: ").into_bytes();
    h.extend_from_slice(value);
    h
}

pub fn set_cookie(r: &RawResp, name: &str) -> String {
    r.head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no cookie {name}: {r:?}"))
        .to_string()
}

pub fn set_up(server: &Server, data: &Path) -> World {
    let send = |r: Vec<u8>| Conn::open(&server.base).send(&r);
    let token = cli(
        data,
        &["scim-token", "create", "--org", "acme", "--name", "run"],
        "",
    );
    let api_key = cli(
        data,
        &[
            "api-key",
            "create",
            "--name",
            "run",
            "--scope",
            "directory:read,events:read,webhooks:write",
        ],
        "",
    );
    let auth = header("Authorization", format!("Bearer {token}").as_bytes());
    let scim = header("Content-Type", b"application/scim+json");
    let user = send(request(
        "POST",
        b"/scim/v2/Users",
        &[auth.clone(), scim.clone()],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice@acme.com"}).to_string().as_bytes(),
    ));
    let group = send(request(
        "POST",
        b"/scim/v2/Groups",
        &[auth, scim],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"})
            .to_string()
            .as_bytes(),
    ));
    let page = send(request("GET", b"/admin/login", &[], b""));
    let csrf_cookie = set_cookie(&page, "idgate_csrf");
    let form = serde_urlencoded::to_string([
        ("email", ADMIN),
        ("password", PASSWORD),
        ("csrf", &csrf_of(&page.body)),
    ])
    .unwrap();
    let signed_in = send(request(
        "POST",
        b"/admin/login",
        &[
            header("Content-Type", b"application/x-www-form-urlencoded"),
            header("Cookie", format!("idgate_csrf={csrf_cookie}").as_bytes()),
        ],
        form.as_bytes(),
    ));
    assert_eq!(signed_in.status, 303, "{signed_in:?}");
    let admin_cookie = set_cookie(&signed_in, "idgate_admin");
    let orgs = send(request(
        "GET",
        b"/admin/orgs",
        &[header(
            "Cookie",
            format!("idgate_admin={admin_cookie}").as_bytes(),
        )],
        b"",
    ));
    let login = send(request("GET", b"/login", &[], b""));
    World {
        api_key,
        login_csrf: (set_cookie(&login, "idgate_csrf"), csrf_of(&login.body)),
        token,
        admin_csrf: csrf_of(&orgs.body),
        admin_cookie,
        user_id: user.json()["id"].as_str().unwrap().to_string(),
        group_id: group.json()["id"].as_str().unwrap().to_string(),
    }
}

/// The path with each `{param}` filled: by a real value, or by a hostile one.
pub fn fill(path: &str, world: &World, hostile: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.extend_from_slice(&rest.as_bytes()[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        let real: &[u8] = match &rest[open + 1..close] {
            "id" if path.contains("Groups") || path.contains("groups") => world.group_id.as_bytes(),
            "id" => world.user_id.as_bytes(),
            "slug" | "org" => b"acme",
            "urn" => b"urn:ietf:params:scim:schemas:core:2.0:User",
            "name" => b"User",
            _ => b"x",
        };
        out.extend_from_slice(hostile.unwrap_or(real));
        rest = &rest[close + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

/// Credentials for a route: SCIM's token, or the operator's session and its CSRF token.
/// Logout routes go without, so the session lives through the run.
pub fn credentials(path: &str, world: &World) -> (Vec<Vec<u8>>, Vec<(String, String)>) {
    if path.starts_with("/scim/") {
        let auth = header(
            "Authorization",
            format!("Bearer {}", world.token).as_bytes(),
        );
        (
            vec![auth, header("Content-Type", b"application/scim+json")],
            vec![],
        )
    } else if path.starts_with("/api/v1/orgs") || path == "/api/v1/events" {
        let auth = format!("Bearer {}", world.api_key);
        (vec![header("Authorization", auth.as_bytes())], vec![])
    } else if path == "/login" || path == "/admin/login" {
        let (cookie, field) = &world.login_csrf;
        (
            vec![
                header("Cookie", format!("idgate_csrf={cookie}").as_bytes()),
                header("Content-Type", b"application/x-www-form-urlencoded"),
            ],
            vec![
                ("csrf".into(), field.clone()),
                ("email".into(), "a@acme.com".into()),
            ],
        )
    } else if path.starts_with("/admin") && !path.ends_with("logout") {
        let cookie = header(
            "Cookie",
            format!("idgate_admin={}", world.admin_cookie).as_bytes(),
        );
        (
            vec![
                cookie,
                header("Content-Type", b"application/x-www-form-urlencoded"),
            ],
            vec![("csrf".into(), world.admin_csrf.clone())],
        )
    } else {
        (
            vec![header("Content-Type", b"application/x-www-form-urlencoded")],
            vec![],
        )
    }
}

/// Starts the server on a fresh store set up for the run.
pub fn create(data: &Path) -> (Server, World) {
    cli(
        data,
        &[
            "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
        ],
        "",
    );
    let meta = data.join("entra.xml");
    std::fs::write(&meta, ENTRA_METADATA).unwrap();
    cli(
        data,
        &["org", "saml", "acme", "--metadata", meta.to_str().unwrap()],
        "",
    );
    cli(data, &["admin", "create", ADMIN], PASSWORD);
    let server = start(data);
    let world = set_up(&server, data);
    (server, world)
}
