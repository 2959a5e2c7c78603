//! `mailctl bench directory`: lookups per second against a directory,
//! without and with the lookup cache. A measurement to print, not a test
//! with a threshold (see docs/benchmarks.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use mail_directory::{Address, CacheConfig, Cached, Directory};

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
    let mut addresses: Vec<Address> = backend
        .list_users()
        .await?
        .into_iter()
        .map(|u| u.address)
        .collect();
    if addresses.is_empty() {
        bail!("the directory has no users to look up");
    }
    // One unknown address in ten, as an MTA sees on the Internet.
    if let Some(d) = addresses.first().map(|a| a.domain().to_string()) {
        let unknown = addresses.len().div_ceil(9);
        for i in 0..unknown {
            addresses.push(Address::parse(&format!("nobody{i}@{d}"))?);
        }
    }
    let addresses = Arc::new(addresses);
    let run_for = Duration::from_secs(seconds.max(1));
    println!(
        "directory benchmark: {} backend, {} addresses, concurrency {concurrency}, {}s per run",
        backend.backend(),
        addresses.len(),
        run_for.as_secs()
    );
    let uncached = measure(backend.clone(), addresses.clone(), concurrency, run_for).await?;
    println!("uncached: {uncached:>12.0} lookups/s");
    let cache = CacheConfig {
        capacity: addresses.len() * 2,
        ..config.cache().clone()
    };
    let cached = Arc::new(Cached::new(backend, &cache));
    let cached_rate = measure(cached.clone(), addresses, concurrency, run_for).await?;
    let s = cached.stats();
    println!(
        "cached:   {cached_rate:>12.0} lookups/s  (hits {}, misses {}, ttl {:?}, negative ttl {:?})",
        s.hits, s.misses, cache.ttl, cache.negative_ttl
    );
    Ok(())
}

async fn measure(
    dir: Arc<dyn Directory>,
    addresses: Arc<Vec<Address>>,
    concurrency: usize,
    run_for: Duration,
) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency.max(1) {
        let (dir, addresses, stop, count) =
            (dir.clone(), addresses.clone(), stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                dir.resolve(&addresses[i % addresses.len()]).await?;
                count.fetch_add(1, Ordering::Relaxed);
                i += 7;
            }
            Ok::<_, mail_directory::DirectoryError>(())
        }));
    }
    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
