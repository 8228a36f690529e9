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

#[derive(Debug, Default, Clone)]
pub struct Interner {
    index: FxHashMap<Box<str>, Sym>,
    strings: Vec<Box<str>>,
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

    pub fn get(&self, sym: Sym) -> &str {
        self.strings.get(sym.0 as usize).map_or("", |s| s)
    }

    /// Looks a string up without adding it.
    pub fn find(&self, s: &str) -> Option<Sym> {
        self.index.get(s).copied()
    }
}
