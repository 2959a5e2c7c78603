//! The mail log and the delivery trace.
//!
//! Every message event is one `tracing` event with target `mail_log` and
//! the same fields, so one filter (`mail_log=info`) yields the classic
//! MTA log: `event` (`delivered`, `deferred`, `bounced`, `dsn`), `queue_id`,
//! `message_id`, `channel`, `recipient`, `result` (the reply) and `remote`.
//! The relays log `received` and `routed` with the same field names.
//!
//! Each delivery attempt runs in a `delivery.attempt` span whose
//! OpenTelemetry parent is the traceparent stored in the queue envelope,
//! and the span's own context is what LMTP passes on in `X-TRACEPARENT`,
//! so one trace follows a message from the relay through jobctl and
//! delivery into the store.

use std::collections::HashMap;

use mail_queue::Envelope;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::deliver::{Outcome, RcptResult};

/// The span of one attempt, continuing `traceparent` when there is one.
pub fn attempt_span(env: &Envelope, channel: &str, worker: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "delivery.attempt",
        queue_id = %env.id,
        channel,
        worker,
        host = %env.host,
        recipients = env.pending().count(),
        message_id = env.message_id.as_deref().unwrap_or(""),
    );
    if let Some(tp) = &env.traceparent {
        let carrier = HashMap::from([("traceparent".to_string(), tp.clone())]);
        let cx = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(cx);
    }
    span
}

/// The traceparent to pass downstream: the attempt span's own when
/// OpenTelemetry records it, else the envelope's (so the trace id still
/// travels when this process exports nothing).
pub fn outgoing_traceparent(span: &tracing::Span, env: &Envelope) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        return Some(format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        ));
    }
    env.traceparent.clone()
}

/// One line per recipient result.
pub fn result(env: &Envelope, channel: &str, r: &RcptResult, remote: Option<&str>) {
    let message_id = env.message_id.as_deref().unwrap_or("");
    let remote = remote.unwrap_or("");
    let reply = r.reply.one_line();
    match r.outcome {
        Outcome::Delivered => tracing::info!(
            target: "mail_log", event = "delivered", queue_id = %env.id, message_id, channel,
            recipient = %r.address, result = %reply, remote,
        ),
        Outcome::Retry => tracing::warn!(
            target: "mail_log", event = "deferred", queue_id = %env.id, message_id, channel,
            recipient = %r.address, result = %reply, remote,
        ),
        Outcome::Failed => tracing::warn!(
            target: "mail_log", event = "bounced", queue_id = %env.id, message_id, channel,
            recipient = %r.address, result = %reply, remote,
        ),
    }
}

/// A recipient bounced because its queue lifetime ran out.
pub fn expired(env: &Envelope, channel: &str, recipient: &str, why: &str) {
    tracing::warn!(
        target: "mail_log", event = "bounced", queue_id = %env.id,
        message_id = env.message_id.as_deref().unwrap_or(""), channel, recipient,
        result = %format!("expired: {why}"), remote = "",
    );
}

/// A DSN was queued about `env`.
pub fn dsn(env: &Envelope, channel: &str, action: &str, recipients: usize, dsn_id: &str) {
    tracing::info!(
        target: "mail_log", event = "dsn", queue_id = %env.id,
        message_id = env.message_id.as_deref().unwrap_or(""), channel,
        recipient = %env.sender, result = %format!("{action} notice for {recipients} recipient(s) queued as {dsn_id}"),
        remote = "",
    );
}
