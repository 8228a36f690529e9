//! Workers and their sessions. A session is one run of a worker main process: a restart
//! under the same hostname has a new pid and its clock starts again at 1 (docs/protocol.md §3.3,
//! trap 10), so sessions are keyed by pid.

use std::collections::BTreeMap;

/// Celery's default heartbeat interval (seconds) when an event does not say.
pub const DEFAULT_FREQ: f64 = 2.0;

/// Celery and Flower call a worker offline once `2 × freq` passed since its last heartbeat.
pub const HEARTBEAT_EXPIRE_FACTOR: f64 = 2.0;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Session {
    pub pid: u64,
    pub online_at: Option<f64>,
    pub offline_at: Option<f64>,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Sender timestamp of the newest heartbeat (or online event).
    pub last_heartbeat: Option<f64>,
    /// When the newest heartbeat was received, if the recording says.
    pub last_heartbeat_received: Option<f64>,
    pub freq: Option<f64>,
    pub active: Option<u64>,
    pub processed: Option<u64>,
    pub loadavg: Option<[f64; 3]>,
    pub sw_ident: Option<Box<str>>,
    pub sw_ver: Option<Box<str>>,
    pub sw_sys: Option<Box<str>>,
    pub utcoffset: Option<f64>,
}

/// How a session looks at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Online,
    /// Said goodbye (`worker-offline`).
    Offline,
    /// Heartbeats stopped without a goodbye (killed, or the network dropped).
    Lost,
    /// Superseded by a newer session of the same hostname (restarted).
    Restarted,
}

impl Session {
    /// The heartbeat interval the worker announced, or Celery's default.
    pub fn interval(&self) -> f64 {
        self.freq.filter(|f| *f > 0.0).unwrap_or(DEFAULT_FREQ)
    }

    /// When the session ended: its goodbye, else its last sign of life if it is not online.
    pub fn ended_at(&self, liveness: Liveness) -> Option<f64> {
        match liveness {
            Liveness::Online => None,
            Liveness::Offline => self.offline_at,
            Liveness::Lost | Liveness::Restarted => Some(self.last_seen),
        }
    }

    fn new(pid: u64, time: f64) -> Self {
        Self {
            pid,
            first_seen: time,
            last_seen: time,
            ..Self::default()
        }
    }

    /// Liveness at `horizon` (the moment the data reaches; see [`super::State::horizon`]).
    pub fn liveness(&self, horizon: f64) -> Liveness {
        self.liveness_after(horizon, HEARTBEAT_EXPIRE_FACTOR)
    }

    /// Liveness when a worker counts as lost once `factor × freq` passed without a heartbeat.
    pub fn liveness_after(&self, horizon: f64, factor: f64) -> Liveness {
        if self.offline_at.is_some() {
            return Liveness::Offline;
        }
        let last = self.last_heartbeat.unwrap_or(self.last_seen);
        if horizon - last > self.interval() * factor {
            Liveness::Lost
        } else {
            Liveness::Online
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub hostname: Box<str>,
    pub sessions: BTreeMap<u64, Session>,
    /// Worker events celtrace does not model (`worker-elect`, ...), by type.
    pub other_events: BTreeMap<Box<str>, u64>,
}

/// The worker-level facts of one event, as the reducer hands them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    Online,
    Heartbeat,
    Offline,
}

impl Worker {
    pub fn new(hostname: &str) -> Self {
        Self {
            hostname: hostname.into(),
            ..Self::default()
        }
    }

    /// A task event from the worker main process `pid`: proof of life, nothing more.
    pub fn touch_activity(&mut self, pid: u64, time: f64) {
        let s = self
            .sessions
            .entry(pid)
            .or_insert_with(|| Session::new(pid, time));
        s.first_seen = s.first_seen.min(time);
        s.last_seen = s.last_seen.max(time);
    }

    /// Folds one event into the session of `pid`. Every merge is a min, a max or "value of the
    /// newest heartbeat", so the result does not depend on the order events arrive in.
    pub fn touch(&mut self, pid: u64, time: f64, touch: Touch, ev: &crate::model::Event<'_>) {
        let s = self
            .sessions
            .entry(pid)
            .or_insert_with(|| Session::new(pid, time));
        s.first_seen = s.first_seen.min(time);
        s.last_seen = s.last_seen.max(time);
        match touch {
            Touch::Online => s.online_at = Some(s.online_at.map_or(time, |t| t.min(time))),
            Touch::Offline => s.offline_at = Some(s.offline_at.map_or(time, |t| t.max(time))),
            Touch::Heartbeat => {}
        }
        if s.sw_ver.is_none() {
            s.sw_ident = ev.sw_ident.as_deref().map(Into::into);
            s.sw_ver = ev.sw_ver.as_deref().map(Into::into);
            s.sw_sys = ev.sw_sys.as_deref().map(Into::into);
        }
        if s.utcoffset.is_none() {
            s.utcoffset = ev.utcoffset;
        }
        // The wake-up heartbeat (answer to a `heartbeat` broadcast) has `freq: 5` and no
        // counters (docs/protocol.md §2.2); it proves life but must not set the interval.
        let is_wakeup = ev.active.is_none() && ev.processed.is_none();
        if is_wakeup && touch == Touch::Heartbeat {
            if s.last_heartbeat.is_none_or(|t| time > t) {
                s.last_heartbeat = Some(time);
                s.last_heartbeat_received = ev.local_received;
            }
            return;
        }
        if s.last_heartbeat.is_none_or(|t| time >= t) {
            s.last_heartbeat = Some(time);
            s.last_heartbeat_received = ev.local_received;
            s.freq = ev.freq.or(s.freq);
            s.active = ev.active.or(s.active);
            s.processed = ev.processed.or(s.processed);
            s.loadavg = ev.loadavg.or(s.loadavg);
        }
    }

    /// Liveness of a session, knowing whether a newer session replaced it.
    pub fn session_liveness(&self, pid: u64, horizon: f64) -> Option<Liveness> {
        self.session_liveness_after(pid, horizon, HEARTBEAT_EXPIRE_FACTOR)
    }

    /// [`Self::session_liveness`] with a chosen heartbeat factor (see [`Session::liveness_after`]).
    pub fn session_liveness_after(&self, pid: u64, horizon: f64, factor: f64) -> Option<Liveness> {
        let s = self.sessions.get(&pid)?;
        let newer = self
            .sessions
            .values()
            .any(|o| o.pid != pid && o.first_seen > s.first_seen);
        Some(match s.liveness_after(horizon, factor) {
            Liveness::Online | Liveness::Lost if newer => Liveness::Restarted,
            l => l,
        })
    }
}
