//! What both load generators need: the idgate subprocess(es) and the CLI, the store
//! (SQLite under the data directory, or a fresh PostgreSQL database), free ports, memory and
//! CPU from /proc, and a closed-loop driver. Included by `idgate-bench` and `signin-bench`.

use std::cell::Cell;
use std::future::Future;
use std::net::TcpListener;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

/// idgate-bench's webhook receivers listen on loopback, which the SSRF guard refuses unless
/// it is listed.
const LOOPBACK: &str = "127.0.0.1/32";

/// The PostgreSQL store every CLI command and server of this run uses (`--store-url`: a fresh
/// database made by `fresh_database`); unset, the store is SQLite under the data directory.
static STORE_URL: OnceLock<String> = OnceLock::new();

/// Where the servers of a run live: both tools take these flags.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Store on this PostgreSQL server instead of SQLite: a fresh database is created on it
    /// for the run (the URL's own database is only used to create it).
    #[arg(long)]
    pub store_url: Option<String>,
    /// idgate servers on the one store (more than 1 needs --store-url); requests go to them
    /// round-robin, each over kept-alive connections.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// Cap each instance at this many CPUs (a control group per process; needs root): stands
    /// in for a machine per instance, to see whether a second instance adds capacity when the
    /// instances do not compete for the same cores.
    #[arg(long)]
    pub cpu_per_instance: Option<f64>,
}

/// The `IDGATE_STORE_URL` the children of this run get (none: SQLite, as before).
pub fn store_env() -> Option<(&'static str, &'static str)> {
    STORE_URL.get().map(|u| ("IDGATE_STORE_URL", u.as_str()))
}

pub fn store_url() -> Option<&'static str> {
    STORE_URL.get().map(String::as_str)
}

/// Runs `f` with a blocking PostgreSQL client on `url`, on a thread of its own (the blocking
/// client must not run inside the load generator's async runtime).
fn with_pg<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
) -> Result<T, String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        f(&mut c).map_err(|e| format!("{url}: {e}"))
    })
    .join()
    .map_err(|_| "the PostgreSQL client thread panicked".to_string())?
}

/// `url` with its database replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> Result<String, String> {
    let bad = || format!("--store-url {url}: expected postgres://user@host:port/database");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "postgres" | "postgresql") {
        return Err(bad());
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    if authority.is_empty() {
        return Err(bad());
    }
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// Creates a new, empty database on the PostgreSQL server of `server_url` and makes it this
/// run's store (every later CLI command and server gets it as `IDGATE_STORE_URL`); its URL.
pub fn fresh_database(server_url: &str, prefix: &str) -> Result<String, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = format!("{prefix}_{}_{stamp}", std::process::id());
    let url = with_database(server_url, &name)?;
    let create = format!("CREATE DATABASE {name}");
    with_pg(server_url, move |c| c.batch_execute(&create))
        .map_err(|e| format!("creating the benchmark database: {e}"))?;
    STORE_URL
        .set(url.clone())
        .map_err(|_| "the store URL is already set".to_string())?;
    Ok(url)
}

/// The size of this run's PostgreSQL database in MiB (None on SQLite or on error).
#[allow(dead_code)] // idgate-bench's
pub fn database_mib() -> Option<f64> {
    let url = store_url()?;
    with_pg(url, |c| {
        let row = c.query_one("SELECT pg_database_size(current_database())::float8", &[])?;
        Ok(row.get::<_, f64>(0) / 1048576.0)
    })
    .ok()
}

/// (Transactions committed, rolled back) in this run's PostgreSQL database so far, from
/// pg_stat_database (None on SQLite). The statistics reach it within a second: read them
/// after a pause.
#[allow(dead_code)] // idgate-bench's
pub fn database_xacts() -> Option<(i64, i64)> {
    let url = store_url()?;
    with_pg(url, |c| {
        let row = c.query_one(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database \
             WHERE datname = current_database()",
            &[],
        )?;
        Ok((row.get(0), row.get(1)))
    })
    .ok()
}

/// The server processes of this run's PostgreSQL (backends and background workers, from
/// pg_stat_activity), to count their CPU; empty on SQLite.
pub fn postgres_pids() -> Vec<u32> {
    let Some(url) = store_url() else {
        return Vec::new();
    };
    with_pg(url, |c| {
        let rows = c.query("SELECT pid FROM pg_stat_activity", &[])?;
        Ok(rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect())
    })
    .unwrap_or_default()
}

/// User + system CPU seconds of process `pid` ("self" for this one), all threads. /proc counts
/// in USER_HZ ticks, 100 per second on Linux.
pub fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the parenthesised command name come fields 3.., so utime (14) and stime (15) are
    // the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|s| s.parse().unwrap_or(0.0))
        .collect();
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// CPU seconds of all of `pids`.
pub fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|p| cpu_secs(&p.to_string())).sum()
}

/// CPU seconds the whole machine spent busy (all cores; idle and iowait excluded).
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or_default();
    let f: Vec<f64> = (cpu.split_whitespace().skip(1).take(8))
        .map(|s| s.parse().unwrap_or(0.0))
        .collect();
    (f.iter().sum::<f64>() - f.get(3).unwrap_or(&0.0) - f.get(4).unwrap_or(&0.0)) / 100.0
}

