//! `celtrace graph <id>`: the whole workflow a task belongs to.

use clap::{Args, ValueEnum};

use crate::ctx::{Ctx, Load};
use crate::error::CliError;
use crate::graph::backend::Backend;
use crate::query::resolve_task;
use crate::query::time::epoch;
use crate::render;
use crate::render::graph::TreeOptions;

/// Show the workflow a task belongs to: chain steps, groups, chords, children, critical path
///
/// Give any task of the flow (full id or unique prefix). The flow is its root's tasks (every
/// task linked to it by `parent_id`/`root_id`). Group and chord structure is exact when the
/// recording holds result-backend records (`celtrace.backend` lines) or --result-backend is
/// given; without them a chord is drawn only when the events carry its signature (one
/// callback sent by the header member that finished last, at its end), marked (inferred).
/// Tasks merely sent close together are not grouped unless --guess-groups.
///
/// Examples:
///   celtrace graph 3f2a9c --events rec.ndjson
///   celtrace graph 3f2a9c --events rec.ndjson --dot | dot -Tsvg > flow.svg
///   celtrace graph 3f2a9c --events rec.ndjson --format mermaid
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct GraphArgs {
    /// Any task of the flow: id or unique prefix (at least 4 characters)
    #[arg(value_name = "ID")]
    pub id: String,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = GraphFormat::Tree)]
    pub format: GraphFormat,

    /// Shorthand for --format dot
    #[arg(long, conflicts_with_all = ["format", "json"])]
    pub dot: bool,

    /// Shorthand for --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Show every child of a large fan-out instead of a summary line
    #[arg(long)]
    pub all: bool,

    /// Show the tree only this many levels deep
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,

    /// Plain ASCII tree
    #[arg(long)]
    pub ascii: bool,

    /// Also draw siblings sent close together by one producer as groups, and join top-level
    /// tasks sent with the root: a guess (separate `.delay()` calls look the same), marked
    /// (guess) in every format
    #[arg(long)]
    pub guess_groups: bool,

    #[command(flatten)]
    pub at: super::args::AtArg,

    #[command(flatten)]
    pub wait: super::args::WaitArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// An indented tree for people.
    Tree,
    /// Graphviz DOT (deterministic; clusters for groups and chords).
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// One JSON document.
    Json,
}

