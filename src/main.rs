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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
