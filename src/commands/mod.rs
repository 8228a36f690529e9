//! One file per subcommand: its `Args` and its `run`. Commands that need no events
//! (completions, man) return before any source is opened.

pub mod anomalies;
pub mod args;
pub mod completions;
pub mod diff;
pub mod doctor;
pub mod errors;
pub mod export;
pub mod graph;
pub mod guard;
pub mod man;
pub mod queues;
pub mod record;
mod record_amqp;
pub mod replay;
pub mod retry;
pub mod revoke;
pub mod show;
pub mod stats;
pub mod tail;
pub mod tasks;
pub mod top;
pub mod wait;
pub mod workers;

use crate::cli::{Cli, Command};
use crate::ctx::{Ctx, Env};
use crate::error::CliError;

pub fn dispatch(cli: &Cli, env: &Env, now: chrono::DateTime<chrono::Utc>) -> Result<(), CliError> {
    match &cli.command {
        Command::Completions(args) => return completions::run(args),
        Command::Man(args) => return man::run(args),
        _ => {}
    }
    let mut ctx = Ctx::new(&cli.global, env, now)?;
    if matches!(cli.command, Command::Retry(_)) {
        // The new message carries the real arguments; retry scrubs what it prints itself.
        ctx.ingest = std::sync::Arc::new(crate::scrub::Policy::off());
    }
    match &cli.command {
        Command::Tasks(args) => tasks::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Graph(args) => graph::run(&ctx, args),
        Command::Diff(args) => diff::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Errors(args) => errors::run(&ctx, args),
        Command::Export(args) => export::run(&ctx, args),
        Command::Workers(args) => workers::run(&ctx, args),
        Command::Anomalies(args) => anomalies::run(&ctx, args),
        Command::Stats(args) => stats::run(&ctx, args),
        Command::Record(args) => record::run(&ctx, args),
        Command::Tail(args) => tail::run(&ctx, args),
        Command::Replay(args) => replay::run(&ctx, args),
        Command::Queues(args) => queues::run(&ctx, args),
        Command::Retry(args) => retry::run(&ctx, args),
        Command::Revoke(args) => revoke::run(&ctx, args),
        Command::Top(args) => top::run(&mut ctx, args),
        Command::Completions(_) | Command::Man(_) => Ok(()),
    }
}
