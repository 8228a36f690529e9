//! Which scrubbing rules a text can set off, read in one pass over its bytes. Most texts
//! Celery sends are short (`(98419,)`, `{'order': 98419, 'ok': True}`), and for those one
//! table lookup per byte costs less than the rules' own searches, each of which pays a
//! vectorised search's setup even on nine bytes. A rule whose bytes are absent is skipped:
//! each test here is a condition without which that rule finds nothing. Pure.

/// Texts longer than this are not pre-read: long texts (tracebacks) hold every rule's bytes
/// anyway, and the rules' vectorised searches are cheap on them.
const PRE_READ_MAX: usize = 128;

// Each class counts its bytes in its own 8 bits of a `u64`: a pre-read text is at most
// 128 bytes, so no count overflows into the next, and each byte costs one addition.
const COLON: u32 = 0;
const EQUALS: u32 = 1;
const SLASH: u32 = 2;
/// `b` or `B`: `Bearer` starts with it.
const BEE: u32 = 3;
/// `_`, `-` or `A`: every known token prefix holds one.
const TOKEN: u32 = 4;
/// `.` or the first byte of `…`: a cut, after which six digits may be a card.
const CUT: u32 = 5;
const DIGIT: u32 = 6;

const _: () = assert!(PRE_READ_MAX < 256, "a class's count must fit its 8 bits");

const CLASSES: [u64; 256] = {
    let mut t = [0u64; 256];
    t[b':' as usize] = 1 << (8 * COLON);
    t[b'=' as usize] = 1 << (8 * EQUALS);
    t[b'/' as usize] = 1 << (8 * SLASH);
    t[b'b' as usize] = 1 << (8 * BEE);
    t[b'B' as usize] = 1 << (8 * BEE);
    t[b'_' as usize] = 1 << (8 * TOKEN);
    t[b'-' as usize] = 1 << (8 * TOKEN);
    t[b'A' as usize] = 1 << (8 * TOKEN);
    t[b'.' as usize] = 1 << (8 * CUT);
    t[0xE2] = 1 << (8 * CUT); // `…` is E2 80 A6
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = 1 << (8 * DIGIT);
        d += 1;
    }
    t
};

/// How many bytes of each class a text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggers {
    counts: u64,
}

impl Triggers {
    /// Every rule runs.
    pub const ALL: Self = Self { counts: u64::MAX };

    /// What `text` can set off ([`Triggers::ALL`] for a long text, which is not pre-read).
    pub fn of(text: &str) -> Self {
        if text.len() > PRE_READ_MAX {
            return Self::ALL;
        }
        let counts = text
            .as_bytes()
            .iter()
            .fold(0u64, |acc, &b| acc + CLASSES[usize::from(b)]);
        Self { counts }
    }

    fn count(self, class: u32) -> u64 {
        (self.counts >> (8 * class)) & 0xFF
    }

    fn has(self, class: u32) -> bool {
        self.count(class) != 0
    }

    /// A key's value: every key is followed by `:` or `=`.
    pub fn keyed(self) -> bool {
        self.has(COLON) || self.has(EQUALS)
    }

    /// Credentials in a URL: `://`.
    pub fn url(self) -> bool {
        self.has(COLON) && self.has(SLASH)
    }

    pub fn bearer(self) -> bool {
        self.has(BEE)
    }

    /// A card is 13 digits or more, or 6 or more before a cut.
    pub fn cards(self) -> bool {
        let digits = self.count(DIGIT);
        digits >= 13 || (digits >= 6 && self.has(CUT))
    }

    pub fn tokens(self) -> bool {
        self.has(TOKEN)
    }

    /// Whether any rule can find something.
    pub fn any(self) -> bool {
        self.keyed() || self.url() || self.bearer() || self.cards() || self.tokens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_read_and_long_ones_run_every_rule() {
        let t = Triggers::of("(98419,)");
        assert!(!t.any(), "{t:?}");
        let t = Triggers::of("{'currency': 'EUR', 'amount': 63945}");
        assert!(t.keyed() && !t.url() && !t.bearer() && !t.cards() && !t.tokens());
        assert!(Triggers::of("4111 1111 1111 1111").cards());
        assert!(Triggers::of("card 411111…").cards());
        assert!(!Triggers::of("card 411111").cards());
        assert!(Triggers::of("https://u:p@h").url());
        assert!(Triggers::of("AKIAXXXXXXXXXXXXXXXX").tokens());
        let long = "x".repeat(PRE_READ_MAX + 1);
        assert_eq!(Triggers::of(&long), Triggers::ALL);
        assert!(!Triggers::of(&long[1..]).any());
    }
}
