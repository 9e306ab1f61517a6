//! The IdP metadata URL against a real HTTPS server (`tls_server`): set from the admin page
//! and the command line, refreshed by the schedule (the app's clock moved on), a certificate
//! change picked up, the last good configuration kept when the server is down or answers
//! garbage, and the SSRF rules (http, redirects, private addresses after DNS, size cap).
//! The metadata is Entra's real federation metadata (tests/fixtures/entra/) with its
//! certificates swapped for the test IdP's, as written at `entra_metadata`; and the
//! certificate expiry gauge of `/metrics`.

use std::time::Duration;

use actix_web::web::Data;
use idgate::Application;
use idgate::app::AppState;
use idgate::clock::{Clock, timestamp};
use idgate::config::Config;
use idgate::saml::metadata_url::refresh_due;
use idgate::store::{admin as admin_store, metadata_url as url_store, orgs, saml as idp_store};

use crate::admin_helpers::{AdminBrowser, operator};
use crate::helpers::{TestApp, create_org};
use crate::tls_server::{Reply, TlsServer};

const ENTRA: &str = include_str!("../fixtures/entra/entra-common-federationmetadata-2017.xml");
/// The fixture's first and second IDPSSODescriptor certificates (SOURCES.md: 3C:B3… and
/// C3:AB…), by the start of their Base64.
const ENTRA_CERT_1: &str = "MIIDBTCCAe2gAwIBAgIQY4RNIR0dX6";
const ENTRA_CERT_2: &str = "MIIDBTCCAe2gAwIBAgIQXxLnqm1cOo";
const IDP_FP: &str = "F4:55:F2:31:1F:5E:B5:70:BD:B1:D3:E4:87:D4:59:BC:0C:15:AB:6E:52:96:9E:6A:02:5E:69:1F:D7:C0:DA:CA";
const ATTACKER_FP: &str = "8A:73:D1:76:88:35:82:DF:61:52:2E:67:9E:51:6D:AA:49:44:79:B5:DD:DB:66:CB:C7:9B:36:6A:41:EF:5B:5D";
const ENTRA_2_FP: &str = "C3:AB:06:1B:65:2D:C9:A7:47:F3:3D:E0:A8:9F:B5:C4:60:9A:0E:FB:51:18:B0:A3:96:A5:7D:CE:3D:A1:DB:B3";

/// The Base64 of a test certificate (`tests/fixtures/saml-test-key/NAME.pem`).
fn test_cert_b64(name: &str) -> String {
    idgate::saml::test_idp::key_file(name)
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// The full Base64 of the fixture's certificate that starts with `start`.
fn entra_cert(start: &str) -> String {
    let at = ENTRA.find(start).expect("certificate in the fixture");
    ENTRA[at..].split('<').next().unwrap().to_string()
}

/// Entra's metadata (all three of its certificates expired years ago) with certificate 1
/// replaced everywhere by the test IdP's certificate, so that one is valid today; with
/// `rolled`, certificate 2 also replaced by the "attacker" test certificate: a rollover
/// that adds 8A:73… and removes C3:AB….
fn entra_metadata(rolled: bool) -> String {
    let mut xml = ENTRA.replace(&entra_cert(ENTRA_CERT_1), &test_cert_b64("idp-cert"));
    if rolled {
        xml = xml.replace(&entra_cert(ENTRA_CERT_2), &test_cert_b64("attacker-cert"));
    }
    xml
}

/// The app on a clock the test moves, with its state, trusting `server`'s CA and allowed
/// to reach 127.0.0.1.
async fn spawn(
    server: &TlsServer,
    adjust: impl FnOnce(&mut Config),
) -> (TestApp, Data<AppState>, Clock) {
    crate::logs::install();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        outbound_allow_networks: vec!["127.0.0.1/32".parse().unwrap()],
        outbound_ca_pem: Some(server.ca_pem.clone()),
        ..Config::default()
    };
    adjust(&mut config);
    let clock = Clock::fixed(Clock::System.now());
    let app = Application::build_with(config, clock.clone(), |_| {}).expect("app builds");
    let port = app.port();
    let state = app.state();
    actix_web::rt::spawn(app.run_until_stopped());
    let token = create_org(&state.store, "acme", "acme.com");
    let test = TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .disable_redirects()
            .finish(),
        store: state.store.clone(),
        token,
        _dir: dir,
    };
    (test, state, clock)
}

