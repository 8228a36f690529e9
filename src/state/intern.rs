//! Interned strings: task names, hostnames and queues repeat millions of times but take few
//! distinct values, so tasks hold a 4-byte [`Sym`] instead of a string.

use rustc_hash::FxHashMap;

/// An interned string; resolve it with [`Interner::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(u32);

impl Sym {
    /// "No value", so optional symbols take 4 bytes instead of 8.
    pub const NONE: Sym = Sym(u32::MAX);

    pub fn get(self) -> Option<Sym> {
        (self != Self::NONE).then_some(self)
    }

    pub fn from_option(s: Option<Sym>) -> Sym {
        s.unwrap_or(Self::NONE)
    }
}

/// Who sent an event: a node name and a process id, interned together so a mark holds
/// 4 bytes for both (worker main processes, pool children and producers are few).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin(u32);

impl Origin {
    /// A number unique within one state (for keys; its order means nothing).
    pub fn index(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Default, Clone)]
pub struct Interner {
    index: FxHashMap<Box<str>, Sym>,
    strings: Vec<Box<str>>,
    origin_index: FxHashMap<(Sym, u32), Origin>,
    origins: Vec<(Sym, u32)>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        let sym = Sym(u32::try_from(self.strings.len())
            .unwrap_or(u32::MAX - 1)
            .min(u32::MAX - 1));
        self.strings.push(s.into());
        self.index.insert(s.into(), sym);
        sym
    }

    pub fn origin(&mut self, host: Sym, pid: u32) -> Origin {
        if let Some(&o) = self.origin_index.get(&(host, pid)) {
            return o;
        }
        let o = Origin(u32::try_from(self.origins.len()).unwrap_or(u32::MAX));
        self.origins.push((host, pid));
        self.origin_index.insert((host, pid), o);
        o
    }

    /// The node and pid of an origin.
    pub fn origin_parts(&self, o: Origin) -> (Sym, u32) {
        self.origins
            .get(o.0 as usize)
            .copied()
            .unwrap_or((Sym::NONE, 0))
    }

    pub fn get(&self, sym: Sym) -> &str {
        self.strings.get(sym.0 as usize).map_or("", |s| s)
    }
}
