//! Logs, traces and metrics.
//!
//! Logs go to stderr through `tracing-subscriber` (human or JSON). When an
//! OTLP endpoint is configured (or `OTEL_EXPORTER_OTLP_ENDPOINT` is set),
//! spans and metrics are also exported over OTLP/gRPC. Metrics are recorded
//! through the OpenTelemetry API (`opentelemetry::global::meter`) by every
//! crate and are served in Prometheus text format on the admin endpoint,
//! whether or not OTLP export is on.

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Validate, Validator};

/// Log line format.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per event, for log collectors.
    Json,
}

/// The `[telemetry]` section every service accepts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log format on stderr.
    #[serde(default)]
    pub log_format: LogFormat,
    /// `tracing` filter directives (`info`, `mail_mta=debug,info`);
    /// `RUST_LOG` overrides it.
    #[serde(default = "default_filter")]
    pub log_filter: String,
    /// OTLP/gRPC collector address (`http://collector:4317`). When absent,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is used if set; otherwise nothing is
    /// exported.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// How often metrics are pushed over OTLP.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub metrics_interval: Duration,
}

fn default_filter() -> String {
    "info".to_string()
}

fn default_interval() -> Duration {
    Duration::from_secs(15)
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::default(),
            log_filter: default_filter(),
            otlp_endpoint: None,
            metrics_interval: default_interval(),
        }
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self, v: &mut Validator) {
        if let Err(e) = EnvFilter::builder().parse(&self.log_filter) {
            v.error("log_filter", format!("not a valid filter: {e}"));
        }
        if let Some(ep) = &self.otlp_endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            v.error("otlp_endpoint", "must start with http:// or https://");
        }
        if self.metrics_interval < Duration::from_secs(1) {
            v.error("metrics_interval", "must be at least one second");
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Otlp(String),
    /// The Prometheus exporter could not be built.
    #[error("Prometheus exporter: {0}")]
    Prometheus(String),
    /// A global subscriber was already installed.
    #[error("tracing subscriber: {0}")]
    Subscriber(String),
}

/// Live telemetry; dropping it without [`Telemetry::shutdown`] may lose the
/// last batch of spans.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: SdkMeterProvider,
    registry: prometheus::Registry,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("otlp", &self.tracer.is_some())
            .finish()
    }
}

impl Telemetry {
    /// Installs the global subscriber and meter provider. Must run inside a
    /// Tokio runtime (the OTLP exporter's channel lives on it).
    pub fn init(service: &str, cfg: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let endpoint = cfg
            .otlp_endpoint
            .clone()
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
            .filter(|s| !s.is_empty());
        let resource = Resource::builder()
            .with_service_name(service.to_string())
            .build();

        let registry = prometheus::Registry::new();
        let prom = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| TelemetryError::Prometheus(e.to_string()))?;
        let mut meter = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(prom);

        let mut tracer = None;
        if let Some(ep) = &endpoint {
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(ep.clone())
                .build()
                .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
            tracer = Some(
                SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_batch_exporter(spans)
                    .build(),
            );
            let metrics = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(ep.clone())
                .build()
                .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
            let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metrics)
                .with_interval(cfg.metrics_interval)
                .build();
            meter = meter.with_reader(reader);
        }
        let meter = meter.build();
        opentelemetry::global::set_meter_provider(meter.clone());

        let filter = match std::env::var("RUST_LOG") {
            Ok(s) if !s.is_empty() => EnvFilter::builder().parse_lossy(s),
            _ => EnvFilter::builder().parse_lossy(&cfg.log_filter),
        };
        let otel_layer = tracer.as_ref().map(|p| {
            opentelemetry::global::set_tracer_provider(p.clone());
            tracing_opentelemetry::layer().with_tracer(p.tracer(service.to_string()))
        });
        let (human, json) = match cfg.log_format {
            LogFormat::Human => (
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(std::io::stderr().is_terminal())
                        .with_writer(std::io::stderr),
                ),
                None,
            ),
            LogFormat::Json => (
                None,
                Some(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_current_span(true)
                        .with_writer(std::io::stderr),
                ),
            ),
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(human)
            .with(json)
            .with(otel_layer)
            .try_init()
            .map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
        if let Some(ep) = endpoint {
            tracing::info!(endpoint = %ep, "exporting traces and metrics over OTLP");
        }
        Ok(Self {
            tracer,
            meter,
            registry,
        })
    }

    /// Every metric in Prometheus text exposition format.
    pub fn prometheus_text(&self) -> String {
        render(&self.registry)
    }

    /// Flushes and stops the exporters.
    pub fn shutdown(self) {
        if let Some(t) = self.tracer {
            if let Err(e) = t.force_flush() {
                eprintln!("telemetry: flushing spans: {e}");
            }
            let _ = t.shutdown();
        }
        let _ = self.meter.shutdown();
    }
}

fn render(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&registry.gather(), &mut buf) {
        return format!("# error encoding metrics: {e}\n");
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The W3C `traceparent` of `span` when OpenTelemetry records it, for a
/// request to another service that should join this trace (the MEM's
/// requests to a store, say). `None` when no exporter is configured.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
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

/// Makes `span` a child of the remote span a W3C `traceparent` names
/// (`00-<trace id>-<span id>-<flags>`); a malformed value is ignored.
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut parts = traceparent.trim().split('-');
    let (Some(_v), Some(t), Some(s), Some(f), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return;
    };
    let (Ok(trace), Ok(id), Ok(flags)) = (
        TraceId::from_hex(t),
        SpanId::from_hex(s),
        u8::from_str_radix(f, 16),
    ) else {
        return;
    };
    let sc = SpanContext::new(
        trace,
        id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    if sc.is_valid() {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
    }
}