async fn browser(app: &TestApp) -> AdminBrowser<'_> {
    AdminBrowser {
        app,
        cookie: format!("idgate_admin={}", operator(app).await),
    }
}

fn fingerprints(app: &TestApp) -> Option<(String, Vec<String>)> {
    app.store
        .read_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            idp_store::idp(c, org.id)
        })
        .unwrap()
        .map(|i| {
            (
                i.source,
                i.certificates.into_iter().map(|c| c.fingerprint).collect(),
            )
        })
}

fn stored_url(app: &TestApp) -> Option<url_store::MetadataUrl> {
    app.store
        .read_now(|c| url_store::get(c, orgs::require_org(c, "acme")?.id))
        .unwrap()
}

/// The audit details of `action` for acme, newest first.
fn audits(app: &TestApp, action: &str) -> Vec<String> {
    app.store
        .read_now(|c| admin_store::audit_log(c, None, 200))
        .unwrap()
        .into_iter()
        .filter(|(e, _)| e.action == action)
        .map(|(e, _)| format!("{} {}", e.actor, e.detail.unwrap_or_default()))
        .collect()
}

#[actix_web::test]
async fn a_rollover_at_the_url_is_picked_up_by_the_schedule() {
    let server = TlsServer::start(Reply::ok(entra_metadata(false)));
    let (app, state, clock) = spawn(&server, |_| {}).await;
    let admin = browser(&app).await;
    let url = server.url("/tenant/federationmetadata/2007-06/federationmetadata.xml?appid=a1");

    let r = admin
        .post("/admin/orgs/acme/sso/metadata-url", &[("url", &url)])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let (source, fps) = fingerprints(&app).expect("configured");
    assert_eq!(source, "metadata_url");
    assert!(
        fps.contains(&IDP_FP.to_string()) && fps.contains(&ENTRA_2_FP.to_string()),
        "{fps:?}"
    );
    let set = audits(&app, "org.saml.metadata_url");
    assert!(set[0].contains(&url) && set[0].contains(IDP_FP), "{set:?}");
    let page = admin.get("/admin/orgs/acme/sso").await;
    assert!(
        page.text.contains("id=\"metadata-url-value\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("badge ok"));

    // Nothing is due before the interval (12 h ± 10 %).
    assert_eq!(refresh_due(&state).await, 0);
    server.set(Reply::ok(entra_metadata(true)));
    // The jitter puts the next refresh between 10.8 h and 13.2 h from now.
    clock.advance(time::Duration::hours(10));
    assert_eq!(refresh_due(&state).await, 0);
    clock.advance(time::Duration::hours(4));
    assert_eq!(refresh_due(&state).await, 1);
    let (_, fps) = fingerprints(&app).unwrap();
    assert!(fps.contains(&ATTACKER_FP.to_string()), "{fps:?}");
    assert!(!fps.contains(&ENTRA_2_FP.to_string()), "{fps:?}");
    let refresh = audits(&app, "org.saml.metadata_url.refresh");
    assert!(
        refresh[0].starts_with("idgate (schedule)")
            && refresh[0].contains(&format!("certificates added {ATTACKER_FP}"))
            && refresh[0].contains(&format!("certificates removed {ENTRA_2_FP}")),
        "{refresh:?}"
    );
    // The fixed clock moved past the admin session: sign in again.
    let admin = browser(&app).await;
    let page = admin.get("/admin/orgs/acme/sso").await;
    assert!(
        page.text
            .contains(&format!("certificates added {ATTACKER_FP}")),
        "{}",
        page.text
    );
    // The next one is a schedule away again; an unchanged document changes nothing.
    assert_eq!(refresh_due(&state).await, 0);
    clock.advance(time::Duration::hours(14));
    assert_eq!(refresh_due(&state).await, 1);
    assert!(audits(&app, "org.saml.metadata_url.refresh")[0].ends_with("no change"));

    // An upload replaces the configuration and stops the refreshes.
    let admin = browser(&app).await;
    let r = admin
        .post("/admin/orgs/acme/sso/metadata-url/refresh", &[])
        .await;
    assert_eq!(r.status, 303);
    assert!(stored_url(&app).is_some());
    let r = admin
        .upload("/admin/orgs/acme/sso/metadata", &entra_metadata(false), "")
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(fingerprints(&app).unwrap().0, "metadata");
    assert!(stored_url(&app).is_none());
}

#[actix_web::test]
async fn a_failed_refresh_keeps_the_last_good_configuration() {
    let mut server = TlsServer::start(Reply::ok(entra_metadata(false)));
    let (app, state, clock) = spawn(&server, |_| {}).await;
    let admin = browser(&app).await;
    let url = server.url("/federationmetadata.xml");
    let r = admin
        .post("/admin/orgs/acme/sso/metadata-url", &[("url", &url)])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let good = fingerprints(&app).unwrap();

    // Garbage: refused by the parser, recorded, nothing else changes.
    server.set(Reply::ok("<html>Sign in to continue</html>"));
    let r = admin
        .post("/admin/orgs/acme/sso/metadata-url/refresh", &[])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(fingerprints(&app).unwrap(), good);
    let last = stored_url(&app).unwrap();
    assert_eq!(last.last_ok, Some(false));
    assert!(
        last.last_result.as_deref().unwrap().contains("refused"),
        "{last:?}"
    );
    let refresh = audits(&app, "org.saml.metadata_url.refresh");
    assert!(
        refresh[0].contains("error, configuration kept"),
        "{refresh:?}"
    );
    let page = admin.get("/admin/orgs/acme/sso").await;
    assert!(
        page.text.contains("id=\"metadata-url-error\""),
        "{}",
        page.text
    );

    // Down: the same, and the next try comes within the hour.
    server.stop();
    clock.advance(time::Duration::hours(14));
    assert_eq!(refresh_due(&state).await, 1);
    assert_eq!(fingerprints(&app).unwrap(), good);
    let last = stored_url(&app).unwrap();
    assert_eq!(last.last_ok, Some(false));
    assert!(
        last.last_result
            .as_deref()
            .unwrap()
            .contains("request failed"),
        "{last:?}"
    );
    let next = timestamp(clock.now() + time::Duration::hours(1));
    assert!(last.next_refresh <= next, "{last:?}");
    assert!(!crate::logs::lines_with(&["metadata refresh failed", "acme"]).is_empty());
}

#[actix_web::test]
async fn refused_urls_change_nothing() {
    let server = TlsServer::start(Reply::redirect("https://10.0.0.5/federationmetadata.xml"));
    let (app, _state, _clock) = spawn(&server, |_| {}).await;
    let admin = browser(&app).await;
    let refused = async |url: &str, why: &str| {
        let r = admin
            .post("/admin/orgs/acme/sso/metadata-url", &[("url", url)])
            .await;
        assert_eq!(r.status, 422, "{url}: {}", r.text);
        assert!(
            r.text.contains("current configuration is unchanged"),
            "{}",
            r.text
        );
        assert!(r.text.contains(why), "{url}: wanted {why:?} in {}", r.text);
        assert!(
            fingerprints(&app).is_none() && stored_url(&app).is_none(),
            "{url}"
        );
    };
    let http = format!("http://127.0.0.1:{}/federationmetadata.xml", server.port);
    refused(&http, "must start with https://").await;
    refused(&server.url("/m.xml"), "redirects are not followed").await;
    refused("https://10.0.0.5/federationmetadata.xml", "private").await;
    refused("https://169.254.169.254/latest/meta-data", "private").await;
    server.set(Reply::ok(vec![b' '; 1024 * 1024 + 1]));
    refused(&server.url("/m.xml"), "over the limit").await;
    server.set(Reply {
        status: 404,
        headers: Vec::new(),
        body: b"nope".to_vec(),
    });
    refused(&server.url("/m.xml"), "HTTP 404").await;
    assert!(audits(&app, "org.saml.metadata_url").is_empty());
}

#[actix_web::test]
async fn loopback_after_dns_is_refused_without_the_allow_list() {
    let server = TlsServer::start(Reply::ok(entra_metadata(false)));
    let (app, _state, _clock) = spawn(&server, |c| c.outbound_allow_networks.clear()).await;
    let admin = browser(&app).await;
    let url = format!("https://localhost:{}/federationmetadata.xml", server.port);
    let r = admin
        .post("/admin/orgs/acme/sso/metadata-url", &[("url", &url)])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("localhost resolves to") && r.text.contains("private"),
        "{}",
        r.text
    );
    assert!(fingerprints(&app).is_none());
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn the_command_line_sets_the_url() {
    let server = TlsServer::start(Reply::ok(entra_metadata(false)));
    let (app, _state, _clock) = spawn(&server, |_| {}).await;
    let ca = app._dir.path().join("test-ca.pem");
    std::fs::write(&ca, &server.ca_pem).unwrap();
    let ca = ca.display().to_string();
    let env = [("IDGATE_OUTBOUND_CA_FILE", ca.as_str())];
    let url = server.url("/federationmetadata.xml");
    let out = crate::cli::idgate_env(
        app._dir.path(),
        &["org", "saml", "acme", "--metadata-url", &url],
        "",
        &env,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(IDP_FP), "{stdout}");
    assert_eq!(fingerprints(&app).unwrap().0, "metadata_url");
    assert_eq!(stored_url(&app).unwrap().url, url);
    assert!(audits(&app, "org.saml.metadata_url")[0].starts_with("cli "));

    let http = format!("http://127.0.0.1:{}/x.xml", server.port);
    let out = crate::cli::idgate_env(
        app._dir.path(),
        &["org", "saml", "acme", "--metadata-url", &http],
        "",
        &env,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
    assert_eq!(stored_url(&app).unwrap().url, url);
}

#[actix_web::test]
async fn metrics_show_days_to_the_earliest_certificate_expiry() {
    let server = TlsServer::start(Reply::ok(entra_metadata(false)));
    let (app, state, _clock) = spawn(&server, |_| {}).await;
    create_org(&app.store, "globex", "globex.com");
    app.store
        .write_now(|c| {
            let org = orgs::require_org(c, "acme")?;
            let (idp, _) = idgate::saml::metadata::from_parts(
                idgate::saml::test_idp::key_file("idp-cert").as_bytes(),
                "https://sts.windows.net/t/",
                "https://login.microsoftonline.com/t/saml2",
                Clock::System.now(),
            )
            .unwrap();
            idp_store::set_idp(c, org.id, &idgate::saml::idp_record(&idp, "manual", "now"))
        })
        .unwrap();
    let mut res = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let days = (time::macros::date!(2126 - 11 - 02) - state.clock.now().date()).whole_days();
    assert!(
        text.contains("# TYPE idgate_saml_certificate_expiry_days gauge"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "idgate_saml_certificate_expiry_days{{org=\"acme\"}} {days}\n"
        )),
        "{text}"
    );
    assert!(!text.contains("idgate_saml_certificate_expiry_days{org=\"globex\"}"));

    // The daily warning, from 30 days out: Entra's fixture with one certificate still
    // valid has two long expired ones, the earliest of which counts.
    let admin = browser(&app).await;
    let list = admin.get("/admin/orgs").await;
    assert!(!list.text.contains("cert-expiry"), "{}", list.text);
    let r = admin
        .post(
            "/admin/orgs/acme/sso/metadata-url",
            &[("url", &server.url("/m.xml"))],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    idgate::saml::expiry::watch_expiry(&state, true).await;
    let warned = crate::logs::lines_with(&["expires soon", "org=acme", "days_left=-"]);
    assert!(!warned.is_empty());
    // The org list says so too (Entra's certificate 3 expired on 2018-11-16).
    let list = admin.get("/admin/orgs").await;
    assert!(
        list.text.contains("certificate expired 2018-11-16"),
        "{}",
        list.text
    );
}
