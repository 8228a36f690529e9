//! The terminal: stdout/stderr handles, colour and TTY decisions (made once, here), warnings.

#![allow(clippy::disallowed_methods)] // ui.rs is the home of stdout/stderr

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves `auto` for one stream.
    pub fn resolve(self, is_tty: bool, no_color_env: bool, dumb_term: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => is_tty && !no_color_env && !dumb_term,
        }
    }
}

/// Output handles and the decisions made about them.
pub struct Ui {
    pub stdout_color: bool,
    pub stderr_color: bool,
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// Terminal width for tables, if known.
    pub width: Option<u16>,
}

impl Ui {
    pub fn new(
        color: ColorChoice,
        no_color_env: bool,
        dumb_term: bool,
        columns: Option<u16>,
        quiet: bool,
        verbose: u8,
    ) -> Self {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        Self {
            stdout_color: color.resolve(stdout_tty, no_color_env, dumb_term),
            stderr_color: color.resolve(stderr_tty, no_color_env, dumb_term),
            stdout_tty,
            stderr_tty,
            quiet,
            verbose,
            width: columns.or_else(|| stdout_tty.then(terminal_width).flatten()),
        }
    }

    pub fn stdout(&self) -> io::StdoutLock<'static> {
        io::stdout().lock()
    }

    /// A progress bar on stderr for a long read: drawn only when stderr is a terminal and
    /// `--quiet` is off, hidden (and free) otherwise. Its length is set by the reader.
    pub fn progress(&self, what: &str) -> indicatif::ProgressBar {
        if !self.stderr_tty || self.quiet {
            return indicatif::ProgressBar::hidden();
        }
        let style = indicatif::ProgressStyle::with_template(
            "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
                .with_style(style);
        bar.set_message(what.to_string());
        bar
    }

    /// [`Ui::progress`] counted in entries (a recorded stream), not bytes.
    pub fn progress_entries(&self, what: &str) -> indicatif::ProgressBar {
        let bar = self.progress(what);
        if !bar.is_hidden() {
            let style = indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {human_pos}/{human_len} entries {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
        }
        bar
    }

    /// A status line on stderr for a long-running command, drawn only on a terminal
    /// (hidden otherwise, and with `--quiet`).
    pub fn spinner(&self) -> indicatif::ProgressBar {
        if !self.stderr_tty || self.quiet {
            return indicatif::ProgressBar::hidden();
        }
        let style = indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
            .with_style(style)
    }

    /// A structured log line on stderr (logfmt: `ts=... level=info key=value ...`), for
    /// long-running commands whose stderr is a log, not a terminal.
    pub fn log_line(&self, fields: &[(&str, &str)]) {
        self.log_line_at("info", fields);
    }

    /// A logfmt line at `level` (`info`, `warn`, `error`); warnings and errors are never
    /// silenced by `--quiet`.
    pub fn log_line_at(&self, level: &str, fields: &[(&str, &str)]) {
        if self.quiet && level == "info" {
            return;
        }
        let mut line = format!(
            "ts={} level={level}",
            crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        for (k, v) in fields {
            let quoted = v.contains([' ', '"', '=']) || v.is_empty();
            if quoted {
                line.push_str(&format!(" {k}={v:?}"));
            } else {
                line.push_str(&format!(" {k}={v}"));
            }
        }
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// Whether stdin is a terminal (a person who can answer a question).
    pub fn stdin_is_tty(&self) -> bool {
        io::stdin().is_terminal()
    }

    /// Asks a yes/no question on stderr and reads the answer from stdin; no by default.
    pub fn confirm(&self, question: &str) -> bool {
        let _ = write!(io::stderr().lock(), "{question} [y/N] ");
        let _ = io::stderr().flush();
        let mut answer = String::new();
        if io::stdin().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }

    /// A warning on stderr (suppressed by `--quiet`).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            self.warn_always(message);
        }
    }

    /// A warning `--quiet` does not silence (secrets about to be shown).
    pub fn warn_always(&self, message: &str) {
        let label = if self.stderr_color {
            use owo_colors::OwoColorize;
            "warning:".yellow().bold().to_string()
        } else {
            "warning:".to_string()
        };
        let _ = writeln!(io::stderr().lock(), "{label} {message}");
    }

    /// A plain note on stderr (suppressed by `--quiet`).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{message}");
        }
    }
}

fn terminal_width() -> Option<u16> {
    comfy_table::Table::new().width()
}

/// Stdout for commands that run before a [`Ui`] exists (completions, man).
pub fn stdout_raw() -> io::StdoutLock<'static> {
    io::stdout().lock()
}

/// Prints a diagnostic report on stderr (`main` only).
pub fn eprint_report(report: &miette::Report) {
    let _ = writeln!(io::stderr().lock(), "{report:?}");
}

/// Whether stderr is a terminal (for the miette hook in `main`).
pub fn stderr_is_tty() -> bool {
    io::stderr().is_terminal()
}
