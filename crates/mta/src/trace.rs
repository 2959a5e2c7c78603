//! Trace context across the queue: the W3C `traceparent` of the span
//! that received a message is written into its envelope, so the delivery
//! side (and the store, over LMTP `X-TRACEPARENT`) continues the same
//! trace. On an internal listener with `accept_traceparent`, a
//! `MAIL FROM ... X-TRACEPARENT=` from the previous relay parents the
//! transaction span.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A span for one transaction, parented on `traceparent` when given.
pub(crate) fn transaction_span(traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "smtp.transaction",
        sender = tracing::field::Empty,
        recipients = tracing::field::Empty,
        size = tracing::field::Empty,
        queue_id = tracing::field::Empty,
    );
    if let Some(sc) = traceparent.and_then(parse) {
        let cx = opentelemetry::Context::new().with_remote_span_context(sc);
        let _ = span.set_parent(cx);
    }
    span
}

fn parse(tp: &str) -> Option<SpanContext> {
    let mut parts = tp.split('-');
    let (_v, t, s, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let flags = u8::from_str_radix(f, 16).ok()?;
    let sc = SpanContext::new(
        TraceId::from_hex(t).ok()?,
        SpanId::from_hex(s).ok()?,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

/// The span's W3C traceparent, when OpenTelemetry is recording it.
pub(crate) fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}
