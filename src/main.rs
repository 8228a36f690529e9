use std::process::ExitCode;

use celtrace::{cli::Cli, clock, commands, ctx::Env, exit, ui};
use clap::Parser;

// Decoder threads allocate what the fold thread keeps or frees: glibc's malloc serialises
// those cross-thread frees on its arena locks, mimalloc does not (and is faster throughout).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    // Every TLS stack uses ring; installed once so none has to guess.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::capture();
    let tty = ui::stderr_is_tty();
    let color = cli
        .global
        .color
        .unwrap_or_default()
        .resolve(tty, env.no_color, env.dumb_term);
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(tty)
                .terminal_links(false)
                .width(if tty { 120 } else { 100 })
                .build(),
        )
    }));
    match commands::dispatch(&cli, &env, clock::now()) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(e) if e.is_broken_pipe() => ExitCode::from(exit::SUCCESS),
        Err(e) => {
            let code = e.exit_code();
            // `--fail-on ... -q`: the exit status is the answer, and -q asked for silence.
            // `diff`: the differences printed are the answer.
            let quiet = e.is_silent() || (cli.global.quiet && e.is_finding());
            if !quiet {
                ui::eprint_report(&miette::Report::new(e));
            }
            ExitCode::from(code)
        }
    }
}
