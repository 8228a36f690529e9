//! Formatting of times and durations for people (tables, timelines) and for JSON.

use chrono::{DateTime, Local, SecondsFormat, Utc};

use crate::query::time::from_epoch;

/// RFC 3339 UTC with microseconds: the JSON contract's time format.
pub fn rfc3339(secs: f64) -> Option<String> {
    from_epoch(secs).map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Which clock people read times in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    Local,
}

/// `07:47:03.899` for today, `2026-11-21 07:47:03` otherwise (in the chosen zone).
pub fn clock_time(secs: f64, zone: Zone, now: DateTime<Utc>) -> String {
    let Some(t) = from_epoch(secs) else {
        return "-".into();
    };
    match zone {
        Zone::Utc => stamp(t, now),
        Zone::Local => stamp(t.with_timezone(&Local), now.with_timezone(&Local)),
    }
}

fn stamp<Tz: chrono::TimeZone>(t: DateTime<Tz>, now: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M:%S%.3f").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// Time of day with milliseconds, for timelines (the header carries the date).
pub fn time_of_day(secs: f64, zone: Zone) -> String {
    let Some(t) = from_epoch(secs) else {
        return "-".into();
    };
    match zone {
        Zone::Utc => t.format("%H:%M:%S%.3f").to_string(),
        Zone::Local => t.with_timezone(&Local).format("%H:%M:%S%.3f").to_string(),
    }
}

/// Full time with date and milliseconds, for headers.
pub fn full_time(secs: f64, zone: Zone) -> String {
    let Some(t) = from_epoch(secs) else {
        return "-".into();
    };
    match zone {
        Zone::Utc => t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        Zone::Local => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S%.3f %:z")
            .to_string(),
    }
}

/// `850µs`, `12ms`, `1.25s`, `2m03s`, `1h02m`, `3d04h`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "-".into();
    }
    let s = secs.max(0.0);
    if s < 0.001 {
        format!("{}µs", (s * 1e6).round() as u64)
    } else if s < 1.0 {
        format!("{}ms", (s * 1e3).round() as u64)
    } else if s < 60.0 {
        format!("{s:.2}s")
    } else if s < 3600.0 {
        let m = (s / 60.0).floor();
        format!("{}m{:02}s", m as u64, (s - m * 60.0).floor() as u64)
    } else if s < 86400.0 {
        let h = (s / 3600.0).floor();
        format!(
            "{}h{:02}m",
            h as u64,
            ((s - h * 3600.0) / 60.0).floor() as u64
        )
    } else {
        let d = (s / 86400.0).floor();
        format!(
            "{}d{:02}h",
            d as u64,
            ((s - d * 86400.0) / 3600.0).floor() as u64
        )
    }
}

/// `5m ago`, `2d ago`, `in 30s`.
/// The footer of a table whose ages are measured before now: celtrace judges data as of its
/// newest event (docs/architecture.md §7), so a recording read a week later says "stuck for
/// 5m", not "stuck for 7d". Nothing when the as-of moment is within a minute of now.
pub fn as_of_footer(
    horizon: f64,
    ctx: &super::RenderCtx,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use owo_colors::OwoColorize;
    if ctx.at.is_none() && crate::query::time::epoch(ctx.now) - horizon <= 60.0 {
        return Ok(());
    }
    writeln!(out)?;
    let moment = if ctx.at.is_some_and(|at| horizon >= at) {
        "--at"
    } else {
        "the newest event"
    };
    let text = format!(
        "Status and ages are as of {moment}, {} ({}).",
        full_time(horizon, ctx.zone),
        relative(horizon, ctx.now)
    );
    writeln!(out, "{}", text.style(ctx.styles.muted))
}

/// An epoch second as a time (the Unix epoch when out of range).
pub fn at(secs: f64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros((secs * 1e6) as i64).unwrap_or_default()
}

pub fn relative(secs: f64, now: DateTime<Utc>) -> String {
    let now = crate::query::time::epoch(now);
    let delta = now - secs;
    let coarse = |d: f64| {
        let d = d.abs();
        if d < 60.0 {
            format!("{}s", d.floor() as u64)
        } else if d < 3600.0 {
            format!("{}m", (d / 60.0).floor() as u64)
        } else if d < 86400.0 {
            format!("{}h", (d / 3600.0).floor() as u64)
        } else {
            format!("{}d", (d / 86400.0).floor() as u64)
        }
    };
    if delta >= 0.0 {
        format!("{} ago", coarse(delta))
    } else {
        format!("in {}", coarse(delta))
    }
}

/// Text from events made safe for a terminal: control characters (C0 and C1, ESC and BEL
/// among them) are shown escaped (`\u{1b}`), so data never drives the terminal. Line breaks
/// and tabs become `\n` and `\t`.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

pub use crate::query::count;

/// Cuts a one-line value to `max` characters with an ellipsis.
pub fn ellipsize(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(printable("x\u{9b}y\nz"), "x\\u{9b}y\\nz");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(0.000_85), "850µs");
        assert_eq!(duration(0.012), "12ms");
        assert_eq!(duration(1.254), "1.25s");
        assert_eq!(duration(123.0), "2m03s");
        assert_eq!(duration(3720.0), "1h02m");
        assert_eq!(duration(90000.0), "1d01h");
        assert_eq!(duration(f64::NAN), "-");
    }

    #[test]
    fn rfc3339_has_microseconds_and_z() {
        assert_eq!(
            rfc3339(1795333620.8551517).unwrap(),
            "2026-11-22T07:47:00.855152Z"
        );
    }

    #[test]
    fn clock_time_shows_the_date_only_when_not_today() {
        let now = from_epoch(1795333700.0).unwrap();
        assert_eq!(
            clock_time(1795333620.8551517, Zone::Utc, now),
            "07:47:00.855"
        );
        assert_eq!(
            clock_time(1795333620.0 - 86400.0, Zone::Utc, now),
            "2026-11-21 07:47:00"
        );
        assert_eq!(relative(1795333620.0, now), "1m ago");
    }
}
