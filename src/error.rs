//! Every error a user can meet, as miette diagnostics with a stable code and a help line,
//! mapped to exit codes by one exhaustive match (no catch-all arm: a new error must choose).

use miette::Diagnostic;

use crate::exit;
use crate::query::ResolveError;
use crate::source::amqp::AmqpError;
use crate::source::backend::BackendError;
use crate::source::record::RecordError;
use crate::source::redis::RedisError;
use crate::source::url::UrlError;
use crate::source::writer::WriterError;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum CliError {
    #[error("{message}")]
    #[diagnostic(code(celtrace::usage::invalid_value), help("{help}"))]
    Usage { message: String, help: String },

    #[error("invalid broker URL")]
    #[diagnostic(
        code(celtrace::usage::broker_url),
        help(
            "use redis://, rediss://, unix://, amqp:// or amqps://, e.g. redis://localhost:6379/0"
        )
    )]
    BrokerUrl {
        #[source]
        source: UrlError,
    },

    #[error("reading events straight from the broker ({url}) is not supported by this build yet")]
    #[diagnostic(
        code(celtrace::broker::unsupported),
        help(
            "read a recording instead: --events FILE (NDJSON, one Celery event per line; `-` reads stdin)"
        )
    )]
    BrokerUnsupported { url: String },

    #[error("no task matches `{typed}` in {source_label}")]
    #[diagnostic(
        code(celtrace::task::not_found),
        help(
            "`celtrace tasks` lists the tasks that are there; a task that ran while nothing was recording events cannot be found"
        )
    )]
    NotFound { typed: String, source_label: String },

    #[error("`{typed}` matches {} tasks", candidates.len())]
    #[diagnostic(code(celtrace::task::ambiguous), help("type more of the id; candidates:\n{}", candidates.join("\n")))]
    Ambiguous {
        typed: String,
        candidates: Vec<String>,
    },

    #[error("`{typed}` is too short to identify a task")]
    #[diagnostic(
        code(celtrace::task::id_too_short),
        help("type at least 4 characters of the task id")
    )]
    IdTooShort { typed: String },

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::record::open),
        help("check the path; `--events -` reads the recording from stdin")
    )]
    RecordOpen(RecordError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::record::read),
        help("the file could not be read to the end; check the disk or the pipe feeding it")
    )]
    RecordRead(RecordError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::record::version),
        help("this recording was written by a newer celtrace; upgrade to read it")
    )]
    RecordVersion(RecordError),

    #[error("{source_label} is empty: it holds no entry at all")]
    #[diagnostic(
        code(celtrace::record::empty),
        help(
            "nothing was recorded into it; `celtrace export` or `tail --format ndjson` write recordings, and `record --status` says whether a recorder runs"
        )
    )]
    EmptyRecording { source_label: String },

    #[error("{source_label} holds no usable Celery event ({entries} entries, all unreadable)")]
    #[diagnostic(
        code(celtrace::record::no_events),
        help(
            "a recording is NDJSON: one Celery event dict (or kombu envelope, or task.multi list) per line; first problem: {first_problem}"
        )
    )]
    NoEvents {
        source_label: String,
        entries: u64,
        first_problem: String,
    },

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::backend::unreachable),
        help(
            "check --result-backend / CELTRACE_RESULT_BACKEND / CELERY_RESULT_BACKEND; without it, group ids come from recorded backend records only"
        )
    )]
    BackendUnreachable(BackendError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::backend::unsupported),
        help(
            "point reads need a redis:// or unix:// result backend (rediss:// is not in this build); recorded celtrace.backend lines work with any"
        )
    )]
    BackendUnsupported(BackendError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::unreachable),
        help(
            "check that Redis runs there and the URL (--broker, CELTRACE_BROKER_URL, CELERY_BROKER_URL); rediss:// verifies the server's certificate against the system's roots (or the CA bundle in SSL_CERT_FILE)"
        )
    )]
    RedisUnreachable(RedisError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::refused),
        help("check the user name and password in the URL (redis://user:password@host:6379/0)")
    )]
    RedisRefused(RedisError),

    #[error("{source}")]
    #[diagnostic(code(celtrace::broker::error), help("{help}"))]
    RedisCommand { source: RedisError, help: String },

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::unreachable),
        help(
            "check that RabbitMQ runs there and the URL (--broker, CELTRACE_BROKER_URL, CELERY_BROKER_URL); amqps:// verifies the server's certificate against the system's roots (or SSL_CERT_FILE)"
        )
    )]
    AmqpUnreachable(AmqpError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::refused),
        help(
            "check the user and password in the URL (amqp://user:password@host:5672/vhost) and the user's permissions on the virtual host"
        )
    )]
    AmqpRefused(AmqpError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::no_vhost),
        help(
            "the virtual host is the URL's path: amqp://host:5672/NAME (Celery's default `/` is written amqp://host:5672// or %2f); `rabbitmqctl list_vhosts` lists them"
        )
    )]
    AmqpNoVhost(AmqpError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::no_events),
        help(
            "start a worker with events on (celery worker -E, or worker_send_task_events = True), or run `celtrace record`, which declares the exchange"
        )
    )]
    AmqpNoExchange(AmqpError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::error),
        help("RabbitMQ refused the operation; stream queues need RabbitMQ 3.9 or later")
    )]
    AmqpCommand(AmqpError),

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::closed),
        help(
            "the broker ended the connection (an operator's close_connection, a restart, a policy): run the command again; `tail` reconnects by itself"
        )
    )]
    AmqpClosed(AmqpError),

    #[error("nothing is recorded at {url} (stream `{key}` {why})")]
    #[diagnostic(
        code(celtrace::record::missing),
        help(
            "run `celtrace record --broker {url}` (on Redis it keeps running; on RabbitMQ it creates the stream queue once and the broker records); history starts then (or read a file with --events FILE)"
        )
    )]
    NoRecording {
        url: String,
        key: String,
        why: &'static str,
    },

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::record::locked),
        help(
            "one recorder per stream: stop the other one, or give this one its own --stream (its lock expires 15 s after it dies)"
        )
    )]
    RecorderRunning(WriterError),

    #[error("{events} received events (from {from} to {to}) could not be written: {reason}")]
    #[diagnostic(
        code(celtrace::record::unwritten),
        help(
            "Redis refused or dropped the writes until the stop's bound passed; check that Redis runs, its maxmemory and the recorder's --retention, then start the recorder again"
        )
    )]
    Unwritten {
        events: u64,
        from: String,
        to: String,
        reason: String,
    },

    #[error("{what}: {source}")]
    #[diagnostic(
        code(celtrace::system),
        help("the operating system refused it; the message says why")
    )]
    System {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(crate::config::ConfigError),

    #[error("the OTLP collector at {url} did not take the traces: {reason}")]
    #[diagnostic(
        code(celtrace::otlp::export),
        help(
            "check --otlp-endpoint (an OTLP/HTTP receiver, e.g. http://localhost:4318) and that it accepts JSON"
        )
    )]
    Otlp { url: String, reason: String },

    #[error("{count} finding{} at or above {severity}", if *count == 1 { "" } else { "s" })]
    #[diagnostic(
        code(celtrace::anomalies::found),
        help("the findings are printed above; exit status 6 is what --fail-on asked for")
    )]
    Found {
        count: usize,
        severity: &'static str,
    },

    #[error(transparent)]
    #[diagnostic(
        code(celtrace::broker::management),
        help(
            "check --management-url (e.g. http://user:password@localhost:15672) and that the rabbitmq_management plugin is enabled"
        )
    )]
    Management(#[from] crate::source::queues::ManagementError),

    #[error("read-only mode is on: `{command}` changes what workers do and is refused")]
    #[diagnostic(
        code(celtrace::control::read_only),
        help(
            "read-only comes from CELTRACE_READ_ONLY=1 or the profile's `read_only = true`; unset it to allow retry and revoke"
        )
    )]
    ReadOnly { command: &'static str },

    #[error("refused to {what}: {reason}")]
    #[diagnostic(code(celtrace::control::refused), help("{help}"))]
    Refused {
        what: String,
        reason: String,
        help: String,
    },

    #[error("{what} finished in {state}")]
    #[diagnostic(
        code(celtrace::wait::failed),
        help("the details are printed above; exit status 6 is what --wait gives for a failure")
    )]
    TaskFailed { what: String, state: String },

    #[error("gave up waiting after {after}: not finished yet")]
    #[diagnostic(
        code(celtrace::wait::timeout),
        help(
            "wait longer with --timeout (e.g. --timeout 30m); `celtrace show` tells where it stands"
        )
    )]
    WaitTimeout { after: String },

    #[error("{count} check{} failed", if *count == 1 { "" } else { "s" })]
    #[diagnostic(
        code(celtrace::doctor::failed),
        help("each failed check above says what to change")
    )]
    ChecksFailed { count: usize },

    #[error("the runs differ in {count} place{}", if *count == 1 { "" } else { "s" })]
    #[diagnostic(
        code(celtrace::diff::differs),
        help(
            "the differences are printed above; exit status 1 is what `diff` gives when the outcomes differ"
        )
    )]
    Differs { count: usize },

    #[error("cannot write the output: {source}")]
    #[diagnostic(
        code(celtrace::io::write),
        help("check that the destination is writable and has space")
    )]
    Write {
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage { .. } | Self::BrokerUrl { .. } | Self::Config(_) => exit::USAGE,
            Self::BrokerUnsupported { .. }
            | Self::RedisUnreachable(_)
            | Self::RedisRefused(_)
            | Self::RedisCommand { .. }
            | Self::AmqpUnreachable(_)
            | Self::AmqpRefused(_)
            | Self::AmqpNoVhost(_)
            | Self::AmqpCommand(_)
            | Self::AmqpClosed(_)
            | Self::Management(_)
            | Self::BackendUnreachable(_)
            | Self::BackendUnsupported(_) => exit::BROKER,
            Self::NotFound { .. } | Self::Ambiguous { .. } | Self::IdTooShort { .. } => {
                exit::NOT_FOUND
            }
            Self::RecordOpen(_)
            | Self::RecordRead(_)
            | Self::RecordVersion(_)
            | Self::NoEvents { .. }
            | Self::EmptyRecording { .. }
            | Self::NoRecording { .. }
            | Self::AmqpNoExchange(_) => exit::BAD_INPUT,
            Self::Write { .. }
            | Self::Otlp { .. }
            | Self::RecorderRunning(_)
            | Self::System { .. } => exit::FAILURE,
            Self::Unwritten { .. } => exit::BROKER,
            Self::Found { .. } | Self::TaskFailed { .. } => exit::FOUND,
            Self::Differs { .. } => exit::FAILURE,
            Self::ChecksFailed { .. } => exit::FOUND,
            Self::WaitTimeout { .. } => exit::TIMEOUT,
            Self::ReadOnly { .. } => exit::READ_ONLY,
            Self::Refused { .. } => exit::USAGE,
        }
    }

    /// An empty recording is bad input (exit 5), as the exit codes say: an answer of "no
    /// tasks" from a file that holds nothing would hide a recorder that never ran.
    pub fn refuse_empty(report: &crate::source::file::LoadReport) -> Result<(), Self> {
        if report.entries == 0 {
            return Err(Self::EmptyRecording {
                source_label: report.source.clone(),
            });
        }
        Ok(())
    }

    /// An operating-system call failed (not an output write): says which.
    pub fn system(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::System {
            what: what.into(),
            source,
        }
    }

    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self::Usage {
            message: message.into(),
            help: help.into(),
        }
    }

    /// Whether this is a closed pipe downstream, which is success (`celtrace tasks | head`).
    /// What `--fail-on` (exit 6) reports: an answer, not a failure of celtrace.
    pub fn is_finding(&self) -> bool {
        matches!(self, Self::Found { .. })
    }

    /// Said by the output itself: no diagnostic is printed (`diff`'s exit status 1).
    pub fn is_silent(&self) -> bool {
        matches!(self, Self::Differs { .. } | Self::ChecksFailed { .. })
    }

    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Write { source } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<BackendError> for CliError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unreachable { .. } => Self::BackendUnreachable(e),
            BackendError::Unsupported { .. } => Self::BackendUnsupported(e),
        }
    }
}

