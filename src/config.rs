//! Configuration: defaults → `gateway.toml` → `IDGATE_*` environment → command-line flags.
//! Unknown keys are errors; `check-config` lists every problem at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the gateway reads from its configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    /// `postgres://…`: the PostgreSQL store every instance shares; unset: SQLite under
    /// `data_dir`.
    pub store_url: Option<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Days to keep SCIM request-log and sign-in-log rows.
    pub request_log_retention_days: u32,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Connections in the read pool.
    pub read_pool_size: u32,
    /// Most writes committed together in one transaction (group commit).
    pub max_batch: usize,
    /// How long a sign-in lasts.
    pub session_lifetime_minutes: u32,
    /// Origins (`https://app.example.com`) that `return_to` and `rd` may point at, besides
    /// paths on `public_url`.
    pub allowed_return_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `/auth/verify` answers 302 to the sign-in page instead of 401 (Traefik, Caddy).
    pub verify_redirect: bool,
    /// HTTP worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Days to keep the event log (the product's change feed).
    pub event_retention_days: u32,
    /// Networks idgate may send webhooks to although they are private or loopback (the SSRF
    /// guard refuses them otherwise); plain http is allowed only to IP literals inside them.
    pub outbound_allow_networks: Vec<ipnet::IpNet>,
    /// CA certificates (PEM, read from `outbound_ca_file`) trusted when fetching IdP metadata
    /// URLs, besides the system's roots: an internal CA, or a test's own.
    pub outbound_ca_pem: Option<String>,
    /// Hours between two fetches of an org's IdP metadata URL (±10 % jitter).
    pub metadata_refresh_hours: u32,
    /// The Microsoft host OIDC URLs are built from (with the tenant GUID after it); never an
    /// address an admin typed.
    pub oidc_authority: String,
    /// Lets `oidc_authority` be plain http (a local test provider); logged loudly.
    pub oidc_allow_insecure_authority: bool,
    /// The operator's multi-tenant Entra app ("Connect Microsoft Entra").
    pub oidc_app: Option<OidcApp>,
}

/// The operator's multi-tenant Entra app: a client secret, or a certificate and its key.
#[derive(Clone, Default)]
pub struct OidcApp {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// PEM certificate and PKCS#8 private key (`private_key_jwt`).
    pub certificate_pem: Option<String>,
    pub private_key_pem: Option<String>,
}

impl std::fmt::Debug for OidcApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| ".."))
            .field("certificate", &self.certificate_pem.is_some())
            .finish()
    }
}

/// Entra's sign-in host.
pub const MICROSOFT_AUTHORITY: &str = "https://login.microsoftonline.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            store_url: None,
            log_format: LogFormat::Pretty,
            log_level: "info".into(),
            request_log_retention_days: 30,
            max_body_bytes: 1024 * 1024,
            read_pool_size: 8,
            max_batch: 256,
            session_lifetime_minutes: 480,
            allowed_return_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            verify_redirect: false,
            workers: 0,
            event_retention_days: 30,
            outbound_allow_networks: Vec::new(),
            outbound_ca_pem: None,
            metadata_refresh_hours: 12,
            oidc_authority: MICROSOFT_AUTHORITY.into(),
            oidc_allow_insecure_authority: false,
            oidc_app: None,
        }
    }
}

/// The file form: every key optional; unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    store_url: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    request_log_retention_days: Option<u32>,
    max_body_bytes: Option<usize>,
    read_pool_size: Option<u32>,
    max_batch: Option<usize>,
    session_lifetime_minutes: Option<u32>,
    allowed_return_origins: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    verify_redirect: Option<bool>,
    workers: Option<usize>,
    event_retention_days: Option<u32>,
    outbound_allow_networks: Option<Vec<String>>,
    outbound_ca_file: Option<PathBuf>,
    metadata_refresh_hours: Option<u32>,
    oidc_authority: Option<String>,
    oidc_allow_insecure_authority: Option<bool>,
    oidc_app_client_id: Option<String>,
    oidc_app_client_secret: Option<String>,
    oidc_app_certificate: Option<PathBuf>,
    oidc_app_private_key: Option<PathBuf>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<String>,
}

/// The environment variable for each key: `IDGATE_` + the key in upper case.
pub const KEYS: &[&str] = &[
    "listen",
    "public_url",
    "data_dir",
    "store_url",
    "log_format",
    "log_level",
    "request_log_retention_days",
    "max_body_bytes",
    "read_pool_size",
    "max_batch",
    "session_lifetime_minutes",
    "allowed_return_origins",
    "trusted_proxies",
    "verify_redirect",
    "workers",
    "event_retention_days",
    "outbound_allow_networks",
    "outbound_ca_file",
    "metadata_refresh_hours",
    "oidc_authority",
    "oidc_allow_insecure_authority",
    "oidc_app_client_id",
    "oidc_app_client_secret",
    "oidc_app_certificate",
    "oidc_app_private_key",
];

