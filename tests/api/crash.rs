//! Durability: kill -9 the real server binary while it acknowledges concurrent creates;
//! after a restart every acknowledged user is there.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

fn idgate(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .args(args)
        .env_remove("IDGATE_LISTEN")
        .output()
        .expect("idgate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Starts `idgate serve` on a free port; returns the child and its base URL.
pub fn serve(data: &std::path::Path) -> (Child, String) {
    serve_with(data, &[])
}

/// `serve` with more arguments after `serve --listen 127.0.0.1:0`.
pub fn serve_with(data: &std::path::Path, args: &[&str]) -> (Child, String) {
    started(serve_command(data).args(args))
}

/// The command `serve` runs, to add to before `started`.
pub fn serve_command(data: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data)
        .envs(crate::helpers::store_env(data))
        .args(["serve", "--listen", "127.0.0.1:0"])
        // Webhook receivers in the tests listen on loopback.
        .env("IDGATE_OUTBOUND_ALLOW_NETWORKS", "127.0.0.1/32")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    command
}

/// Spawns `command` (from `serve_command`); returns the child and its base URL once it
/// serves.
pub fn started(command: &mut Command) -> (Child, String) {
    let mut child = command.spawn().expect("server starts");
    let base = crate::helpers::served_address(&mut child, &Arc::default());
    (child, base)
}

#[actix_web::test]
async fn acknowledged_creates_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    idgate(
        data,
        &[
            "org", "create", "acme", "--name", "Acme", "--domain", "acme.com",
        ],
    );
    let token = idgate(
        data,
        &["scim-token", "create", "--org", "acme", "--name", "t"],
    );
    let (mut child, base) = serve(data);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..16 {
        let (client, base, token, acked) =
            (client.clone(), base.clone(), token.clone(), acked.clone());
        workers.push(actix_web::rt::spawn(async move {
            for i in 0..10_000 {
                if started.elapsed() > Duration::from_secs(20) {
                    break;
                }
                let user = format!("crash-{w}-{i}@acme.com");
                let res = client
                    .post(format!("{base}/scim/v2/Users"))
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("Content-Type", "application/scim+json"))
                    .send_body(json!({"userName": user}).to_string())
                    .await;
                let Ok(mut res) = res else { break };
                if res.status() != 201 {
                    break;
                }
                let Ok(body) = res.json::<serde_json::Value>().await else {
                    break;
                };
                let id = body["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().push((id, user));
            }
        }));
    }
    // Let creates flow, then kill -9 in the middle of them.
    while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(15) {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for w in workers {
        let _ = w.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300,
        "only {} creates acknowledged",
        acked.len()
    );

    let (mut child, base) = serve(data);
    let mut missing = Vec::new();
    for (id, user) in &acked {
        let mut res = client
            .get(format!("{base}/scim/v2/Users/{id}"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            missing.push(user.clone());
            continue;
        }
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["userName"], user.as_str());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged users lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}
