//! Resolved globals: the environment is read here once, turned into plain values, and handed
//! to commands. Also the broker URL precedence of docs/architecture.md §5.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cli::GlobalArgs;
use crate::config;
use crate::error::CliError;
use crate::query::time::epoch;
use crate::render::{RenderCtx, Styles, Zone};
use crate::scrub::Policy;
use crate::source::broker::Broker;
use crate::source::file::{self, Input, LineFilter, LoadReport};
use crate::source::history::{Backward, History, Names};
use crate::source::url::{BrokerKind, BrokerUrl};
use crate::state::State;
use crate::ui::{ColorChoice, Ui};

/// Used when neither a flag, the environment nor a profile names a broker.
pub const DEFAULT_BROKER: &str = "redis://localhost:6379/0";

/// The environment variables celtrace reads, captured once.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub celtrace_broker: Option<String>,
    pub celery_broker: Option<String>,
    pub celtrace_backend: Option<String>,
    pub celery_backend: Option<String>,
    pub no_color: bool,
    pub read_only: bool,
    pub dumb_term: bool,
    pub columns: Option<u16>,
    pub profile: Option<String>,
    pub xdg_config_home: Option<String>,
    pub home: Option<String>,
    /// `CELTRACE_STREAM_PORT`: RabbitMQ's stream protocol port, `0` for AMQP only.
    pub stream_port: Option<String>,
    /// `CELTRACE_STREAM_SPLIT`: from how many messages a stream-protocol read uses two
    /// connections, `0` for never.
    pub stream_split: Option<String>,
}

impl Env {
    #[allow(clippy::disallowed_methods)] // ctx.rs is the environment's one home
    pub fn capture() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            celtrace_broker: var("CELTRACE_BROKER_URL"),
            celery_broker: var("CELERY_BROKER_URL"),
            celtrace_backend: var("CELTRACE_RESULT_BACKEND"),
            celery_backend: var("CELERY_RESULT_BACKEND"),
            no_color: var("NO_COLOR").is_some(),
            read_only: var("CELTRACE_READ_ONLY")
                .is_some_and(|v| !matches!(v.trim(), "0" | "false" | "no")),
            dumb_term: var("TERM").is_some_and(|t| t == "dumb"),
            columns: var("COLUMNS").and_then(|c| c.trim().parse().ok()),
            profile: var("CELTRACE_PROFILE"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
            stream_port: var(crate::source::amqp::stream_protocol::PORT_ENV),
            stream_split: var(crate::source::amqp::stream_protocol::SPLIT_ENV),
        }
    }

    /// A variable a profile names (password holders); read here, the environment's home.
    #[allow(clippy::disallowed_methods)]
    fn named(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// Where the configuration file is looked for when `--config` is not given.
    pub fn default_config_path(&self) -> Option<std::path::PathBuf> {
        let base = match (&self.xdg_config_home, &self.home) {
            (Some(x), _) => std::path::PathBuf::from(x),
            (None, Some(h)) => std::path::Path::new(h).join(".config"),
            (None, None) => return None,
        };
        Some(base.join("celtrace").join("config.toml"))
    }
}

/// The profile's broker and result-backend URLs (passwords filled in), colour and read-only.
#[derive(Debug, Clone, Default)]
pub struct ProfileSettings {
    pub broker: Option<String>,
    pub result_backend: Option<String>,
    pub color: Option<ColorChoice>,
    pub read_only: bool,
    pub key_prefix: Option<String>,
    pub queue_name: Option<String>,
    /// Anomaly thresholds by rule, checked to be durations.
    pub thresholds: std::collections::BTreeMap<String, std::time::Duration>,
    /// Keys whose values are filtered, besides the default ones.
    pub scrub_keys: Vec<String>,
    /// SLAs as `GLOB=LIMIT`, checked to parse.
    pub sla: Vec<String>,
    /// Keys whose values are never filtered by key.
    pub safe_keys: Vec<String>,
}

