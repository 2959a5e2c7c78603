//! OpenTelemetry instruments of the store (`meter("mail-store")`).
//!
//! The block-cache hit ratio is an observable gauge read from RocksDB's
//! tickers at collection time, so it costs nothing on the hot path.

use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, ObservableGauge};
use rocksdb::statistics::Ticker;

use crate::db::Db;

/// Instruments shared by the engine and the committer.
pub(crate) struct Metrics {
    deliveries: Counter<u64>,
    quota_refusals: Counter<u64>,
    batch_size: Histogram<u64>,
    _hit_ratio: ObservableGauge<f64>,
}

impl Metrics {
    pub(crate) fn new(db: &Arc<Db>) -> Arc<Self> {
        let meter = opentelemetry::global::meter("mail-store");
        let weak = Arc::downgrade(db);
        let hit_ratio = meter
            .f64_observable_gauge("store.block_cache.hit_ratio")
            .with_description("RocksDB block cache hits / (hits + misses) since open")
            .with_callback(move |obs| {
                if let Some(db) = weak.upgrade() {
                    obs.observe(hit_ratio(&db), &[]);
                }
            })
            .build();
        Arc::new(Self {
            deliveries: meter
                .u64_counter("store.deliveries")
                .with_description("Messages added to mailboxes, by outcome")
                .build(),
            quota_refusals: meter
                .u64_counter("store.quota.refusals")
                .with_description(
                    "Messages refused for quota (delivery, APPEND, COPY): temporary within the grace period, permanent after it",
                )
                .build(),
            batch_size: meter
                .u64_histogram("store.group_commit.batch_size")
                .with_description("Writes sharing one WAL sync")
                .build(),
            _hit_ratio: hit_ratio,
        })
    }

    pub(crate) fn delivered(&self, outcome: &'static str) {
        self.deliveries.add(1, &[KeyValue::new("outcome", outcome)]);
    }

    pub(crate) fn quota_refused(&self, permanent: bool) {
        self.quota_refusals.add(
            1,
            &[KeyValue::new(
                "result",
                if permanent { "permanent" } else { "temporary" },
            )],
        );
    }

    pub(crate) fn batch(&self, n: u64) {
        self.batch_size.record(n, &[]);
    }
}

/// Block cache hits / lookups since open (0 before the first lookup).
pub(crate) fn hit_ratio(db: &Db) -> f64 {
    let hit = db.opts.get_ticker_count(Ticker::BlockCacheHit) as f64;
    let miss = db.opts.get_ticker_count(Ticker::BlockCacheMiss) as f64;
    if hit + miss == 0.0 {
        0.0
    } else {
        hit / (hit + miss)
    }
}
