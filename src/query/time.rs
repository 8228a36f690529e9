//! `--since` / `--until` values: a duration back from now (`15m`, `2h`, `1d`, `1h30m`) or an
//! RFC 3339 instant. Pure: `now` is an argument.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "`{input}` is neither a duration (15m, 2h, 1d) nor an RFC 3339 time (2026-11-22T07:47:00Z)"
)]
pub struct TimeParseError {
    pub input: String,
}

/// Resolves a bound to UTC epoch seconds.
pub fn parse_bound(input: &str, now: DateTime<Utc>) -> Result<f64, TimeParseError> {
    let s = input.trim();
    let err = || TimeParseError {
        input: input.to_string(),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(epoch(t.with_timezone(&Utc)));
    }
    // `humantime` spells days `d` and also accepts `1h30m`, `90s`, `2days`.
    let d = humantime::parse_duration(s).map_err(|_| err())?;
    let d = chrono::Duration::from_std(d).map_err(|_| err())?;
    Ok(epoch(now.checked_sub_signed(d).ok_or_else(err)?))
}

pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

/// Epoch seconds to a UTC time, rounded to the microsecond (what Celery's floats carry).
pub fn from_epoch(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let micros = (secs * 1e6).round();
    if micros.abs() > 9.0e18 {
        return None;
    }
    DateTime::from_timestamp_micros(micros as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn durations_count_back_from_now() {
        let n = epoch(now());
        assert_eq!(parse_bound("15m", now()).unwrap(), n - 900.0);
        assert_eq!(parse_bound("1d", now()).unwrap(), n - 86400.0);
        assert_eq!(parse_bound("1h30m", now()).unwrap(), n - 5400.0);
    }

    #[test]
    fn rfc3339_is_absolute() {
        let t = parse_bound("2026-11-22T07:00:00+01:00", now()).unwrap();
        assert_eq!(t, epoch(now()) - 7200.0);
        assert_eq!(
            parse_bound("2026-11-22T07:47:00.5Z", now()).unwrap() % 1.0,
            0.5
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in ["", "yesterday", "15 x", "2026-13-01T00:00:00Z", "-5m"] {
            assert!(parse_bound(bad, now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn epoch_round_trips_to_the_microsecond() {
        let t = from_epoch(1795333620.855_151_7).unwrap();
        assert_eq!(
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "2026-11-22T07:47:00.855152Z"
        );
        assert!(from_epoch(f64::NAN).is_none());
        assert!(from_epoch(1e300).is_none());
    }
}
