//! Test helper for the query modules: the state of a recording's text, decoded and folded.

use crate::model::decode::decode_entry;
use crate::state::State;

/// Folds every line of `text`; fails the test on any decoding issue.
pub fn state_of(text: &str) -> State {
    let mut state = State::new();
    let mut issues = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        decode_entry(line, &mut issues, &mut |e| state.apply(e));
    }
    assert!(issues.is_empty(), "{issues:?}");
    state
}
