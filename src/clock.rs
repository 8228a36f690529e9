//! The one place that reads the wall clock. Tests fix "now" with the hidden `CELTRACE_NOW`
//! (RFC 3339), the way jj's tests set `JJ_TIMESTAMP`.

use chrono::{DateTime, Utc};

/// Name of the hidden variable that fixes "now".
pub const NOW_VAR: &str = "CELTRACE_NOW";

/// "Now", from `CELTRACE_NOW` if it is set to a valid RFC 3339 time, else the system clock.
#[allow(clippy::disallowed_methods)] // this is the clock's one home
pub fn now() -> DateTime<Utc> {
    std::env::var(NOW_VAR)
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

/// The real time in epoch seconds, for stamping what arrives from a broker (never fixed by
/// `CELTRACE_NOW`: receive times are facts).
pub fn wall_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
