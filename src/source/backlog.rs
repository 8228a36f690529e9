//! The recorder's backlog: what the subscribers received and the writer has not yet written,
//! bounded in bytes. A message that would pass the bound is dropped on arrival and tallied,
//! so the writer can record exactly what is missing as a `lagged` gap.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Default bound of the backlog (received, not yet written), in payload bytes.
pub const DEFAULT_LIMIT: u64 = 64 << 20;

/// Messages dropped at the bound since the last [`Backlog::take_dropped`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub messages: u64,
    pub events: u64,
    pub bytes: u64,
    /// Arrival time of the first and the last dropped message (epoch seconds).
    pub from: f64,
    pub to: f64,
}

#[derive(Debug)]
pub struct Backlog {
    limit: u64,
    bytes: AtomicU64,
    messages: AtomicU64,
    dropped: Mutex<Option<Dropped>>,
}

impl Backlog {
    pub fn new(limit: u64) -> Self {
        Self {
            limit: limit.max(1),
            bytes: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            dropped: Mutex::new(None),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes a message of `len` bytes into the backlog, or tallies it as dropped (with the
    /// number of events it held, counted only then) when the backlog is full. A message
    /// larger than the whole bound is still taken into an empty backlog: the bound is on
    /// what waits, and one message is never a wait.
    pub fn admit(&self, len: u64, at: f64, events: impl FnOnce() -> u64) -> bool {
        let before = self.bytes.load(Ordering::Acquire);
        if before > 0 && before.saturating_add(len) > self.limit {
            let events = events();
            if let Ok(mut d) = self.dropped.lock() {
                let d = d.get_or_insert(Dropped {
                    messages: 0,
                    events: 0,
                    bytes: 0,
                    from: at,
                    to: at,
                });
                d.messages += 1;
                d.events += events;
                d.bytes += len;
                d.from = d.from.min(at);
                d.to = d.to.max(at);
            }
            return false;
        }
        self.bytes.fetch_add(len, Ordering::AcqRel);
        self.messages.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// The writer wrote (or gave up on, as a counted gap) messages worth `len` bytes.
    pub fn release(&self, messages: u64, len: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(len))
            });
        let _ = self
            .messages
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                Some(m.saturating_sub(messages))
            });
    }

    /// Bytes and messages waiting now.
    pub fn level(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Acquire),
            self.messages.load(Ordering::Acquire),
        )
    }

    /// The drops since the last call, if any.
    pub fn take_dropped(&self) -> Option<Dropped> {
        self.dropped.lock().ok().and_then(|mut d| d.take())
    }

    /// Whether there are drops not yet taken.
    pub fn has_dropped(&self) -> bool {
        self.dropped.lock().is_ok_and(|d| d.is_some())
    }
}

/// `64 MiB`, `1.5 GiB`: a size for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if v >= 10.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_backlog_drops_and_tallies_what_it_refused() {
        let b = Backlog::new(100);
        assert!(b.admit(60, 1.0, || unreachable!()));
        assert!(b.admit(40, 2.0, || unreachable!()));
        assert!(!b.admit(1, 3.0, || 5));
        assert!(!b.admit(10, 2.5, || 2));
        assert_eq!(b.level(), (100, 2));
        b.release(1, 60);
        assert!(b.admit(50, 4.0, || unreachable!()));
        let d = b.take_dropped().unwrap();
        assert_eq!(
            d,
            Dropped {
                messages: 2,
                events: 7,
                bytes: 11,
                from: 2.5,
                to: 3.0
            }
        );
        assert!(b.take_dropped().is_none());
    }

    #[test]
    fn one_message_larger_than_the_bound_still_passes_an_empty_backlog() {
        let b = Backlog::new(10);
        assert!(b.admit(1000, 1.0, || 1));
        assert!(!b.admit(1, 1.0, || 1));
        b.release(1, 1000);
        assert_eq!(b.level(), (0, 0));
        b.release(5, 5000);
        assert_eq!(b.level(), (0, 0));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
    }
}