pub fn run(ctx: &Ctx, args: &GraphArgs) -> Result<(), CliError> {
    let live = if args.wait.wait {
        Some(super::wait::subscribe(ctx)?)
    } else {
        None
    };
    let at = args.at.resolve(ctx)?;
    let loaded = match ctx.load_flow(args.id.trim(), at) {
        Ok(Some(flow)) => Ok(flow),
        Ok(None) => ctx.load(&Load::ALL.at(at)),
        Err(e) => Err(e),
    };
    let (mut state, report) = match loaded {
        // Nothing recorded yet: --wait follows the live events from here.
        Err(CliError::NoRecording { .. }) if live.is_some() => super::wait::nothing_yet(ctx),
        other => other?,
    };
    let failed = if let Some(live) = &live {
        // A full id not seen yet is waited for too: the flow may not have started.
        let typed = args.id.trim().to_ascii_lowercase();
        let id = match resolve_task(&state, &typed) {
            Ok(id) => id.clone(),
            Err(crate::query::ResolveError::NotFound(_)) if typed.len() == 36 => {
                crate::model::TaskId::parse(&typed)
            }
            Err(e) => {
                return Err(CliError::from_resolve(e, &report.source, &|id| {
                    id.to_string()
                }));
            }
        };
        Some(wait_for_flow(ctx, live, args, &mut state, &id)?)
    } else {
        None
    };
    let horizon = state.horizon(at.unwrap_or(epoch(ctx.now)));
    let id = resolve_task(&state, args.id.trim()).map_err(|e| {
        CliError::from_resolve(e, &report.source, &|id| {
            super::show::describe(&state, id, horizon)
        })
    })?;
    let mut backend = Backend::from_records(&state);
    if let Some((url, _)) = &ctx.result_backend {
        for meta in ctx.backend_metas(url, &backend_candidates(&state, id))? {
            backend.add_meta(&meta);
        }
    }
    let Some(flow) = crate::graph::build(
        &state,
        id,
        &backend,
        horizon,
        crate::graph::Options {
            guess_groups: args.guess_groups,
        },
    ) else {
        return Err(CliError::NotFound {
            typed: args.id.clone(),
            source_label: report.source.clone(),
        });
    };
    let format = if args.dot {
        GraphFormat::Dot
    } else if args.json {
        GraphFormat::Json
    } else {
        args.format
    };
    let rctx = ctx.render_ctx(args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    match format {
        GraphFormat::Tree => {
            render::graph::tree(
                &state,
                &flow,
                TreeOptions {
                    all: args.all,
                    depth: args.depth,
                },
                &rctx,
                &mut out,
            )?;
        }
        GraphFormat::Dot => render::graph::dot(&state, &flow, &mut out)?,
        GraphFormat::Mermaid => render::graph::mermaid(&state, &flow, &mut out)?,
        GraphFormat::Json => render::graph::json(&state, &flow, &rctx, &mut out)?,
    }
    std::io::Write::flush(&mut out)?;
    drop(flow);
    state.discard();
    match failed {
        Some(true) => Err(CliError::TaskFailed {
            what: format!("the flow of {}", args.id.trim()),
            state: "a failure".to_string(),
        }),
        _ => Ok(()),
    }
}

/// `--wait`: follows the flow's live events (new members join by root or parent) until every
/// task of it has finished and no new one came for a moment; whether any of them failed.
fn wait_for_flow(
    ctx: &Ctx,
    live: &crate::source::live::Live,
    args: &GraphArgs,
    state: &mut crate::state::State,
    id: &crate::model::TaskId,
) -> Result<bool, CliError> {
    let root = state
        .task(id)
        .map_or_else(|| id.to_string(), |r| state.root_id(r).to_string());
    let mut members: std::collections::HashSet<String> = state
        .tasks()
        .filter(|t| state.root_id(t).to_string() == root)
        .map(|t| t.id.to_string())
        .collect();
    members.insert(root.clone());
    let now = epoch(ctx.now);
    super::wait::follow(
        live,
        args.wait.timeout,
        state,
        // A chord's callback is sent just after its header finished.
        std::time::Duration::from_millis(1500),
        &mut |ev| {
            if ev.kind.is_worker() {
                return true;
            }
            let Some(uuid) = ev.uuid.as_deref() else {
                return false;
            };
            if members.contains(uuid) {
                return true;
            }
            let joins = ev.root_id.as_deref() == Some(root.as_str())
                || ev.parent_id.as_deref().is_some_and(|p| members.contains(p));
            if joins {
                members.insert(uuid.to_string());
            }
            joins
        },
        &mut |st| {
            let options = crate::graph::Options {
                guess_groups: args.guess_groups,
            };
            let flow = crate::graph::build(st, id, &Backend::default(), st.horizon(now), options)?;
            let views: Vec<_> = flow
                .graph
                .node_weights()
                .filter_map(|n| n.view.as_ref())
                .collect();
            views
                .iter()
                .all(|v| super::wait::is_final(v.state))
                .then(|| {
                    views
                        .iter()
                        .any(|v| v.state != crate::model::TaskState::Success)
                })
        },
    )
}

/// Tasks whose result records can change the picture: the flow's own, and the top-level tasks
/// sent within a minute of its root (members of a group applied from a client are each a root).
fn backend_candidates(
    state: &crate::state::State,
    focus: &crate::model::TaskId,
) -> Vec<crate::model::TaskId> {
    let Some(rec) = state.task(focus) else {
        return Vec::new();
    };
    let root = state.root_id(rec);
    let at = state.task(root).and_then(|r| r.first_time()).unwrap_or(0.0);
    state
        .tasks()
        .filter(|t| {
            state.root_id(t) == root
                || (state.parent_id(t).is_none()
                    && t.first_time().is_some_and(|f| (f - at).abs() <= 60.0))
        })
        .map(|t| t.id.clone())
        .collect()
}
