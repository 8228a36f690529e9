
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'celtrace' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'celtrace'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'celtrace' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('tasks', 'tasks', [CompletionResultType]::ParameterValue, 'List tasks with their state, worker, timing and retries')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one task: state, timeline of every attempt, arguments, result, traceback, lineage')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Show the workflow a task belongs to: chain steps, groups, chords, children, critical path')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents')
            [CompletionResult]::new('workers', 'workers', [CompletionResultType]::ParameterValue, 'List workers: status, sessions, counters and the tasks they dropped')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries')
            [CompletionResult]::new('anomalies', 'anomalies', [CompletionResultType]::ParameterValue, 'Find what went wrong: lost, stuck, hung, killed, slow and unregistered tasks, failure spikes, chords that never finished, retry storms, flapping workers')
            [CompletionResult]::new('record', 'record', [CompletionResultType]::ParameterValue, 'Record Celery''s events: a Redis Stream (runs until stopped) or a RabbitMQ stream queue')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Follow events as they happen, one line each')
            [CompletionResult]::new('queues', 'queues', [CompletionResultType]::ParameterValue, 'Show the backlog of each queue: waiting, in flight, consumers, age of the oldest message')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Run tasks again: each is published under a new id, its parent the original')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke tasks: workers discard them when they come up, or kill them with --terminate')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print or write shell completion scripts')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page, or write one page per command into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'celtrace;tasks' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only tasks whose name matches this glob (e.g. ''shop.*'')')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Only tasks sent to a queue matching this glob')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Only tasks of the workflow with this root id (full id or unique prefix)')
            [CompletionResult]::new('--parent', '--parent', [CompletionResultType]::ParameterName, 'Only direct children of this task (full id or unique prefix)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only tasks with activity at or before this time: a duration back from now or RFC 3339')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Show at most N tasks (the first N in sort order)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Show at most N tasks (the first N in sort order)')
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Sort order: times and runtime newest/longest first, name and state ascending')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--reverse', '--reverse', [CompletionResultType]::ParameterName, 'Reverse the sort order')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Shorthand for --format json')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII table borders')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;show' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (e.g. 90s, 10m)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Shorthand for --format json')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII decoration')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait until it has finished: exit 0 on success, 6 on a failure, 7 on --timeout')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;graph' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--depth', '--depth', [CompletionResultType]::ParameterName, 'Show the tree only this many levels deep')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (e.g. 90s, 10m)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--dot', '--dot', [CompletionResultType]::ParameterName, 'Shorthand for --format dot')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Shorthand for --format json')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Show every child of a large fan-out instead of a summary line')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII tree')
            [CompletionResult]::new('--guess-groups', '--guess-groups', [CompletionResultType]::ParameterName, 'Also draw siblings sent close together by one producer as groups, and join top-level tasks sent with the root: a guess (separate `.delay()` calls look the same), marked (guess) in every format')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait until it has finished: exit 0 on success, 6 on a failure, 7 on --timeout')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;export' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write to this file instead of stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write to this file instead of stdout')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only tasks whose name matches this glob (e.g. ''shop.*'')')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Only tasks sent to a queue matching this glob')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Only tasks of the workflow with this root id (full id or unique prefix)')
            [CompletionResult]::new('--parent', '--parent', [CompletionResultType]::ParameterName, 'Only direct children of this task (full id or unique prefix)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only tasks with activity at or before this time: a duration back from now or RFC 3339')
            [CompletionResult]::new('--otlp-endpoint', '--otlp-endpoint', [CompletionResultType]::ParameterName, 'Post the traces to this OTLP/HTTP collector (JSON encoding), e.g. http://localhost:4318')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;workers' {
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only workers whose hostname matches this glob (e.g. ''w1@*'')')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Only workers with this status now')
            [CompletionResult]::new('--lost-after', '--lost-after', [CompletionResultType]::ParameterName, 'Call a worker lost after this many heartbeat intervals without a heartbeat')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only workers with a sign of life at or after this time: a duration back from now (15m, 2h) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only workers with a sign of life at or before this time')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --inspect collects replies')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--history', '--history', [CompletionResultType]::ParameterName, 'List every session (start, end, how it ended) instead of one row per worker')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document (sessions included)')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII table borders')
            [CompletionResult]::new('--inspect', '--inspect', [CompletionResultType]::ParameterName, 'Also ask the workers now (remote control): pool, prefetch, queues, active, reserved, scheduled and registered tasks; a worker that does not answer is reported')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;stats' {
            [CompletionResult]::new('--by', '--by', [CompletionResultType]::ParameterName, 'Group by task name, worker or queue')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only tasks first seen at or after this time: a duration back from now (15m, 2h) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only tasks first seen at or before this time')
            [CompletionResult]::new('--bucket', '--bucket', [CompletionResultType]::ParameterName, 'Add a time series of tasks per bucket of this width (e.g. 5m): a sparkline column, or the counts in JSON')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII table borders and sparkline')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;anomalies' {
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'Exit with status 6 when a finding at or above this severity exists')
            [CompletionResult]::new('--stuck-after', '--stuck-after', [CompletionResultType]::ParameterName, 'A sent task never received after this long is stuck in its queue [default: 10m]')
            [CompletionResult]::new('--not-started-after', '--not-started-after', [CompletionResultType]::ParameterName, 'A received task not started after this long is flagged (ETA tasks exempt) [default: 5m]')
            [CompletionResult]::new('--not-finished-after', '--not-finished-after', [CompletionResultType]::ParameterName, 'A started task not finished after this long is flagged [default: 1h]')
            [CompletionResult]::new('--retry-storm', '--retry-storm', [CompletionResultType]::ParameterName, 'Retries of one task that make a retry storm')
            [CompletionResult]::new('--flapping-sessions', '--flapping-sessions', [CompletionResultType]::ParameterName, 'Sessions of one worker within --flapping-window that make it flapping')
            [CompletionResult]::new('--flapping-window', '--flapping-window', [CompletionResultType]::ParameterName, 'Window for --flapping-sessions [default: 10m]')
            [CompletionResult]::new('--lost-after', '--lost-after', [CompletionResultType]::ParameterName, 'Heartbeat intervals of silence before a worker is lost')
            [CompletionResult]::new('--spike-window', '--spike-window', [CompletionResultType]::ParameterName, 'Width of the windows failure_spike compares (the newest window with failures against the one before it) [default: 5m]')
            [CompletionResult]::new('--chord-grace', '--chord-grace', [CompletionResultType]::ParameterName, 'A chord still waiting this long after its known header tasks ended is flagged (needs --result-backend and recorded backend records) [default: 5m]')
            [CompletionResult]::new('--slow-factor', '--slow-factor', [CompletionResultType]::ParameterName, 'A run this many times its name''s p99 runtime is slow (names with 20 runs or more)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only tasks whose name matches this glob (e.g. ''shop.*'')')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Only tasks sent to a queue matching this glob')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Only tasks of the workflow with this root id (full id or unique prefix)')
            [CompletionResult]::new('--parent', '--parent', [CompletionResultType]::ParameterName, 'Only direct children of this task (full id or unique prefix)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only tasks with activity at or before this time: a duration back from now or RFC 3339')
            [CompletionResult]::new('--rule', '--rule', [CompletionResultType]::ParameterName, 'Only findings of these rules (comma-separated ids, see the README)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;record' {
            [CompletionResult]::new('--retention', '--retention', [CompletionResultType]::ParameterName, 'Keep this much history (trimmed by time); `0` keeps everything')
            [CompletionResult]::new('--max-len', '--max-len', [CompletionResultType]::ParameterName, 'Also cap the stream at about this many entries (trimmed in whole blocks, so a little more)')
            [CompletionResult]::new('--max-backlog', '--max-backlog', [CompletionResultType]::ParameterName, 'Received events that may wait for Redis (bytes; e.g. 64MB). Beyond it, arrivals are dropped and counted in a `lagged` gap record')
            [CompletionResult]::new('--global-keyprefix', '--global-keyprefix', [CompletionResultType]::ParameterName, 'kombu''s `global_keyprefix` transport option, if the app sets one')
            [CompletionResult]::new('--fanout-prefix', '--fanout-prefix', [CompletionResultType]::ParameterName, 'kombu''s `fanout_prefix` transport option: `true` (default `/{db}.`), `false`, or a prefix')
            [CompletionResult]::new('--exchange', '--exchange', [CompletionResultType]::ParameterName, 'Celery''s `event_exchange`, if the app changed it')
            [CompletionResult]::new('--max-bytes', '--max-bytes', [CompletionResultType]::ParameterName, 'RabbitMQ: cap the stream queue at about this many bytes (x-max-length-bytes, e.g. 2GB)')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--no-fanout-patterns', '--no-fanout-patterns', [CompletionResultType]::ParameterName, 'kombu''s `fanout_patterns` transport option was set to False by the app')
            [CompletionResult]::new('--no-backend', '--no-backend', [CompletionResultType]::ParameterName, 'Do not record result-backend writes even when --result-backend is Redis')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Print what the stream holds now and exit')
            [CompletionResult]::new('--remove', '--remove', [CompletionResultType]::ParameterName, 'RabbitMQ: delete the stream queue and everything in it (asks first; --yes skips)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask before --remove (needed when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask before --remove (needed when stdin is not a terminal)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;tail' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only tasks whose name matches this glob (repeatable)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only task events that leave the task in this state (repeatable, or comma-separated)')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only events of workers whose hostname matches this glob (repeatable)')
            [CompletionResult]::new('--task', '--task', [CompletionResultType]::ParameterName, 'Only events of the task with this id (or id prefix)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'First print the last N recorded events (from `celtrace record`''s stream, or the file)')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'First print the last N recorded events (from `celtrace record`''s stream, or the file)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--global-keyprefix', '--global-keyprefix', [CompletionResultType]::ParameterName, 'kombu''s `global_keyprefix` transport option, if the app sets one')
            [CompletionResult]::new('--fanout-prefix', '--fanout-prefix', [CompletionResultType]::ParameterName, 'kombu''s `fanout_prefix` transport option: `true` (default `/{db}.`), `false`, or a prefix')
            [CompletionResult]::new('--exchange', '--exchange', [CompletionResultType]::ParameterName, 'Celery''s `event_exchange`, if the app changed it')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--heartbeats', '--heartbeats', [CompletionResultType]::ParameterName, 'Show worker heartbeats too')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep following (what `tail` does anyway from a broker; accepted for `tail -f` habits)')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep following (what `tail` does anyway from a broker; accepted for `tail -f` habits)')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII arrows')
            [CompletionResult]::new('--no-fanout-patterns', '--no-fanout-patterns', [CompletionResultType]::ParameterName, 'kombu''s `fanout_patterns` transport option was set to False by the app')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;queues' {
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Also look at this queue (repeatable)')
            [CompletionResult]::new('--global-keyprefix', '--global-keyprefix', [CompletionResultType]::ParameterName, 'kombu''s `global_keyprefix` transport option, if the app sets one (Redis)')
            [CompletionResult]::new('--management-url', '--management-url', [CompletionResultType]::ParameterName, 'RabbitMQ: also read the management API (in-flight counts, every queue of the vhost), e.g. http://user:password@localhost:15672')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --inspect collects replies')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--inspect', '--inspect', [CompletionResultType]::ParameterName, 'Also ask the workers which queues they consume (remote control): finds queues and, on Redis, counts consumers')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Plain ASCII table borders')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;retry' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only tasks whose name matches this glob (e.g. ''shop.*'')')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Only tasks sent to a queue matching this glob')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Only tasks of the workflow with this root id (full id or unique prefix)')
            [CompletionResult]::new('--parent', '--parent', [CompletionResultType]::ParameterName, 'Only direct children of this task (full id or unique prefix)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only tasks with activity at or before this time: a duration back from now or RFC 3339')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do it without asking (needed when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do it without asking (needed when stdin is not a terminal)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be sent, and send nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the new ids as JSON')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;revoke' {
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Only tasks in this state (PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Only tasks whose name matches this glob (e.g. ''shop.*'')')
            [CompletionResult]::new('--worker', '--worker', [CompletionResultType]::ParameterName, 'Only tasks that ran on a worker matching this glob (e.g. ''w1@*'')')
            [CompletionResult]::new('--queue', '--queue', [CompletionResultType]::ParameterName, 'Only tasks sent to a queue matching this glob')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Only tasks of the workflow with this root id (full id or unique prefix)')
            [CompletionResult]::new('--parent', '--parent', [CompletionResultType]::ParameterName, 'Only direct children of this task (full id or unique prefix)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only tasks with activity at or after this time: a duration back from now (15m, 2h, 1d) or RFC 3339')
            [CompletionResult]::new('--until', '--until', [CompletionResultType]::ParameterName, 'Only tasks with activity at or before this time: a duration back from now or RFC 3339')
            [CompletionResult]::new('--signal', '--signal', [CompletionResultType]::ParameterName, 'The signal for --terminate: TERM (default), KILL, INT, HUP, QUIT, USR1, USR2, ABRT')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait-reply collects answers')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--terminate', '--terminate', [CompletionResultType]::ParameterName, 'Also kill a task that is running now (its pool process gets --signal)')
            [CompletionResult]::new('--wait-reply', '--wait-reply', [CompletionResultType]::ParameterName, 'Collect the workers'' answers for --timeout')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do it without asking (needed when stdin is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do it without asking (needed when stdin is not a terminal)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be sent, and send nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the outcome as JSON')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;completions' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Write the script into this directory (file name chosen per shell) instead of stdout')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;man' {
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'Write celtrace.1 and one page per subcommand (celtrace-tasks.1, ...) into this directory')
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--broker', '--broker', [CompletionResultType]::ParameterName, 'Broker to read events from: redis://, rediss://, unix://, amqp:// or amqps://')
            [CompletionResult]::new('--result-backend', '--result-backend', [CompletionResultType]::ParameterName, 'Result backend for real arguments, results and group ids (redis:// only)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file [default: $XDG_CONFIG_HOME/celtrace/config.toml]')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile of the configuration file to use [env: CELTRACE_PROFILE]')
            [CompletionResult]::new('--events', '--events', [CompletionResultType]::ParameterName, 'Read events from a recording instead of a broker (`-` reads stdin)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'The recording `celtrace record` keeps: Redis Stream key [default: profile''s `key_prefix`, or celtrace:events] or RabbitMQ stream queue [default: profile''s `queue_name`, or celtrace.events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour [default: auto, or the profile''s `color`]')
            [CompletionResult]::new('--scrub-key', '--scrub-key', [CompletionResultType]::ParameterName, 'Also filter the values of keys containing KEY (repeatable; adds to the profile''s `scrub_keys`)')
            [CompletionResult]::new('--utc', '--utc', [CompletionResultType]::ParameterName, 'Show times in UTC instead of local time')
            [CompletionResult]::new('--no-scrub', '--no-scrub', [CompletionResultType]::ParameterName, 'Show secret values as recorded instead of [Filtered] (says so on stderr)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print no warnings or notes on stderr')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Print details of problems in the input (repeat for more)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'celtrace;help' {
            [CompletionResult]::new('tasks', 'tasks', [CompletionResultType]::ParameterValue, 'List tasks with their state, worker, timing and retries')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one task: state, timeline of every attempt, arguments, result, traceback, lineage')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Show the workflow a task belongs to: chain steps, groups, chords, children, critical path')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Export events or tasks: NDJSON recordings (streamed), or JSON / CSV task documents')
            [CompletionResult]::new('workers', 'workers', [CompletionResultType]::ParameterValue, 'List workers: status, sessions, counters and the tasks they dropped')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Per task name: counts by state, success rate, runtime and queue-wait percentiles, retries')
            [CompletionResult]::new('anomalies', 'anomalies', [CompletionResultType]::ParameterValue, 'Find what went wrong: lost, stuck, hung, killed, slow and unregistered tasks, failure spikes, chords that never finished, retry storms, flapping workers')
            [CompletionResult]::new('record', 'record', [CompletionResultType]::ParameterValue, 'Record Celery''s events: a Redis Stream (runs until stopped) or a RabbitMQ stream queue')
            [CompletionResult]::new('tail', 'tail', [CompletionResultType]::ParameterValue, 'Follow events as they happen, one line each')
            [CompletionResult]::new('queues', 'queues', [CompletionResultType]::ParameterValue, 'Show the backlog of each queue: waiting, in flight, consumers, age of the oldest message')
            [CompletionResult]::new('retry', 'retry', [CompletionResultType]::ParameterValue, 'Run tasks again: each is published under a new id, its parent the original')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke tasks: workers discard them when they come up, or kill them with --terminate')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print or write shell completion scripts')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print the man page, or write one page per command into a directory')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'celtrace;help;tasks' {
            break
        }
        'celtrace;help;show' {
            break
        }
        'celtrace;help;graph' {
            break
        }
        'celtrace;help;export' {
            break
        }
        'celtrace;help;workers' {
            break
        }
        'celtrace;help;stats' {
            break
        }
        'celtrace;help;anomalies' {
            break
        }
        'celtrace;help;record' {
            break
        }
        'celtrace;help;tail' {
            break
        }
        'celtrace;help;queues' {
            break
        }
        'celtrace;help;retry' {
            break
        }
        'celtrace;help;revoke' {
            break
        }
        'celtrace;help;completions' {
            break
        }
        'celtrace;help;man' {
            break
        }
        'celtrace;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
