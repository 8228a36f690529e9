//! `graph` output: an indented tree for people, DOT, Mermaid and JSON for tools.

use std::fmt::Write as _;
use std::io::{self, Write};

use owo_colors::OwoColorize;
use petgraph::stable_graph::NodeIndex;
use serde::Serialize;

use super::RenderCtx;
use super::fmt::{clock_time, duration, printable, rfc3339};
use crate::graph::{
    Aggregate, EdgeKind, Evidence, Flow, FlowEdge, FlowNode, GroupSource, NodeKind,
};
use crate::model::TaskState;
use crate::state::State;

/// Children shown under one node before the rest are summarised (unless `--all`).
pub const FANOUT_SHOWN: usize = 10;

/// Options of the tree view.
#[derive(Debug, Clone, Copy)]
pub struct TreeOptions {
    pub all: bool,
    pub depth: Option<usize>,
}

fn short(id: &str) -> &str {
    crate::model::id::short_id(id)
}

fn name<'s>(state: &'s State, n: &FlowNode<'s>) -> &'s str {
    match (&n.view, n.kind) {
        (Some(v), _) => v.record.name().map_or("?", |s| state.sym(s)),
        (None, NodeKind::Chord) => "chord",
        (None, _) => "group",
    }
}

/// A task still running (started, not finished, its worker not gone).
fn is_running(n: &FlowNode<'_>) -> bool {
    n.view
        .as_ref()
        .is_some_and(|v| v.state == TaskState::Started && v.lost.is_none())
}

