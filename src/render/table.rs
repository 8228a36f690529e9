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

pub fn write(t: &Table, out: &mut dyn Write) -> io::Result<()> {
    for line in t.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
