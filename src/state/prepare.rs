//! The first half of reducing an event, which needs no access to the state: pick the fields
//! the state keeps, parse ids, intern names. It runs on the decoder threads, so the fold that
//! must be sequential ([`super::State::apply_prepared`]) only does lookups and inserts.

use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use serde_json::value::RawValue;

use super::intern::{Interner, Origin, Sym};
use super::task::{Call, Detail, DetailRef, Mark, MarkKind, NO_RETRIES, RareDetail};
use crate::model::{Event, EventKind, TaskId};
use crate::scrub::Policy;
use crate::short_table::ShortTable;

/// Something that turns strings into [`Sym`]s of the state's interner.
pub trait Syms {
    fn sym(&mut self, s: &str) -> Sym;
    /// The string again, shared (hostnames travel with task events to the worker table).
    fn shared(&mut self, s: &str) -> Arc<str>;
    fn origin(&mut self, host: Sym, pid: u32) -> Origin;
}

impl Syms for Interner {
    fn sym(&mut self, s: &str) -> Sym {
        self.intern(s)
    }
    fn shared(&mut self, s: &str) -> Arc<str> {
        s.into()
    }
    fn origin(&mut self, host: Sym, pid: u32) -> Origin {
        Interner::origin(self, host, pid)
    }
}

/// A per-thread cache in front of an interner shared by the decoder threads: names, hosts and
/// queues take few values, so the lock is taken only on the first sight of each.
pub struct LocalSyms<'a> {
    shared: &'a Mutex<Interner>,
    /// In front of `cache`: most names and hosts are 16 bytes or fewer.
    short: ShortTable<Sym>,
    cache: FxHashMap<Box<str>, Sym>,
    strings: FxHashMap<Box<str>, Arc<str>>,
    origins: FxHashMap<(Sym, u32), Origin>,
}

impl<'a> LocalSyms<'a> {
    pub fn new(shared: &'a Mutex<Interner>) -> Self {
        Self {
            shared,
            short: ShortTable::default(),
            cache: FxHashMap::default(),
            strings: FxHashMap::default(),
            origins: FxHashMap::default(),
        }
    }
}

impl Syms for LocalSyms<'_> {
    fn sym(&mut self, s: &str) -> Sym {
        if let Some(sym) = self.short.get(s) {
            return sym;
        }
        if let Some(&sym) = self.cache.get(s) {
            self.short.put(s, sym);
            return sym;
        }
        let sym = match self.shared.lock() {
            Ok(mut i) => i.intern(s),
            Err(poisoned) => poisoned.into_inner().intern(s),
        };
        self.cache.insert(s.into(), sym);
        self.short.put(s, sym);
        sym
    }

    fn shared(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        self.strings.insert(s.into(), a.clone());
        a
    }

    fn origin(&mut self, host: Sym, pid: u32) -> Origin {
        if let Some(&o) = self.origins.get(&(host, pid)) {
            return o;
        }
        let o = match self.shared.lock() {
            Ok(mut i) => i.origin(host, pid),
            Err(poisoned) => poisoned.into_inner().origin(host, pid),
        };
        self.origins.insert((host, pid), o);
        o
    }
}

/// A task event, ready to fold.
#[derive(Debug, Clone)]
pub struct TaskUpdate {
    pub id: TaskId,
    pub name: Option<Sym>,
    /// `args` and `kwargs`, only when the event carries the task's identity.
    pub call: Option<Call>,
    pub root_id: Option<TaskId>,
    pub parent_id: Option<TaskId>,
    pub route: [Option<Sym>; 3],
    pub mark: Mark,
    /// The payload the mark carries, stored by the fold in the state's detail table.
    pub detail: Option<Detail>,
    /// Worker main process the event proves alive (not for `task-sent` or custom events).
    pub worker: Option<(Arc<str>, u64)>,
}

