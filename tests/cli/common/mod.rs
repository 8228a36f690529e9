//! A deterministic environment for running the celtrace binary: fixed clock, UTC, fixed width,
//! no inherited CELTRACE_* / CELERY_* / NO_COLOR, a temporary HOME.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// "Now" for every test run: an hour after the captures were made.
pub const NOW: &str = "2026-11-22T08:47:00Z";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/celery-5.7")
}

pub fn fixture(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// stdout with the checkout's path replaced, so snapshots hold wherever the repo lives.
    pub fn stdout_normalized(&self) -> String {
        self.stdout.replace(env!("CARGO_MANIFEST_DIR"), "$ROOT")
    }

    /// stdout, stderr and the exit status in one string, as jj's tests snapshot them.
    pub fn normalized(&self) -> String {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut s = self.stdout.clone();
        if !self.stderr.is_empty() {
            s.push_str("------- stderr -------\n");
            s.push_str(&self.stderr);
        }
        s.push_str(&format!("[exit status: {}]\n", self.code));
        s.replace(root, "$ROOT")
    }
}

pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_celtrace"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("CELTRACE_")
            || k.starts_with("CELERY_")
            || matches!(
                k.as_str(),
                "NO_COLOR" | "CLICOLOR_FORCE" | "XDG_CONFIG_HOME"
            )
        {
            cmd.env_remove(k);
        }
    }
    let home = std::env::temp_dir().join("celtrace-test-home");
    cmd.env("CELTRACE_NOW", NOW)
        .env("TZ", "UTC")
        .env("COLUMNS", "120")
        .env("HOME", home)
        .env("TERM", "dumb")
        // Relative paths in diagnostics then read the same wherever the checkout is.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    cmd
}

pub fn run(args: &[&str]) -> Run {
    run_cmd(command(args))
}

pub fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd)
}

pub fn run_with_stdin(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    let mut cmd = command(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

pub fn run_cmd(mut cmd: Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Task ids named in a capture scenario's markers (lists or objects of ids), in file order.
pub fn scenario_ids(scenario: &str) -> Vec<String> {
    fn collect(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s)
                if s.len() == 36 && s.matches('-').count() == 4 && !out.contains(s) =>
            {
                out.push(s.clone());
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            // Group and group-result ids are not task ids.
            serde_json::Value::Object(m) => {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "group_id" | "last_id"))
                    .for_each(|(_, x)| collect(x, out));
            }
            _ => {}
        }
    }
    for file in ["redis/redis.ndjson", "redis/redis_extra.ndjson"] {
        let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["scenario"] == scenario {
                let mut out = Vec::new();
                collect(&v["ids"], &mut out);
                return out;
            }
        }
    }
    panic!("no markers for {scenario}")
}

/// Every task id in a recording, oldest first.
pub fn task_ids(file: &str) -> Vec<String> {
    let doc = json(&run(&["tasks", "--json", "--reverse", "--events", file]));
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "{}", run.normalized());
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The test venv's Python (tests/scripts/setup_venv.sh; `CELTRACE_TEST_PYTHON` overrides).
/// Without it the calling test is skipped, except under CI=true, where it fails.
pub fn venv_python() -> Option<PathBuf> {
    let p = std::env::var_os("CELTRACE_TEST_PYTHON")
        .map_or_else(|| repo_path("target/celery-venv/bin/python"), Into::into);
    if p.exists() {
        return Some(p);
    }
    skip("no test venv (run tests/scripts/setup_venv.sh)");
    None
}

/// A private redis-server on a free port, stopped on drop. Without `redis-server` the calling
/// test is skipped, except under CI=true, where it fails.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Option<Self> {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::start_args(&extra)
    }

    pub fn start_args(extra: &[String]) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            skip("redis-server is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(extra)
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Self {
                        child,
                        port,
                        dir,
                        extra: extra.to_vec(),
                    });
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = child.kill();
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Shuts the server down (`SHUTDOWN NOSAVE`: every key is gone) and starts it again on
    /// the same port after `down`.
    pub fn restart(&mut self, down: std::time::Duration) {
        let _: redis::RedisResult<()> =
            redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut self.conn());
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start again on port {}", self.port);
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url(0))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `celtrace record` running in the background until stopped (SIGTERM) or dropped. Its
/// stderr is read as it comes (a full pipe would stall it), so a test can look at its log
/// while it runs.
pub struct Recorder {
    child: Option<std::process::Child>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Starts it and waits until it is subscribed to every channel it records.
    pub fn start(server: &RedisServer, args: &[&str]) -> Self {
        let mut cmd = command(&["record", "--broker", &server.url(0)]);
        cmd.args(args).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = std::sync::Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let rec = Self {
            child: Some(child),
            stderr,
            reader: Some(reader),
        };
        let patterns = if args.contains(&"--result-backend") {
            2
        } else {
            1
        };
        wait_for_patterns(server, patterns);
        rec
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// What it has logged so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGINT to any process.
    pub fn kill_int(pid: u32) {
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
    }

    /// Sends a signal (`-INT`, `-TERM`, `-KILL`).
    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
    }

    /// SIGTERM, then its exit status and stderr.
    pub fn stop(self) -> (i32, String) {
        let (code, stderr, _) = self.stop_with("-TERM", std::time::Duration::from_secs(60));
        (code, stderr)
    }

