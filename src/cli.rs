//! The command line, as clap types. Doc comments here are the user manual: `-h`, `--help`
//! and the man pages are generated from them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::diff::DiffArgs;
use crate::commands::doctor::DoctorArgs;
use crate::commands::errors::ErrorsArgs;
use crate::commands::replay::ReplayArgs;
use crate::commands::{
    anomalies::AnomaliesArgs, completions::CompletionsArgs, export::ExportArgs, graph::GraphArgs,
    man::ManArgs, queues::QueuesArgs, record::RecordArgs, retry::RetryArgs, revoke::RevokeArgs,
    show::ShowArgs, stats::StatsArgs, tail::TailArgs, tasks::TasksArgs, workers::WorkersArgs,
};
use crate::ui::ColorChoice;

/// Answers "what happened?" about a Celery deployment, from Celery's own events
///
/// celtrace reads Celery's monitoring events (workers started with `-E`, producers with
/// `task_send_sent_event = True`) from a recording or a broker, rebuilds every task with all
/// its attempts, and prints tables and timelines for people, JSON, NDJSON and CSV for scripts.
#[derive(Debug, Parser)]
#[command(
    name = "celtrace",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_long_help = const_format_help())]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

const fn const_format_help() -> &'static str {
    concat!(
        "Environment:\n",
        "  CELTRACE_BROKER_URL      broker URL when --broker is not given (then CELERY_BROKER_URL)\n",
        "  CELTRACE_RESULT_BACKEND  result backend when --result-backend is not given (then CELERY_RESULT_BACKEND)\n",
        "  CELTRACE_READ_ONLY       1: retry and revoke refuse (exit 8)\n",
        "  NO_COLOR                 disables colour with --color auto\n",
        "  TZ                       time zone of times shown in tables (use --utc for UTC)\n",
        "\n",
        "Exit status:\n",
        "  0    success (a closed output pipe counts as success)\n",
        "  1    failure not covered below (e.g. output could not be written);\n",
        "       `diff`: the runs' outcomes differ\n",
        "  2    usage error: bad flag or value, bad broker URL, time or glob\n",
        "  3    task not found, or id prefix ambiguous\n",
        "  4    broker unreachable, refused, or not supported by this build\n",
        "  5    bad input: recording missing, unreadable, empty or too new\n",
        "  6    found what --fail-on / --wait was asked to fail on; `doctor`: a check failed\n",
        "  7    --wait timed out before the task or flow finished\n",
        "  8    refused: read-only mode (CELTRACE_READ_ONLY=1 or the profile) forbids retry and revoke\n",
        "  130  interrupted (Ctrl-C)"
    )
}

/// Options every command accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global Options")]
pub struct GlobalArgs {
    /// Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://
    ///
    /// Precedence: this flag, then CELTRACE_BROKER_URL, then CELERY_BROKER_URL, then the
    /// profile's `broker`, then redis://localhost:6379/0. Passwords in URLs are never printed.
    #[arg(long, short = 'b', global = true, value_name = "URL")]
    pub broker: Option<String>,

    /// Result backend for real arguments, results and group ids (redis:// only)
    ///
    /// Precedence: this flag, then CELTRACE_RESULT_BACKEND, then CELERY_RESULT_BACKEND.
    #[arg(long, global = true, value_name = "URL")]
    pub result_backend: Option<String>,

    /// Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Profile of the configuration file to use [env: CELTRACE_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Read events from a recording instead of a broker (`-` reads stdin)
    ///
    /// A recording is NDJSON: one Celery event dict per line. Lines that are kombu
    /// envelopes or task.multi lists are read too.
    #[arg(long, global = true, value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// The recording `celtrace record` keeps: Redis Stream key [default: profile's `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile's `queue_name`, or celtrace.events]
    #[arg(long, global = true, value_name = "KEY")]
    pub stream: Option<String>,

    /// When to use colour [default: auto, or the profile's `color`]
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub color: Option<ColorChoice>,

    /// Show times in UTC instead of local time
    #[arg(long, global = true)]
    pub utc: bool,

    /// Show secret values as recorded instead of [Filtered] (says so on stderr)
    ///
    /// By default the values of secret-looking keys (password, token, api_key, ...; see
    /// `docs/secrets.md`) and credentials in URLs, Bearer tokens and card numbers are shown as
    /// [Filtered] in every output.
    #[arg(long, global = true)]
    pub no_scrub: bool,

    /// Also filter the values of keys containing KEY (repeatable; adds to the profile's
    /// `scrub_keys`)
    #[arg(long, global = true, value_name = "KEY")]
    pub scrub_key: Vec<String>,

    /// Print no warnings or notes on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print details of problems in the input (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Tasks(TasksArgs),
    Show(ShowArgs),
    Graph(GraphArgs),
    Export(ExportArgs),
    Workers(WorkersArgs),
    Stats(StatsArgs),
    Anomalies(AnomaliesArgs),
    Record(RecordArgs),
    Tail(TailArgs),
    Replay(ReplayArgs),
    Diff(DiffArgs),
    Doctor(DoctorArgs),
    Errors(ErrorsArgs),
    Queues(QueuesArgs),
    Retry(RetryArgs),
    Revoke(RevokeArgs),
    Top(crate::commands::top::TopArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_app() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_the_same_exit_codes_as_exit_rs() {
        let help = super::const_format_help();
        assert!(
            help.ends_with(crate::exit::TABLE),
            "exit table in --help differs from exit::TABLE"
        );
    }
}