impl Config {
    /// Loads the layered configuration. `file` is the explicit `--config`; without it
    /// `./gateway.toml` is read when present. `env` is the process environment (passed in
    /// so tests can supply their own). Every problem found is returned, not just the first.
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        flags: &Overrides,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut raw = RawValues::default();
        let path = file.map(Path::to_path_buf).or_else(|| {
            let p = PathBuf::from("gateway.toml");
            p.exists().then_some(p)
        });
        if let Some(path) = path {
            match std::fs::read_to_string(&path) {
                Ok(text) => match toml::from_str::<FileConfig>(&text) {
                    Ok(fc) => raw.apply_file(fc),
                    Err(e) => problems.push(format!("{}: {}", path.display(), e.message())),
                },
                Err(e) => problems.push(format!("cannot read {}: {e}", path.display())),
            }
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix("IDGATE_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if KEYS.contains(&key.as_str()) {
                raw.set(&key, value.clone());
            } else if !["config", "log"].contains(&key.as_str()) {
                problems.push(format!("unknown environment variable {name}"));
            }
        }
        if let Some(v) = &flags.listen {
            raw.set("listen", v.clone());
        }
        if let Some(v) = &flags.public_url {
            raw.set("public_url", v.clone());
        }
        if let Some(v) = &flags.data_dir {
            raw.set("data_dir", v.display().to_string());
        }
        if let Some(v) = &flags.log_format {
            raw.set("log_format", v.clone());
        }
        let config = raw.build(&mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("idgate.db")
    }

    /// The SCIM base URL shown to admins (Entra's "Tenant URL").
    pub fn scim_base_url(&self) -> String {
        format!("{}/scim/v2", self.public_url)
    }
}

/// Every value as text, in the order layers were applied; validated once in `build`.
#[derive(Default)]
struct RawValues(Vec<(String, String)>);

