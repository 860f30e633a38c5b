//! The `lifeline` command: parse the command line, hand over to `app`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lifeline::app::cli::Request;

#[derive(Debug, Parser)]
#[command(
    name = "lifeline",
    version,
    about = "Authoritative DNS whose answers follow endpoint health"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve DNS from a configuration file and/or zones given on the command line.
    Serve {
        #[command(flatten)]
        sources: SourceArgs,
        /// Where the HTTP API listens (default [api] listen, else 127.0.0.1:8053), e.g. 127.0.0.1:0.
        #[arg(long, value_name = "ADDR")]
        api: Option<String>,
        /// Directory of the state store: overrides and sticky failover state survive restarts
        /// (default [server] state_dir; without either, they are kept in memory only).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// How log lines on stderr are written (default [server] log_format, else text).
        #[arg(long, value_enum, value_name = "FORMAT")]
        log_format: Option<lifeline::app::LogFormat>,
    },
    /// Validate the configuration and zones, print a summary, and exit.
    Check {
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// A one-minute demo of failover: two local backends, one record, the
    /// primary going down and up on a timer (or on Enter).
    Demo {
        /// Where to serve DNS.
        #[arg(long, default_value = "127.0.0.1:5353")]
        listen: String,
        /// Seconds between the primary going down and coming back.
        #[arg(long, default_value_t = 10)]
        period: u64,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Print each health-checked record's tiers, worst-case failover time and
    /// TTL load; with --down, what it would answer with those endpoints down.
    Plan {
        #[command(flatten)]
        sources: SourceArgs,
        /// Endpoints to assume down, by name (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "NAMES")]
        down: Vec<String>,
    },
    /// Records, endpoints and zones of a running server.
    Status {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Recent events of a running server (answer, verdict and override changes), oldest first.
    Events {
        #[command(flatten)]
        api: ApiArgs,
        /// Only answer events of this record (NAME or NAME/TYPE).
        #[arg(long)]
        record: Option<String>,
        /// Only events of this endpoint.
        #[arg(long)]
        endpoint: Option<String>,
        /// Only events of this kind: check, verdict, answer, certificate, override, breaker.
        #[arg(long)]
        kind: Option<String>,
        /// How many events (1..=1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only events numbered below this (the next page of older ones).
        #[arg(long, value_name = "ID")]
        before: Option<u64>,
        /// Keep printing new events as they happen.
        #[arg(long, short)]
        follow: bool,
    },
    /// Take an endpoint (or every endpoint with a tag) out of the answers
    /// for maintenance, whatever its checks say; now or at a set time.
    Drain {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        set: SetArgs,
    },
    /// Let an endpoint follow its checks again (ends a drain or force-up, and
    /// cancels a scheduled one).
    Undrain {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        reason: Option<String>,
        /// At this time instead of now (RFC 3339 or +DURATION): the end of a
        /// maintenance window.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Treat an endpoint as up whatever its checks say.
    ForceUp {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        set: SetArgs,
    },
    /// Return a record (NAME or NAME/TYPE) to its best healthy tier now.
    Failback {
        #[command(flatten)]
        api: ApiArgs,
        record: String,
    },
    /// Make a running server re-read its configuration and zones.
    Reload {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Why a record (NAME or NAME/TYPE) answers what it does.
    Explain {
        #[command(flatten)]
        api: ApiArgs,
        name: String,
    },
}

/// How the commands that talk to a running server reach it. Exit codes:
/// 0 done, 1 the API refused (message printed), 2 the API cannot be reached.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The API's URL (default: $LIFELINE_API, else http://127.0.0.1:8053).
    #[arg(long, value_name = "URL")]
    api: Option<String>,
    /// A file holding the API token (default: $LIFELINE_API_TOKEN).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// What `drain` and `force-up` set: why, for how long, from when.
#[derive(Debug, clap::Args)]
struct SetArgs {
    /// Why; kept with the override and in its event.
    #[arg(long)]
    reason: String,
    /// Let the override lapse after this long, e.g. 30m or 2h.
    #[arg(long = "for", value_name = "DURATION")]
    lasts: Option<String>,
    /// Start at this time (RFC 3339, e.g. 2026-11-26T22:00:00Z, or +DURATION
    /// from now); a drain lowers its records' TTL one TTL ahead of it.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

impl SetArgs {
    fn request(self, target: TargetArgs, mode: &'static str) -> Request {
        Request::overriding(target.into(), mode, Some(self.reason), self.lasts, self.at)
    }
}

/// Which endpoints an override names: one by name, or all with a tag.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct TargetArgs {
    /// The endpoint, by its name in the configuration.
    endpoint: Option<String>,
    /// Every endpoint with this tag instead, KEY=VALUE (e.g. dc=fra).
    #[arg(long, value_name = "KEY=VALUE")]
    tag: Option<String>,
}

impl From<TargetArgs> for lifeline::app::cli::Target {
    fn from(t: TargetArgs) -> Self {
        match (t.endpoint, t.tag) {
            (_, Some(tag)) => lifeline::app::cli::Target::Tag(tag),
            (endpoint, None) => lifeline::app::cli::Target::Endpoint(endpoint.unwrap_or_default()),
        }
    }
}

impl ApiArgs {
    fn into_options(self) -> lifeline::app::cli::ApiOptions {
        lifeline::app::cli::ApiOptions {
            url: self.api,
            token_file: self.token_file,
            json: self.json,
        }
    }
}

#[derive(Debug, clap::Args)]
struct SourceArgs {
    /// Configuration file (TOML).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on, UDP and TCP (repeatable), e.g. 127.0.0.1:5353 or [::1]:5353.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// Zone to serve from an RFC 1035 zone file (repeatable).
    #[arg(long, value_name = "ORIGIN=FILE")]
    zone: Vec<String>,
    /// UDP worker threads per listen address (default: one per core).
    #[arg(long, value_name = "N")]
    udp_threads: Option<usize>,
}

impl SourceArgs {
    fn into_sources(self) -> lifeline::config::Sources {
        lifeline::config::Sources {
            file: self.config,
            listen: self.listen,
            zones: self.zone,
            udp_threads: self.udp_threads,
            api: None,
            state_dir: None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve {
            log_format, sources, ..
        } => log_format.or_else(|| {
            sources
                .config
                .as_deref()
                .and_then(lifeline::config::log_format::configured)
        }),
        _ => None,
    };
    lifeline::app::init_logging(log_format.unwrap_or_default());
    let result = match cli.command {
        Command::Serve {
            sources,
            api,
            state_dir,
            ..
        } => lifeline::app::serve(lifeline::config::Sources {
            api,
            state_dir,
            ..sources.into_sources()
        }),
        Command::Check { sources } => lifeline::app::check(sources.into_sources()),
        Command::Demo {
            listen,
            period,
            duration,
        } => lifeline::app::demo::demo(lifeline::app::demo::DemoOptions {
            listen,
            period: std::time::Duration::from_secs(period.max(1)),
            duration: duration.map(std::time::Duration::from_secs),
        }),
        Command::Plan { sources, down } => lifeline::app::plan::plan(sources.into_sources(), down),
        Command::Status { api } => return ask(api, Request::Status),
        Command::Events {
            api,
            record,
            endpoint,
            kind,
            limit,
            before,
            follow,
        } => {
            let request = Request::Events {
                record,
                endpoint,
                kind,
                limit,
                before,
                follow,
            };
            return ask(api, request);
        }
        Command::Drain { api, target, set } => return ask(api, set.request(target, "drain")),
        Command::Undrain {
            api,
            target,
            reason,
            at,
        } => {
            return ask(api, Request::overriding(target.into(), "auto", reason, None, at));
        }
        Command::ForceUp { api, target, set } => return ask(api, set.request(target, "force-up")),
        Command::Failback { api, record } => return ask(api, Request::Failback { record }),
        Command::Reload { api } => return ask(api, Request::Reload),
        Command::Explain { api, name } => return ask(api, Request::Explain { name }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that talks to a running server; its exit code.
fn ask(api: ApiArgs, request: Request) -> ExitCode {
    ExitCode::from(lifeline::app::cli::run(api.into_options(), request))
}
