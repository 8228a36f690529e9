# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_celtrace_global_optspecs
    string join \n b/broker= result-backend= config= profile= events= stream= color= utc no-scrub scrub-key= q/quiet v/verbose h/help V/version
end

function __fish_celtrace_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_celtrace_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_celtrace_using_subcommand
    set -l cmd (__fish_celtrace_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c celtrace -n "__fish_celtrace_needs_command" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_needs_command" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_needs_command" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_needs_command" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_needs_command" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_needs_command" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_needs_command" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_needs_command" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_needs_command" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_needs_command" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_needs_command" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_needs_command" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_needs_command" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "tasks" -d 'List tasks with their state, worker, timing and retries'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "show" -d 'Show one task: state, timeline of every attempt, arguments, result, traceback, lineage'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "graph" -d 'Show the workflow a task belongs to: chain steps, groups, chords, children, critical path'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "export" -d 'Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "workers" -d 'List workers: status, sessions, counters and the tasks they dropped'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "stats" -d 'Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "anomalies" -d 'Find what went wrong: lost, stuck, hung, killed, slow and unregistered tasks, failure spikes, chords that never finished, retry storms, flapping workers'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "record" -d 'Record Celery\'s events: a Redis Stream (runs until stopped) or a RabbitMQ stream queue'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "tail" -d 'Follow events as they happen, one line each'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "replay" -d 'Print a recording\'s events again, paced by their original timing'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "diff" -d 'Compare two runs of a workflow: what only one has, and what changed'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "doctor" -d 'Check the setup end to end and say what to change: why can\'t I see my tasks?'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "errors" -d 'Group failures and retries into patterns: which errors, how often, where and when'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "queues" -d 'Show the backlog of each queue: waiting, in flight, consumers, age of the oldest message'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "retry" -d 'Run tasks again: each is published under a new id, its parent the original'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "revoke" -d 'Revoke tasks: workers discard them when they come up, or kill them with --terminate'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "top" -d 'A live dashboard of workers, queues, tasks and anomalies, with keys to act'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "completions" -d 'Print or write shell completion scripts'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "man" -d 'Print the man page, or write one page per command into a directory'
complete -c celtrace -n "__fish_celtrace_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l at -d 'The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m), or a task\'s first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after it are left out, running tasks are measured up to it, workers judged at it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s n -l limit -d 'Show at most N tasks (the first N in sort order)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l sort -d 'Sort order: times and runtime newest/longest first, name and state ascending' -r -f -a "received\t''
started\t''
runtime\t''
name\t''
state\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s f -l format -d 'Output format: a table for people, or JSON, NDJSON or CSV for programs' -r -f -a "table\t'A table for people'
json\t'One JSON document'
ndjson\t'JSON Lines: a `begin` record, one record per item, an `end` record'
csv\t'Comma-separated values with a header row'"
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l reverse -d 'Reverse the sort order'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l ascii -d 'Plain ASCII table borders (and sparklines)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l wide -d 'Never cut a table cell to fit the terminal: every name and id in full'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand tasks" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -s f -l format -d 'Output format' -r -f -a "text\t'Header, timeline, arguments, result, traceback, lineage, children'
json\t'One JSON document with the same content'"
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l at -d 'The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m), or a task\'s first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after it are left out, running tasks are measured up to it, workers judged at it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l timeout -d 'How long --wait waits (e.g. 90s, 10m)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l ascii -d 'Plain ASCII decoration'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l wait -d 'Wait until it has finished: exit 0 on success, 6 on a failure, 7 on --timeout'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand show" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -s f -l format -d 'Output format' -r -f -a "tree\t'An indented tree for people'
dot\t'Graphviz DOT (deterministic; clusters for groups and chords)'
mermaid\t'A Mermaid flowchart'
json\t'One JSON document'"
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l depth -d 'Show the tree only this many levels deep' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l at -d 'The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m), or a task\'s first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after it are left out, running tasks are measured up to it, workers judged at it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l timeout -d 'How long --wait waits (e.g. 90s, 10m)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l dot -d 'Shorthand for --format dot'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l all -d 'Show every child of a large fan-out instead of a summary line'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l ascii -d 'Plain ASCII tree'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l guess-groups -d 'Also draw siblings sent close together by one producer as groups, and join top-level tasks sent with the root: a guess (separate `.delay()` calls look the same), marked (guess) in every format'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l wait -d 'Wait until it has finished: exit 0 on success, 6 on a failure, 7 on --timeout'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand graph" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s f -l format -d 'Output format' -r -f -a "ndjson\t'The recording format: a header, then one Celery event dict per line'
json\t'One JSON document of task objects (as `tasks --json`)'
csv\t'One CSV row per task (as `tasks --format csv`)'
otlp\t'OTLP/JSON traces: one trace per flow, one span per task attempt'"
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s o -l output -d 'Write to this file instead of stdout' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l otlp-endpoint -d 'Post the traces to this OTLP/HTTP collector (JSON encoding), e.g. http://localhost:4318' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand export" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l worker -d 'Only workers whose hostname matches this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l status -d 'Only workers with this status now' -r -f -a "online\t''
offline\t''
lost\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l lost-after -d 'Call a worker lost after this many heartbeat intervals without a heartbeat' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l since -d 'Only workers with a sign of life at or after this time: a duration back from now (15m, 2h) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l until -d 'Only workers with a sign of life at or before this time' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l at -d 'The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m), or a task\'s first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after it are left out, running tasks are measured up to it, workers judged at it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -s f -l format -d 'Output format: a table for people, or JSON, NDJSON or CSV for programs' -r -f -a "table\t'A table for people'
json\t'One JSON document'
ndjson\t'JSON Lines: a `begin` record, one record per item, an `end` record'
csv\t'Comma-separated values with a header row'"
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l timeout -d 'How long --inspect collects replies' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l history -d 'List every session (start, end, how it ended) instead of one row per worker'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l ascii -d 'Plain ASCII table borders (and sparklines)'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l wide -d 'Never cut a table cell to fit the terminal: every name and id in full'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l inspect -d 'Also ask the workers now (remote control): pool, prefetch, queues, active, reserved, scheduled and registered tasks; a worker that does not answer is reported'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand workers" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l by -d 'Group by task name, worker, queue or hour (the UTC hour a task was first seen, rows in time order: counts, OK%, p50/p99 runtime per hour; with --bucket, per slice of that width)' -r -f -a "name\t''
worker\t''
queue\t''
hour\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l heatmap -d 'Instead of the table, a worker × time heatmap of the tasks each worker started (or, with `--heatmap runtime`, of their runtime), in shaded cells with a legend' -r -f -a "tasks\t'Tasks started per cell'
runtime\t'Seconds of runtime per cell'"
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l at -d 'The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m), or a task\'s first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after it are left out, running tasks are measured up to it, workers judged at it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l bucket -d 'Add a time series of tasks per bucket of this width (e.g. 5m): a sparkline column, or the counts in JSON' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s f -l format -d 'Output format: a table for people, or JSON, NDJSON or CSV for programs' -r -f -a "table\t'A table for people'
json\t'One JSON document'
ndjson\t'JSON Lines: a `begin` record, one record per item, an `end` record'
csv\t'Comma-separated values with a header row'"
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l ascii -d 'Plain ASCII table borders (and sparklines)'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l wide -d 'Never cut a table cell to fit the terminal: every name and id in full'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand stats" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l fail-on -d 'Exit with status 6 when a finding at or above this severity exists' -r -f -a "warning\t''
error\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l stuck-after -d 'A sent task never received after this long is stuck in its queue [default: 10m]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l not-started-after -d 'A received task not started after this long is flagged (ETA tasks exempt) [default: 5m]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l not-finished-after -d 'A started task not finished after this long is flagged [default: 1h]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l retry-storm -d 'Retries of one task that make a retry storm' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l flapping-sessions -d 'Sessions of one worker within --flapping-window that make it flapping' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l flapping-window -d 'Window for --flapping-sessions [default: 10m]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l lost-after -d 'Heartbeat intervals of silence before a worker is lost' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l spike-window -d 'Width of the windows failure_spike compares (the newest window with failures against the one before it) [default: 5m]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l chord-grace -d 'A chord still waiting this long after its known header tasks ended is flagged (needs --result-backend and recorded backend records) [default: 5m]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l slow-factor -d 'A run this many times its name\'s p99 runtime is slow (names with 20 runs or more)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l rule -d 'Only findings of these rules (comma-separated ids, see the README)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l sla -d 'A runtime limit for tasks whose name matches a glob, `GLOB=DURATION`, or a queue-wait limit, `GLOB=wait:DURATION` (repeatable; adds to the profile\'s [sla]): the `sla` rule' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s f -l format -d 'Output format: a table for people, or JSON, NDJSON or CSV for programs' -r -f -a "table\t'A table for people'
json\t'One JSON document'
ndjson\t'JSON Lines: a `begin` record, one record per item, an `end` record'
csv\t'Comma-separated values with a header row'"
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l ascii -d 'Plain ASCII table borders (and sparklines)'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l wide -d 'Never cut a table cell to fit the terminal: every name and id in full'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand anomalies" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l retention -d 'Keep this much history (trimmed by time); `0` keeps everything' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l max-len -d 'Also cap the stream at about this many entries (trimmed in whole blocks, so a little more)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l max-backlog -d 'Received events that may wait for Redis (bytes; e.g. 64MB). Beyond it, arrivals are dropped and counted in a `lagged` gap record' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l global-keyprefix -d 'kombu\'s `global_keyprefix` transport option, if the app sets one' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l fanout-prefix -d 'kombu\'s `fanout_prefix` transport option: `true` (default `/{db}.`), `false`, or a prefix' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l exchange -d 'Celery\'s `event_exchange`, if the app changed it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l max-bytes -d 'RabbitMQ: cap the stream queue at about this many bytes (x-max-length-bytes, e.g. 2GB)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l no-fanout-patterns -d 'kombu\'s `fanout_patterns` transport option was set to False by the app'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l no-backend -d 'Do not record result-backend writes even when --result-backend is Redis'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l status -d 'Print what the stream holds now and exit'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l remove -d 'RabbitMQ: delete the stream queue and everything in it (asks first; --yes skips)'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -s y -l yes -d 'Do not ask before --remove (needed when stdin is not a terminal)'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l index -d 'RabbitMQ: stay running and keep an index of the stream queue in `<queue>.index`, so `show` and `graph` read one workflow\'s messages instead of the whole stream'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand record" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l name -d 'Only tasks whose name matches this glob (repeatable)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l state -d 'Only task events that leave the task in this state (repeatable, or comma-separated)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l worker -d 'Only events of workers whose hostname matches this glob (repeatable)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l task -d 'Only events of the task with this id (or id prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s n -l lines -d 'First print the last N recorded events (from `celtrace record`\'s stream, or the file)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l format -d 'Output format' -r -f -a "text\t'One line per event for people'
ndjson\t'Recording lines (valid input for --events)'"
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l global-keyprefix -d 'kombu\'s `global_keyprefix` transport option, if the app sets one' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l fanout-prefix -d 'kombu\'s `fanout_prefix` transport option: `true` (default `/{db}.`), `false`, or a prefix' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l exchange -d 'Celery\'s `event_exchange`, if the app changed it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l heartbeats -d 'Show worker heartbeats too'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s f -l follow -d 'Keep following (what `tail` does anyway from a broker; accepted for `tail -f` habits)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l ascii -d 'Plain ASCII arrows'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l no-fanout-patterns -d 'kombu\'s `fanout_patterns` transport option was set to False by the app'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand tail" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l speed -d 'How many times faster than it happened (0.5 is half speed; 0 prints without pausing)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l from -d 'Start at this moment: RFC 3339, a duration ago, or a task plus or minus a duration (3f2a-1s), as --at takes it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l until -d 'Stop after this moment (same forms as --from)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l name -d 'Only tasks whose name matches this glob (repeatable)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l state -d 'Only task events that leave the task in this state (repeatable, or comma-separated)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l worker -d 'Only events of workers whose hostname matches this glob (repeatable)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l task -d 'Only events of the task with this id (or id prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l format -d 'Output format' -r -f -a "text\t'One line per event for people'
ndjson\t'Recording lines (valid input for --events)'"
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l heartbeats -d 'Show worker heartbeats too'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l ascii -d 'Plain ASCII arrows'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand replay" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l slower -d 'Report a runtime change when one run\'s is this many times the other\'s (e.g. 2x, 1.5)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -s f -l format -d 'Output format' -r -f -a "tree\t'A marked tree for people: `+` only in B, `-` only in A, `~` changed'
json\t'One JSON document'
dot\t'Graphviz DOT of run B with the differences marked'"
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l dot -d 'Shorthand for --format dot'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l ascii -d 'Plain ASCII arrows'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand diff" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l timeout -d 'How long to wait for the workers\' answers and their live events (heartbeats come every 2 s)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l management-url -d 'RabbitMQ: also read the management API, to check the stream queue\'s binding and retention (e.g. http://user:password@localhost:15672)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l json -d 'Print one JSON document'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l ascii -d 'Plain ASCII marks'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l by -d 'Also split each pattern by worker, task name or hour' -r -f -a "worker\t''
name\t''
hour\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s f -l format -d 'Output format: a table for people, or JSON, NDJSON or CSV for programs' -r -f -a "table\t'A table for people'
json\t'One JSON document'
ndjson\t'JSON Lines: a `begin` record, one record per item, an `end` record'
csv\t'Comma-separated values with a header row'"
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l ascii -d 'Plain ASCII table borders (and sparklines)'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l wide -d 'Never cut a table cell to fit the terminal: every name and id in full'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand errors" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l queue -d 'Also look at this queue (repeatable)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l global-keyprefix -d 'kombu\'s `global_keyprefix` transport option, if the app sets one (Redis)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l management-url -d 'RabbitMQ: also read the management API (in-flight counts, every queue of the vhost), e.g. http://user:password@localhost:15672' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l timeout -d 'How long --inspect collects replies' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -s f -l format -d 'Output format: a table for people, or JSON, NDJSON or CSV for programs' -r -f -a "table\t'A table for people'
json\t'One JSON document'
ndjson\t'JSON Lines: a `begin` record, one record per item, an `end` record'
csv\t'Comma-separated values with a header row'"
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l inspect -d 'Also ask the workers which queues they consume (remote control): finds queues and, on Redis, counts consumers'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l json -d 'Shorthand for --format json'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l ascii -d 'Plain ASCII table borders (and sparklines)'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l wide -d 'Never cut a table cell to fit the terminal: every name and id in full'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand queues" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s y -l yes -d 'Do it without asking (needed when stdin is not a terminal)'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l dry-run -d 'Print what would be sent, and send nothing (works with --events too)'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l json -d 'Print the new ids as JSON'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand retry" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l signal -d 'The signal for --terminate: TERM (default), KILL, INT, HUP, QUIT, USR1, USR2, ABRT' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l timeout -d 'How long --wait-reply collects answers' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l terminate -d 'Also kill a task that is running now (its pool process gets --signal)'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l wait-reply -d 'Collect the workers\' answers for --timeout'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s y -l yes -d 'Do it without asking (needed when stdin is not a terminal)'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l dry-run -d 'Print what would be sent, and send nothing (works with --events too)'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l json -d 'Print the outcome as JSON'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand revoke" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l state -d 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l name -d 'Only tasks whose name matches this glob (e.g. \'shop.*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l worker -d 'Only tasks that ran on a worker matching this glob (e.g. \'w1@*\')' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l queue -d 'Only tasks sent to a queue matching this glob' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l root -d 'Only tasks of the workflow with this root id (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l parent -d 'Only direct children of this task (full id or unique prefix)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l since -d 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l until -d 'Only tasks with activity at or before this time: a duration back from now or RFC 3339' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l grep -d 'Only tasks whose args, kwargs, result, exception or traceback match this regular expression (repeatable: any of them), after secrets are filtered out' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l grep-field -d 'Where --grep looks (repeatable, or comma-separated; default: all of them; `exception` includes the traceback)' -r -f -a "args\t''
kwargs\t''
result\t''
exception\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l at -d 'The state as it was at TIME, from the same recording: RFC 3339, a duration ago (15m), or a task\'s first event plus or minus a duration (3f2a+2.5s, 3f2a-1s). Events after it are left out, running tasks are measured up to it, workers judged at it' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l refresh -d 'How often the screen is recomputed (100ms to 1s)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -s i -l ignore-case -d '--grep ignores case'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l ascii -d 'Plain ASCII borders and marks'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand top" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l dir -d 'Write the script into this directory (file name chosen per shell) instead of stdout' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand completions" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l dir -d 'Write celtrace.1 and one page per subcommand (celtrace-tasks.1, ...) into this directory' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -s b -l broker -d 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l result-backend -d 'Result backend for real arguments, results and group ids (redis:// only)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l profile -d 'Profile of the configuration file to use [env: CELTRACE_PROFILE]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l events -d 'Read events from a recording instead of a broker (`-` reads stdin)' -r -F
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l stream -d 'The recording `celtrace record` keeps: Redis Stream key [default: profile\'s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile\'s `queue_name`, or celtrace.events]' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l color -d 'When to use colour [default: auto, or the profile\'s `color`]' -r -f -a "auto\t'Colour when the stream is a terminal and NO_COLOR is not set'
always\t''
never\t''"
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l scrub-key -d 'Also filter the values of keys containing KEY (repeatable; adds to the profile\'s `scrub_keys`)' -r
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l utc -d 'Show times in UTC instead of local time'
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -l no-scrub -d 'Show secret values as recorded instead of [Filtered] (says so on stderr)'
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -s q -l quiet -d 'Print no warnings or notes on stderr'
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -s v -l verbose -d 'Print details of problems in the input (repeat for more)'
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c celtrace -n "__fish_celtrace_using_subcommand man" -s V -l version -d 'Print version'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "tasks" -d 'List tasks with their state, worker, timing and retries'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "show" -d 'Show one task: state, timeline of every attempt, arguments, result, traceback, lineage'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "graph" -d 'Show the workflow a task belongs to: chain steps, groups, chords, children, critical path'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "export" -d 'Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "workers" -d 'List workers: status, sessions, counters and the tasks they dropped'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "stats" -d 'Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "anomalies" -d 'Find what went wrong: lost, stuck, hung, killed, slow and unregistered tasks, failure spikes, chords that never finished, retry storms, flapping workers'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "record" -d 'Record Celery\'s events: a Redis Stream (runs until stopped) or a RabbitMQ stream queue'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "tail" -d 'Follow events as they happen, one line each'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "replay" -d 'Print a recording\'s events again, paced by their original timing'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "diff" -d 'Compare two runs of a workflow: what only one has, and what changed'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "doctor" -d 'Check the setup end to end and say what to change: why can\'t I see my tasks?'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "errors" -d 'Group failures and retries into patterns: which errors, how often, where and when'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "queues" -d 'Show the backlog of each queue: waiting, in flight, consumers, age of the oldest message'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "retry" -d 'Run tasks again: each is published under a new id, its parent the original'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "revoke" -d 'Revoke tasks: workers discard them when they come up, or kill them with --terminate'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "top" -d 'A live dashboard of workers, queues, tasks and anomalies, with keys to act'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "completions" -d 'Print or write shell completion scripts'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "man" -d 'Print the man page, or write one page per command into a directory'
complete -c celtrace -n "__fish_celtrace_using_subcommand help; and not __fish_seen_subcommand_from tasks show graph export workers stats anomalies record tail replay diff doctor errors queues retry revoke top completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
