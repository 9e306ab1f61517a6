//! The command line, run as the real binary against a temporary data directory.

use std::path::Path;
use std::process::{Command, Output};

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};

const BIN: &str = env!("CARGO_BIN_EXE_idgate");
const ENTRA_METADATA: &str =
    include_str!("../fixtures/entra/entra-common-federationmetadata-2017.xml");

fn idgate(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .args(args)
        .env_remove("IDGATE_LISTEN")
        .output()
        .expect("idgate runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "unexpected success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A self-signed certificate valid from yesterday for `days` days, as Base64 DER.
fn certificate(days: u32) -> String {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "idgate test IdP").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(days).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let der = b.build().to_der().unwrap();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// Entra's real federation metadata with its (expired) certificates replaced by `cert`.
fn metadata_with(cert: &str) -> String {
    let mut out = String::new();
    let mut rest = ENTRA_METADATA;
    while let Some(i) = rest.find("<X509Certificate>") {
        let start = i + "<X509Certificate>".len();
        let end = start + rest[start..].find("</X509Certificate>").unwrap();
        out.push_str(&rest[..start]);
        out.push_str(cert);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn org_saml_loads_entra_metadata_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(&idgate(
        data,
        &[
            "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
        ],
    ));
    let file = data.join("federationmetadata.xml");
    std::fs::write(&file, metadata_with(&certificate(365))).unwrap();
    let out = ok(&idgate(
        data,
        &["org", "saml", "acme", "--metadata", file.to_str().unwrap()],
    ));
    assert!(
        out.contains("IdP entity ID: https://sts.windows.net/{tenantid}/"),
        "{out}"
    );
    assert!(
        out.contains("IdP SSO URL:   https://login.microsoftonline.com/common/saml2"),
        "{out}"
    );
    assert_eq!(
        out.matches("certificate:").count(),
        1,
        "identical certificates are kept once: {out}"
    );
    let show = ok(&idgate(data, &["org", "show", "acme"]));
    assert!(
        show.contains("idp entity id:     https://sts.windows.net/{tenantid}/ (metadata"),
        "{show}"
    );

    // A certificate expiring within 30 days is accepted with a warning.
    std::fs::write(&file, metadata_with(&certificate(10))).unwrap();
    let out = idgate(
        data,
        &["org", "saml", "acme", "--metadata", file.to_str().unwrap()],
    );
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{out:?}"
    );

    // Key-less metadata is refused, and the stored configuration is unchanged.
    let keyless = metadata_with("").replace(
        "<KeyDescriptor use=\"signing\">",
        "<KeyDescriptor use=\"encryption\">",
    );
    std::fs::write(&file, keyless).unwrap();
    let err = failed(&idgate(
        data,
        &["org", "saml", "acme", "--metadata", file.to_str().unwrap()],
    ));
    assert!(err.contains("signing certificate"), "{err}");
    // XXE is refused before anything is read.
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        metadata_with(&certificate(365))
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
    );
    std::fs::write(&file, xxe).unwrap();
    let err = failed(&idgate(
        data,
        &["org", "saml", "acme", "--metadata", file.to_str().unwrap()],
    ));
    assert!(err.to_lowercase().contains("doctype"), "{err}");
    let show = ok(&idgate(data, &["org", "show", "acme"]));
    assert_eq!(show.matches("idp certificate:").count(), 1, "{show}");

    // Hand entry: certificate as Base64, entity ID and SSO URL.
    let cer = data.join("idp.cer");
    std::fs::write(&cer, certificate(365)).unwrap();
    let out = ok(&idgate(
        data,
        &[
            "org",
            "saml",
            "acme",
            "--cert",
            cer.to_str().unwrap(),
            "--idp-entity-id",
            "https://sts.windows.net/abc/",
            "--sso-url",
            "https://login.microsoftonline.com/abc/saml2",
        ],
    ));
    assert!(out.contains("https://sts.windows.net/abc/"), "{out}");
    let err = failed(&idgate(
        data,
        &["org", "saml", "acme", "--cert", cer.to_str().unwrap()],
    ));
    assert!(
        err.contains("--idp-entity-id") || err.contains("required"),
        "{err}"
    );
}

#[test]
fn org_settings_domains_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(&idgate(
        data,
        &[
            "org", "create", "acme", "--name", "Acme", "--domain", "Acme.COM",
        ],
    ));
    failed(&idgate(
        data,
        &[
            "org", "create", "other", "--name", "O", "--domain", "acme.com",
        ],
    ));
    ok(&idgate(data, &["org", "create", "other", "--name", "O"]));
    failed(&idgate(
        data,
        &["org", "domain", "add", "other", "acme.com"],
    ));
    ok(&idgate(
        data,
        &["org", "domain", "add", "acme", "acme.co.uk"],
    ));
    ok(&idgate(
        data,
        &["org", "domain", "sso-only", "acme", "acme.co.uk", "on"],
    ));
    failed(&idgate(
        data,
        &["org", "domain", "sso-only", "acme", "nope.com", "on"],
    ));
    ok(&idgate(
        data,
        &[
            "org",
            "set",
            "acme",
            "--jit",
            "on",
            "--idp-initiated",
            "on",
            "--clock-skew",
            "60",
            "--scim",
            "off",
        ],
    ));
    failed(&idgate(
        data,
        &["org", "set", "acme", "--clock-skew", "100000"],
    ));
    let show = ok(&idgate(data, &["org", "show", "acme"]));
    for line in [
        "domain:            acme.co.uk (SSO only)",
        "domain:            acme.com\n",
        "jit:               on",
        "idp-initiated:     on",
        "clock skew:        60 s",
        "scim:              off",
    ] {
        assert!(show.contains(line), "{line:?} in {show}");
    }
    ok(&idgate(
        data,
        &["org", "domain", "remove", "acme", "acme.co.uk"],
    ));

    // The token is printed alone on stdout; explanations go to stderr.
    let out = idgate(
        data,
        &["scim-token", "create", "--org", "acme", "--name", "entra"],
    );
    let token = ok(&out);
    assert!(
        token.starts_with("idgs_") && token.trim().lines().count() == 1,
        "{token:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("only time"));
    failed(&idgate(
        data,
        &["scim-token", "create", "--org", "acme", "--name", "entra"],
    ));
    let list = ok(&idgate(data, &["scim-token", "list", "--org", "acme"]));
    assert!(
        list.contains("entra") && !list.contains(token.trim()),
        "{list}"
    );
    ok(&idgate(
        data,
        &["scim-token", "revoke", "--org", "acme", "entra"],
    ));
    failed(&idgate(
        data,
        &["scim-token", "revoke", "--org", "acme", "entra"],
    ));
    failed(&idgate(data, &["scim-token", "list", "--org", "nope"]));
}

#[test]
fn check_config_migrate_backup_and_a_newer_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let config = data.join("gateway.toml");
    std::fs::write(
        &config,
        "listen = \"nope\"\npublic_url = \"ftp://x\"\nunknown_key = 1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown_key"), "{err}");
    std::fs::write(&config, "listen = \"127.0.0.1:9999\"\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "check-config",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    ok(&idgate(data, &["migrate"]));
    ok(&idgate(data, &["org", "create", "acme", "--name", "Acme"]));
    let backup = data.join("backup.db");
    ok(&idgate(data, &["backup", backup.to_str().unwrap()]));
    failed(&idgate(data, &["backup", backup.to_str().unwrap()]));
    // The backup is a working store.
    let restored = data.join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("idgate.db")).unwrap();
    assert!(ok(&idgate(&restored, &["org", "list"])).contains("acme"));

    // A store from a newer binary is refused with a clear message.
    let conn = rusqlite::Connection::open(restored.join("idgate.db")).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    let err = failed(&idgate(&restored, &["org", "list"]));
    assert!(err.contains("newer than this binary"), "{err}");
}