fn state_text(n: &FlowNode<'_>) -> &'static str {
    match (&n.view, n.aggregate) {
        (Some(v), _) => v.state.as_str(),
        (None, Some(a)) => a.as_str(),
        (None, None) => "?",
    }
}

fn line(state: &State, flow: &Flow<'_>, idx: NodeIndex, ctx: &RenderCtx) -> String {
    let st = &ctx.styles;
    let n = &flow.graph[idx];
    let mut s = String::new();
    let critical = flow.on_critical_path(idx);
    // Names and hostnames come from events: never let them drive the terminal.
    let label = printable(name(state, n));
    let _ = write!(
        s,
        "{}",
        if critical {
            label.style(st.heading).to_string()
        } else {
            label.to_string()
        }
    );
    match &n.view {
        Some(v) => {
            let _ = write!(s, " {}", short(&n.id).style(st.muted));
            let _ = write!(s, " {}", v.state.as_str().style(st.state(v.state)));
            if let Some(t) = v.started_at().or_else(|| v.received_at()) {
                let _ = write!(s, " {}", clock_time(t, ctx.zone, ctx.now));
            }
            if let Some(r) = v.runtime() {
                let _ = write!(s, " {}", duration(r));
            }
            let retries = v.retries();
            if retries > 0 {
                let _ = write!(s, " {}{retries}", if ctx.ascii { "retries=" } else { "↻" });
            }
            if let Some(w) = v.worker() {
                let _ = write!(s, " {}", printable(state.sym(w)).style(st.muted));
            }
            if v.lost.is_some() {
                let _ = write!(s, " {}", "(interrupted)".style(st.state_failure));
            }
        }
        None => {
            let agg = n.aggregate.map_or("?", |a| a.as_str());
            let _ = write!(
                s,
                " {}{} {agg}",
                if ctx.ascii { "x" } else { "×" },
                n.members
            );
            if let Some(why) = container_reason(n) {
                let _ = write!(s, " ({why})");
            }
            if !n.id.starts_with("inferred-") {
                let _ = write!(s, " {}", short(&n.id).style(st.muted));
            }
        }
    }
    if let Some(label) = evidence_label(n) {
        let _ = write!(s, " {}", format!("({label})").style(st.muted));
    }
    if critical && n.view.is_some() {
        let _ = write!(s, " {}", if ctx.ascii { "*" } else { "★" });
    }
    if idx == flow.focus {
        let _ = write!(
            s,
            " {}",
            if ctx.ascii {
                "<-- this task"
            } else {
                "◀ this task"
            }
            .style(st.id_prefix)
        );
    }
    s
}

pub fn tree(
    state: &State,
    flow: &Flow<'_>,
    opts: TreeOptions,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let glyphs = if ctx.ascii {
        Glyphs {
            branch: "|-- ",
            last: "`-- ",
            pipe: "|   ",
            blank: "    ",
            step: "v ",
        }
    } else {
        Glyphs {
            branch: "├── ",
            last: "└── ",
            pipe: "│   ",
            blank: "    ",
            step: "↓ ",
        }
    };
    for (i, &top) in flow.tops.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", line(state, flow, top, ctx))?;
        let on_path = focus_path(flow);
        let visible = |mut children: Vec<(NodeIndex, FlowEdge)>| {
            keep_focus_visible(&mut children, &on_path, opts.all);
            children
        };
        // Iterative depth-first walk: a 10,000-step chain must not exhaust the stack.
        let mut stack = vec![Frame::new(
            flow,
            visible(flow.children(top)),
            String::new(),
            1,
        )];
        while let Some(f) = stack.last_mut() {
            if f.next == 0 && opts.depth.is_some_and(|d| f.depth > d) {
                let below: usize = f
                    .children
                    .iter()
                    .map(|(c, _)| 1 + count_below(flow, *c))
                    .sum();
                let text = format!("{} {below} more below (--depth)", dots(ctx.ascii));
                muted_line(out, &f.prefix, glyphs.last, &text, ctx)?;
                stack.pop();
                continue;
            }
            let all = f.children.len();
            let shown = if opts.all || all <= FANOUT_SHOWN + 1 {
                all
            } else {
                FANOUT_SHOWN
            };
            if f.next >= shown {
                if shown < all {
                    let text = summarise(state, flow, &f.children[shown..], ctx.ascii);
                    muted_line(out, &f.prefix, glyphs.last, &text, ctx)?;
                }
                stack.pop();
                continue;
            }
            let (c, edge) = f.children[f.next];
            f.next += 1;
            let is_last = f.next == shown && shown == all;
            // A chord's callback hangs off the chord with an arrow (dashed when inferred).
            let mark = match (edge.kind, edge.inferred, ctx.ascii) {
                (EdgeKind::Callback, false, false) => "⇒ ",
                (EdgeKind::Callback, true, false) => "⇢ ",
                (EdgeKind::Callback, false, true) => "=> ",
                (EdgeKind::Callback, true, true) => "~> ",
                _ => "",
            };
            let glyph = match (f.chain, is_last) {
                (true, _) => glyphs.step,
                (false, true) => glyphs.last,
                (false, false) => glyphs.branch,
            };
            writeln!(
                out,
                "{}{glyph}{mark}{}",
                f.prefix,
                line(state, flow, c, ctx)
            )?;
            let children = flow.children(c);
            if children.is_empty() {
                continue;
            }
            // A chain goes on at the same indent as its step, so a 10,000-step chain stays
            // readable and its output linear in size; anything else indents.
            let continues = Frame::is_chain(flow, &children);
            let prefix = if f.chain && continues {
                f.prefix.clone()
            } else if f.chain {
                format!("{}{}", f.prefix, glyphs.blank)
            } else {
                format!(
                    "{}{}",
                    f.prefix,
                    if is_last { glyphs.blank } else { glyphs.pipe }
                )
            };
            let depth = f.depth + 1;
            stack.push(Frame::new(flow, visible(children), prefix, depth));
        }
    }
    writeln!(out)?;
    write_summary(state, flow, ctx, out)
}

/// The asked-about task and the nodes above it: never summarised away.
fn focus_path(flow: &Flow<'_>) -> std::collections::HashSet<NodeIndex> {
    let mut path = std::collections::HashSet::new();
    let mut n = flow.focus;
    while path.insert(n) {
        match flow
            .graph
            .neighbors_directed(n, petgraph::Direction::Incoming)
            .next()
        {
            Some(parent) => n = parent,
            None => break,
        }
    }
    path
}

/// In a fan-out that will be summarised, moves the child on the focus path into view.
fn keep_focus_visible(
    children: &mut Vec<(NodeIndex, FlowEdge)>,
    on_path: &std::collections::HashSet<NodeIndex>,
    all: bool,
) {
    if all || children.len() <= FANOUT_SHOWN + 1 {
        return;
    }
    if let Some(p) = children.iter().position(|(c, _)| on_path.contains(c))
        && p >= FANOUT_SHOWN
    {
        let child = children.remove(p);
        children.insert(FANOUT_SHOWN - 1, child);
    }
}

fn muted_line(
    out: &mut dyn Write,
    prefix: &str,
    glyph: &str,
    text: &str,
    ctx: &RenderCtx,
) -> io::Result<()> {
    writeln!(out, "{prefix}{glyph}{}", text.style(ctx.styles.muted))
}

