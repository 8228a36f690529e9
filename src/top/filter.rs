//! The `f` line: the `tasks` filters typed as `state=FAILURE name=shop.*` (or as the flags
//! themselves, `--state FAILURE`), parsed by the same clap definitions as the command line,
//! so a filter means the same in `top` as in `tasks`.

use clap::Parser;

use crate::commands::args::TaskFilters;

#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct FilterLine {
    #[command(flatten)]
    filters: TaskFilters,
}

/// The line's filters, or the reason it is not one, in one line.
pub fn parse(text: &str) -> Result<TaskFilters, String> {
    let tokens = text.split_whitespace().map(|t| {
        if t.starts_with('-') {
            t.to_string()
        } else if let Some((k, v)) = t.split_once('=') {
            format!("--{k}={v}")
        } else {
            t.to_string()
        }
    });
    FilterLine::try_parse_from(tokens)
        .map(|l| l.filters)
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("not a filter");
            format!(
                "{}; e.g. state=FAILURE name=shop.* worker=w1@*",
                first.trim_start_matches("error: ")
            )
        })
}

/// The command line's task filters as a filter line (what `f` starts from).
pub fn text_of(f: &TaskFilters) -> String {
    let mut parts = Vec::new();
    if !f.state.is_empty() {
        let states: Vec<&str> = f.state.iter().map(|s| s.as_str()).collect();
        parts.push(format!("state={}", states.join(",")));
    }
    for (key, values) in [
        ("name", &f.name),
        ("worker", &f.worker),
        ("queue", &f.queue),
        ("grep", &f.grep),
    ] {
        parts.extend(values.iter().map(|v| format!("{key}={v}")));
    }
    for (key, value) in [
        ("root", &f.root),
        ("parent", &f.parent),
        ("since", &f.since),
        ("until", &f.until),
    ] {
        parts.extend(value.iter().map(|v| format!("{key}={v}")));
    }
    if f.ignore_case {
        parts.push("-i".to_string());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskState;

    #[test]
    fn key_value_words_are_the_tasks_flags() {
        let f =
            parse("state=failure,retry name=shop.* --worker w1@* queue=emails since=1h").unwrap();
        assert_eq!(f.state, vec![TaskState::Failure, TaskState::Retry]);
        assert_eq!(f.name, vec!["shop.*"]);
        assert_eq!(f.worker, vec!["w1@*"]);
        assert_eq!(f.queue, vec!["emails"]);
        assert_eq!(f.since.as_deref(), Some("1h"));
    }

    #[test]
    fn an_empty_line_filters_nothing() {
        assert!(!parse("").unwrap().selects_tasks());
        assert!(!parse("   ").unwrap().selects_tasks());
    }

    #[test]
    fn a_wrong_filter_says_why_in_one_line() {
        let e = parse("state=bogus").unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse("colour=red").unwrap_err();
        assert!(e.contains("colour"), "{e}");
        let e = parse("justaword").unwrap_err();
        assert!(e.contains("justaword"), "{e}");
    }

    #[test]
    fn the_command_line_filters_come_back_as_the_same_filters() {
        let line =
            "state=FAILURE,RETRY name=shop.* worker=w1@* queue=q grep=Card root=3f2a since=1h -i";
        let f = parse(line).unwrap();
        let again = parse(&text_of(&f)).unwrap();
        assert_eq!(text_of(&again), text_of(&f));
        assert_eq!(again.state, f.state);
        assert_eq!(again.name, f.name);
        assert_eq!(again.grep, f.grep);
        assert!(again.ignore_case);
        assert_eq!(again.root.as_deref(), Some("3f2a"));
    }
}
