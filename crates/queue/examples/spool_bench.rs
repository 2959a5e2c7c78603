//! Queue write throughput: 4 KiB messages enqueued durably by 1 and by 20
//! concurrent writers (the 20-sender case of the MTA benchmark), with the
//! number of directory fsyncs the group commit needed.
//!
//! `cargo run --release -p mail-queue --example spool_bench -- [DIR] [MESSAGES]`
//! (DIR on the disk to measure, not tmpfs; default: a temporary directory
//! under /var/tmp).

use std::time::Instant;

use mail_queue::{Content, Envelope, QueuedRecipient, Spool, SpoolConfig};

fn envelope(spool: &Spool) -> Envelope {
    Envelope::new(
        spool.next_id(),
        "lmtp",
        "store1",
        "bench@example.net",
        vec![QueuedRecipient::new("alice@example.org")],
    )
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "/var/tmp".into());
    let total: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let message = vec![b'x'; 4096];
    for writers in [1usize, 20] {
        let dir = tempfile::tempdir_in(&base).expect("dir");
        let spool = Spool::open(&SpoolConfig::new(dir.path())).expect("spool");
        let per = total / writers;
        let started = Instant::now();
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let spool = spool.clone();
                let message = message.clone();
                tokio::spawn(async move {
                    for _ in 0..per {
                        let e = envelope(&spool);
                        spool
                            .enqueue(vec![e], Vec::new(), Content::Bytes(message.clone()))
                            .await
                            .expect("enqueue");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let secs = started.elapsed().as_secs_f64();
        let (requests, batches) = spool.commit_stats();
        println!(
            "{writers:>2} writers: {:>7.0} messages/s ({} messages in {secs:.2}s), {requests} directory-sync requests in {batches} batches",
            (per * writers) as f64 / secs,
            per * writers
        );
        spool.close();
    }
}
