
use builtin;
use str;

set edit:completion:arg-completer[celtrace] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'celtrace'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'celtrace'= {
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand tasks 'List tasks with their state, worker, timing and retries'
            cand show 'Show one task: state, timeline of every attempt, arguments, result, traceback, lineage'
            cand graph 'Show the workflow a task belongs to: chain steps, groups, chords, children, critical path'
            cand export 'Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents'
            cand workers 'List workers: status, sessions, counters and the tasks they dropped'
            cand stats 'Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries'
            cand anomalies 'Find what went wrong: lost, stuck, hung and unregistered tasks, retry storms, flapping workers'
            cand completions 'Print or write shell completion scripts'
            cand man 'Print the man page, or write one page per command into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'celtrace;tasks'= {
            cand --state 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)'
            cand --name 'Only tasks whose name matches this glob (e.g. ''shop.*'')'
            cand --worker 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')'
            cand --queue 'Only tasks sent to a queue matching this glob'
            cand --root 'Only tasks of the workflow with this root id (full id or unique prefix)'
            cand --parent 'Only direct children of this task (full id or unique prefix)'
            cand --since 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339'
            cand --until 'Only tasks with activity at or before this time: a duration back from now or RFC 3339'
            cand -n 'Show at most N tasks (the first N in sort order)'
            cand --limit 'Show at most N tasks (the first N in sort order)'
            cand --sort 'Sort order: times and runtime newest/longest first, name and state ascending'
            cand -f 'Output format'
            cand --format 'Output format'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --reverse 'Reverse the sort order'
            cand --json 'Shorthand for --format json'
            cand --no-scrub 'Show secret-looking argument values instead of [Filtered]'
            cand --ascii 'Plain ASCII table borders'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;show'= {
            cand -f 'Output format'
            cand --format 'Output format'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --json 'Shorthand for --format json'
            cand --no-scrub 'Show secret-looking argument values instead of [Filtered]'
            cand --ascii 'Plain ASCII decoration'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;graph'= {
            cand -f 'Output format'
            cand --format 'Output format'
            cand --depth 'Show the tree only this many levels deep'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --dot 'Shorthand for --format dot'
            cand --json 'Shorthand for --format json'
            cand --all 'Show every child of a large fan-out instead of a summary line'
            cand --ascii 'Plain ASCII tree'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;export'= {
            cand -f 'Output format'
            cand --format 'Output format'
            cand -o 'Write to this file instead of stdout'
            cand --output 'Write to this file instead of stdout'
            cand --state 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)'
            cand --name 'Only tasks whose name matches this glob (e.g. ''shop.*'')'
            cand --worker 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')'
            cand --queue 'Only tasks sent to a queue matching this glob'
            cand --root 'Only tasks of the workflow with this root id (full id or unique prefix)'
            cand --parent 'Only direct children of this task (full id or unique prefix)'
            cand --since 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339'
            cand --until 'Only tasks with activity at or before this time: a duration back from now or RFC 3339'
            cand --otlp-endpoint 'Post the traces to this OTLP/HTTP collector (JSON encoding), e.g. http://localhost:4318'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --no-scrub 'Show secret-looking argument values instead of [Filtered] (json, csv)'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;workers'= {
            cand --worker 'Only workers whose hostname matches this glob (e.g. ''w1@*'')'
            cand --status 'Only workers with this status now'
            cand --lost-after 'Call a worker lost after this many heartbeat intervals without a heartbeat'
            cand --since 'Only workers with a sign of life at or after this time: a duration back from now (15m, 2h) or RFC 3339'
            cand --until 'Only workers with a sign of life at or before this time'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --history 'List every session (start, end, how it ended) instead of one row per worker'
            cand --json 'Print one JSON document (sessions included)'
            cand --ascii 'Plain ASCII table borders'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;stats'= {
            cand --by 'Group by task name, worker or queue'
            cand --since 'Only tasks first seen at or after this time: a duration back from now (15m, 2h) or RFC 3339'
            cand --until 'Only tasks first seen at or before this time'
            cand --bucket 'Add a time series of tasks per bucket of this width (e.g. 5m): a sparkline column, or the counts in JSON'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --json 'Print one JSON document'
            cand --ascii 'Plain ASCII table borders and sparkline'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;anomalies'= {
            cand --fail-on 'Exit with status 6 when a finding at or above this severity exists'
            cand --stuck-after 'A sent task never received after this long is stuck in its queue [default: 10m]'
            cand --not-started-after 'A received task not started after this long is flagged (ETA tasks exempt) [default: 5m]'
            cand --not-finished-after 'A started task not finished after this long is flagged [default: 1h]'
            cand --retry-storm 'Retries of one task that make a retry storm'
            cand --flapping-sessions 'Sessions of one worker within --flapping-window that make it flapping'
            cand --flapping-window 'Window for --flapping-sessions [default: 10m]'
            cand --lost-after 'Heartbeat intervals of silence before a worker is lost'
            cand --rule 'Only findings of these rules (comma-separated ids, see the README)'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --json 'Print one JSON document'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;completions'= {
            cand --dir 'Write the script into this directory (file name chosen per shell) instead of stdout'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;man'= {
            cand --dir 'Write celtrace.1 and one page per subcommand (celtrace-tasks.1, ...) into this directory'
            cand -b 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --broker 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://'
            cand --result-backend 'Result backend for real arguments, results and group ids (redis:// only)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]'
            cand --profile 'Profile of the configuration file to use [env: CELTRACE_PROFILE]'
            cand --events 'Read events from a recording instead of a broker (`-` reads stdin)'
            cand --color 'When to use colour [default: auto, or the profile''s `color`]'
            cand --utc 'Show times in UTC instead of local time'
            cand -q 'Print no warnings or notes on stderr'
            cand --quiet 'Print no warnings or notes on stderr'
            cand -v 'Print details of problems in the input (repeat for more)'
            cand --verbose 'Print details of problems in the input (repeat for more)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'celtrace;help'= {
            cand tasks 'List tasks with their state, worker, timing and retries'
            cand show 'Show one task: state, timeline of every attempt, arguments, result, traceback, lineage'
            cand graph 'Show the workflow a task belongs to: chain steps, groups, chords, children, critical path'
            cand export 'Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents'
            cand workers 'List workers: status, sessions, counters and the tasks they dropped'
            cand stats 'Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries'
            cand anomalies 'Find what went wrong: lost, stuck, hung and unregistered tasks, retry storms, flapping workers'
            cand completions 'Print or write shell completion scripts'
            cand man 'Print the man page, or write one page per command into a directory'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'celtrace;help;tasks'= {
        }
        &'celtrace;help;show'= {
        }
        &'celtrace;help;graph'= {
        }
        &'celtrace;help;export'= {
        }
        &'celtrace;help;workers'= {
        }
        &'celtrace;help;stats'= {
        }
        &'celtrace;help;anomalies'= {
        }
        &'celtrace;help;completions'= {
        }
        &'celtrace;help;man'= {
        }
        &'celtrace;help;help'= {
        }
    ]
    $completions[$command]
}
