//! HTTP/1.1 over the shared listener (implicit TLS): routing, the span
//! per request (joined to the caller's trace through `traceparent`),
//! authentication and metrics. The JMAP work itself is in the method
//! modules; this file only maps URLs to them (RFC 8620 2, 3.1, 6, 7.3).
//!
//! | route | what |
//! |---|---|
//! | `GET /.well-known/jmap`, `GET /jmap/session` | the session resource |
//! | `POST /jmap/api` | method calls |
//! | `POST /jmap/upload/{accountId}/` | blob upload |
//! | `GET /jmap/download/{accountId}/{blobId}/{name}?accept=` | blob download |
//! | `GET /jmap/eventsource?types=&closeafter=&ping=` | push (EventSource) |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler};
use mail_jmap_proto::RequestError;
use serde_json::{Value, json};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::Shared;
use crate::auth::{Account, Refused};

/// The listener side: one hyper connection per accepted socket.
pub(crate) struct HttpHandler(pub Arc<Shared>);

impl Handler for HttpHandler {
    async fn handle(&self, conn: Conn, shutdown: Shutdown) {
        let shared = self.0.clone();
        let peer = conn.peer;
        let svc_shutdown = shutdown.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let shared = shared.clone();
            let shutdown = svc_shutdown.clone();
            async move { Ok::<_, Infallible>(serve(shared, req, peer, shutdown).await) }
        });
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .keep_alive(true)
            .serve_connection(TokioIo::new(conn.stream), svc);
        tokio::pin!(http);
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended");
                }
            }
            _ = shutdown.triggered() => {
                http.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(5), http).await;
            }
        }
    }
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, v: &Value) -> Response<Body> {
    build(status, "application/json", Body::from(v.to_string()))
}

pub(crate) fn build(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

/// An RFC 7807 problem document.
pub(crate) fn problem(status: StatusCode, kind: &str, detail: &str) -> Response<Body> {
    build(
        status,
        "application/problem+json",
        Body::from(json!({"type": kind, "status": status.as_u16(), "detail": detail}).to_string()),
    )
}

pub(crate) fn request_error(e: &RequestError) -> Response<Body> {
    build(
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
        "application/problem+json",
        Body::from(e.problem().to_string()),
    )
}

fn refused(r: &Refused) -> Response<Body> {
    match r {
        Refused::Unauthorized => {
            let mut resp = problem(
                StatusCode::UNAUTHORIZED,
                "about:blank",
                "authentication required",
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"tiermail\", charset=\"UTF-8\""),
            );
            resp
        }
        Refused::Forbidden(why) => problem(StatusCode::FORBIDDEN, "about:blank", why),
        Refused::Unavailable => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "about:blank",
            "the directory is unavailable; try again",
        ),
    }
}

fn route_of(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (&Method::GET, "/.well-known/jmap" | "/jmap/session" | "/jmap/session/") => "session",
        (&Method::POST, "/jmap/api" | "/jmap/api/") => "api",
        (&Method::POST, p) if p.starts_with("/jmap/upload/") => "upload",
        (&Method::GET, p) if p.starts_with("/jmap/download/") => "download",
        (&Method::GET, "/jmap/eventsource" | "/jmap/eventsource/") => "eventsource",
        _ => "other",
    }
}

