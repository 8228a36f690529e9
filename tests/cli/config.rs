//! Configuration profiles: precedence case by case (flag, CELTRACE_*, CELERY_*, profile,
//! default), profile selection, passwords kept out of the file, bad files.
//!
//! The broker URL a command would use shows in the diagnostic of a broker read (this build
//! reads recordings only), always with the password hidden.

use crate::common::run_with_env;

const CONFIG: &str = r#"
default_profile = "staging"

[profiles.staging]
broker = "redis://staging:6379/0"
result_backend = "redis://staging:6379/1"

[profiles.prod]
broker = "amqp://celery@rabbit/prod"
broker_password_env = "CT_TEST_PROD_PW"

[profiles.filed]
broker = "redis://filed:6379/0"
broker_password_file = "PASSWORD_FILE"
"#;

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("celtrace")).unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-file\n").unwrap();
        let text = CONFIG.replace("PASSWORD_FILE", pw.to_str().unwrap());
        std::fs::write(dir.path().join("celtrace/config.toml"), text).unwrap();
        Self { dir }
    }

    /// The broker URL `tasks` would read, from its diagnostic.
    fn broker(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut a = vec!["tasks"];
        a.extend_from_slice(args);
        let mut e = vec![("XDG_CONFIG_HOME", self.dir.path().to_str().unwrap())];
        e.extend_from_slice(env);
        let out = run_with_env(&a, &e);
        assert_eq!(out.code, 4, "{}", out.normalized());
        // Brokers are tried (and fail: no such host); the diagnostic names the URL.
        for broker in ["Redis at ", "RabbitMQ at "] {
            if let Some(start) = out.stderr.find(broker) {
                let rest = &out.stderr[start + broker.len()..];
                let url = rest.split_whitespace().next().unwrap();
                return url.trim_end_matches(':').to_string();
            }
        }
        let start = out.stderr.find("broker (").unwrap() + 8;
        out.stderr[start..].split(')').next().unwrap().to_string()
    }
}

#[test]
fn precedence_case_by_case() {
    let s = Setup::new();
    let (flag, ct, celery) = (
        "redis://flag/0",
        ("CELTRACE_BROKER_URL", "redis://ct/0"),
        ("CELERY_BROKER_URL", "redis://celery/0"),
    );
    assert_eq!(s.broker(&["--broker", flag], &[ct, celery]), flag);
    assert_eq!(s.broker(&[], &[ct, celery]), "redis://ct/0");
    assert_eq!(s.broker(&[], &[celery]), "redis://celery/0");
    assert_eq!(
        s.broker(&[], &[]),
        "redis://staging:6379/0",
        "the file's default profile"
    );
    assert_eq!(
        s.broker(&["--profile", "filed"], &[]),
        "redis://:****@filed:6379/0"
    );
    let none = run_with_env(&["tasks"], &[("XDG_CONFIG_HOME", "/nonexistent")]);
    assert!(
        none.stderr.contains("redis://localhost:6379/0"),
        "{}",
        none.stderr
    );
}

#[test]
fn profile_from_flag_or_environment_and_passwords_stay_hidden() {
    let s = Setup::new();
    let pw = ("CT_TEST_PROD_PW", "t0p-s3cret");
    assert_eq!(
        s.broker(&["--profile", "prod"], &[pw]),
        "amqp://celery:****@rabbit/prod"
    );
    assert_eq!(
        s.broker(&[], &[pw, ("CELTRACE_PROFILE", "prod")]),
        "amqp://celery:****@rabbit/prod"
    );
    assert_eq!(
        s.broker(
            &["--profile", "staging"],
            &[pw, ("CELTRACE_PROFILE", "prod")]
        ),
        "redis://staging:6379/0",
        "the flag wins"
    );
    let out = run_with_env(
        &["tasks", "--profile", "prod"],
        &[("XDG_CONFIG_HOME", s.dir.path().to_str().unwrap()), pw],
    );
    assert!(!out.stderr.contains("t0p-s3cret"));
}

#[test]
fn missing_profile_password_and_file_are_usage_errors() {
    let s = Setup::new();
    let home = ("XDG_CONFIG_HOME", s.dir.path().to_str().unwrap());
    let out = run_with_env(&["tasks", "--profile", "dev"], &[home]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("celtrace::config::profile")
            && out.stderr.contains("filed, prod, staging"),
        "{}",
        out.stderr
    );
    let out = run_with_env(&["tasks", "--profile", "prod"], &[home]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("CT_TEST_PROD_PW"), "{}", out.stderr);
    let out = run_with_env(&["tasks", "--config", "/nonexistent/c.toml"], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("celtrace::config::read"));
    let out = run_with_env(
        &["tasks", "--profile", "x"],
        &[("XDG_CONFIG_HOME", "/nonexistent")],
    );
    assert_eq!(
        out.code, 2,
        "a profile without a file is an error, not ignored"
    );
}

