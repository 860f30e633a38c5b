//! The `lifeline` command: parse the command line, hand over to `app`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    lifeline::app::init_logging();
    let result = match cli.command {
        Command::Serve { sources } => lifeline::app::serve(sources.into_sources()),
        Command::Check { sources } => lifeline::app::check(sources.into_sources()),
        Command::Demo { listen, period, duration } => lifeline::app::demo::demo(lifeline::app::demo::DemoOptions {
            listen,
            period: std::time::Duration::from_secs(period.max(1)),
            duration: duration.map(std::time::Duration::from_secs),
        }),
        Command::Plan { sources, down } => lifeline::app::plan::plan(sources.into_sources(), down),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
