//! `tail` lines: time, event, short id, name, host, state change, detail. One event per line,
//! columns padded so a scrolling terminal reads like a table.

use std::io::{self, Write};

use owo_colors::OwoColorize;

use super::RenderCtx;
use super::fmt::time_of_day;
use crate::query::tail::TailLine;

pub fn line(l: &TailLine, ctx: &RenderCtx, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = Vec::with_capacity(160);
    write_line(l, ctx, &mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    writeln!(out, "{}", text.trim_end())
}

fn write_line(l: &TailLine, ctx: &RenderCtx, out: &mut dyn Write) -> io::Result<()> {
    let s = &ctx.styles;
    let time = l
        .time
        .map_or_else(|| "-".to_string(), |t| time_of_day(t, ctx.zone));
    let id = l.task.as_deref().map_or("-", |t| t.get(..8).unwrap_or(t));
    let name = l
        .name
        .as_deref()
        .unwrap_or(if l.task.is_some() { "?" } else { "" });
    let host = l.host.as_deref().unwrap_or("-");
    write!(
        out,
        "{}  {:<15}  {:<8}  {:<28}  {:<20}",
        time.style(s.muted),
        l.event,
        id.style(s.id_prefix),
        name,
        host
    )?;
    if let Some(after) = l.after {
        let arrow = if ctx.ascii { "->" } else { "→" };
        match l.before.filter(|b| *b != after) {
            Some(b) => write!(
                out,
                "  {} {arrow} {}",
                b.as_str().style(s.state(b)),
                after.as_str().style(s.state(after))
            )?,
            None => write!(out, "  {}", after.as_str().style(s.state(after)))?,
        }
    }
    if let Some(d) = &l.detail {
        write!(out, "  {d}")?;
    }
    Ok(())
}