    /// Sends `sig` and waits at most `within` for the exit (killing it and failing after
    /// that): exit status, stderr and how long the stop took.
    pub fn stop_with(
        mut self,
        sig: &str,
        within: std::time::Duration,
    ) -> (i32, String, std::time::Duration) {
        let started = std::time::Instant::now();
        self.signal(sig);
        let code = self.wait_within(within);
        (code, self.stderr_so_far(), started.elapsed())
    }

    /// Waits at most `within` for it to exit on its own; its exit status.
    pub fn wait_within(&mut self, within: std::time::Duration) -> i32 {
        let started = std::time::Instant::now();
        let mut child = self.child.take().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > within {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the recorder did not exit within {within:?}; its log:\n{}",
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status.code().unwrap_or(-1)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A RabbitMQ virtual host of its own (created with rabbitmqctl, deleted on drop), so test
/// runs never see each other. Without a reachable RabbitMQ the calling test is skipped,
/// except under CI=true, where it fails.
pub struct Vhost {
    pub name: String,
    _hold: Hold,
}

/// Tests on RabbitMQ share the broker; the one that restarts it has it to itself.
static RABBITMQ: std::sync::RwLock<()> = std::sync::RwLock::new(());

enum Hold {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>),
}

impl Vhost {
    /// A virtual host on the shared broker (held until it is dropped).
    pub fn create(tag: &str) -> Option<Self> {
        let hold = Hold::Shared(
            RABBITMQ
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        Self::create_holding(tag, hold)
    }

    /// A virtual host for a test that restarts the broker: no other RabbitMQ test runs
    /// meanwhile.
    pub fn create_exclusive(tag: &str) -> Option<Self> {
        let hold = Hold::Exclusive(
            RABBITMQ
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        Self::create_holding(tag, hold)
    }

    fn create_holding(tag: &str, hold: Hold) -> Option<Self> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "celtrace-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let ctl = |args: &[&str]| {
            Command::new("rabbitmqctl")
                .args(args)
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let reachable = std::net::TcpStream::connect(("127.0.0.1", 5672)).is_ok();
        if !reachable || !ctl(&["add_vhost", &name]) {
            skip("RabbitMQ is not reachable on 127.0.0.1:5672 (or rabbitmqctl failed)");
            return None;
        }
        assert!(ctl(&[
            "set_permissions",
            "-p",
            &name,
            "guest",
            ".*",
            ".*",
            ".*"
        ]));
        Some(Self { name, _hold: hold })
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
pub fn certificates(dir: &std::path::Path) -> bool {
    let sh = |script: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=celtrace-test-ca \
        && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost \
        && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > ext.cnf \
        && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf",
    )
}

/// A child process and everything it starts (a Celery worker in its own session, its pool
/// children), killed when the test ends, even by a failed assertion. The tree is found by an
/// environment marker every descendant inherits, so a worker that left the process group
/// or ignores SIGTERM is still found.
pub struct Reaped(pub std::process::Child, String);

impl Reaped {
    pub fn spawn(cmd: &mut Command) -> Self {
        use std::os::unix::process::CommandExt;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let marker = format!(
            "{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        cmd.env("CELTRACE_TEST_TREE", &marker).process_group(0);
        Self(cmd.spawn().unwrap(), marker)
    }

    /// Runs `cmd` to its end like `Command::output`, then kills whatever it left running.
    pub fn output(cmd: &mut Command) -> std::process::Output {
        use std::io::Read;
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut me = Self::spawn(cmd);
        let mut out = me.0.stdout.take().unwrap();
        let mut err = me.0.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        let mut stdout = Vec::new();
        let _ = out.read_to_end(&mut stdout);
        let stderr = reader.join().unwrap_or_default();
        let status = me.0.wait().unwrap();
        std::process::Output {
            status,
            stdout,
            stderr,
        }
    }

    /// The pids of every live process that carries this tree's marker.
    fn tree(&self) -> Vec<u32> {
        let needle = format!("CELTRACE_TEST_TREE={}\0", self.1);
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
            })
            .collect()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let kill = |sig: &str, pids: &[u32]| {
            if !pids.is_empty() {
                let _ = Command::new("kill")
                    .arg(sig)
                    .args(pids.iter().map(u32::to_string))
                    .stderr(Stdio::null())
                    .status();
            }
        };
        if let Ok(None) = self.0.try_wait() {
            // SIGTERM first: a driver stops its worker in its `finally`.
            kill("-TERM", &[self.0.id()]);
            for _ in 0..30 {
                if matches!(self.0.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
        // Whatever of the tree is left (a worker, its pool) goes now.
        for _ in 0..3 {
            let left = self.tree();
            if left.is_empty() {
                break;
            }
            kill("-KILL", &left);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// celtrace with the real clock, for tests against live brokers (their events are from now).
pub fn live(args: &[&str]) -> Run {
    let mut cmd = command(args);
    cmd.env_remove("CELTRACE_NOW");
    run_cmd(cmd)
}

/// Skips the calling test for a missing tool or service, except under CI=true, where a
/// missing piece of the test setup is a failure.
pub fn skip(what: &str) {
    assert!(
        std::env::var_os("CI").is_none_or(|v| v != "true"),
        "CI=true but {what}"
    );
    eprintln!("skipped: {what}");
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the Redis server has `n` pattern subscriptions (a subscriber is ready).
pub fn wait_for_patterns(server: &RedisServer, n: i64) {
    let mut conn = server.conn();
    for _ in 0..200 {
        let got: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut conn).unwrap();
        if got >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("nothing subscribed to {n} pattern(s)");
}
