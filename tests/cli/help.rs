//! `--help` of every command, snapshotted: the help text is the user manual.

use crate::common::run;

/// Every subcommand, from the clap definition itself: a new command is covered by the help
/// snapshots and the checks below without anyone remembering to list it.
fn subcommands() -> Vec<String> {
    use clap::CommandFactory;
    celtrace::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn help_of_every_command() {
    let mut cmds = vec![vec!["--help".to_string()]];
    cmds.extend(subcommands().into_iter().map(|c| vec![c, "--help".into()]));
    for cmd in cmds {
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = run(&cmd);
        assert_eq!(out.code, 0);
        let name = if cmd.len() == 1 {
            "help__celtrace".to_string()
        } else {
            format!("help__{}", cmd[0])
        };
        insta::assert_snapshot!(name, out.stdout);
    }
}

#[test]
fn version() {
    let out = run(&["--version"]);
    assert_eq!(
        out.stdout.trim(),
        format!("celtrace {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A command missing from the completions, the man pages or the README fails here (the
/// help snapshots are checked by `help_of_every_command`, the files' freshness by
/// `generated::completions_and_man_pages_are_fresh`).
#[test]
fn every_command_is_in_the_help_the_completions_the_man_pages_and_the_readme() {
    let root_help = run(&["--help"]).stdout;
    let bash =
        std::fs::read_to_string(crate::common::repo_path("completions/celtrace.bash")).unwrap();
    let zsh = std::fs::read_to_string(crate::common::repo_path("completions/_celtrace")).unwrap();
    let readme = std::fs::read_to_string(crate::common::repo_path("README.md")).unwrap();
    let mut missing = Vec::new();
    for name in subcommands() {
        if !root_help
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{name} ")))
        {
            missing.push(format!("{name}: not in `celtrace --help`"));
        }
        if !bash.contains(&format!("celtrace__subcmd__{name}\"")) {
            missing.push(format!("{name}: not in completions/celtrace.bash"));
        }
        if !zsh.contains(&format!("'{name}:")) && !zsh.contains(&format!("({name})")) {
            missing.push(format!("{name}: not in completions/_celtrace"));
        }
        if !crate::common::repo_path(&format!("man/celtrace-{name}.1")).exists() {
            missing.push(format!("{name}: no man/celtrace-{name}.1"));
        }
        let snap = format!("tests/cli/snapshots/cli__help__help__{name}.snap");
        if !crate::common::repo_path(&snap).exists() {
            missing.push(format!("{name}: no help snapshot {snap}"));
        }
        if !readme.contains(&format!("celtrace {name}")) {
            missing.push(format!("{name}: the README never shows `celtrace {name}`"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