/// Loads the configuration file (`--config`, or the default place if a file is there) and the
/// selected profile (`--profile`, `CELTRACE_PROFILE`, or the file's `default_profile`).
pub fn load_profile(g: &GlobalArgs, env: &Env) -> Result<ProfileSettings, CliError> {
    let path = match (&g.config, env.default_config_path()) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) if p.exists() => p,
        _ if g.profile.is_some() || env.profile.is_some() => {
            return Err(CliError::Config(config::ConfigError::UnknownProfile {
                name: g
                    .profile
                    .clone()
                    .or_else(|| env.profile.clone())
                    .unwrap_or_default(),
                path: "(no configuration file)".to_string(),
                available: Vec::new(),
            }));
        }
        _ => return Ok(ProfileSettings::default()),
    };
    let label = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| {
        CliError::Config(config::ConfigError::Read {
            what: label.clone(),
            source,
        })
    })?;
    let file = config::parse(&text, &label).map_err(CliError::Config)?;
    let name = g.profile.as_deref().or(env.profile.as_deref());
    let Some(p) = config::select(&file, name, &label).map_err(CliError::Config)? else {
        return Ok(ProfileSettings::default());
    };
    let profile_name = name.or(file.default_profile.as_deref()).unwrap_or_default();
    let password = |var: &Option<String>,
                    file: &Option<std::path::PathBuf>|
     -> Result<Option<String>, CliError> {
        if let Some(var) = var {
            return Env::named(var).map(Some).ok_or_else(|| {
                CliError::Config(config::ConfigError::MissingPasswordVar {
                    profile: profile_name.to_string(),
                    var: var.clone(),
                })
            });
        }
        if let Some(f) = file {
            let text = std::fs::read_to_string(f).map_err(|source| {
                CliError::Config(config::ConfigError::Read {
                    what: f.display().to_string(),
                    source,
                })
            })?;
            return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
        }
        Ok(None)
    };
    let fill = |url: &Option<String>, pw: Option<String>| {
        url.as_ref()
            .map(|u| pw.map_or_else(|| u.clone(), |pw| config::with_password(u, &pw)))
    };
    let color = match p.color.as_deref() {
        None => None,
        Some(c) => Some(
            <ColorChoice as clap::ValueEnum>::from_str(c, true).map_err(|_| {
                CliError::usage(
                    format!("profile `{profile_name}`: color `{c}` is not auto, always or never"),
                    format!("fix {label}"),
                )
            })?,
        ),
    };
    let mut thresholds = std::collections::BTreeMap::new();
    for (rule, value) in &p.thresholds {
        let d = humantime::parse_duration(value).map_err(|_| {
            CliError::usage(
                format!("profile `{profile_name}`: threshold {rule} = `{value}` is not a duration"),
                format!("use durations like 30s, 10m, 2h in {label}"),
            )
        })?;
        thresholds.insert(rule.clone(), d);
    }
    let mut sla = Vec::new();
    for (glob, limit) in &p.sla {
        let text = format!("{glob}={limit}");
        crate::query::anomalies::Sla::parse(&text).map_err(|e| {
            CliError::usage(
                format!("profile `{profile_name}`: sla {e}"),
                format!("use \"GLOB\" = \"2s\" or \"GLOB\" = \"wait:5s\" under [profiles.{profile_name}.sla] in {label}"),
            )
        })?;
        sla.push(text);
    }
    Ok(ProfileSettings {
        sla,
        scrub_keys: p.scrub_keys.clone(),
        safe_keys: p.safe_keys.clone(),
        key_prefix: p.key_prefix.clone(),
        queue_name: p.queue_name.clone(),
        thresholds,
        broker: fill(
            &p.broker,
            password(&p.broker_password_env, &p.broker_password_file)?,
        ),
        result_backend: fill(
            &p.result_backend,
            password(
                &p.result_backend_password_env,
                &p.result_backend_password_file,
            )?,
        ),
        color,
        read_only: p.read_only.unwrap_or(false),
    })
}