fn dots(ascii: bool) -> &'static str {
    if ascii { "..." } else { "…" }
}

struct Glyphs {
    branch: &'static str,
    last: &'static str,
    pipe: &'static str,
    blank: &'static str,
    step: &'static str,
}

/// One level of the walk: a node's children, how many were printed, the prefix and depth,
/// and whether they are the single next step of a chain.
struct Frame {
    children: Vec<(NodeIndex, FlowEdge)>,
    next: usize,
    prefix: String,
    depth: usize,
    chain: bool,
}

impl Frame {
    fn new(
        flow: &Flow<'_>,
        children: Vec<(NodeIndex, FlowEdge)>,
        prefix: String,
        depth: usize,
    ) -> Self {
        let chain = Self::is_chain(flow, &children);
        Self {
            children,
            next: 0,
            prefix,
            depth,
            chain,
        }
    }

    /// A single child sent by a task (a chain step, not a group member or callback).
    fn is_chain(flow: &Flow<'_>, children: &[(NodeIndex, FlowEdge)]) -> bool {
        matches!(children, [(c, e)] if e.kind == EdgeKind::Child && flow.graph[*c].view.is_some())
    }
}

/// Nodes below `n`.
fn count_below(flow: &Flow<'_>, n: NodeIndex) -> usize {
    let mut count = 0;
    let mut todo = vec![n];
    while let Some(x) = todo.pop() {
        for (c, _) in flow.children(x) {
            count += 1;
            todo.push(c);
        }
    }
    count
}

/// `… 9,990 more tasks.add (9,987 SUCCESS, 3 FAILURE)`, one clause per name.
fn summarise(
    state: &State,
    flow: &Flow<'_>,
    rest: &[(NodeIndex, FlowEdge)],
    ascii: bool,
) -> String {
    let mut by_name: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, usize>> =
        Default::default();
    for (c, _) in rest {
        let n = &flow.graph[*c];
        *by_name
            .entry(name(state, n))
            .or_default()
            .entry(state_text(n))
            .or_default() += 1;
    }
    let parts: Vec<String> = by_name
        .iter()
        .map(|(name, states)| {
            let total: usize = states.values().sum();
            let detail: Vec<String> = states
                .iter()
                .map(|(s, k)| format!("{} {s}", thousands(*k)))
                .collect();
            format!(
                "{} {} ({})",
                thousands(total),
                printable(name),
                detail.join(", ")
            )
        })
        .collect();
    format!(
        "{} {} more: {} (--all shows them)",
        dots(ascii),
        thousands(rest.len()),
        parts.join("; ")
    )
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn write_summary(
    state: &State,
    flow: &Flow<'_>,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let tasks = flow
        .graph
        .node_weights()
        .filter(|n| n.view.is_some())
        .count();
    let mut parts = vec![crate::render::fmt::count(tasks, "task")];
    if let Some(w) = flow.wall {
        parts.push(format!("wall {}", duration(w)));
    }
    parts.push(format!("ran {}", duration(flow.runtime)));
    parts.push(format!("queued {}", duration(flow.queued)));
    writeln!(out, "{}", parts.join(", "))?;
    let step = |n: &NodeIndex| {
        format!(
            "{} {}",
            printable(name(state, &flow.graph[*n])),
            short(&flow.graph[*n].id)
        )
    };
    let cp = &flow.critical_path;
    // A long path is shown by its ends; JSON has all of it.
    let mut path: Vec<String> = cp
        .iter()
        .take(if cp.len() > 8 { 3 } else { 8 })
        .map(step)
        .collect();
    if cp.len() > 8 {
        path.push(format!("{} {} more", dots(ctx.ascii), cp.len() - 6));
        path.extend(cp[cp.len() - 3..].iter().map(step));
    }
    if !path.is_empty() {
        let arrow = if ctx.ascii { " -> " } else { " → " };
        writeln!(out, "critical path: {}", path.join(arrow))?;
    }
    for note in notes(flow) {
        writeln!(out, "{}", note.style(ctx.styles.muted))?;
    }
    Ok(())
}

/// How a group or chord is known, when it is not from the backend: `inferred` (a chord's
/// signature in the events) or `guess` (`--guess-groups`).
pub fn evidence_label(n: &FlowNode<'_>) -> Option<&'static str> {
    match n.evidence? {
        Evidence::Backend => None,
        Evidence::Signature => Some("inferred"),
        Evidence::Guess => Some("guess"),
    }
}

/// Why a group or chord did not plainly succeed: `1 failed, 1 interrupted`.
fn container_reason(n: &FlowNode<'_>) -> Option<String> {
    (n.aggregate? != Aggregate::Success).then(|| n.tally.reason())?
}

/// What the reader should know about how the flow was put together.
pub fn notes(flow: &Flow<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let has = |e: Evidence| flow.graph.node_weights().any(|n| n.evidence == Some(e));
    if has(Evidence::Signature) {
        out.push("chords marked (inferred) are read from the events: their callback was sent by the header task that finished last, at its end; result-backend records give exact group ids".to_string());
    }
    if has(Evidence::Guess) {
        out.push("groups marked (guess) are tasks sent close together by one producer: a group, or separate .delay() calls; result-backend records tell".to_string());
    }
    if !flow.likely_siblings.is_empty() {
        let ids: Vec<String> = flow
            .likely_siblings
            .iter()
            .take(5)
            .map(|t| short(&t.to_string()).to_string())
            .collect();
        let more = flow.likely_siblings.len().saturating_sub(5);
        out.push(format!(
            "{} other top-level task{} sent with the root by the same producer ({}{}): a group or separate .delay() calls, the events cannot tell; result-backend records can, --guess-groups draws them as one",
            flow.likely_siblings.len(),
            if flow.likely_siblings.len() == 1 { " was" } else { "s were" },
            ids.join(", "),
            if more > 0 { format!(", {more} more") } else { String::new() }
        ));
    }
    out
}

/// Graphviz fill colours by state.
fn fill(state_text: &str) -> &'static str {
    match state_text {
        "SUCCESS" => "#d4f4dd",
        "FAILURE" | "REJECTED" => "#f8d0d0",
        "RETRY" | "PARTIAL" => "#fbe7b5",
        "REVOKED" => "#e6d5f5",
        "STARTED" | "RUNNING" => "#cfe7fb",
        _ => "#eeeeee",
    }
}

/// Escapes a string for a double-quoted DOT id or label.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn node_label(state: &State, n: &FlowNode<'_>) -> String {
    match &n.view {
        Some(v) => {
            let mut l = format!(
                "{}\n{} · {}",
                printable(name(state, n)),
                short(&n.id),
                v.state.as_str()
            );
            if let Some(r) = v.runtime() {
                let _ = write!(l, " · {}", duration(r));
            }
            if v.retries() > 0 {
                let _ = write!(l, " · {} retries", v.retries());
            }
            l
        }
        None => format!(
            "{} ×{} · {}{}",
            printable(name(state, n)),
            n.members,
            state_text(n),
            match (container_reason(n), evidence_label(n)) {
                (Some(why), Some(label)) => format!(" ({why}) ({label})"),
                (Some(why), None) => format!(" ({why})"),
                (None, Some(label)) => format!(" ({label})"),
                (None, None) => String::new(),
            }
        ),
    }
}

