//! `celtrace diff <A> <B>`: two runs of one workflow compared place by place.

use clap::{Args, ValueEnum};

use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::graph::backend::Backend;
use crate::graph::diff::diff;
use crate::query::resolve_task;
use crate::query::time::epoch;
use crate::render;
use crate::source::file::LoadReport;
use crate::state::State;

/// Compare two runs of a workflow: what only one has, and what changed
///
/// Give any task of each run (id or unique prefix). Each run is the flow `graph` draws for
/// it. Tasks are matched by their place: the path of task names from the top of the flow,
/// each with its index among same-named siblings (`shop.order[0]/chord[0]/shop.charge[1]`).
/// Reported: tasks only in A or only in B, a changed final state or exception, changed
/// retries, a runtime --slower times longer (or shorter), and changed arguments (scrubbed).
///
/// Exit status, like diff(1): 0 when the outcomes match (the same tasks, each with the same
/// state, exception and retries; runtime and argument changes are reported but do not count),
/// 1 when they differ, 2 and above for trouble.
///
/// Examples:
///   celtrace diff 739c048f cafc4ea0 --events rec.ndjson
///   celtrace diff 739c cafc --events rec.ndjson --json | jq '.nodes[] | select(.changes != [])'
///   celtrace diff 739c cafc --events rec.ndjson --dot | dot -Tsvg > diff.svg
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DiffArgs {
    /// A task of run A (the reference): id or unique prefix
    #[arg(value_name = "A")]
    pub a: String,

    /// A task of run B (the one compared with A): id or unique prefix
    #[arg(value_name = "B")]
    pub b: String,

    /// Report a runtime change when one run's is this many times the other's (e.g. 2x, 1.5)
    #[arg(long, value_name = "FACTOR", default_value = "2x", value_parser = parse_factor)]
    pub slower: f64,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = DiffFormat::Tree)]
    pub format: DiffFormat,

    /// Shorthand for --format json
    #[arg(long, conflicts_with_all = ["format", "dot"])]
    pub json: bool,

    /// Shorthand for --format dot
    #[arg(long, conflicts_with = "format")]
    pub dot: bool,

    /// Plain ASCII arrows
    #[arg(long)]
    pub ascii: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A marked tree for people: `+` only in B, `-` only in A, `~` changed.
    Tree,
    /// One JSON document.
    Json,
    /// Graphviz DOT of run B with the differences marked.
    Dot,
}

fn parse_factor(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches(['x', 'X']).parse::<f64>() {
        Ok(f) if f.is_finite() && f > 1.0 => Ok(f),
        _ => Err(format!("`{s}` is not a factor above 1 (e.g. 2x, 1.5)")),
    }
}

/// The flow of the task `typed` names.
fn flow_of<'s>(
    state: &'s State,
    typed: &str,
    now: f64,
    report: &LoadReport,
) -> Result<crate::graph::Flow<'s>, CliError> {
    let horizon = state.horizon(now);
    let id = resolve_task(state, typed).map_err(|e| {
        CliError::from_resolve(e, &report.source, &|id| {
            super::show::describe(state, id, horizon)
        })
    })?;
    let backend = Backend::from_records(state);
    crate::graph::build(state, id, &backend, horizon, Default::default()).ok_or_else(|| {
        CliError::NotFound {
            typed: typed.to_string(),
            source_label: report.source.clone(),
        }
    })
}

pub fn run(ctx: &Ctx, args: &DiffArgs) -> Result<(), CliError> {
    let (a_typed, b_typed) = (args.a.trim(), args.b.trim());
    // Each run through the recording's index where it has one; else the whole source, read
    // once for both runs.
    let (state_a, state_b, report) = match ctx.load_flow(a_typed, None)? {
        Some((sa, ra)) => {
            let (sb, _) = ctx.load_flow(b_typed, None)?.unwrap_or_default();
            (sa, Some(sb), ra)
        }
        None => {
            let (s, r) = ctx.load(&Load::ALL)?;
            (s, None, r)
        }
    };
    let state_b = state_b.as_ref().unwrap_or(&state_a);
    let now = epoch(ctx.now);
    let flow_a = flow_of(&state_a, a_typed, now, &report)?;
    let flow_b = flow_of(state_b, b_typed, now, &report)?;
    if flow_a.root == flow_b.root {
        ctx.ui.warn(&format!(
            "A and B are tasks of the same run (root {}): the diff shows no difference",
            flow_a.root
        ));
    }
    let result = diff(&state_a, &flow_a, state_b, &flow_b, args.slower);
    let format = if args.json {
        DiffFormat::Json
    } else if args.dot {
        DiffFormat::Dot
    } else {
        args.format
    };
    let rctx = ctx.render_ctx(args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match format {
        DiffFormat::Tree => render::diff::tree(&result, &rctx, &mut out)?,
        DiffFormat::Json => {
            let roots = (flow_a.root.to_string(), flow_b.root.to_string());
            render::diff::json(&result, (&roots.0, &roots.1), args.slower, &rctx, &mut out)?;
        }
        DiffFormat::Dot => render::diff::dot(&result, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    if result.outcome_differs() {
        let count = result.nodes.iter().filter(|d| d.outcome_differs()).count();
        return Err(CliError::Differs { count });
    }
    Ok(())
}
