//! Push over EventSource (RFC 8620 7.3): `GET /jmap/eventsource?types=
//! &closeafter=&ping=` answers `text/event-stream`. The store's per-user
//! change signal (the one behind IMAP IDLE's wake-ups, widened to the
//! user) wakes the stream; it then compares the account state with the
//! last one sent and, when it moved, sends a `state` event with a
//! StateChange for Mailbox, Email, Thread and EmailDelivery (the last
//! only when a mailbox's UIDNEXT grew). `ping` events keep proxies from
//! closing an idle stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::{Response, StatusCode, header};
use mail_core::Shutdown;
use mail_jmap_proto::push::StateChange;
use tokio_stream::wrappers::ReceiverStream;

use crate::Shared;
use crate::auth::Account;
use crate::http::build;
use crate::state::State;

/// The types this server pushes.
const TYPES: &[&str] = &["Mailbox", "Email", "Thread", "EmailDelivery"];

fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

async fn current(shared: &Arc<Shared>, uid: &str) -> Option<(String, u64)> {
    let uid = uid.to_string();
    shared
        .store
        .run(move |st| {
            let c = st.mailbox_counters(&uid)?;
            let delivered: u64 = c.iter().map(|m| u64::from(m.uidnext)).sum();
            Ok((State::of_counters(c.iter()).encode(), delivered))
        })
        .await
        .ok()
}

/// Starts the event stream for `acc`.
pub(crate) fn eventsource(
    shared: Arc<Shared>,
    acc: Account,
    query: &str,
    shutdown: Shutdown,
) -> Response<Body> {
    let types: Vec<String> = match param(query, "types").map(|t| {
        percent_encoding::percent_decode_str(t)
            .decode_utf8_lossy()
            .into_owned()
    }) {
        None => TYPES.iter().map(|s| s.to_string()).collect(),
        Some(t) if t == "*" || t.is_empty() => TYPES.iter().map(|s| s.to_string()).collect(),
        Some(t) => t.split(',').map(str::to_string).collect(),
    };
    let close_after_state = param(query, "closeafter") == Some("state");
    // RFC 8620 7.3: a server's minimum must not exceed 30 s, its maximum
    // must be at least 300 s.
    let ping = param(query, "ping")
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        .min(600);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(async move {
        let mut watch = shared.store.watch_user(&acc.uid);
        let Some((mut sent, mut delivered)) = current(&shared, &acc.uid).await else {
            return;
        };
        let mut ticker = tokio::time::interval(Duration::from_secs(ping.max(1)));
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.triggered() => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if ping > 0 => {
                    let ev = format!("event: ping\ndata: {{\"interval\":{ping}}}\n\n");
                    if tx.send(Ok(Bytes::from(ev))).await.is_err() {
                        return;
                    }
                }
                changed = watch.changed() => {
                    if changed.is_err() {
                        // The store dropped the channel: watch again.
                        watch = shared.store.watch_user(&acc.uid);
                        continue;
                    }
                    // Let a burst (a move is a copy and an expunge) settle.
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    let Some((state, now_delivered)) = current(&shared, &acc.uid).await else {
                        continue;
                    };
                    if state == sent {
                        continue;
                    }
                    let mut change = StateChange::default();
                    let entry = change.changed.entry(acc.account_id.clone()).or_default();
                    for t in &types {
                        match t.as_str() {
                            "Mailbox" | "Email" | "Thread" => {
                                entry.insert(t.clone(), state.clone());
                            }
                            "EmailDelivery" if now_delivered > delivered => {
                                entry.insert(t.clone(), format!("d{now_delivered}"));
                            }
                            _ => {}
                        }
                    }
                    sent = state;
                    delivered = now_delivered;
                    if change.is_empty() {
                        continue;
                    }
                    let ev = format!("event: state\ndata: {}\n\n", change.to_value());
                    if tx.send(Ok(Bytes::from(ev))).await.is_err() || close_after_state {
                        return;
                    }
                }
            }
        }
    });
    let mut r = build(
        StatusCode::OK,
        "text/event-stream",
        Body::from_stream(ReceiverStream::new(rx)),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    r.headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    r
}
