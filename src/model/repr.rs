//! Python reprs as Celery sends them (`args`, `kwargs`, `result`, `exception`): finding the
//! real error behind `ExceptionWithTraceback()`. (Secrets in them: `crate::scrub`.) Pure.

/// The error worth showing: `exception`, or — for the useless `ExceptionWithTraceback()`
/// a hard time limit or a killed pool child produces (trap 7) — the traceback's last line.
pub fn effective_exception<'a>(
    exception: Option<&'a str>,
    traceback: Option<&'a str>,
) -> Option<&'a str> {
    let last_line = || {
        traceback?
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
    };
    match exception {
        Some(e) if e.trim() == "ExceptionWithTraceback()" || e.trim().is_empty() => {
            last_line().or(Some(e))
        }
        Some(e) => Some(e),
        None => last_line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_with_traceback_uses_last_traceback_line() {
        let tb = "Traceback (most recent call last):\n  File x\nbilliard.exceptions.TimeLimitExceeded: TimeLimitExceeded(1,)\n";
        assert_eq!(
            effective_exception(Some("ExceptionWithTraceback()"), Some(tb)),
            Some("billiard.exceptions.TimeLimitExceeded: TimeLimitExceeded(1,)")
        );
        assert_eq!(
            effective_exception(Some("ValueError('boom')"), Some(tb)),
            Some("ValueError('boom')")
        );
        assert_eq!(
            effective_exception(Some("ExceptionWithTraceback()"), None),
            Some("ExceptionWithTraceback()")
        );
        assert_eq!(effective_exception(None, None), None);
    }
}