#[test]
fn healthcheck_answers_for_a_running_server_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (mut server, base) = crate::crash::serve(data);
    let listen = base.trim_start_matches("http://").to_string();
    let check = || {
        Command::new(BIN)
            .args(["--data-dir", data.to_str().unwrap(), "healthcheck"])
            .env("IDGATE_LISTEN", &listen)
            .output()
            .unwrap()
    };
    let out = check();
    assert!(out.status.success(), "{out:?}");
    server.kill().unwrap();
    server.wait().unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
}

pub fn idgate_stdin(data: &Path, args: &[&str], stdin: &str) -> Output {
    idgate_env(data, args, stdin, &[])
}

/// `idgate_stdin` with environment variables of the test's own.
pub fn idgate_env(data: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .args(args)
        // Webhook receivers in the tests listen on loopback.
        .env("IDGATE_OUTBOUND_ALLOW_NETWORKS", "127.0.0.1/32")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("idgate runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn passwords_keys_and_oauth_clients() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(&idgate(
        data,
        &[
            "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
        ],
    ));
    // A password for a user nobody provisioned: a local account; then a new password.
    let out = idgate_stdin(
        data,
        &[
            "user",
            "set-password",
            "--org",
            "acme",
            "Bob@Acme.com",
            "--name",
            "Bob",
        ],
        "correct horse battery staple\n",
    );
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("created the local account bob@acme.com")
    );
    let out = idgate_stdin(
        data,
        &["user", "set-password", "--org", "acme", "bob@acme.com"],
        "another long passphrase\n",
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("set the password of bob@acme.com"));
    for (args, stdin, why) in [
        (
            vec!["user", "set-password", "--org", "acme", "bob@acme.com"],
            "short\n",
            "at least 12",
        ),
        (
            vec!["user", "set-password", "--org", "acme", "x@other.com"],
            "long enough password\n",
            "not a domain of acme",
        ),
        (
            vec!["user", "set-password", "--org", "nope", "x@acme.com"],
            "long enough password\n",
            "no org",
        ),
    ] {
        let err = failed(&idgate_stdin(data, &args, stdin));
        assert!(err.contains(why), "{why}: {err}");
    }
    let store = idgate::store::Store::open(&data.join("idgate.db"), 1, 1).unwrap();
    let hash: String = store
        .read_now(|c| Ok(c.query_row("SELECT hash FROM local_passwords", [], |r| r.get(0))?))
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("passphrase"));
    drop(store);

    // Keys: the first is made on first start (here: by rotate), rotate adds one.
    let first = ok(&idgate(data, &["keys", "rotate"])).trim().to_string();
    let second = ok(&idgate(data, &["keys", "rotate"])).trim().to_string();
    assert_ne!(first, second);
    let list = ok(&idgate(data, &["keys", "list"]));
    assert!(
        list.contains(&format!("{second}\tcreated")) && list.contains("signing"),
        "{list}"
    );
    assert!(
        list.contains(&format!("{first}\tcreated")) && list.contains("retired"),
        "{list}"
    );

    // OAuth clients: id and secret printed once; list never shows the secret; revoke.
    let out = ok(&idgate(
        data,
        &["oauth-client", "create", "--org", "acme", "--name", "entra"],
    ));
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client_secret="))
        .unwrap()
        .to_string();
    assert!(
        out.lines().any(|l| l.starts_with("client_id=idgc_")),
        "{out}"
    );
    let list = ok(&idgate(data, &["oauth-client", "list", "--org", "acme"]));
    assert!(
        list.starts_with("entra\tidgc_") && !list.contains(&secret),
        "{list}"
    );
    let err = failed(&idgate(
        data,
        &["oauth-client", "create", "--org", "acme", "--name", "entra"],
    ));
    assert!(err.contains("already exists"), "{err}");
    ok(&idgate(
        data,
        &["oauth-client", "revoke", "--org", "acme", "entra"],
    ));
    failed(&idgate(
        data,
        &["oauth-client", "revoke", "--org", "acme", "entra"],
    ));
    assert!(ok(&idgate(data, &["oauth-client", "list", "--org", "acme"])).contains("revoked"));
}

