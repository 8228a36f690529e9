//! The one table style of every list command: no borders (ASCII ones with `--ascii`),
//! headings styled, trailing spaces trimmed, and fitted to the terminal without ever breaking
//! what must be copied: ids, status words, numbers and times are [`Fit::Whole`] and keep
//! their width (the table grows past the terminal rather than break them); names, hosts and
//! messages are [`Fit::Cut`] and are shortened with `…`, never wrapped onto a second line.
//! `--wide` turns all fitting off and shows every cell in full.

use std::io::{self, Write};

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, Width, presets};
use owo_colors::OwoColorize;

use super::RenderCtx;

/// How a column meets a narrow terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Never shortened or broken: ids, states, counts, times.
    Whole,
    /// Shortened with `…` when the table is wider than the terminal: names, hosts, messages.
    Cut,
    /// A [`Fit::Whole`] column that is left out, rightmost first, when even the whole columns
    /// cannot fit (`--wide` or JSON shows it).
    Extra,
}

/// The narrowest a [`Fit::Cut`] column is made before extra columns are left out.
const MIN_CUT: u16 = 12;

/// A table and how each of its columns fits.
pub struct Grid {
    table: Table,
    fits: Vec<Fit>,
    headers: Vec<String>,
    ctx_width: Option<u16>,
    wide: bool,
}

pub fn new<S: AsRef<str>>(ctx: &RenderCtx, headers: &[(S, Fit)]) -> Grid {
    let mut t = Table::new();
    t.load_style(if ctx.ascii {
        presets::ASCII_NO_BORDERS
    } else {
        presets::NOTHING
    });
    t.set_truncation_indicator(if ctx.ascii { "..." } else { "…" });
    let width = ctx.width.filter(|_| !ctx.wide);
    match width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(
        headers
            .iter()
            .map(|(h, _)| Cell::new(h.as_ref().style(ctx.styles.heading))),
    );
    if width.is_some() {
        for (i, (_, fit)) in headers.iter().enumerate() {
            if *fit != Fit::Cut
                && let Some(c) = t.column_mut(i)
            {
                c.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
    Grid {
        table: t,
        fits: headers.iter().map(|(_, f)| *f).collect(),
        headers: headers
            .iter()
            .map(|(h, _)| h.as_ref().to_string())
            .collect(),
        ctx_width: width,
        wide: ctx.wide,
    }
}

impl Grid {
    pub fn add_row(&mut self, cells: Vec<Cell>) {
        self.table.add_row(cells);
    }

    /// Leaves out extra columns, rightmost first, until the whole columns and the cut ones at
    /// their narrowest fit the width.
    fn hide_extras(&mut self) -> Vec<String> {
        let Some(width) = self.ctx_width else {
            return Vec::new();
        };
        let content = self.table.column_max_content_widths();
        let need = |fits: &[Fit], hidden: &[bool]| -> u32 {
            fits.iter()
                .zip(&content)
                .zip(hidden)
                .filter(|(_, h)| !**h)
                .map(|((f, w), _)| {
                    let w = match f {
                        Fit::Cut => (*w).min(MIN_CUT),
                        Fit::Whole | Fit::Extra => *w,
                    };
                    u32::from(w) + 2
                })
                .sum()
        };
        // A cut column keeps at least its header and a few characters: the table grows past
        // the terminal rather than squeeze a column into a letter per line.
        for (i, fit) in self.fits.iter().enumerate() {
            if *fit == Fit::Cut
                && let Some(c) = self.table.column_mut(i)
            {
                let header = self.headers[i].chars().count() as u16;
                let floor = content[i].min(MIN_CUT).max(header);
                c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(floor)));
            }
        }
        let mut hidden = vec![false; self.fits.len()];
        let mut names = Vec::new();
        for i in (0..self.fits.len()).rev() {
            if need(&self.fits, &hidden) <= u32::from(width) {
                break;
            }
            if self.fits[i] == Fit::Extra {
                hidden[i] = true;
                names.push(self.headers[i].clone());
                if let Some(c) = self.table.column_mut(i) {
                    c.set_constraint(ColumnConstraint::Hidden);
                }
            }
        }
        names.reverse();
        names
    }

    /// Writes the table; unless `--wide`, a row is one line: a cut cell ends with `…`.
    pub fn write(mut self, out: &mut dyn Write) -> io::Result<()> {
        let mut hidden = Vec::new();
        if !self.wide {
            hidden = self.hide_extras();
            for row in self.table.row_iter_mut() {
                row.max_height(1);
            }
        }
        for line in self.table.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        if !hidden.is_empty() {
            writeln!(
                out,
                "({} left out to fit the terminal; --wide shows every column)",
                hidden.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Longest text a cell holds: a name or hostname past it is cut with `…` (JSON keeps it
/// whole). comfy-table's wrapping grows with the square of a cell's length, so a hostile
/// 256 KiB task name would otherwise take minutes to lay out.
pub const MAX_CELL: usize = 120;

/// A cell of text that came from events: one line, control characters made visible, cut to
/// [`MAX_CELL`] characters (whole with `--wide`, where nothing is wrapped).
pub fn text(ctx: &RenderCtx, s: &str) -> Cell {
    let s = super::fmt::printable(s);
    Cell::new(if ctx.wide {
        s.into_owned()
    } else {
        super::fmt::ellipsize(&s, MAX_CELL)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_name_is_cut_and_laid_out_at_once() {
        let ctx = RenderCtx::plain_for_tests(80);
        let mut t = new(&ctx, &[("NAME", Fit::Cut), ("WORKER", Fit::Cut)]);
        let huge = "n".repeat(256 * 1024);
        t.add_row(vec![
            text(&ctx, &huge),
            text(&ctx, "w1@\u{1b}]0;pwned\u{7}h"),
        ]);
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains('…'));
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    }
}