impl From<RedisError> for CliError {
    fn from(e: RedisError) -> Self {
        match e {
            RedisError::Unreachable { .. } | RedisError::NotRedis { .. } => {
                Self::RedisUnreachable(e)
            }
            RedisError::Refused { .. } => Self::RedisRefused(e),
            RedisError::Command { ref reason, .. } => Self::RedisCommand {
                help: redis_command_help(reason).to_string(),
                source: e,
            },
        }
    }
}

impl From<AmqpError> for CliError {
    fn from(e: AmqpError) -> Self {
        match e {
            AmqpError::Unreachable { .. } => Self::AmqpUnreachable(e),
            AmqpError::Refused { .. } => Self::AmqpRefused(e),
            AmqpError::NoVhost { .. } => Self::AmqpNoVhost(e),
            AmqpError::NoExchange { .. } => Self::AmqpNoExchange(e),
            AmqpError::NoQueue { ref url, ref queue } => Self::NoRecording {
                url: url.clone(),
                key: queue.clone(),
                why: "does not exist",
            },
            AmqpError::NotAStream { .. } | AmqpError::Command { .. } => Self::AmqpCommand(e),
            AmqpError::Closed { .. } => Self::AmqpClosed(e),
        }
    }
}

impl From<crate::source::broker::BrokerError> for CliError {
    fn from(e: crate::source::broker::BrokerError) -> Self {
        use crate::source::broker::BrokerError;
        match e {
            BrokerError::Redis(e) => e.into(),
            BrokerError::Amqp(e) => e.into(),
            BrokerError::Management(e) => Self::Management(e),
        }
    }
}