/// Runs an `idgate` subcommand against the store in `dir`; its trimmed stdout.
pub fn idgate_cli(binary: &Path, dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .current_dir(dir)
        .env("IDGATE_LOG_LEVEL", "warn")
        .env("IDGATE_OUTBOUND_ALLOW_NETWORKS", LOOPBACK)
        .envs(store_env())
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
    /// The CPU cap's control group, removed after the process has stopped.
    cgroup: Option<PathBuf>,
}

/// Caps process `pid` (all its threads, and any it starts later) at `cpus` CPUs with a control
/// group of its own, `idgate-bench-PID`: cgroup v1's `cpu` controller (`cpu.cfs_quota_us`) when
/// mounted, else cgroup v2's `cpu.max`. Needs root. Returns the group's directory.
pub fn cap_cpu(pid: u32, cpus: f64) -> Result<PathBuf, String> {
    if !(cpus > 0.0 && cpus <= 64.0) {
        return Err(format!(
            "--cpu-per-instance {cpus}: give a number of CPUs above 0"
        ));
    }
    const PERIOD_US: u64 = 100_000;
    let quota = ((cpus * PERIOD_US as f64) as u64).max(1_000);
    let v1 = Path::new("/sys/fs/cgroup/cpu");
    let (root, files): (&Path, Vec<(&str, String)>) = if v1.join("cpu.cfs_quota_us").exists() {
        let files = vec![
            ("cpu.cfs_period_us", PERIOD_US.to_string()),
            ("cpu.cfs_quota_us", quota.to_string()),
        ];
        (v1, files)
    } else {
        (
            Path::new("/sys/fs/cgroup"),
            vec![("cpu.max", format!("{quota} {PERIOD_US}"))],
        )
    };
    let dir = root.join(format!("idgate-bench-{pid}"));
    let write = |name: &str, value: &str| {
        std::fs::write(dir.join(name), value).map_err(|e| {
            format!(
                "{}: {e} (a CPU cap needs root and a cgroup cpu controller)",
                dir.join(name).display()
            )
        })
    };
    std::fs::create_dir(&dir)
        .map_err(|e| format!("{}: {e} (a CPU cap needs root)", dir.display()))?;
    let done = files
        .iter()
        .try_for_each(|(name, value)| write(name, value))
        .and_then(|()| write("cgroup.procs", &pid.to_string()));
    match done {
        Ok(()) => Ok(dir),
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            Err(e)
        }
    }
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
            .envs(store_env())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok(Self {
            child,
            cgroup: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        self.end();
        if let Some(dir) = self.cgroup.take() {
            // Empty once the process has exited (the kernel may take a moment to notice).
            for _ in 0..50 {
                if std::fs::remove_dir(&dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn end(&mut self) {
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

/// `n` idgate servers on one store: instance 0 on `dir` (the data directory the CLI uses),
/// instance i > 0 on `dir/instance-i` holding a copy of `dir/secret.key` (instances sharing a
/// PostgreSQL store must hold the same key; more than one instance needs `--store-url`).
/// Each listens on a free port; `public_url` None means each its own base URL.
pub struct Cluster {
    pub servers: Vec<ServerProcess>,
    /// http://127.0.0.1:port of each instance.
    pub bases: Vec<String>,
}

impl Cluster {
    pub fn start(
        binary: &Path,
        dir: &Path,
        n: usize,
        public_url: Option<&str>,
        env: &[(String, String)],
        cpu_per_instance: Option<f64>,
    ) -> Result<Self, String> {
        if n == 0 {
            return Err("--instances must be at least 1".into());
        }
        if n > 1 && store_url().is_none() {
            return Err("--instances above 1 needs --store-url (instances share a PostgreSQL store; SQLite is one process's)".into());
        }
        let key = dir.join("secret.key");
        if n > 1 && !key.exists() {
            // No command has sealed anything yet: make the one key every instance shares.
            let bytes: [u8; 32] = rand::random();
            write_key(&key, &bytes)?;
        }
        let (mut servers, mut bases) = (Vec::new(), Vec::new());
        for i in 0..n {
            let data: PathBuf = if i == 0 {
                dir.to_path_buf()
            } else {
                let d = dir.join(format!("instance-{i}"));
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                let bytes = std::fs::read(&key).map_err(|e| format!("{}: {e}", key.display()))?;
                write_key(&d.join("secret.key"), &bytes)?;
                d
            };
            let port = free_port()?;
            let base = format!("http://127.0.0.1:{port}");
            let public = public_url.unwrap_or(&base).to_string();
            let mut server = ServerProcess::start(binary, &data, port, &public, env)?;
            if let Some(cpus) = cpu_per_instance {
                server.cgroup = Some(cap_cpu(server.pid(), cpus)?);
            }
            servers.push(server);
            bases.push(base);
        }
        Ok(Self { servers, bases })
    }

    pub fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(ServerProcess::pid).collect()
    }

    /// Stops every instance (dropping the cluster does too).
    #[allow(dead_code)] // signin-bench drops it
    pub fn stop(&mut self) {
        self.servers.iter_mut().for_each(ServerProcess::stop);
    }
}

/// Writes a secret.key (mode 0600).
fn write_key(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
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