/// An event prepared for [`super::State::apply_prepared`].
#[derive(Debug, Clone)]
// Task events are nearly all events: keeping them inline (and boxing the rare rest) is the
// point, so the size difference is intended.
#[allow(clippy::large_enum_variant)]
pub enum Prepared {
    /// Inline rather than boxed: a copy into the batch is cheaper than an allocation.
    Task(TaskUpdate),
    /// Worker, celtrace and unknown events are rare: kept whole.
    Other(Box<Event<'static>>),
}

impl Prepared {
    pub fn time(&self) -> Option<f64> {
        match self {
            Self::Task(t) => Some(t.mark.time).filter(|t| *t > 0.0),
            Self::Other(e) => e.time(),
        }
    }
}

fn boxed(s: Option<&str>) -> Option<Box<str>> {
    s.map(Into::into)
}

/// Prepares one event; `scrub` filters the secrets out of what the state keeps (arguments,
/// results, exceptions, tracebacks, custom fields), so no output can show them.
pub fn prepare(ev: &Event<'_>, syms: &mut dyn Syms, scrub: &Policy) -> Prepared {
    let Some(uuid) = ev.uuid.as_deref().filter(|_| ev.kind.is_task()) else {
        let mut owned = ev.clone().into_owned();
        scrub.event(&mut owned);
        return Prepared::Other(Box::new(owned));
    };
    let kind = match ev.kind {
        EventKind::TaskSent => MarkKind::Sent,
        EventKind::TaskReceived => MarkKind::Received,
        EventKind::TaskStarted => MarkKind::Started,
        EventKind::TaskSucceeded => MarkKind::Succeeded,
        EventKind::TaskFailed => MarkKind::Failed,
        EventKind::TaskRetried => MarkKind::Retried,
        EventKind::TaskRevoked => MarkKind::Revoked,
        EventKind::TaskRejected => MarkKind::Rejected,
        EventKind::TaskCancelled => MarkKind::Cancelled,
        _ => MarkKind::Custom,
    };
    let id = TaskId::parse(uuid);
    let name = ev.name.as_deref().map(|n| syms.sym(n));
    let route = [
        ev.queue.as_deref(),
        ev.exchange.as_deref(),
        ev.routing_key.as_deref(),
    ]
    .map(|s| s.map(|s| syms.sym(s)));
    let mut flags = 0;
    if name.is_some() {
        flags |= Mark::IDENTITY;
    }
    if route.iter().any(Option::is_some) {
        flags |= Mark::ROUTE;
    }
    let pid = ev.pid.unwrap_or(0);
    let host = syms.sym(ev.hostname.as_deref().unwrap_or(""));
    let mark = Mark {
        time: ev.time().unwrap_or(0.0),
        clock: ev.clock.unwrap_or(0) as u32,
        origin: syms.origin(host, pid.min(u64::from(u32::MAX)) as u32),
        detail: DetailRef::NONE,
        kind,
        flags,
        retries: ev
            .retries
            .map_or(NO_RETRIES, |r| r.min(u64::from(NO_RETRIES - 1)) as u16),
    };
    let detail = detail(kind, ev, scrub);
    let identity = name.is_some();
    let call = identity.then(|| {
        let args = ev.args.as_deref().map(|s| scrub.text(s));
        let kwargs = ev.kwargs.as_deref().map(|s| scrub.text(s));
        Call::new(args.as_deref(), kwargs.as_deref())
    });
    Prepared::Task(TaskUpdate {
        name,
        call,
        root_id: ev
            .root_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(TaskId::parse),
        // A retried message names the task itself as its parent (trap 8): not a parent.
        parent_id: ev
            .parent_id
            .as_deref()
            .filter(|p| !p.is_empty() && !id.is(p))
            .map(TaskId::parse),
        id,
        route,
        // `task-sent` comes from the producer and custom events from a pool child: neither
        // says anything about the worker main process's session.
        worker: match (kind, ev.hostname.as_deref()) {
            (MarkKind::Sent | MarkKind::Custom, _) | (_, None) => None,
            (_, Some(h)) => Some((syms.shared(h), pid)),
        },
        mark,
        detail,
    })
}

fn own_fields(ev: &Event<'_>, scrub: &Policy) -> Vec<(Box<str>, Box<RawValue>)> {
    ev.extra
        .iter()
        .map(|(k, v)| {
            let v = scrub
                .raw_field(k, v)
                .unwrap_or_else(|| v.as_ref().to_owned());
            (k.as_ref().into(), v)
        })
        .collect()
}

fn detail(kind: MarkKind, ev: &Event<'_>, scrub: &Policy) -> Option<Detail> {
    let text = |s: &Option<std::borrow::Cow<'_, str>>| -> Option<Box<str>> {
        s.as_deref().map(|s| scrub.text(s).into())
    };
    let rare = |r: RareDetail| Detail::new(None, None, Some(r));
    let d = match kind {
        MarkKind::Sent | MarkKind::Received if ev.eta.is_some() || ev.expires.is_some() => {
            rare(RareDetail {
                eta: boxed(ev.eta.as_deref()),
                expires: boxed(ev.expires.as_deref()),
                ..RareDetail::default()
            })
        }
        MarkKind::Succeeded => Detail::new(text(&ev.result), ev.runtime, None),
        MarkKind::Failed | MarkKind::Retried => {
            let traceback = text(&ev.traceback).map(|tb| RareDetail {
                traceback: Some(tb),
                ..RareDetail::default()
            });
            Detail::new(text(&ev.exception), None, traceback)
        }
        MarkKind::Revoked => rare(RareDetail {
            terminated: ev.terminated,
            signum: ev.signum,
            expired: ev.expired,
            ..RareDetail::default()
        }),
        MarkKind::Rejected => rare(RareDetail {
            requeue: ev.requeue,
            ..RareDetail::default()
        }),
        MarkKind::Custom => rare(RareDetail {
            custom_type: Some(ev.type_name.as_ref().into()),
            fields: own_fields(ev, scrub),
            ..RareDetail::default()
        }),
        _ => return None,
    };
    Some(d)
}