#[test]
fn a_bad_file_points_at_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[profiles.a]\nbroker = \"redis://x\"\nread_only = \"yes\"\n",
    )
    .unwrap();
    let out = run_with_env(&["tasks", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.code, 2);
    let shown = out.stderr.replace(path.to_str().unwrap(), "$CONFIG");
    insta::assert_snapshot!("config_bad_file", shown);
}

#[test]
fn recordings_need_no_profile_but_honour_its_colour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "default_profile = \"p\"\n[profiles.p]\ncolor = \"always\"\n",
    )
    .unwrap();
    let file = crate::common::fixture("redis/failure.events.ndjson");
    let out = run_with_env(
        &[
            "tasks",
            "--config",
            path.to_str().unwrap(),
            "--events",
            &file,
        ],
        &[],
    );
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("\x1b["), "profile colour applies");
    let out = run_with_env(
        &[
            "tasks",
            "--color",
            "never",
            "--config",
            path.to_str().unwrap(),
            "--events",
            &file,
        ],
        &[],
    );
    assert!(!out.stdout.contains("\x1b["), "the flag wins");
}

#[test]
fn prefixes_and_thresholds_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let file = crate::common::fixture("redis/success.events.ndjson");
    std::fs::write(&path, "default_profile = \"p\"\n[profiles.p]\nkey_prefix = \"ct:\"\nqueue_name = \"celtrace.p\"\n[profiles.p.thresholds]\nstuck_in_queue = \"10m\"\n").unwrap();
    let ok = run_with_env(
        &[
            "tasks",
            "--config",
            path.to_str().unwrap(),
            "--events",
            &file,
        ],
        &[],
    );
    assert_eq!(ok.code, 0, "{}", ok.normalized());
    std::fs::write(
        &path,
        "default_profile = \"p\"\n[profiles.p.thresholds]\nstuck_in_queue = \"soon\"\n",
    )
    .unwrap();
    let bad = run_with_env(
        &[
            "tasks",
            "--config",
            path.to_str().unwrap(),
            "--events",
            &file,
        ],
        &[],
    );
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("stuck_in_queue"), "{}", bad.stderr);
}

#[test]
fn a_profile_sets_slas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let file = crate::common::fixture("redis/retry.events.ndjson");
    std::fs::write(
        &path,
        "default_profile = \"p\"\n[profiles.p.sla]\n\"capapp.fl*\" = \"1ms\"\n",
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let out = run_with_env(
        &["anomalies", "--config", config, "--events", &file, "--json"],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.normalized());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rules: Vec<&str> = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["sla"], "{doc:#}");
    assert_eq!(doc["thresholds"]["sla"][0], "capapp.fl*=0.001");
    std::fs::write(
        &path,
        "default_profile = \"p\"\n[profiles.p.sla]\n\"x\" = \"soon\"\n",
    )
    .unwrap();
    let bad = run_with_env(&["anomalies", "--config", config, "--events", &file], &[]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("sla"), "{}", bad.stderr);
}

#[test]
fn a_bad_file_never_shows_the_broker_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    for text in [
        // An unknown key, a wrong type, an unterminated string: each beside a password.
        "[profiles.a]\nbroker = \"redis://:hunter2@h:6379/0\"\nbrokr = 1\n",
        "[profiles.a]\nbroker = \"redis://:hunter2@h:6379/0\"\nread_only = \"yes\"\n",
        "[profiles.a]\nbroker = \"redis://:hunter2@h:6379/0\n",
        "[profiles.a]\nbroker = 5\nresult_backend = \"amqp://u:hunter2@h//\"\n",
    ] {
        std::fs::write(&path, text).unwrap();
        let out = run_with_env(&["tasks", "--config", path.to_str().unwrap()], &[]);
        assert_eq!(out.code, 2, "{text}: {}", out.stderr);
        assert!(
            out.stderr.contains("celtrace::config::parse"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("hunter2"), "{text}: {}", out.stderr);
        assert!(out.stderr.contains("*******"), "{text}: {}", out.stderr);
    }
}