/// Sorted node indices: output must not depend on insertion order.
fn sorted_nodes(flow: &Flow<'_>) -> Vec<NodeIndex> {
    let mut v: Vec<NodeIndex> = flow.graph.node_indices().collect();
    v.sort_by(|a, b| {
        (flow.graph[*a].kind, &flow.graph[*a].id).cmp(&(flow.graph[*b].kind, &flow.graph[*b].id))
    });
    v
}

fn sorted_edges(flow: &Flow<'_>) -> Vec<(NodeIndex, NodeIndex, FlowEdge)> {
    use petgraph::visit::{EdgeRef, IntoEdgeReferences};
    let mut v: Vec<_> = (&flow.graph)
        .edge_references()
        .map(|e| (e.source(), e.target(), *e.weight()))
        .collect();
    v.sort_by(|a, b| {
        (&flow.graph[a.0].id, &flow.graph[a.1].id).cmp(&(&flow.graph[b.0].id, &flow.graph[b.1].id))
    });
    v
}

pub fn dot(state: &State, flow: &Flow<'_>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "digraph \"flow {}\" {{",
        dot_escape(&flow.root.to_string())
    )?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];"
    )?;
    writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];")?;
    let mut in_cluster = std::collections::BTreeSet::new();
    for g in sorted_nodes(flow)
        .into_iter()
        .filter(|n| flow.graph[*n].view.is_none())
    {
        let n = &flow.graph[g];
        writeln!(out, "  subgraph \"cluster_{}\" {{", dot_escape(&n.id))?;
        writeln!(
            out,
            "    label=\"{}\"; style=\"rounded{}\"; color=\"#888888\";",
            dot_escape(&node_label(state, n)),
            if n.inferred { ",dashed" } else { "" }
        )?;
        writeln!(
            out,
            "    \"{}\" [shape=point, width=0.08];",
            dot_escape(&n.id)
        )?;
        for (c, e) in flow.children(g) {
            if e.kind == EdgeKind::Member {
                writeln!(out, "    \"{}\";", dot_escape(&flow.graph[c].id))?;
                in_cluster.insert(c);
            }
        }
        writeln!(out, "  }}")?;
    }
    for idx in sorted_nodes(flow)
        .into_iter()
        .filter(|n| flow.graph[*n].view.is_some())
    {
        let n = &flow.graph[idx];
        let mut attrs = format!(
            "label=\"{}\", fillcolor=\"{}\"",
            dot_escape(&node_label(state, n)),
            fill(state_text(n))
        );
        if flow.on_critical_path(idx) {
            attrs.push_str(", penwidth=2.5");
        }
        if idx == flow.focus {
            attrs.push_str(", color=\"#1f5fbf\"");
        }
        if is_running(n) {
            // Running at the moment the flow is shown as of (the newest event, or --at).
            attrs.push_str(", peripheries=2, style=\"rounded,filled,bold\"");
        }
        writeln!(out, "  \"{}\" [{attrs}];", dot_escape(&n.id))?;
    }
    for (from, to, e) in sorted_edges(flow) {
        let mut attrs = Vec::new();
        if e.inferred {
            attrs.push("style=dashed".to_string());
        }
        if e.kind == EdgeKind::Member {
            attrs.push("arrowhead=none".to_string());
        }
        if e.kind == EdgeKind::Callback {
            attrs.push("label=\"callback\"".to_string());
        }
        if flow.critical_edge(from, to) {
            attrs.push("penwidth=2.5".to_string());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        writeln!(
            out,
            "  \"{}\" -> \"{}\"{attrs};",
            dot_escape(&flow.graph[from].id),
            dot_escape(&flow.graph[to].id)
        )?;
    }
    writeln!(out, "}}")
}

