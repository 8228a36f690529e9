//! `celtrace show <id>`: everything known about one task.

use clap::Args;

use crate::ctx::Ctx;
use crate::error::CliError;
use crate::query::lineage::{ancestors, children};
use crate::query::resolve_task;
use crate::query::time::epoch;
use crate::render::show::ShowData;
use crate::render::{self, ShowFormat};
use crate::state::view::TaskView;

/// Show one task: state, timeline of every attempt, arguments, result, traceback, lineage
///
/// The id may be a full task id or a unique prefix of at least 4 characters, as in git.
///
/// Examples:
///   celtrace show 3f2a9c --events rec.ndjson
///   celtrace show 3f2a9c --json | jq .task.attempts
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Task id or unique prefix (at least 4 characters)
    #[arg(value_name = "ID")]
    pub id: String,

    /// Output format
    #[arg(long, short = 'f', value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,

    /// Shorthand for --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Show secret-looking argument values instead of [Filtered]
    #[arg(long)]
    pub no_scrub: bool,

    /// Plain ASCII decoration
    #[arg(long)]
    pub ascii: bool,
}

pub fn run(ctx: &Ctx, args: &ShowArgs) -> Result<(), CliError> {
    let (state, report) = ctx.load_state()?;
    let horizon = state.horizon(epoch(ctx.now));
    let id = resolve_task(&state, &args.id).map_err(|e| {
        CliError::from_resolve(e, &report.source, &|id| describe(&state, id, horizon))
    })?;
    let Some(record) = state.task(id) else {
        return Err(CliError::NotFound {
            typed: args.id.clone(),
            source_label: report.source.clone(),
        });
    };
    let data = ShowData {
        view: TaskView::new(&state, record, horizon),
        ancestors: ancestors(&state, record),
        children: children(&state, id)
            .into_iter()
            .map(|c| TaskView::new(&state, c, horizon))
            .collect(),
    };
    let rctx = ctx.render_ctx(!args.no_scrub, args.ascii);
    let mut out = std::io::BufWriter::new(ctx.ui.stdout());
    if args.json || args.format == ShowFormat::Json {
        render::show::json(&state, &data, &report, &rctx, horizon, &mut out)?;
    } else {
        render::show::text(&state, &data, &rctx, horizon, &mut out)?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}

/// `<id>  <name>  <state>` for candidate lists.
pub fn describe(state: &crate::state::State, id: &str, horizon: f64) -> String {
    let task = state.task(&crate::model::TaskId::parse(id));
    match task {
        Some(t) => {
            let v = TaskView::new(state, t, horizon);
            format!(
                "{id}  {}  {}",
                t.name().map_or("?", |s| state.sym(s)),
                v.state
            )
        }
        None => id.to_string(),
    }
}