impl From<crate::source::history::HistoryError> for CliError {
    fn from(e: crate::source::history::HistoryError) -> Self {
        use crate::source::history::HistoryError;
        match e {
            HistoryError::Broker(e) => e.into(),
            HistoryError::Load(e) => e.into(),
            HistoryError::Record(e) => e.into(),
            HistoryError::Missing { url, key, why } => Self::NoRecording { url, key, why },
        }
    }
}

impl From<crate::source::live::LiveError> for CliError {
    fn from(e: crate::source::live::LiveError) -> Self {
        match e {
            crate::source::live::LiveError::Redis(e) => e.into(),
            crate::source::live::LiveError::Amqp(e) => e.into(),
        }
    }
}

impl From<WriterError> for CliError {
    fn from(e: WriterError) -> Self {
        match e {
            WriterError::Redis(e) => e.into(),
            WriterError::Locked { .. } => Self::RecorderRunning(e),
        }
    }
}

impl From<crate::source::recorded::LoadError> for CliError {
    fn from(e: crate::source::recorded::LoadError) -> Self {
        match e {
            crate::source::recorded::LoadError::Redis(e) => e.into(),
            crate::source::recorded::LoadError::Record(e) => e.into(),
        }
    }
}

impl From<RecordError> for CliError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Open { .. } => Self::RecordOpen(e),
            // A broker that fails mid-read is the broker's error, not a damaged recording.
            RecordError::Read { ref source, .. } => match source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<AmqpError>())
            {
                Some(amqp) => amqp.clone().into(),
                None => Self::RecordRead(e),
            },
            RecordError::Version { .. } => Self::RecordVersion(e),
        }
    }
}