fn parent_span(req: &Request<Incoming>, span: &tracing::Span) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    let Some(tp) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let mut parts = tp.trim().split('-');
    let (Some(_v), Some(t), Some(s), Some(f)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(t), Ok(s), Ok(f)) = (
        TraceId::from_hex(t),
        SpanId::from_hex(s),
        u8::from_str_radix(f, 16),
    ) else {
        return;
    };
    let sc = SpanContext::new(t, s, TraceFlags::new(f), true, TraceState::default());
    if sc.is_valid() {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
    }
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    shutdown: Shutdown,
) -> Response<Body> {
    let started = Instant::now();
    let route = route_of(req.method(), req.uri().path());
    let span = tracing::info_span!(
        "jmap.request",
        http.method = %req.method(),
        http.route = route,
        user = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    parent_span(&req, &span);
    let resp = route_request(&shared, req, peer, route, shutdown)
        .instrument(span.clone())
        .await;
    let status = resp.status().as_u16();
    span.record("status", status);
    shared
        .metrics
        .request(route, status, started.elapsed().as_secs_f64());
    resp
}

/// The base URL clients use: `Forwarded` host/proto from a trusted proxy,
/// else the `Host` header.
fn base_url(shared: &Shared, req: &Request<Incoming>, acc: &Account) -> String {
    let scheme = if shared.plaintext { "http" } else { "https" };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    if acc.proxy.is_some() {
        let f = crate::auth::forwarded(req.headers());
        if let Some(h) = f.host {
            let proto = f.proto.unwrap_or_else(|| scheme.to_string());
            return format!("{proto}://{h}");
        }
    }
    format!("{scheme}://{host}")
}

async fn route_request(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
    route: &'static str,
    shutdown: Shutdown,
) -> Response<Body> {
    if route == "other" {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such resource");
    }
    let acc = match shared.authenticate(req.headers(), peer.ip()).await {
        Ok(a) => a,
        Err(r) => return refused(&r),
    };
    tracing::Span::current().record("user", acc.uid.as_str());
    match route {
        "session" => {
            let base = base_url(shared, &req, &acc);
            crate::session::resource(shared, &acc, &base).await
        }
        "api" => {
            let Some(_permit) = shared.request_permit(&acc.uid) else {
                return request_error(&RequestError::Limit("maxConcurrentRequests"));
            };
            let ctype_ok = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.to_ascii_lowercase().starts_with("application/json"));
            let body = match read_body(req, shared.limits.max_size_request).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if !ctype_ok {
                return request_error(&RequestError::NotJson(
                    "the Content-Type must be application/json".into(),
                ));
            }
            crate::api::handle(shared, &acc, &body).await
        }
        "upload" => {
            let Some(_permit) = shared.upload_permit(&acc.uid) else {
                return request_error(&RequestError::Limit("maxConcurrentUpload"));
            };
            let path = req.uri().path().to_string();
            let ctype = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let body = match read_body(req, shared.limits.max_size_upload).await {
                Ok(b) => b,
                Err(_) => {
                    return problem(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "urn:ietf:params:jmap:error:limit",
                        "the upload is larger than maxSizeUpload",
                    );
                }
            };
            crate::blob::upload(shared, &acc, &path, &ctype, body).await
        }
        "download" => {
            let uri = req.uri().clone();
            crate::blob::download(shared, &acc, &uri).await
        }
        "eventsource" => {
            let query = req.uri().query().unwrap_or("").to_string();
            crate::push::eventsource(shared.clone(), acc, &query, shutdown)
        }
        _ => problem(StatusCode::NOT_FOUND, "about:blank", "no such resource"),
    }
}

/// How much of a too-large body is read and thrown away before the
/// refusal is sent. Answering while the client is still sending makes the
/// server close with unread data, and the client then sees a reset instead
/// of the limit error it could act on; beyond this, it gets the reset.
const DRAIN_MAX: u64 = 4 << 20;

/// Reads a body of at most `max` octets; over it, the RFC 8620 limit
/// error naming `maxSizeRequest` (the caller maps uploads to 413), after
/// reading the rest of the body up to [`DRAIN_MAX`].
async fn read_body(req: Request<Incoming>, max: u64) -> Result<Bytes, Response<Body>> {
    let too_big = || request_error(&RequestError::Limit("maxSizeRequest"));
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > max
    {
        if len <= DRAIN_MAX {
            drain(req.into_body(), DRAIN_MAX).await;
        }
        return Err(too_big());
    }
    let limited =
        http_body_util::Limited::new(req.into_body(), usize::try_from(max).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_big())
        }
        Err(e) => Err(problem(
            StatusCode::BAD_REQUEST,
            "about:blank",
            &format!("reading the body failed: {e}"),
        )),
    }
}

/// Reads and drops up to `bound` octets of `body` (see [`DRAIN_MAX`]).
async fn drain(mut body: Incoming, bound: u64) {
    let mut seen = 0u64;
    while seen <= bound {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    seen += data.len() as u64;
                }
            }
            _ => return,
        }
    }
}