/// Where a setting's value came from (shown in diagnostics and `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    CeltraceEnv,
    CeleryEnv,
    Profile,
    Default,
}

/// Flag, then `CELTRACE_*`, then Celery's own variable, then a config profile, then the
/// default. Pure, so the precedence table is tested case by case.
pub fn resolve_setting(
    flag: Option<&str>,
    celtrace_env: Option<&str>,
    celery_env: Option<&str>,
    profile: Option<&str>,
    default: Option<&str>,
) -> Option<(String, Origin)> {
    [
        (flag, Origin::Flag),
        (celtrace_env, Origin::CeltraceEnv),
        (celery_env, Origin::CeleryEnv),
        (profile, Origin::Profile),
        (default, Origin::Default),
    ]
    .into_iter()
    .find_map(|(v, o)| v.map(|v| (v.to_string(), o)))
}

/// What a command asks of its source: a time range (epoch seconds; a recorded Redis Stream or a
/// RabbitMQ stream queue is read for that range only, a file is read whole and the query
/// filters) and which task events to decode (`None`: all).
#[derive(Debug, Clone, Copy, Default)]
pub struct Load<'f> {
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub filter: Option<&'f LineFilter>,
    /// `--at`: the state as it was then; nothing after it is kept (or, where the store
    /// allows, read).
    pub at: Option<f64>,
}

impl Load<'_> {
    /// Everything the source holds.
    pub const ALL: Load<'static> = Load {
        since: None,
        until: None,
        filter: None,
        at: None,
    };

    pub fn between(since: Option<f64>, until: Option<f64>) -> Self {
        Load {
            since,
            until,
            ..Load::ALL
        }
    }

    /// The same request, as of `at` (`--at`).
    pub fn at(self, at: Option<f64>) -> Self {
        Load { at, ..self }
    }
}

impl<'f> Load<'f> {
    pub fn filtered(filter: &'f LineFilter) -> Self {
        Load {
            filter: Some(filter),
            ..Load::ALL
        }
    }
}

/// Where a command's events come from.
#[derive(Debug, Clone)]
pub enum EventSource {
    Recording(Input),
    Broker(BrokerUrl, Origin),
}

pub struct Ctx {
    pub ui: Ui,
    pub now: DateTime<Utc>,
    pub zone: Zone,
    pub source: EventSource,
    pub result_backend: Option<(BrokerUrl, Origin)>,
    /// The profile asks that nothing be changed (retry and revoke refuse).
    pub read_only: bool,
    /// The rest of the profile, for the commands that use it (recorders, anomalies).
    pub profile: ProfileSettings,
    /// `--stream`: the Redis Stream key of a recording.
    pub stream: Option<String>,
    /// What is filtered out of what celtrace prints (`--no-scrub` turns it off).
    pub scrub: Arc<Policy>,
    /// What is filtered out of events as they are loaded: `scrub`, except for `retry`, which
    /// must re-send the real arguments (and scrubs what it prints itself).
    pub ingest: Arc<Policy>,
    /// `CELTRACE_STREAM_PORT`, for reads of a RabbitMQ stream queue.
    pub stream_port: Option<String>,
    /// `CELTRACE_STREAM_SPLIT`, parsed.
    pub stream_split: u64,
}

