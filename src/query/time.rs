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

/// What `--at` names: a moment, or a moment relative to a task's first event.
#[derive(Debug, Clone, PartialEq)]
pub enum AtSpec {
    Time(f64),
    /// `3f2a+2.5s`: the first event of the task this id or prefix names, plus `offset`
    /// seconds (negative for `-`).
    Task {
        prefix: String,
        offset: f64,
    },
}

/// Parses `--at`: RFC 3339, a duration back from now (`15m`), or a task id or prefix with an
/// optional `+DURATION` or `-DURATION` (`3f2a`, `3f2a+2.5s`, `3f2a-500ms`).
pub fn parse_at(input: &str, now: DateTime<Utc>) -> Result<AtSpec, TimeParseError> {
    let s = input.trim();
    if let Ok(t) = parse_bound(s, now) {
        return Ok(AtSpec::Time(t));
    }
    let err = || TimeParseError {
        input: input.to_string(),
    };
    let duration = |d: &str| {
        humantime::parse_duration(d.trim())
            .ok()
            .map(|d| d.as_secs_f64())
    };
    // `+DURATION` or `-DURATION` at the end; a dash followed by more of an id (`3f2a9c1e-12`)
    // is part of the prefix.
    let (prefix, offset) = match s.rfind(['+', '-']) {
        Some(i) if s[i..].starts_with('+') => (&s[..i], duration(&s[i + 1..]).ok_or_else(err)?),
        Some(i) => match duration(&s[i + 1..]) {
            Some(d) => (&s[..i], -d),
            None => (s, 0.0),
        },
        None => (s, 0.0),
    };
    let is_id = prefix.len() >= 4 && prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !is_id {
        return Err(err());
    }
    Ok(AtSpec::Task {
        prefix: prefix.to_ascii_lowercase(),
        offset,
    })
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
    fn at_is_a_time_a_duration_ago_or_a_task_and_an_offset() {
        let n = epoch(now());
        assert_eq!(parse_at("15m", now()).unwrap(), AtSpec::Time(n - 900.0));
        assert_eq!(
            parse_at("2026-11-22T07:00:00Z", now()).unwrap(),
            AtSpec::Time(n - 3600.0)
        );
        let task = |p: &str, o: f64| AtSpec::Task {
            prefix: p.to_string(),
            offset: o,
        };
        assert_eq!(parse_at("3F2A", now()).unwrap(), task("3f2a", 0.0));
        assert_eq!(parse_at("3f2a+2.5s", now()).unwrap(), task("3f2a", 2.5));
        assert_eq!(parse_at("3f2a-500ms", now()).unwrap(), task("3f2a", -0.5));
        assert_eq!(
            parse_at("3f2a9c1e-12", now()).unwrap(),
            task("3f2a9c1e-12", 0.0)
        );
        let full = "3f2a9c1e-1234-4000-8000-00000000abcd";
        assert_eq!(
            parse_at(&format!("{full}+1m"), now()).unwrap(),
            task(full, 60.0)
        );
        assert!(parse_at("3f2a+soon", now()).is_err());
        assert!(parse_at("yesterday", now()).is_err());
        assert!(parse_at("3f+1s", now()).is_err());
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
