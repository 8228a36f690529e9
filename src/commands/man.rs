//! `celtrace man`: roff man pages generated from the clap definition.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::error::CliError;

/// Print the man page, or write one page per command into a directory
///
/// Examples:
///   celtrace man | man -l -
///   celtrace man --dir /usr/local/share/man/man1
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// Write celtrace.1 and one page per subcommand (celtrace-tasks.1, ...) into this directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Every page as (file name, roff bytes), root first.
pub fn pages() -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let mut root = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut root)?;
    out.push(("celtrace.1".to_string(), root));
    for sub in cmd.get_subcommands() {
        let name = format!("celtrace-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .version(env!("CARGO_PKG_VERSION"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buf)?;
        out.push((format!("{name}.1"), buf));
    }
    Ok(out)
}

pub fn run(args: &ManArgs) -> Result<(), CliError> {
    let pages = pages().map_err(|e| CliError::system("cannot render the man pages", e))?;
    match &args.dir {
        Some(dir) => {
            for (name, bytes) in pages {
                let path = dir.join(name);
                std::fs::write(&path, bytes)
                    .map_err(|e| CliError::system(format!("cannot write {}", path.display()), e))?;
            }
        }
        None => std::io::Write::write_all(&mut crate::ui::stdout_raw(), &pages[0].1)?,
    }
    Ok(())
}