#[test]
fn values_for_entra_assume_the_url_the_server_runs_under_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(&idgate(
        data,
        &[
            "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
        ],
    ));
    let before = idgate(
        data,
        &["scim-token", "create", "--org", "acme", "--name", "a"],
    );
    let said = String::from_utf8_lossy(&before.stderr).into_owned();
    assert!(
        said.contains(
            "public_url: http://127.0.0.1:8080 (this command's configuration; no server has started"
        ),
        "{said}"
    );

    // The server runs under another URL than the command line's configuration.
    let (mut server, _) =
        crate::crash::serve_with(data, &["--public-url", "https://login.example.com"]);
    server.kill().unwrap();
    server.wait().unwrap();
    let out = idgate(
        data,
        &["scim-token", "create", "--org", "acme", "--name", "b"],
    );
    let token = ok(&out);
    assert!(
        token.trim().starts_with("idgs_") && token.lines().count() == 1,
        "{token}"
    );
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("Tenant URL https://login.example.com/scim/v2 "),
        "{said}"
    );
    assert!(
        said.contains(
            "public_url: https://login.example.com (the server on this store started with it at "
        ) && said.contains("this command's configuration says http://127.0.0.1:8080"),
        "{said}"
    );
    let meta = dir.path().join("entra.xml");
    std::fs::write(&meta, ENTRA_METADATA).unwrap();
    let out = idgate(
        data,
        &["org", "saml", "acme", "--metadata", meta.to_str().unwrap()],
    );
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("Identifier (Entity ID) https://login.example.com/saml/acme, Reply URL https://login.example.com/saml/acme/acs"),
        "{said}"
    );
    // An explicit --public-url wins, and says so; commands without URLs say nothing.
    let out = idgate(
        data,
        &[
            "org",
            "show",
            "acme",
            "--public-url",
            "https://sso.other.example",
        ],
    );
    assert!(ok(&out).contains("https://sso.other.example/scim/v2"));
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains("public_url: https://sso.other.example (from --public-url)"),
        "{said}"
    );
    let out = idgate(data, &["org", "list"]);
    ok(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("public_url"));
}