impl Ctx {
    pub fn new(g: &GlobalArgs, env: &Env, now: DateTime<Utc>) -> Result<Self, CliError> {
        let profile = load_profile(g, env)?;
        let ui = Ui::new(
            g.color.or(profile.color).unwrap_or_default(),
            env.no_color,
            env.dumb_term,
            env.columns,
            g.quiet,
            g.verbose,
        );
        let source = match &g.events {
            Some(path) => EventSource::Recording(Input::from_arg(path)),
            None => {
                let (url, origin) = resolve_setting(
                    g.broker.as_deref(),
                    env.celtrace_broker.as_deref(),
                    env.celery_broker.as_deref(),
                    profile.broker.as_deref(),
                    Some(DEFAULT_BROKER),
                )
                .unwrap_or_else(|| (DEFAULT_BROKER.to_string(), Origin::Default));
                let url =
                    BrokerUrl::parse(&url).map_err(|source| CliError::BrokerUrl { source })?;
                EventSource::Broker(url, origin)
            }
        };
        let result_backend = resolve_setting(
            g.result_backend.as_deref(),
            env.celtrace_backend.as_deref(),
            env.celery_backend.as_deref(),
            profile.result_backend.as_deref(),
            None,
        )
        .map(|(u, o)| BrokerUrl::parse(&u).map(|u| (u, o)).map_err(|e| (e, o)))
        .transpose();
        // Celery's own variable may name a backend celtrace does not read (rpc://,
        // db+postgresql://, ...): that is no reason to refuse; a flag or profile saying so is.
        let result_backend = match result_backend {
            Ok(b) => b,
            Err((_, Origin::CeleryEnv | Origin::CeltraceEnv)) => None,
            Err((source, _)) => return Err(CliError::BrokerUrl { source }),
        };
        let scrub = if g.no_scrub {
            ui.warn_always("--no-scrub: secret values are shown as they were recorded");
            Policy::off()
        } else {
            let extra: Vec<String> = profile
                .scrub_keys
                .iter()
                .chain(&g.scrub_key)
                .cloned()
                .collect();
            Policy::new(&extra, &profile.safe_keys)
        };
        let scrub = Arc::new(scrub);
        Ok(Self {
            ingest: scrub.clone(),
            scrub,
            read_only: profile.read_only || env.read_only,
            profile: profile.clone(),
            ui,
            now,
            zone: if g.utc { Zone::Utc } else { Zone::Local },
            source,
            result_backend,
            stream: g.stream.clone(),
            stream_port: env.stream_port.clone(),
            stream_split: crate::source::amqp::stream_protocol::split_setting(
                env.stream_split.as_deref(),
            )
            .map_err(|why| {
                CliError::usage(
                    why,
                    "set CELTRACE_STREAM_SPLIT to a number of messages (0: never split)",
                )
            })?,
        })
    }

    /// The broker of `--broker`, for what must talk to one; `what` says what that is, for the
    /// refusal when events come from a file ("`queues` asks the broker").
    pub fn broker(&self, what: &str) -> Result<Broker, CliError> {
        match &self.source {
            EventSource::Broker(url, _) => Ok(Broker::open(url)?
                .with_stream_port(self.stream_port.clone())
                .with_stream_split(self.stream_split)),
            EventSource::Recording(_) => Err(CliError::usage(
                format!("{what}, and a recording on disk is not a broker"),
                "give --broker (a Redis or RabbitMQ URL) instead of --events",
            )),
        }
    }

    /// Result-backend records of these tasks, as JSON texts with their secrets filtered by the
    /// loading policy (so `retry` gets the real arguments, every other command scrubbed ones).
    pub fn backend_metas(
        &self,
        url: &BrokerUrl,
        ids: &[crate::model::TaskId],
    ) -> Result<Vec<String>, CliError> {
        let metas = crate::source::backend::read_metas(url, ids)?;
        Ok(metas
            .into_iter()
            .map(|m| self.ingest.json_text(&m).into_owned())
            .collect())
    }

    /// Render settings for a list command's stdout.
    pub fn list_ctx(&self, output: &crate::commands::args::ListOutput) -> RenderCtx {
        RenderCtx {
            wide: output.wide,
            ..self.render_ctx(output.ascii)
        }
    }

    /// Render settings for stdout.
    pub fn render_ctx(&self, ascii: bool) -> RenderCtx {
        RenderCtx {
            styles: if self.ui.stdout_color {
                Styles::colorized()
            } else {
                Styles::plain()
            },
            zone: self.zone,
            now: self.now,
            width: self.ui.width,
            ascii,
            wide: false,
            at: None,
        }
    }

