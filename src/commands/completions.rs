//! `celtrace completions <shell>`: shell completion scripts generated from the clap definition.

use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::CliError;

/// Print or write shell completion scripts
///
/// Examples:
///   celtrace completions bash > ~/.local/share/bash-completion/completions/celtrace
///   celtrace completions zsh --dir ~/.zfunc
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// Shell to generate completions for
    #[arg(value_enum)]
    pub shell: Shell,

    /// Write the script into this directory (file name chosen per shell) instead of stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Every shell we ship completions for, with the file name each expects.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::PowerShell,
    Shell::Elvish,
];

/// The script for one shell, as bytes.
pub fn generate(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "celtrace", &mut buf);
    buf
}

pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "celtrace.bash",
        Shell::Zsh => "_celtrace",
        Shell::Fish => "celtrace.fish",
        Shell::PowerShell => "_celtrace.ps1",
        Shell::Elvish => "celtrace.elv",
        _ => "celtrace.completion",
    }
}

pub fn run(args: &CompletionsArgs) -> Result<(), CliError> {
    let script = generate(args.shell);
    match &args.dir {
        Some(dir) => {
            let path = dir.join(file_name(args.shell));
            std::fs::write(&path, script)
                .map_err(|e| CliError::system(format!("cannot write {}", path.display()), e))?;
        }
        None => std::io::Write::write_all(&mut crate::ui::stdout_raw(), &script)?,
    }
    Ok(())
}
