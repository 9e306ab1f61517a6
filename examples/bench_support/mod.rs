//! What both load generators need: the idgate subprocess and its CLI, free ports, memory
//! from /proc, and a closed-loop driver. Included by `idgate-bench` and `signin-bench`.

use std::cell::Cell;
use std::future::Future;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

/// idgate-bench's webhook receivers listen on loopback, which the SSRF guard refuses unless
/// it is listed.
const LOOPBACK: &str = "127.0.0.1/32";

/// Runs an `idgate` subcommand against the store in `dir`; its trimmed stdout.
pub fn idgate_cli(binary: &Path, dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .current_dir(dir)
        .env("IDGATE_LOG_LEVEL", "warn")
        .env("IDGATE_OUTBOUND_ALLOW_NETWORKS", LOOPBACK)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "idgate {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `idgate serve` on 127.0.0.1:`port` with the store in `dir` (log in `dir/server.log`);
/// stopped (SIGTERM, then SIGKILL after 15 s) when dropped.
pub struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    /// `env`: more environment variables (signin-bench's OIDC authority).
    pub fn start(
        binary: &Path,
        dir: &Path,
        port: u16,
        public_url: &str,
        env: &[(String, String)],
    ) -> Result<Self, String> {
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", &listen, "--public-url", public_url])
            .current_dir(dir)
            .env("IDGATE_LOG_LEVEL", "warn")
            .env("IDGATE_OUTBOUND_ALLOW_NETWORKS", LOOPBACK)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok(Self { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..150 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// (VmRSS, VmHWM) of process `pid`, in MiB.
pub fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs `job(0..n)` with `c` in flight (closed loop), optionally paced at `rate` per second,
/// stopping early after `limit`; the elapsed time.
pub async fn drive<F, Fut>(
    n: usize,
    c: usize,
    limit: Duration,
    rate: Option<f64>,
    job: F,
) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let next = Cell::new(0usize);
    let started = Instant::now();
    let worker = || async {
        loop {
            let k = next.get();
            if k >= n || started.elapsed() >= limit {
                break;
            }
            next.set(k + 1);
            if let Some(r) = rate {
                let due = Duration::from_secs_f64(k as f64 / r);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    actix_web::rt::time::sleep(wait).await;
                }
            }
            job(k).await;
        }
    };
    join_all((0..c.max(1)).map(|_| worker())).await;
    started.elapsed()
}