    /// Whether the source can be read more than once (a file, not stdin or a live broker).
    pub fn rereadable(&self) -> bool {
        match &self.source {
            EventSource::Recording(input) => matches!(input, Input::Path(_)),
            EventSource::Broker(..) => true,
        }
    }

    /// The RabbitMQ stream queue of a recording: `--stream`, then the profile's
    /// `queue_name`, then `celtrace.events`.
    pub fn stream_queue(&self) -> String {
        self.stream
            .clone()
            .or_else(|| self.profile.queue_name.clone())
            .unwrap_or_else(|| crate::source::amqp::DEFAULT_QUEUE.to_string())
    }

    /// The Redis Stream key of a recording: `--stream`, then the profile's, then the default.
    pub fn stream_key(&self) -> String {
        self.stream
            .clone()
            .or_else(|| self.profile.key_prefix.clone())
            .unwrap_or_else(|| crate::source::stream::DEFAULT_PREFIX.to_string())
    }

    /// Whether events come from RabbitMQ, whose history has no index: `show` narrows its
    /// read by time instead.
    pub fn is_amqp(&self) -> bool {
        matches!(&self.source, EventSource::Broker(url, _) if url.kind == BrokerKind::Amqp)
    }

    /// The one way events are loaded: whatever the source, the request states the time range
    /// and which task events to decode; problems and gaps are reported on stderr.
    pub fn load(&self, req: &Load<'_>) -> Result<(State, LoadReport), CliError> {
        let Load {
            since,
            until,
            filter,
            at,
        } = *req;
        // Nothing recorded after `--at` (and its slack, docs/architecture.md §7) is read.
        let read_to = at.map(|t| t + crate::source::history::AT_SLACK);
        let until = until.into_iter().chain(read_to).reduce(f64::min);
        let input = match &self.source {
            EventSource::Recording(input) => input,
            EventSource::Broker(..) => {
                let progress = self.ui.progress_entries("reading");
                let result =
                    self.history(at)?
                        .load(since, until, filter, epoch(self.now), &progress);
                progress.finish_and_clear();
                let (state, report) = result?;
                self.report_problems(&report);
                return Ok((state, report));
            }
        };
        let mut state = State::scrubbed_by(self.ingest.clone()).with_cutoff(at);
        let progress = self.ui.progress("reading");
        let report = file::load_into_with_progress(input, &mut state, filter, &progress);
        progress.finish_and_clear();
        let report = report?;
        CliError::refuse_empty(&report)?;
        // Entries a filter skipped are not problems: fail only when what was read was unusable.
        if report.events == 0 && report.entries > report.filtered {
            let first_problem = report
                .issues
                .first()
                .map_or_else(String::new, |i| format!("line {}: {}", i.line, i.message));
            return Err(CliError::NoEvents {
                source_label: report.source.clone(),
                entries: report.entries,
                first_problem,
            });
        }
        self.report_problems(&report);
        Ok((state, report))
    }

    /// Reads of a RabbitMQ stream queue newest first, further back step by step (`show`):
    /// `None` for other sources. Each step is [`Ctx::read_back`]; [`Ctx::finish_back`] ends.
    pub fn backward(&self, at: Option<f64>) -> Result<Option<Backward>, CliError> {
        if !self.is_amqp() {
            return Ok(None);
        }
        let until = at.map(|t| t + crate::source::history::AT_SLACK);
        Ok(self.history(at)?.backward(until, epoch(self.now)))
    }

    /// One step back: from `since` (`None`: the first message) to where the last step began.
    pub fn read_back(&self, reads: &mut Backward, since: Option<f64>) -> Result<(), CliError> {
        let progress = self.ui.progress_entries("reading");
        let result = reads.extend(since, &progress);
        progress.finish_and_clear();
        Ok(result?)
    }

    /// What the steps read, its problems reported like any load's.
    pub fn finish_back(&self, reads: Backward) -> (State, LoadReport) {
        let (state, report) = reads.finish();
        self.report_problems(&report);
        (state, report)
    }

