//! Lookup throughput, shared by `mailctl bench directory` and the
//! `ldap_bench` example that runs it against a throw-away `slapd`.
//!
//! It measures what the relays do at every RCPT: [`Directory::resolve`] on
//! a mix of known addresses and one unknown address in ten (the share of
//! bad recipients an Internet-facing MTA sees), first on the backend alone
//! and then through [`Cached`], so the report shows what the cache buys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Address, CacheConfig, CacheStats, Cached, Directory, DirectoryError, Result};

/// What one benchmark run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Addresses looked up (known and unknown).
    pub addresses: usize,
    /// Lookups per second on the backend alone.
    pub uncached: f64,
    /// Lookups per second through the cache.
    pub cached: f64,
    /// The cache's counters after the cached run.
    pub cache_stats: CacheStats,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "addresses: {} (one in ten unknown)", self.addresses)?;
        writeln!(f, "uncached: {:>12.0} lookups/s", self.uncached)?;
        writeln!(
            f,
            "cached:   {:>12.0} lookups/s  (hits {}, misses {})",
            self.cached, self.cache_stats.hits, self.cache_stats.misses
        )
    }
}

/// The addresses a run looks up: every user's primary address plus one
/// unknown address per nine known ones.
pub async fn bench_addresses(dir: &dyn Directory) -> Result<Vec<Address>> {
    let mut addresses: Vec<Address> = dir
        .list_users()
        .await?
        .into_iter()
        .map(|u| u.address)
        .collect();
    if let Some(domain) = addresses.first().map(|a| a.domain().to_string()) {
        for i in 0..addresses.len().div_ceil(9) {
            addresses.push(Address::parse(&format!("nobody{i}@{domain}"))?);
        }
    }
    Ok(addresses)
}

/// Runs the uncached then the cached measurement, `run_for` each, with
/// `concurrency` lookups in flight. The cache is sized to hold every
/// address so the cached run measures hits, not evictions.
pub async fn run(
    backend: Arc<dyn Directory>,
    cache: &CacheConfig,
    concurrency: usize,
    run_for: Duration,
) -> Result<BenchReport> {
    let addresses = bench_addresses(&*backend).await?;
    if addresses.is_empty() {
        return Err(DirectoryError::InvalidInput {
            what: "directory",
            reason: "it has no users to look up".into(),
        });
    }
    let addresses = Arc::new(addresses);
    let uncached = lookups_per_second(backend.clone(), &addresses, concurrency, run_for).await?;
    let cache = CacheConfig {
        capacity: addresses.len() * 2,
        ..cache.clone()
    };
    let cached_dir = Arc::new(Cached::new(backend, &cache));
    let cached = lookups_per_second(cached_dir.clone(), &addresses, concurrency, run_for).await?;
    Ok(BenchReport {
        addresses: addresses.len(),
        uncached,
        cached,
        cache_stats: cached_dir.stats(),
    })
}

/// Resolves addresses round-robin from `concurrency` tasks for `run_for`
/// and returns the rate. Any lookup error ends the run: a benchmark that
/// counts failures as lookups would flatter a broken directory.
pub async fn lookups_per_second(
    dir: Arc<dyn Directory>,
    addresses: &Arc<Vec<Address>>,
    concurrency: usize,
    run_for: Duration,
) -> Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency.max(1) {
        let (dir, addresses, stop, count) =
            (dir.clone(), addresses.clone(), stop.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            // Strided so that workers do not walk the list in lock step.
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                dir.resolve(&addresses[i % addresses.len()]).await?;
                count.fetch_add(1, Ordering::Relaxed);
                i += 7;
                // A cache hit never awaits anything, so without this the
                // workers would hold every runtime thread and starve the
                // timer that ends the run (and the LDAP connection tasks).
                // A service does network I/O between lookups anyway.
                tokio::task::yield_now().await;
            }
            Ok::<_, DirectoryError>(())
        }));
    }
    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(|e| DirectoryError::Unavailable {
            server: "benchmark".into(),
            reason: format!("lookup task failed: {e}"),
        })??;
    }
    Ok(count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
