//! Connecting to Redis (broker or result backend): timeouts, TLS, and errors that say what
//! went wrong without ever echoing a password.

use std::time::Duration;

use super::url::{BrokerKind, BrokerUrl, redact};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum RedisError {
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Redis at {url} refused the credentials: {reason}")]
    Refused { url: String, reason: String },
    #[error("Redis at {url} answered with an error: {reason}")]
    Command { url: String, reason: String },
    #[error("{url} is not a Redis URL")]
    NotRedis { url: String },
}

impl RedisError {
    /// Classifies a client error; `url` is already redacted.
    pub fn from_client(url: &str, e: &redis::RedisError) -> Self {
        let reason = summarize(&redact(&e.to_string()));
        let url = url.to_string();
        let auth = e.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"));
        if auth {
            Self::Refused { url, reason }
        } else if e.is_io_error()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_connection_dropped()
        {
            Self::Unreachable { url, reason }
        } else {
            Self::Command { url, reason }
        }
    }
}

/// A failed pipeline reports one error per command (thousands, all alike): the first one
/// and how many there were is what a person needs.
fn summarize(reason: &str) -> String {
    const ENTRY: &str = "(Index ";
    let Some(list) = ["Pipeline failures: [", "Transaction aborted: ["]
        .iter()
        .find_map(|p| reason.strip_prefix(p))
    else {
        return reason.to_string();
    };
    let count = list.matches(ENTRY).count();
    let first = list
        .split(ENTRY)
        .nth(1)
        .and_then(|e| e.split_once("error: "))
        .map(|(_, msg)| msg.trim_end_matches([']', ')', ',', ' ']))
        .map_or_else(
            || list.to_string(),
            |m| m.split("), ").next().unwrap_or(m).to_string(),
        );
    match count {
        0 | 1 => first,
        n => format!("{first} (and {} more commands of the pipeline)", n - 1),
    }
}

/// An open Redis client for one URL.
#[derive(Clone)]
pub struct Redis {
    pub client: redis::Client,
    pub label: String,
}

impl Redis {
    pub fn new(url: &BrokerUrl) -> Result<Self, RedisError> {
        let label = url.redacted();
        if url.kind != BrokerKind::Redis {
            return Err(RedisError::NotRedis { url: label });
        }
        let client = redis::Client::open(client_url(url).as_str())
            .map_err(|e| RedisError::from_client(&label, &e))?;
        Ok(Self { client, label })
    }

    /// A connection with bounded connect and read times; PING checks credentials at once.
    pub fn connect(&self) -> Result<redis::Connection, RedisError> {
        let fail = |e: redis::RedisError| RedisError::from_client(&self.label, &e);
        let mut conn = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(fail)?;
        conn.set_read_timeout(Some(READ_TIMEOUT)).map_err(fail)?;
        conn.set_write_timeout(Some(READ_TIMEOUT)).map_err(fail)?;
        redis::cmd("PING").query::<()>(&mut conn).map_err(fail)?;
        Ok(conn)
    }

    /// The database number of the URL: Celery's event channels carry it (`/{db}.celeryev/...`).
    pub fn db(&self) -> i64 {
        self.client.get_connection_info().redis_settings().db()
    }

    pub fn fail(&self, e: &redis::RedisError) -> RedisError {
        RedisError::from_client(&self.label, e)
    }

    /// `field` of an `INFO section` answer (`redis_version`, `used_memory`), if there.
    pub fn info_field(&self, section: &str, field: &str) -> Result<Option<String>, RedisError> {
        let mut conn = self.connect()?;
        let text: String = redis::cmd("INFO")
            .arg(section)
            .query(&mut conn)
            .map_err(|e| self.fail(&e))?;
        Ok(text.lines().find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.trim().to_string())
        }))
    }

    /// The bytes a key takes (`MEMORY USAGE`, sampled), when the server tells.
    pub fn memory_usage(&self, key: &str) -> Option<u64> {
        let mut conn = self.connect().ok()?;
        redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(100)
            .query(&mut conn)
            .ok()
    }

    /// A `CONFIG GET` value; `None` when the server refuses CONFIG (managed Redis, ACLs).
    pub fn config_get(&self, name: &str) -> Option<String> {
        let mut conn = self.connect().ok()?;
        let pairs: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query(&mut conn)
            .ok()?;
        pairs.into_iter().nth(1)
    }
}

/// kombu spells sockets `redis+socket:///path` and `unix:///path`; the client wants `unix://`.
fn client_url(url: &BrokerUrl) -> String {
    let raw = url.expose();
    match raw.split_once("://") {
        Some(("redis+socket", rest)) => format!("unix://{rest}"),
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_of_failures_reads_as_one() {
        let many = format!(
            "Pipeline failures: [{}]",
            (0..3)
                .map(|i| format!("(Index {i}, error: \"OOM\": command not allowed when used memory > 'maxmemory'.)"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(
            summarize(&many),
            "\"OOM\": command not allowed when used memory > 'maxmemory'. (and 2 more commands of the pipeline)"
        );
        assert_eq!(summarize("plain"), "plain");
        let aborted = many.replace("Pipeline failures", "Transaction aborted");
        assert!(summarize(&aborted).ends_with("(and 2 more commands of the pipeline)"));
    }
}