/// On PostgreSQL (`TEST_PG_URL`): `idgate backup` writes pg_dump's custom format, which
/// `pg_restore` loads into an empty database that idgate then serves as it was.
#[actix_web::test]
async fn backup_and_restore_on_postgresql() {
    if std::env::var("TEST_PG_URL").is_err() {
        eprintln!("backup_and_restore_on_postgresql: skipped (TEST_PG_URL is not set)");
        return;
    }
    let app = crate::helpers::spawn_app().await;
    app.idgate(&[
        "org",
        "create",
        "globex",
        "--name",
        "Globex",
        "--domain",
        "globex.com",
    ]);
    let dump = app._dir.path().join("store.pgdump");
    app.idgate(&["backup", dump.to_str().unwrap()]);
    // A backup never overwrites a file.
    let again = idgate(app._dir.path(), &["backup", dump.to_str().unwrap()]);
    assert!(!again.status.success());
    // Restored into a fresh database (a fresh data dir holding the same secret.key).
    let fresh = tempfile::tempdir().unwrap();
    let url = crate::helpers::test_store_url(fresh.path()).expect("a database");
    let empty = url.rsplit_once('/').unwrap().0.to_string() + "/postgres";
    let name = url.rsplit_once('/').unwrap().1.to_string();
    let recreate = format!("DROP DATABASE {name}; CREATE DATABASE {name}");
    let run =
        |program: &str, args: &[&str]| ok(&Command::new(program).args(args).output().unwrap());
    for sql in recreate.split("; ") {
        run("psql", &[empty.as_str(), "-qc", sql]);
    }
    run(
        "pg_restore",
        &[
            "--exit-on-error",
            "-d",
            url.as_str(),
            dump.to_str().unwrap(),
        ],
    );
    std::fs::copy(
        app._dir.path().join("secret.key"),
        fresh.path().join("secret.key"),
    )
    .unwrap();
    let shown = String::from_utf8(idgate(fresh.path(), &["org", "show", "globex"]).stdout).unwrap();
    assert!(shown.contains("globex.com"), "{shown}");
}

/// `serve` runs with glibc's malloc arenas bounded (`MALLOC_ARENA_MAX=4`, by starting itself
/// again: the same process, which then serves), unless the operator set a value of their own.
#[test]
fn serve_bounds_malloc_arenas_unless_the_operator_chose() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    for (preset, want) in [(None, "4"), (Some("2"), "2")] {
        let dir = tempfile::tempdir().unwrap();
        let mut command = crate::crash::serve_command(dir.path());
        command.env_remove("MALLOC_ARENA_MAX");
        if let Some(v) = preset {
            command.env("MALLOC_ARENA_MAX", v);
        }
        let (mut child, base) = crate::crash::started(&mut command);
        let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let values: Vec<String> = environ
            .split(|b| *b == 0)
            .filter_map(|v| v.strip_prefix(b"MALLOC_ARENA_MAX="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        assert_eq!(values, [want], "preset {preset:?}, served at {base}");
    }
}