impl RawValues {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value));
    }

    fn apply_file(&mut self, fc: FileConfig) {
        let FileConfig {
            listen,
            public_url,
            data_dir,
            store_url,
            log_format,
            log_level,
            request_log_retention_days,
            max_body_bytes,
            read_pool_size,
            max_batch,
            session_lifetime_minutes,
            allowed_return_origins,
            trusted_proxies,
            verify_redirect,
            workers,
            event_retention_days,
            outbound_allow_networks,
            outbound_ca_file,
            metadata_refresh_hours,
            oidc_authority,
            oidc_allow_insecure_authority,
            oidc_app_client_id,
            oidc_app_client_secret,
            oidc_app_certificate,
            oidc_app_private_key,
        } = fc;
        let pairs = [
            ("listen", listen),
            ("public_url", public_url),
            ("data_dir", data_dir.map(|p| p.display().to_string())),
            ("store_url", store_url),
            ("log_format", log_format),
            ("log_level", log_level),
            (
                "request_log_retention_days",
                request_log_retention_days.map(|v| v.to_string()),
            ),
            ("max_body_bytes", max_body_bytes.map(|v| v.to_string())),
            ("read_pool_size", read_pool_size.map(|v| v.to_string())),
            ("max_batch", max_batch.map(|v| v.to_string())),
            (
                "session_lifetime_minutes",
                session_lifetime_minutes.map(|v| v.to_string()),
            ),
            (
                "allowed_return_origins",
                allowed_return_origins.map(|v| v.join(",")),
            ),
            ("trusted_proxies", trusted_proxies.map(|v| v.join(","))),
            ("verify_redirect", verify_redirect.map(|v| v.to_string())),
            ("workers", workers.map(|v| v.to_string())),
            (
                "event_retention_days",
                event_retention_days.map(|v| v.to_string()),
            ),
            (
                "outbound_allow_networks",
                outbound_allow_networks.map(|v| v.join(",")),
            ),
            (
                "outbound_ca_file",
                outbound_ca_file.map(|p| p.display().to_string()),
            ),
            (
                "metadata_refresh_hours",
                metadata_refresh_hours.map(|v| v.to_string()),
            ),
            ("oidc_authority", oidc_authority),
            (
                "oidc_allow_insecure_authority",
                oidc_allow_insecure_authority.map(|v| v.to_string()),
            ),
            ("oidc_app_client_id", oidc_app_client_id),
            ("oidc_app_client_secret", oidc_app_client_secret),
            (
                "oidc_app_certificate",
                oidc_app_certificate.map(|p| p.display().to_string()),
            ),
            (
                "oidc_app_private_key",
                oidc_app_private_key.map(|p| p.display().to_string()),
            ),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                self.set(k, v);
            }
        }
    }

    fn build(self, problems: &mut Vec<String>) -> Config {
        let mut c = Config::default();
        let mut app = OidcAppValues::default();
        for (key, value) in self.0 {
            let bad = |what: &str| format!("{key} = {value:?}: {what}");
            match key.as_str() {
                "listen" => match value.parse() {
                    Ok(v) => c.listen = v,
                    Err(_) => problems.push(bad("expected ADDRESS:PORT, e.g. 127.0.0.1:8080")),
                },
                "public_url" => match validate_public_url(&value) {
                    Ok(v) => c.public_url = v,
                    Err(e) => problems.push(bad(&e)),
                },
                "data_dir" => c.data_dir = PathBuf::from(value),
                "store_url" if value.is_empty() => c.store_url = None,
                "store_url" => match value.parse::<postgres::Config>() {
                    Ok(_)
                        if value.starts_with("postgres://")
                            || value.starts_with("postgresql://") =>
                    {
                        c.store_url = Some(value)
                    }
                    // Not `bad`: that repeats the value, and this one may hold a password.
                    _ => problems.push(
                        "store_url: expected a PostgreSQL URL: \
                         postgres://user:password@host:port/database"
                            .to_string(),
                    ),
                },
                "log_format" => match value.as_str() {
                    "pretty" => c.log_format = LogFormat::Pretty,
                    "json" => c.log_format = LogFormat::Json,
                    _ => problems.push(bad("expected pretty or json")),
                },
                "log_level" => c.log_level = value,
                "request_log_retention_days" => match value.parse() {
                    Ok(v) if v >= 1 => c.request_log_retention_days = v,
                    _ => problems.push(bad("expected a whole number of days, at least 1")),
                },
                "max_body_bytes" => match value.parse() {
                    Ok(v) if v >= 1024 => c.max_body_bytes = v,
                    _ => problems.push(bad("expected a number of bytes, at least 1024")),
                },
                "read_pool_size" => match value.parse() {
                    Ok(v) if (1..=64).contains(&v) => c.read_pool_size = v,
                    _ => problems.push(bad("expected 1 to 64")),
                },
                "max_batch" => match value.parse() {
                    Ok(v) if (1..=10_000).contains(&v) => c.max_batch = v,
                    _ => problems.push(bad("expected 1 to 10000")),
                },
                "session_lifetime_minutes" => match value.parse() {
                    Ok(v) if (5..=43_200).contains(&v) => c.session_lifetime_minutes = v,
                    _ => problems.push(bad("expected 5 to 43200 minutes")),
                },
                "allowed_return_origins" => {
                    c.allowed_return_origins.clear();
                    for o in list(&value) {
                        match validate_origin(o) {
                            Ok(v) => c.allowed_return_origins.push(v),
                            Err(e) => problems.push(bad(&e)),
                        }
                    }
                }
                "trusted_proxies" => {
                    c.trusted_proxies.clear();
                    for ip in list(&value) {
                        match ip.parse() {
                            Ok(v) => c.trusted_proxies.push(v),
                            Err(_) => problems.push(bad(&format!("{ip:?} is not an IP address"))),
                        }
                    }
                }
                "outbound_allow_networks" => {
                    c.outbound_allow_networks.clear();
                    for net in list(&value) {
                        let parsed = net
                            .parse::<ipnet::IpNet>()
                            .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
                        match parsed {
                            Ok(v) => c.outbound_allow_networks.push(v),
                            Err(_) => problems.push(bad(&format!(
                                "{net:?} is not a network (e.g. 10.0.0.0/8) or an IP address"
                            ))),
                        }
                    }
                }
                "outbound_ca_file" => match std::fs::read_to_string(&value)
                    .map_err(|e| format!("cannot read: {e}"))
                    .and_then(|pem| crate::outbound::parse_roots(&pem).map(|_| pem))
                {
                    Ok(pem) => c.outbound_ca_pem = Some(pem),
                    Err(e) => problems.push(bad(&e)),
                },
                "metadata_refresh_hours" => match value.parse() {
                    Ok(v) if (1..=168).contains(&v) => c.metadata_refresh_hours = v,
                    _ => problems.push(bad("expected 1 to 168 hours")),
                },
                "verify_redirect" => match parse_bool(&value) {
                    Some(v) => c.verify_redirect = v,
                    None => problems.push(bad("expected true or false")),
                },
                "oidc_allow_insecure_authority" => match parse_bool(&value) {
                    Some(v) => c.oidc_allow_insecure_authority = v,
                    None => problems.push(bad("expected true or false")),
                },
                "oidc_authority" => match validate_origin(&value) {
                    Ok(v) => c.oidc_authority = v,
                    Err(e) => problems.push(bad(&e)),
                },
                "oidc_app_client_id" => app.client_id = Some(value),
                "oidc_app_client_secret" => app.client_secret = Some(value),
                "oidc_app_certificate" => app.certificate = Some(value),
                "oidc_app_private_key" => app.private_key = Some(value),
                "event_retention_days" => match value.parse() {
                    Ok(v) if v >= 1 => c.event_retention_days = v,
                    _ => problems.push(bad("expected a whole number of days, at least 1")),
                },
                "workers" => match value.parse() {
                    Ok(v) if v <= 256 => c.workers = v,
                    _ => problems.push(bad("expected 0 (one per CPU core) to 256")),
                },
                _ => problems.push(format!("unknown key {key}")),
            }
        }
        if c.oidc_authority.starts_with("http://") && !c.oidc_allow_insecure_authority {
            problems.push(format!(
                "oidc_authority = {:?}: plain http is refused unless \
                 oidc_allow_insecure_authority = true (a local test provider only)",
                c.oidc_authority
            ));
        }
        c.oidc_app = app.build(problems);
        c
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "on" | "1" => Some(true),
        "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The `oidc_app_*` keys, checked together.
#[derive(Default)]
struct OidcAppValues {
    client_id: Option<String>,
    client_secret: Option<String>,
    certificate: Option<String>,
    private_key: Option<String>,
}

impl OidcAppValues {
    fn build(self, problems: &mut Vec<String>) -> Option<OidcApp> {
        let read = |key: &str, path: &Option<String>, problems: &mut Vec<String>| {
            let path = path.as_ref()?;
            std::fs::read_to_string(path)
                .map_err(|e| problems.push(format!("{key} = {path:?}: cannot read: {e}")))
                .ok()
        };
        let certificate_pem = read("oidc_app_certificate", &self.certificate, problems);
        let private_key_pem = read("oidc_app_private_key", &self.private_key, problems);
        let Some(client_id) = self.client_id.filter(|s| !s.trim().is_empty()) else {
            if self.client_secret.is_some() || self.certificate.is_some() {
                problems
                    .push("oidc_app_client_id is required with the other oidc_app_* keys".into());
            }
            return None;
        };
        let client_secret = self.client_secret.filter(|s| !s.is_empty());
        if client_secret.is_none() && (certificate_pem.is_none() || private_key_pem.is_none()) {
            problems.push(
                "oidc_app_client_id needs oidc_app_client_secret, or oidc_app_certificate and \
                 oidc_app_private_key"
                    .into(),
            );
            return None;
        }
        Some(OidcApp {
            client_id: client_id.trim().to_string(),
            client_secret,
            certificate_pem,
            private_key_pem,
        })
    }
}

/// A comma-separated list, blanks dropped.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `scheme://host[:port]`, nothing else.
fn validate_origin(value: &str) -> Result<String, String> {
    let v = validate_public_url(value).map_err(|e| format!("{value:?}: {e}"))?;
    let rest = v.split_once("://").map_or("", |(_, r)| r);
    if rest.contains('/') {
        return Err(format!("{value:?}: an origin has no path"));
    }
    Ok(v.to_ascii_lowercase())
}

fn validate_public_url(value: &str) -> Result<String, String> {
    let v = value.trim_end_matches('/');
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err("must be a URL with a host and no query or fragment".into());
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\npublic_url = \"https://a.example/\"\nlog_level = \"debug\"\n").unwrap();
        let c = Config::load(
            Some(&file),
            &env(&[("IDGATE_PUBLIC_URL", "https://b.example"), ("PATH", "/bin")]),
            &Overrides {
                listen: Some("127.0.0.1:9100".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.public_url, "https://b.example");
        assert_eq!(c.log_level, "debug");
    }

    #[test]
    fn lists_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let errs = Config::load(Some(&file), &[], &Overrides::default()).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("lisen"));
        let errs = Config::load(
            None,
            &env(&[
                ("IDGATE_LISTEN", "nope"),
                ("IDGATE_PUBLIC_URL", "ftp://x"),
                ("IDGATE_BOGUS", "1"),
            ]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
