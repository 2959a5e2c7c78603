//! Joining the relay's trace: a transaction that arrives with
//! `MAIL FROM:<...> X-TRACEPARENT=00-<trace>-<span>-<flags>` gets a span
//! whose OpenTelemetry parent is that context, so relay and store appear
//! in one trace. Without it the span is a child of the session span.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A span for one transaction, parented on `traceparent` when given.
pub(crate) fn transaction_span(traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "lmtp.transaction",
        traceparent = traceparent.unwrap_or(""),
        recipients = tracing::field::Empty,
        size = tracing::field::Empty,
    );
    if let Some(tp) = traceparent {
        let carrier: HashMap<String, String> =
            HashMap::from([("traceparent".to_string(), tp.to_string())]);
        let cx = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(cx);
    }
    span
}
