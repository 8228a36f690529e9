//! The one table style of every list command: no borders (ASCII ones with `--ascii`),
//! columns fitted to the width, headings styled, trailing spaces trimmed.

use std::io::{self, Write};

use comfy_table::{Cell, ContentArrangement, Table, presets};
use owo_colors::OwoColorize;

use super::RenderCtx;

pub fn new<S: AsRef<str>>(ctx: &RenderCtx, headers: &[S]) -> Table {
    let mut t = Table::new();
    t.load_style(if ctx.ascii {
        presets::ASCII_NO_BORDERS
    } else {
        presets::NOTHING
    })
    .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = ctx.width {
        t.set_width(w);
    }
    t.set_header(
        headers
            .iter()
            .map(|h| Cell::new(h.as_ref().style(ctx.styles.heading))),
    );
    t
}

/// Longest text a cell holds: a name or hostname past it is cut with `…` (JSON keeps it
/// whole). comfy-table's wrapping grows with the square of a cell's length, so a hostile
/// 256 KiB task name would otherwise take minutes to lay out.
pub const MAX_CELL: usize = 120;

/// A cell of text that came from events: one line, control characters made visible, cut to
/// [`MAX_CELL`] characters.
pub fn text(s: &str) -> Cell {
    Cell::new(super::fmt::ellipsize(&super::fmt::printable(s), MAX_CELL))
}

pub fn write(t: &Table, out: &mut dyn Write) -> io::Result<()> {
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_name_is_cut_and_laid_out_at_once() {
        let ctx = RenderCtx::plain_for_tests(80);
        let mut t = new(&ctx, &["NAME", "WORKER"]);
        let huge = "n".repeat(256 * 1024);
        t.add_row(vec![text(&huge), text("w1@\u{1b}]0;pwned\u{7}h")]);
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        write(&t, &mut out).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains('…'));
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    }
}