    /// The workflow of one task through the recording's index (`show`, `graph`). `None` when
    /// the source has no index (a file, or a RabbitMQ stream queue).
    pub fn load_flow(
        &self,
        typed: &str,
        at: Option<f64>,
    ) -> Result<Option<(State, LoadReport)>, CliError> {
        let EventSource::Broker(..) = &self.source else {
            return Ok(None);
        };
        let loaded = self.history(at)?.load_flow(typed, epoch(self.now))?;
        if let Some((_, report)) = &loaded {
            self.report_problems(report);
        }
        Ok(loaded)
    }

    /// The broker's recorded history (the stream key or queue of `--stream`, the profile, or
    /// the default), loaded with the ingest policy, as of `at` (`--at`) when given.
    pub fn history(&self, at: Option<f64>) -> Result<History, CliError> {
        let broker = self.broker("reading a recording from the broker")?;
        let (key, queue) = (self.stream_key(), self.stream_queue());
        let names = Names {
            stream_key: &key,
            queue: &queue,
        };
        Ok(broker.history(names, self.ingest.clone(), at)?)
    }

    fn report_problems(&self, report: &LoadReport) {
        for g in &report.gaps {
            let when = |t: Option<f64>, open: &str| {
                t.and_then(crate::render::fmt::rfc3339)
                    .unwrap_or_else(|| open.to_string())
            };
            let missing = match g.events {
                Some(1) => "1 received event is missing".to_string(),
                Some(n) => format!("{n} received events are missing"),
                None => "events in it are missing".to_string(),
            };
            let cause = g
                .cause
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            self.ui.warn(&format!(
                "the recording has a gap ({}) from {} to {}: {missing}{cause}",
                g.reason,
                when(g.from, "its beginning"),
                when(g.to, "now"),
            ));
        }
        let total = report.total_issues();
        if total == 0 {
            return;
        }
        let kinds: Vec<String> = report
            .issue_counts
            .iter()
            .map(|(k, n)| format!("{n} {}", k.as_str()))
            .collect();
        let lost = report.lost();
        let headline = if lost > 0 {
            format!(
                "{}: skipped {lost} unreadable entries or batch elements (of {} entries)",
                report.source, report.entries
            )
        } else {
            format!(
                "{}: {total} events had fields celtrace ignored",
                report.source
            )
        };
        let more = if self.ui.verbose == 0 {
            "; -v shows them"
        } else {
            ""
        };
        self.ui
            .warn(&format!("{headline} ({}){more}", kinds.join(", ")));
        if self.ui.verbose > 0 {
            for i in &report.issues {
                self.ui.note(&format!(
                    "  line {}: {}: {}",
                    i.line,
                    i.kind.as_str(),
                    i.message
                ));
                if self.ui.verbose > 1 && !i.excerpt.is_empty() {
                    self.ui.note(&format!("      {}", i.excerpt));
                }
            }
            if total as usize > report.issues.len() {
                self.ui.note(&format!(
                    "  … and {} more",
                    total as usize - report.issues.len()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_flag_env_celery_profile_default() {
        let r = |f, c, e, p, d| resolve_setting(f, c, e, p, d).map(|(_, o)| o);
        let (f, c, e, p, d) = (Some("f"), Some("c"), Some("e"), Some("p"), Some("d"));
        assert_eq!(r(f, c, e, p, d), Some(Origin::Flag));
        assert_eq!(r(None, c, e, p, d), Some(Origin::CeltraceEnv));
        assert_eq!(r(None, None, e, p, d), Some(Origin::CeleryEnv));
        assert_eq!(r(None, None, None, p, d), Some(Origin::Profile));
        assert_eq!(r(None, None, None, None, d), Some(Origin::Default));
        assert_eq!(r(None, None, None, None, None), None);
        assert_eq!(
            resolve_setting(None, Some("x"), Some("y"), None, None)
                .unwrap()
                .0,
            "x"
        );
    }
}
