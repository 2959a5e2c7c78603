//! Trace context in the queue: with OpenTelemetry recording, each queued
//! envelope carries the W3C traceparent of the span that received it (a
//! child of the session's trace), and on a listener that accepts
//! `X-TRACEPARENT` the previous hop's trace is continued.

mod common;

use common::{Raw, start};
use opentelemetry::trace::TracerProvider;
use tracing_subscriber::layer::SubscriberExt;

fn parts(tp: &str) -> (String, String) {
    let p: Vec<&str> = tp.split('-').collect();
    assert_eq!(p.len(), 4, "{tp}");
    assert!(mail_smtp_proto::params::is_traceparent(tp), "{tp}");
    (p[1].to_string(), p[2].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_carry_the_receiving_trace() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).expect("subscriber");

    let server = start(|cfg| cfg.accept_traceparent = true).await;
    let mut raw = Raw::ready(server.addr).await;
    for _ in 0..2 {
        raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
        raw.cmd("RCPT TO:<alice@example.org>", 250).await;
        raw.cmd("DATA", 354).await;
        raw.send(b"Subject: t\r\n\r\n.\r\n").await;
        assert_eq!(raw.reply().await.code, 250);
    }
    let upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    raw.cmd(
        &format!("MAIL FROM:<bob@example.net> X-TRACEPARENT={upstream}"),
        250,
    )
    .await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("DATA", 354).await;
    raw.send(b"Subject: t\r\n\r\n.\r\n").await;
    assert_eq!(raw.reply().await.code, 250);

    let entries = server.entries().await;
    assert_eq!(entries.len(), 3);
    let tps: Vec<(String, String)> = entries
        .iter()
        .map(|(e, _)| parts(e.traceparent.as_deref().expect("traceparent")))
        .collect();
    // One session, one trace; one span per transaction.
    assert_eq!(tps[0].0, tps[1].0);
    assert_ne!(tps[0].1, tps[1].1);
    // The upstream hop's trace continues.
    assert_eq!(tps[2].0, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(tps[2].1, "00f067aa0ba902b7");
}

/// `X-DELIVERY-ID` is between a relay and its stores (LMTP): an SMTP
/// listener neither announces nor takes it, even one that takes our trace
/// context.
#[tokio::test]
async fn delivery_id_is_refused_over_smtp() {
    let server = start(|cfg| cfg.accept_traceparent = true).await;
    let mut raw = Raw::ready(server.addr).await;
    let ehlo = raw.cmd("EHLO client.example.net", 250).await;
    assert!(!ehlo.text().contains("X-DELIVERY-ID"), "{ehlo:?}");
    let r = raw
        .cmd("MAIL FROM:<bob@example.net> X-DELIVERY-ID=relay:Q1", 555)
        .await;
    assert!(r.text().contains("5.5.4"), "{r:?}");
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
}