/// A Mermaid-safe node id.
fn mermaid_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("n_{clean}")
}

fn mermaid_label(s: &str) -> String {
    s.replace('"', "#quot;").replace('\n', "<br/>")
}

pub fn mermaid(state: &State, flow: &Flow<'_>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "flowchart LR")?;
    for g in sorted_nodes(flow)
        .into_iter()
        .filter(|n| flow.graph[*n].view.is_none())
    {
        let n = &flow.graph[g];
        writeln!(
            out,
            "  subgraph {}[\"{}\"]",
            mermaid_id(&n.id),
            mermaid_label(&node_label(state, n))
        )?;
        for (c, e) in flow.children(g) {
            if e.kind == EdgeKind::Member {
                let cn = &flow.graph[c];
                writeln!(
                    out,
                    "    {}[\"{}\"]",
                    mermaid_id(&cn.id),
                    mermaid_label(&node_label(state, cn))
                )?;
            }
        }
        writeln!(out, "  end")?;
    }
    for idx in sorted_nodes(flow)
        .into_iter()
        .filter(|n| flow.graph[*n].view.is_some())
    {
        let n = &flow.graph[idx];
        if !flow.is_member(idx) {
            writeln!(
                out,
                "  {}[\"{}\"]",
                mermaid_id(&n.id),
                mermaid_label(&node_label(state, n))
            )?;
        }
    }
    let mut critical_links = Vec::new();
    let mut k = 0;
    for (from, to, e) in sorted_edges(flow) {
        if e.kind == EdgeKind::Member {
            continue; // membership is drawn by the subgraph
        }
        let arrow = if e.inferred { "-.->" } else { "-->" };
        let label = if e.kind == EdgeKind::Callback {
            "|callback|"
        } else {
            ""
        };
        writeln!(
            out,
            "  {} {arrow}{label} {}",
            mermaid_id(&flow.graph[from].id),
            mermaid_id(&flow.graph[to].id)
        )?;
        if flow.critical_edge(from, to) {
            critical_links.push(k.to_string());
        }
        k += 1;
    }
    for (state_name, color) in [
        ("success", "#d4f4dd"),
        ("failure", "#f8d0d0"),
        ("retry", "#fbe7b5"),
        ("revoked", "#e6d5f5"),
        ("active", "#cfe7fb"),
        ("waiting", "#eeeeee"),
    ] {
        writeln!(out, "  classDef {state_name} fill:{color},stroke:#555")?;
    }
    // Running at the moment the flow is shown as of (the newest event, or --at).
    writeln!(
        out,
        "  classDef running fill:#cfe7fb,stroke:#1f5fbf,stroke-width:3px,stroke-dasharray:4 2"
    )?;
    for idx in sorted_nodes(flow)
        .into_iter()
        .filter(|n| flow.graph[*n].view.is_some())
    {
        let class = match flow.graph[idx].view.as_ref().map(|v| v.state) {
            Some(TaskState::Success) => "success",
            Some(TaskState::Failure | TaskState::Rejected) => "failure",
            Some(TaskState::Retry) => "retry",
            Some(TaskState::Revoked) => "revoked",
            Some(TaskState::Started) if is_running(&flow.graph[idx]) => "running",
            Some(TaskState::Started) => "active",
            _ => "waiting",
        };
        writeln!(out, "  class {} {class}", mermaid_id(&flow.graph[idx].id))?;
    }
    if !critical_links.is_empty() {
        writeln!(
            out,
            "  linkStyle {} stroke-width:3px",
            critical_links.join(",")
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct GraphDoc<'a> {
    root: String,
    focus: String,
    groups: &'static str,
    nodes: Vec<NodeJson<'a>>,
    edges: Vec<EdgeJson>,
    critical_path: Vec<String>,
    wall: Option<f64>,
    runtime: f64,
    queued: f64,
    /// Top-level tasks sent with the root, not in the flow (see `notes`).
    likely_siblings: Vec<String>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct NodeJson<'a> {
    id: String,
    kind: &'static str,
    name: &'a str,
    state: &'static str,
    started_at: Option<String>,
    finished_at: Option<String>,
    runtime: Option<f64>,
    retries: u32,
    worker: Option<&'a str>,
    inferred: bool,
    /// Groups and chords: `backend`, `signature` (a chord read from the events) or `guess`.
    evidence: Option<&'static str>,
    /// Groups and chords: why they did not plainly succeed (`1 failed, 1 interrupted`).
    reason: Option<String>,
    members: Option<usize>,
}

#[derive(Serialize)]
struct EdgeJson {
    from: String,
    to: String,
    kind: &'static str,
    inferred: bool,
}

pub fn json(
    state: &State,
    flow: &Flow<'_>,
    ctx: &RenderCtx,
    out: &mut dyn Write,
) -> io::Result<()> {
    let nodes = sorted_nodes(flow)
        .into_iter()
        .map(|idx| {
            let n = &flow.graph[idx];
            let v = n.view.as_ref();
            NodeJson {
                id: n.id.clone(),
                kind: n.kind.as_str(),
                name: name(state, n),
                state: state_text(n),
                started_at: v.and_then(|v| v.started_at()).and_then(rfc3339),
                finished_at: v.and_then(|v| v.finished_at()).and_then(rfc3339),
                runtime: v.and_then(|v| v.runtime()),
                retries: v.map_or(0, |v| v.retries()),
                worker: v.and_then(|v| v.worker()).map(|w| state.sym(w)),
                inferred: n.inferred,
                evidence: n.evidence.map(Evidence::as_str),
                reason: container_reason(n),
                members: (n.view.is_none()).then_some(n.members),
            }
        })
        .collect();
    let edges = sorted_edges(flow)
        .into_iter()
        .map(|(f, t, e)| EdgeJson {
            from: flow.graph[f].id.clone(),
            to: flow.graph[t].id.clone(),
            kind: e.kind.as_str(),
            inferred: e.inferred,
        })
        .collect();
    let doc = GraphDoc {
        root: flow.root.to_string(),
        focus: flow.graph[flow.focus].id.clone(),
        groups: match flow.groups {
            GroupSource::Backend => "backend",
            GroupSource::Inferred => "inferred",
            GroupSource::None => "none",
        },
        nodes,
        edges,
        critical_path: flow
            .critical_path
            .iter()
            .map(|n| flow.graph[*n].id.clone())
            .collect(),
        wall: flow.wall,
        runtime: flow.runtime,
        queued: flow.queued,
        likely_siblings: flow
            .likely_siblings
            .iter()
            .map(ToString::to_string)
            .collect(),
        notes: notes(flow),
    };
    super::envelope::json(out, "graph", ctx.now, &doc)
}
