//! `diff`: two runs of a workflow as a marked tree for people, a JSON document, or DOT that
//! draws run B with the differences marked.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use super::RenderCtx;
use super::fmt::{duration, ellipsize, printable};
use crate::graph::diff::{Change, Diff, NodeDiff, Side};

/// Longest argument or exception text shown in the tree (JSON has it whole).
const TEXT_SHOWN: usize = 60;

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

fn change_text(d: &NodeDiff, c: &Change, ctx: &RenderCtx) -> String {
    let (Some(a), Some(b)) = (&d.a, &d.b) else {
        return String::new();
    };
    let arrow = if ctx.ascii { "->" } else { "→" };
    let text = |s: &Option<String>| {
        s.as_deref().map_or_else(
            || "none".to_string(),
            |s| ellipsize(&printable(s), TEXT_SHOWN),
        )
    };
    match c {
        Change::State => format!("{} {arrow} {}", a.state.as_str(), b.state.as_str()),
        Change::Exception => format!(
            "exception {} {arrow} {}",
            text(&a.exception),
            text(&b.exception)
        ),
        Change::Retries => format!("retries {} {arrow} {}", a.retries, b.retries),
        Change::Runtime(f) => format!(
            "runtime {} {arrow} {} (×{f:.1})",
            a.runtime.map_or_else(|| "-".into(), duration),
            b.runtime.map_or_else(|| "-".into(), duration)
        ),
        Change::Args => format!("args {} {arrow} {}", text(&a.args), text(&b.args)),
    }
}

/// The tree: `+` only in B, `-` only in A, `~` changed, blank the same.
pub fn tree(diff: &Diff, ctx: &RenderCtx, out: &mut dyn Write) -> io::Result<()> {
    let st = &ctx.styles;
    for d in &diff.nodes {
        let indent = "  ".repeat(d.depth);
        let side = d.b.as_ref().or(d.a.as_ref());
        let Some(side) = side else { continue };
        let name = printable(&side.name);
        let (mark, ids, style) = match (&d.a, &d.b) {
            (Some(a), Some(b)) if d.changes.is_empty() => {
                (" ", format!("{} {}", short(&a.id), short(&b.id)), st.muted)
            }
            (Some(a), Some(b)) => (
                "~",
                format!("{} {}", short(&a.id), short(&b.id)),
                if d.outcome_differs() {
                    st.state_retry
                } else {
                    st.muted
                },
            ),
            (None, Some(b)) => ("+", format!("only in B {}", short(&b.id)), st.state_success),
            (Some(a), None) => ("-", format!("only in A {}", short(&a.id)), st.state_failure),
            (None, None) => continue,
        };
        // A changed state is told by its change below.
        let state = match (&d.a, &d.b) {
            _ if d.changes.contains(&Change::State) => "",
            (_, Some(b)) => b.state.as_str(),
            (Some(a), None) => a.state.as_str(),
            _ => "",
        };
        let changes: Vec<String> = d.changes.iter().map(|c| change_text(d, c, ctx)).collect();
        let mut line = format!("{mark} {indent}{name} {ids}");
        for part in [state.to_string(), changes.join("; ")] {
            if !part.is_empty() {
                line.push(' ');
                line.push_str(&part);
            }
        }
        writeln!(out, "{}", line.style(style))?;
    }
    let count = |f: &dyn Fn(&NodeDiff) -> bool| diff.nodes.iter().filter(|d| f(d)).count();
    let only_a = count(&|d| d.b.is_none());
    let only_b = count(&|d| d.a.is_none());
    let changed = count(&|d| d.a.is_some() && d.b.is_some() && !d.changes.is_empty());
    writeln!(out)?;
    writeln!(
        out,
        "{}: {only_a} only in A, {only_b} only in B, {changed} changed, {} the same",
        if diff.outcome_differs() {
            "outcomes differ"
        } else {
            "same outcome"
        },
        diff.nodes.len() - only_a - only_b - changed
    )
}

#[derive(Serialize)]
struct SideJson<'d> {
    id: &'d str,
    name: &'d str,
    state: &'static str,
    exception: Option<&'d str>,
    retries: u32,
    runtime: Option<f64>,
    args: Option<&'d str>,
    kwargs: Option<&'d str>,
}

fn side_json(s: &Side) -> SideJson<'_> {
    SideJson {
        id: &s.id,
        name: &s.name,
        state: s.state.as_str(),
        exception: s.exception.as_deref(),
        retries: s.retries,
        runtime: s.runtime,
        args: s.args.as_deref(),
        kwargs: s.kwargs.as_deref(),
    }
}