/// An I/O error met with `?` is a failed write of the output (stdout or `--output`): every
/// other I/O step (files created, pages written, signals set up, broker reads) names itself
/// with [`CliError::system`] or its own variant.
impl From<std::io::Error> for CliError {
    fn from(source: std::io::Error) -> Self {
        Self::Write { source }
    }
}

impl CliError {
    /// A read that went through `std::io::Read` (a stream queue) failed: the broker's own error
    /// when it is one, otherwise what the reader said.
    pub fn reading(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| match source
            .get_ref()
            .and_then(|e| e.downcast_ref::<crate::source::amqp::AmqpError>())
        {
            Some(e) => e.clone().into(),
            None => Self::System { what, source },
        }
    }
}

impl CliError {
    /// Maps a resolution failure; candidates are described with `describe` (name, state).
    pub fn from_resolve(
        e: ResolveError,
        source_label: &str,
        describe: &dyn Fn(&str) -> String,
    ) -> Self {
        match e {
            ResolveError::NotFound(typed) => Self::NotFound {
                typed,
                source_label: source_label.to_string(),
            },
            ResolveError::Ambiguous { typed, candidates } => Self::Ambiguous {
                typed,
                candidates: candidates.iter().map(|c| describe(c)).collect(),
            },
            ResolveError::TooShort(typed) => Self::IdTooShort { typed },
        }
    }
}

/// What to do about an error reply from Redis, by what it says.
fn redis_command_help(reason: &str) -> &'static str {
    if reason.contains("OOM") || reason.contains("maxmemory") {
        "Redis is at its maxmemory and refuses writes: raise maxmemory, or keep less history (record --retention, --max-len)"
    } else if reason.contains("READONLY") {
        "this Redis is a read-only replica: point --broker at the primary"
    } else if reason.contains("unknown command") || reason.contains("syntax error") {
        "the server refused a command celtrace needs: it needs Redis 6.2 or later"
    } else if reason.contains("WRONGTYPE") {
        "a key celtrace uses holds another type: give celtrace its own --stream prefix"
    } else {
        "the server is Redis but refused the command; the message above says why"
    }
}
