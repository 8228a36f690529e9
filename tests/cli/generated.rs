//! completions/ and man/ are generated from the clap definition and committed; this fails
//! when they are stale. Regenerate with `CELTRACE_BLESS=1 cargo test --test cli generated`.

use crate::common::{repo_path, run};

fn check(rel: &str, expected: &[u8], stale: &mut Vec<String>) {
    let path = repo_path(rel);
    if std::env::var_os("CELTRACE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, expected).unwrap();
        return;
    }
    if std::fs::read(&path).ok().as_deref() != Some(expected) {
        stale.push(rel.to_string());
    }
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let mut stale = Vec::new();
    for (shell, file) in [
        ("bash", "celtrace.bash"),
        ("zsh", "_celtrace"),
        ("fish", "celtrace.fish"),
        ("powershell", "_celtrace.ps1"),
        ("elvish", "celtrace.elv"),
    ] {
        let out = run(&["completions", shell]);
        assert_eq!(out.code, 0);
        check(
            &format!("completions/{file}"),
            out.stdout.as_bytes(),
            &mut stale,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.normalized());
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() >= 5, "root page plus one per subcommand");
    for page in pages {
        let name = page.file_name().unwrap().to_str().unwrap().to_string();
        check(
            &format!("man/{name}"),
            &std::fs::read(&page).unwrap(),
            &mut stale,
        );
    }
    let root = run(&["man"]);
    assert!(
        root.stdout.starts_with(".ie"),
        "man prints the root page in roff"
    );
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}\nregenerate: CELTRACE_BLESS=1 cargo test --test cli generated"
    );
}
