//! The configuration file: named profiles, so one engineer can query staging and production
//! without retyping URLs. Parsing and profile selection are pure; `ctx.rs` finds and reads
//! the file.
//!
//! ```toml
//! default_profile = "staging"
//!
//! [profiles.staging]
//! broker = "redis://staging-redis:6379/0"
//! result_backend = "redis://staging-redis:6379/1"
//! broker_password_env = "STAGING_REDIS_PASSWORD"   # or broker_password_file = "/run/secrets/x"
//! read_only = true
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profile used when neither `--profile` nor `CELTRACE_PROFILE` names one.
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub broker: Option<String>,
    pub result_backend: Option<String>,
    /// Environment variable holding the broker password (kept out of the file).
    pub broker_password_env: Option<String>,
    /// File holding the broker password (e.g. a mounted secret).
    pub broker_password_file: Option<PathBuf>,
    pub result_backend_password_env: Option<String>,
    pub result_backend_password_file: Option<PathBuf>,
    /// Refuse commands that change anything (retry, revoke).
    pub read_only: Option<bool>,
    /// `auto`, `always` or `never`, unless `--color` says otherwise.
    pub color: Option<String>,
    /// Prefix of celtrace's Redis keys (recorded stream, index); for the Redis recorder.
    pub key_prefix: Option<String>,
    /// Name of the RabbitMQ stream queue holding the history; for the RabbitMQ recorder.
    pub queue_name: Option<String>,
    /// Default anomaly thresholds by rule (e.g. `stuck_in_queue = "10m"`); durations.
    #[serde(default)]
    pub thresholds: BTreeMap<String, String>,
    /// Keys whose values are filtered besides the default list (matched inside keys).
    /// `[profiles.NAME.sla]`: task-name glob to a runtime limit (`"2s"`) or a queue-wait
    /// limit (`"wait:5s"`), for the `sla` anomaly rule.
    #[serde(default)]
    pub sla: BTreeMap<String, String>,
    #[serde(default)]
    pub scrub_keys: Vec<String>,
    /// Keys never filtered by key (e.g. `token_count`); shaped secrets in them still are.
    #[serde(default)]
    pub safe_keys: Vec<String>,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    #[error("the configuration file is not valid: {message}")]
    #[diagnostic(
        code(celtrace::config::parse),
        help(
            "profiles are tables `[profiles.NAME]` with keys broker, result_backend, broker_password_env, broker_password_file, result_backend_password_env, result_backend_password_file, read_only, color, key_prefix, queue_name, scrub_keys, safe_keys, and a `thresholds` table"
        )
    )]
    Parse {
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: Option<SourceSpan>,
    },
    #[error("no profile `{name}` in {path}")]
    #[diagnostic(code(celtrace::config::profile), help("profiles there: {}", if available.is_empty() { "none".to_string() } else { available.join(", ") }))]
    UnknownProfile {
        name: String,
        path: String,
        available: Vec<String>,
    },
    #[error("cannot read {what}")]
    #[diagnostic(
        code(celtrace::config::read),
        help("check the path and its permissions")
    )]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("profile `{profile}` takes the broker password from `{var}`, which is not set")]
    #[diagnostic(
        code(celtrace::config::password),
        help("export {var}=..., or give the password in the URL or a password file")
    )]
    MissingPasswordVar { profile: String, var: String },
}

/// Parses a configuration file's text; `path` names it in diagnostics.
pub fn parse(text: &str, path: &str) -> Result<ConfigFile, ConfigError> {
    // The quoted file and the parser's message may hold a broker URL: never its password.
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        message: crate::source::url::mask_credentials(e.message()),
        src: NamedSource::new(path, crate::source::url::mask_credentials(text)),
        span: e.span().map(|r| SourceSpan::new(r.start.into(), r.len())),
    })
}

/// The profile to use: the named one (must exist), else the file's default, else none.
pub fn select<'a>(
    cfg: &'a ConfigFile,
    name: Option<&str>,
    path: &str,
) -> Result<Option<&'a Profile>, ConfigError> {
    let Some(name) = name.or(cfg.default_profile.as_deref()) else {
        return Ok(None);
    };
    cfg.profiles
        .get(name)
        .map(Some)
        .ok_or_else(|| ConfigError::UnknownProfile {
            name: name.to_string(),
            path: path.to_string(),
            available: cfg.profiles.keys().cloned().collect(),
        })
}

/// Puts `password` into a URL that has none (`scheme://[user]@host` → `scheme://[user]:pw@host`),
/// percent-encoding it. A URL that already carries a password is left alone.
pub fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => return url.to_string(),
        Some((user, host)) => (user, host),
        None => ("", authority),
    };
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{scheme}://{user}:{encoded}@{host}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
default_profile = "staging"

[profiles.staging]
broker = "redis://staging:6379/0"
read_only = true

[profiles.prod]
broker = "amqp://celery@rabbit/prod"
broker_password_env = "PROD_PW"
key_prefix = "ct:"
queue_name = "celtrace.prod"

[profiles.prod.thresholds]
stuck_in_queue = "10m"
"#;

    #[test]
    fn profiles_and_default() {
        let cfg = parse(FILE, "c.toml").unwrap();
        assert_eq!(
            select(&cfg, None, "c.toml")
                .unwrap()
                .unwrap()
                .broker
                .as_deref(),
            Some("redis://staging:6379/0")
        );
        let prod = select(&cfg, Some("prod"), "c.toml").unwrap().unwrap();
        assert_eq!(prod.broker_password_env.as_deref(), Some("PROD_PW"));
        assert_eq!(
            (prod.key_prefix.as_deref(), prod.queue_name.as_deref()),
            (Some("ct:"), Some("celtrace.prod"))
        );
        assert_eq!(prod.thresholds["stuck_in_queue"], "10m");
        let err = select(&cfg, Some("dev"), "c.toml").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownProfile { available, .. } if available == &["prod", "staging"])
        );
        assert!(select(&ConfigFile::default(), None, "x").unwrap().is_none());
    }

    #[test]
    fn bad_files_point_at_the_problem() {
        let err = parse("[profiles.a]\nbroker = 5\n", "c.toml").unwrap_err();
        let ConfigError::Parse { span, .. } = err else {
            panic!()
        };
        assert_eq!(
            span.map(|s| s.offset()),
            Some(22),
            "points at the value on line 2"
        );
        assert!(
            parse("[profiles.a]\nbrokr = \"x\"\n", "c.toml").is_err(),
            "unknown keys are errors"
        );
        assert!(parse("not toml at all [", "c.toml").is_err());
    }

    #[test]
    fn passwords_go_into_the_url_encoded() {
        assert_eq!(
            with_password("redis://h:6379/0", "p@ss:w/rd"),
            "redis://:p%40ss%3Aw%2Frd@h:6379/0"
        );
        assert_eq!(
            with_password("amqp://celery@rabbit/prod", "x"),
            "amqp://celery:x@rabbit/prod"
        );
        assert_eq!(
            with_password("amqp://u:already@h/", "x"),
            "amqp://u:already@h/"
        );
    }
}
