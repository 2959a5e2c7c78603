//! An SMTP server that accepts every recipient into a spool, for load
//! tests with Postfix's `smtp-source`:
//!
//! ```text
//! cargo run --release -p mail-mta --example smtp_accept -- 127.0.0.1:2525 /var/tmp/mta-bench
//! time smtp-source -s 20 -l 4096 -m 5000 -f bench@example.net -t alice@example.org 127.0.0.1:2525
//! ```
//!
//! Every message is fsynced into the spool before its `250`, as in the
//! relays; the spool is not drained (delete it between runs).

use std::sync::Arc;

use async_trait::async_trait;
use mail_core::Shutdown;
use mail_core::listener::ListenerConfig;
use mail_mta::{ClientInfo, Hooks, RcptVerdict, RecipientPolicy, Route, SmtpConfig, SmtpServer};
use mail_queue::{Spool, SpoolConfig};
use mail_smtp_proto::{Address, RcptParams, ReversePath};

struct AcceptAll;

#[async_trait]
impl RecipientPolicy for AcceptAll {
    async fn check_recipient(
        &self,
        _: &ClientInfo,
        _: &ReversePath,
        _: &Address,
        _: &RcptParams,
    ) -> RcptVerdict {
        RcptVerdict::Accept(Route::new("lmtp", "store1"))
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:2525".into())
        .parse()
        .expect("listen address");
    let dir = args.next().unwrap_or_else(|| "/var/tmp/mta-bench".into());
    let spool = Spool::open(&SpoolConfig::new(&dir)).expect("spool");
    let mut cfg = SmtpConfig::new(ListenerConfig::plain(listen));
    cfg.hostname = "bench.test".into();
    let shutdown = Shutdown::new();
    let addr = SmtpServer::new(cfg, spool.clone(), Hooks::new(Arc::new(AcceptAll)))
        .serve(None, &shutdown)
        .await
        .expect("bind");
    println!("listening on {addr}, spool {dir}");
    let _ = tokio::signal::ctrl_c().await;
    let (requests, batches) = spool.commit_stats();
    println!("{requests} directory-sync requests in {batches} batches");
}
