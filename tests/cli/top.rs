//! `top` end to end, in a real terminal (tmux: send-keys, capture-pane) against a real Redis
//! and a real Celery 5.7 worker: it shows the worker and what was recorded, a task sent while
//! it runs appears live, `/` finds a task by its id prefix, Enter opens it and `g` its flow,
//! a revoke is sent after its confirmation, read-only mode refuses, and `q` (or SIGTERM)
//! leaves the terminal as it was (alternate screen left, canonical mode back).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Recorder, RedisServer, skip, venv_python};
use crate::control::{serve, wait_recorded};

/// A tmux server of its own (its own socket), killed on drop.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Runs `celtrace top ARGS` in an 100×30 window; `env` is set for it. After top exits,
    /// the window prints its exit code and whether the terminal is in canonical mode again.
    fn start(tag: &str, args: &[&str], env: &[(&str, &str)]) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            skip("tmux is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = format!("celtrace-{tag}-{}", std::process::id());
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let exports: Vec<String> = env.iter().map(|(k, v)| format!("{k}='{v}'")).collect();
        let script = dir.path().join("run.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ncd '{root}'\necho $$ > '{pid}'\n\
                 env -i PATH=\"$PATH\" HOME='{home}' TERM=xterm-256color LANG=C.UTF-8 TZ=UTC {exports} '{bin}' top {args}\n\
                 echo \"TOP-EXIT=$?\"\n\
                 stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon | sed 's/^/TTY-MODE=/'\n\
                 sleep 600\n",
                root = env!("CARGO_MANIFEST_DIR"),
                pid = dir.path().join("shell.pid").display(),
                home = dir.path().display(),
                exports = exports.join(" "),
                bin = env!("CARGO_BIN_EXE_celtrace"),
                args = quoted.join(" "),
            ),
        )
        .unwrap();
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "100", "-y", "30", "-s", "top", "sh"])
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success(), "tmux did not start");
        Some(Self { socket, dir })
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "top", k]);
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "top", "-l", text]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits (at most 30 s) until the screen shows every one of `wanted`; the screen.
    fn wait_for(&self, wanted: &[&str]) -> String {
        self.wait_until(&format!("{wanted:?}"), |s| {
            wanted.iter().all(|w| s.contains(w))
        })
    }

    /// Waits (at most 30 s) until `ok` holds for the screen; the screen.
    fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn alternate_screen_on(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "top", "#{alternate_on}"])
            .trim()
            == "1"
    }

    /// The pid of celtrace top: the child of the window's shell.
    fn top_pid(&self) -> u32 {
        let shell = std::fs::read_to_string(self.dir.path().join("shell.pid")).unwrap();
        let out = Command::new("pgrep")
            .args(["-P", shell.trim(), "-f", "top"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .expect("top runs")
            .parse()
            .unwrap()
    }

    /// After top exited: it exited 0, and left the alternate screen and raw mode.
    fn assert_restored(&self) {
        let screen = self.wait_for(&["TOP-EXIT=", "TTY-MODE="]);
        assert!(screen.contains("TOP-EXIT=0"), "{screen}");
        assert!(
            screen.contains("TTY-MODE=icanon"),
            "raw mode left on:\n{screen}"
        );
        assert!(!self.alternate_screen_on(), "still on the alternate screen");
        assert!(
            !screen.contains("Workers"),
            "the dashboard is still drawn:\n{screen}"
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

#[test]
fn top_live_on_redis_search_open_revoke_and_quit() {
    let Some(py) = venv_python() else { return };
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let broker = redis.url(0);
    let backend = redis.url(1);
    let _rec = Recorder::start(&redis, &[]);
    let (facts, mut ask, _worker) = serve(&py, &redis, &broker, false, "serve-idle");
    let hostname = facts["hostname"].as_str().unwrap().to_string();
    let recorded = ask("sleepy 0.1");
    wait_recorded(&broker, &recorded);

    let Some(tmux) = Tmux::start(
        "live",
        &["--broker", &broker, "--result-backend", &backend],
        &[],
    ) else {
        return;
    };
    // The worker (from its heartbeats) and the recorded task.
    tmux.wait_for(&["Workers 1/1 online", &hostname, &recorded[..8], "live"]);
    // A task sent now arrives through the subscription.
    let sent_live = ask("sleepy 0.2");
    tmux.wait_for(&[&sent_live[..8]]);

    // `/` by id prefix: one task left; Enter keeps the search, Enter again opens it.
    tmux.keys(&["/"]);
    tmux.type_text(&recorded[..6]);
    tmux.wait_for(&["Tasks 1 of", "search: "]);
    tmux.keys(&["Enter", "Enter"]);
    let detail = tmux.wait_for(&[&recorded, "scenapp.sleepy", "SUCCESS", "Timeline"]);
    assert!(detail.contains("task-succeeded"), "{detail}");
    // `g`: its flow, this task marked.
    tmux.keys(&["g"]);
    tmux.wait_for(&["this task", "1 task, wall"]);

    // `x` asks first; `n` sends nothing; `y` sends the revoke to the worker.
    tmux.keys(&["x"]);
    tmux.wait_for(&["Confirm", "Revoke scenapp.sleepy"]);
    tmux.keys(&["n"]);
    tmux.wait_for(&["nothing sent"]);
    tmux.keys(&["x"]);
    tmux.wait_for(&["Confirm"]);
    tmux.keys(&["y"]);
    tmux.wait_for(&["revoke of", "sent to 1 worker mailbox"]);

    // q goes back, Esc clears the search, q quits; the terminal is as it was.
    tmux.keys(&["q"]);
    tmux.wait_for(&["Tasks 1 of"]);
    tmux.keys(&["Escape"]);
    tmux.wait_for(&[&sent_live[..8], &recorded[..8]]);
    tmux.keys(&["q"]);
    tmux.assert_restored();
}

#[test]
fn top_read_only_refuses_and_sigterm_restores_the_terminal() {
    let Some(tmux) = Tmux::start(
        "readonly",
        &["--events", "tests/data/example.ndjson", "--ascii"],
        &[("CELTRACE_READ_ONLY", "1")],
    ) else {
        return;
    };
    let screen = tmux.wait_for(&["Tasks 12", "as of"]);
    assert!(screen.is_ascii(), "--ascii:\n{screen}");
    for key in ["r", "x"] {
        tmux.keys(&[key]);
        tmux.wait_for(&["read-only mode"]);
    }
    // Time steps in a recording: back 10 s, then the end again.
    let end = tmux.wait_for(&["(end), paused, step 10s"]);
    tmux.keys(&["["]);
    let before = tmux.wait_until("a moment before the end", |s| {
        s.contains("paused, step 10s") && !s.contains("(end)")
    });
    assert_ne!(end, before);
    let pid = tmux.top_pid();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    tmux.assert_restored();
}
