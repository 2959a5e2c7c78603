//! `mailctl bench directory`: lookups per second against a directory,
//! without and with the lookup cache. A measurement to print, not a test
//! with a threshold (see docs/benchmarks.md).

use std::time::Duration;

use mail_directory::bench;

use crate::dirconf::{self, DirectoryArg};

/// Arguments of `mailctl bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Address lookups per second, uncached then cached.
    Directory {
        #[command(flatten)]
        directory: DirectoryArg,
        /// How long each of the two runs lasts.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Lookups in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
}

/// Runs `mailctl bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let BenchCommand::Directory {
        directory,
        seconds,
        concurrency,
    } = args.command;
    let config = dirconf::load(directory.path()?)?;
    let backend = mail_directory::open_uncached(&config).await?;
    let run_for = Duration::from_secs(seconds.max(1));
    println!(
        "directory benchmark: {} backend, concurrency {concurrency}, {}s per run",
        backend.backend(),
        run_for.as_secs()
    );
    let report = bench::run(backend, config.cache(), concurrency, run_for).await?;
    print!("{report}");
    Ok(())
}
