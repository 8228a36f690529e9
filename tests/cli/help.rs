//! `--help` of every command, snapshotted: the help text is the user manual.

use crate::common::run;

#[test]
fn help_of_every_command() {
    for cmd in [
        vec!["--help"],
        vec!["tasks", "--help"],
        vec!["show", "--help"],
        vec!["graph", "--help"],
        vec!["export", "--help"],
        vec!["workers", "--help"],
        vec!["anomalies", "--help"],
        vec!["stats", "--help"],
        vec!["record", "--help"],
        vec!["tail", "--help"],
        vec!["queues", "--help"],
        vec!["revoke", "--help"],
        vec!["retry", "--help"],
        vec!["completions", "--help"],
        vec!["man", "--help"],
    ] {
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