#[derive(Serialize)]
struct ChangeJson {
    field: &'static str,
    outcome: bool,
    /// Runtime changes: B's runtime over A's.
    factor: Option<f64>,
}

#[derive(Serialize)]
struct NodeJson<'d> {
    key: &'d str,
    depth: usize,
    a: Option<SideJson<'d>>,
    b: Option<SideJson<'d>>,
    changes: Vec<ChangeJson>,
}

#[derive(Serialize)]
struct DiffDoc<'d> {
    a: &'d str,
    b: &'d str,
    slower: f64,
    outcomes_differ: bool,
    nodes: Vec<NodeJson<'d>>,
}

pub fn json(
    diff: &Diff,
    roots: (&str, &str),
    slower: f64,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let doc = DiffDoc {
        a: roots.0,
        b: roots.1,
        slower,
        outcomes_differ: diff.outcome_differs(),
        nodes: diff
            .nodes
            .iter()
            .map(|d| NodeJson {
                key: &d.key,
                depth: d.depth,
                a: d.a.as_ref().map(side_json),
                b: d.b.as_ref().map(side_json),
                changes: d
                    .changes
                    .iter()
                    .map(|c| ChangeJson {
                        field: c.as_str(),
                        outcome: c.is_outcome(),
                        factor: match c {
                            Change::Runtime(f) => Some(*f),
                            _ => None,
                        },
                    })
                    .collect(),
            })
            .collect(),
    };
    super::envelope::json(out, "diff", ctx.now, &doc)
}

/// Run B's flow in DOT (each task under its nearest task ancestor), each node bordered by what
/// changed: red for a changed outcome, orange for a runtime or argument change, green and
/// dashed for a node only in B; A's nodes that B lacks are grey dotted ghosts under their
/// parent's place.
pub fn dot(diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    writeln!(out, "digraph \"diff\" {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];"
    )?;
    let mut id_of_key = std::collections::HashMap::new();
    for d in &diff.nodes {
        let (node_id, attrs) = match (&d.a, &d.b) {
            (_, Some(b)) => {
                let changes: Vec<&str> = d.changes.iter().map(Change::as_str).collect();
                let color = if d.a.is_none() {
                    "color=\"#2e8b57\", penwidth=2.5, style=\"rounded,filled,dashed\""
                } else if d.outcome_differs() {
                    "color=\"#c0392b\", penwidth=3"
                } else if !d.changes.is_empty() {
                    "color=\"#e67e22\", penwidth=2"
                } else {
                    "color=\"#888888\""
                };
                let what = match (&d.a, changes.is_empty()) {
                    (None, _) => "\\nonly in B".to_string(),
                    (Some(_), true) => String::new(),
                    (Some(_), false) => format!("\\nchanged: {}", changes.join(", ")),
                };
                (
                    b.id.clone(),
                    format!(
                        "label=\"{}\\n{} · {}{what}\", {color}",
                        esc(&b.name),
                        short(&b.id),
                        b.state.as_str()
                    ),
                )
            }
            (Some(a), None) => (
                format!("A:{}", a.id),
                format!(
                    "label=\"{}\\n{} · {}\\nonly in A\", style=\"rounded,dotted\", color=\"#999999\", fontcolor=\"#777777\"",
                    esc(&a.name),
                    short(&a.id),
                    a.state.as_str()
                ),
            ),
            (None, None) => continue,
        };
        writeln!(out, "  \"{}\" [{attrs}];", esc(&node_id))?;
        id_of_key.insert(d.key.as_str(), node_id);
    }
    // Each node under its nearest task ancestor (a group or chord is not a node here);
    // ghosts with a dotted edge.
    for d in &diff.nodes {
        let Some(me) = id_of_key.get(d.key.as_str()) else {
            continue;
        };
        let mut parent = d.key.rsplit_once('/').map(|(p, _)| p);
        let parent = loop {
            let Some(p) = parent else { break None };
            if let Some(id) = id_of_key.get(p) {
                break Some(id);
            }
            parent = p.rsplit_once('/').map(|(p, _)| p);
        };
        if let Some(parent) = parent {
            let style = if d.b.is_none() {
                " [style=dotted, color=\"#999999\"]"
            } else {
                ""
            };
            writeln!(out, "  \"{}\" -> \"{}\"{style};", esc(parent), esc(me))?;
        }
    }
    writeln!(out, "}}")
}
