//! Delivery throughput of the store, with and without group commit.
//!
//! `cargo run --release -p mail-store --example store_bench [-- SECONDS] [DIR]`
//!
//! Runs each scenario for SECONDS (default 3) in a fresh store under DIR
//! (default: the system temp dir; use a real disk, not tmpfs, to see the
//! fsync cost) and prints deliveries/s and recipient-deliveries/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mail_store::{DeliverOptions, Recipient, Store, StoreConfig};

fn message(n: u64) -> Vec<u8> {
    let mut m = format!(
        "From: Bench <bench@example.org>\r\nTo: users@example.com\r\nSubject: bench {n}\r\nMessage-ID: <{n}@bench>\r\n\r\n"
    )
    .into_bytes();
    m.extend(
        std::iter::repeat_n(
            b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".as_slice(),
            60,
        )
        .flatten(),
    );
    m
}

fn run(
    base: &std::path::Path,
    grouped: bool,
    recipients: usize,
    workers: usize,
    secs: u64,
) -> (f64, f64) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let mut cfg = StoreConfig::single(dir.path());
    if !grouped {
        cfg.group_commit.max_batch = 1;
        cfg.group_commit.window = Duration::ZERO;
    }
    let store = Store::open(cfg).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let rcpts: Vec<Recipient> = (0..recipients)
                        .map(|k| Recipient::new(format!("user{}", (w * 7 + k + n as usize) % 100)))
                        .collect();
                    let res = store.deliver(&message(n), &rcpts, &DeliverOptions::default());
                    if res.iter().all(|r| r.is_ok()) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    store.close();
    let n = count.load(Ordering::Relaxed) as f64;
    (n / elapsed, n * recipients as f64 / elapsed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let base = args
        .get(2)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    println!("store_bench: {secs}s per scenario under {}", base.display());
    println!(
        "{:<14} {:>10} {:>8} {:>14} {:>18}",
        "group commit", "recipients", "workers", "deliveries/s", "mailbox appends/s"
    );
    for (recipients, workers) in [(1, 1), (1, 20), (10, 1), (10, 20)] {
        for grouped in [false, true] {
            let (d, r) = run(&base, grouped, recipients, workers, secs);
            let label = if grouped { "on" } else { "off" };
            println!("{label:<14} {recipients:>10} {workers:>8} {d:>14.0} {r:>18.0}");
        }
    }
}
