//! Relaying `/jmap/...` to the caller's store.
//!
//! The request goes to the same path on the store that the session is
//! pinned to, with the trusted-proxy assertion of CONTRACTS.md in place of
//! whatever the browser sent: `Authorization: Basic <MEM name:secret>`,
//! `X-Tiermail-User: <user>` and `Forwarded: for="<client>"` (RFC 7239),
//! plus a W3C `traceparent` so the store's spans join the MEM's trace.
//! Only a short list of request headers passes (never the cookie, never a
//! client's own `X-Tiermail-User`).
//!
//! Bodies stream both ways through hyper without being collected, so
//! memory per request is bounded by hyper's buffers and a slow reader
//! slows the store's writes (back-pressure), the push stream included.
//! Only the small session object is read whole, to rebase its URLs
//! ([`crate::rewrite`]). A store that is down is reported within the
//! connect timeout; one that does not answer within the response timeout
//! gets a 504.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::app::{App, AppRef};
use crate::auth::{self, Caller};
use crate::problem::{Problem, wants_html};
use crate::rewrite;
use crate::server::ClientConn;

/// Request headers a store may see from the browser.
const PASSED_REQUEST_HEADERS: [HeaderName; 8] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    header::ACCEPT_LANGUAGE,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::RANGE,
    header::CACHE_CONTROL,
];

/// Response headers that describe one hop, not the content.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "set-cookie",
];

/// The session object is small; anything bigger is not one.
const MAX_SESSION_OBJECT: usize = 1024 * 1024;

/// `/jmap/*` and `/.well-known/jmap`.
pub async fn jmap(
    State(app): State<AppRef>,
    Extension(conn): Extension<ClientConn>,
    req: Request<Body>,
) -> Response<Body> {
    let html = wants_html(req.headers());
    let (parts, body) = req.into_parts();
    let caller = match auth::caller(&app, &conn, &parts).await {
        Ok(c) => c,
        Err(p) => return refused(p, &parts.headers, html),
    };
    tracing::Span::current().record("user", caller.user.as_str());
    let path = parts.uri.path();
    let result = if matches!(
        path,
        "/jmap/session" | "/jmap/session/" | "/.well-known/jmap"
    ) {
        session(&app, &conn, &caller, &parts.headers).await
    } else {
        let pq = parts
            .uri
            .path_and_query()
            .map_or(path, |pq| pq.as_str())
            .to_string();
        forward(&app, &conn, &caller, parts, body, &pq).await
    };
    result.unwrap_or_else(|p| p.response(html))
}

/// A refused caller. API clients (no browser fetch metadata) are told
/// they may use Basic; the web client is not, or the browser would pop
/// up its own password dialog.
fn refused(p: Problem, headers: &HeaderMap, html: bool) -> Response<Body> {
    let api_client =
        headers.contains_key(header::AUTHORIZATION) || !headers.contains_key("sec-fetch-mode");
    let mut res = p.response(html);
    if p == Problem::Unauthenticated && api_client {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Tiermail\", charset=\"UTF-8\""),
        );
    }
    res
}

/// The request to the store, with the identity assertion.
fn outgoing(
    app: &App,
    ip: IpAddr,
    caller: &Caller,
    method: hyper::Method,
    from: &HeaderMap,
    path_and_query: &str,
    body: Body,
) -> Result<Request<Body>, Problem> {
    let uri = caller
        .store
        .uri(path_and_query)
        .ok_or(Problem::BadRequest("malformed path"))?;
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    for name in &PASSED_REQUEST_HEADERS {
        for v in from.get_all(name) {
            h.append(name.clone(), v.clone());
        }
    }
    // RFC 8620 section 7.3: a reconnecting EventSource resumes here.
    if let Some(v) = from.get("last-event-id") {
        h.insert("last-event-id", v.clone());
    }
    h.insert(header::AUTHORIZATION, app.backend.authorization.clone());
    h.insert(
        "x-tiermail-user",
        HeaderValue::from_str(&caller.user).map_err(|_| Problem::Internal)?,
    );
    // RFC 7239 section 6: IPv6 in brackets, quoted.
    let forwarded = match ip {
        IpAddr::V4(v4) => format!("for=\"{v4}\""),
        IpAddr::V6(v6) => format!("for=\"[{v6}]\""),
    };
    h.insert(
        header::FORWARDED,
        HeaderValue::from_str(&forwarded).map_err(|_| Problem::Internal)?,
    );
    if let Some(tp) = mail_core::telemetry::traceparent(&tracing::Span::current())
        && let Ok(v) = HeaderValue::from_str(&tp)
    {
        h.insert("traceparent", v);
    }
    Ok(req)
}

/// Sends a request to the caller's store within the deadlines.
async fn send(
    app: &App,
    caller: &Caller,
    req: Request<Body>,
) -> Result<Response<Incoming>, Problem> {
    let route = crate::metrics::route_label(req.uri().path());
    let started = Instant::now();
    let sent = tokio::time::timeout(
        app.backend.response_timeout,
        app.backend.client.request(req),
    )
    .await;
    app.metrics.backend(
        &caller.store.name,
        route,
        started.elapsed(),
        sent.as_ref().is_ok_and(|r| r.is_ok()),
    );
    match sent {
        Ok(Ok(res)) => Ok(res),
        Ok(Err(e)) => {
            if too_large(&e) {
                return Err(Problem::TooLarge);
            }
            tracing::warn!(store = %caller.store.name, error = %error_chain(&e), "store request failed");
            Err(Problem::StoreUnavailable(caller.store.name.clone()))
        }
        Err(_) => {
            tracing::warn!(store = %caller.store.name, "store did not answer in time");
            Err(Problem::StoreTimeout(caller.store.name.clone()))
        }
    }
}

async fn forward(
    app: &App,
    conn: &ClientConn,
    caller: &Caller,
    parts: axum::http::request::Parts,
    body: Body,
    path_and_query: &str,
) -> Result<Response<Body>, Problem> {
    let max = app.http.max_request_size;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(Problem::TooLarge);
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let body = Body::new(Limited::new(body, limit));
    let ip = app.client_ip(conn, &parts.headers);
    let store_pq = rewrite::store_path(path_and_query);
    let req = outgoing(
        app,
        ip,
        caller,
        parts.method,
        &parts.headers,
        store_pq,
        body,
    )?;
    let download = parts.uri.path().starts_with("/jmap/download/");
    let res = send(app, caller, req).await?;
    Ok(relay(app, caller, res, download))
}

/// The store's answer, passed on.
fn relay(app: &App, caller: &Caller, res: Response<Incoming>, download: bool) -> Response<Body> {
    let (mut parts, body) = res.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    if parts.status == StatusCode::UNAUTHORIZED {
        // The store no longer accepts this user here (moved to another
        // store, or the MEM's credential is wrong): the web client logs in
        // again; no Basic dialog.
        tracing::warn!(store = %caller.store.name, user = %caller.user, "the store refused the proxied session");
        parts.headers.remove(header::WWW_AUTHENTICATE);
    }
    if download {
        // Attachments are the sender's bytes: never rendered as a page of
        // this origin.
        let disposition = parts
            .headers
            .get(header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .map(|v| match v.split_once(';') {
                Some((_, rest)) => format!("attachment;{rest}"),
                None => "attachment".to_string(),
            })
            .unwrap_or_else(|| "attachment".into());
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            parts.headers.insert(header::CONTENT_DISPOSITION, v);
        }
        parts.headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        );
    }
    let streaming = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = if streaming {
        // A push stream stays open until the MEM shuts down or the
        // session ends; hyper flushes each event as it arrives.
        parts
            .headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Body::new(UntilCancelled::new(
            body,
            app.shutdown.token().clone(),
            caller.ended.clone(),
        ))
    } else {
        Body::new(body)
    };
    Response::from_parts(parts, body)
}

/// `GET /jmap/session`: the store's session object with the URLs rebased.
async fn session(
    app: &App,
    conn: &ClientConn,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Response<Body>, Problem> {
    let ip = app.client_ip(conn, headers);
    let mut req = outgoing(
        app,
        ip,
        caller,
        hyper::Method::GET,
        headers,
        &app.backend.session_path,
        Body::empty(),
    )?;
    // The body is read and rewritten here: no compression.
    req.headers_mut().remove(header::ACCEPT_ENCODING);
    let res = send(app, caller, req).await?;
    if res.status() != StatusCode::OK {
        return Ok(relay(app, caller, res, false));
    }
    let bytes: Bytes = Limited::new(res.into_body(), MAX_SESSION_OBJECT)
        .collect()
        .await
        .map_err(|e| {
            tracing::warn!(store = %caller.store.name, error = %e, "reading the session object");
            Problem::StoreUnavailable(caller.store.name.clone())
        })?
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        tracing::warn!(store = %caller.store.name, error = %e, "the store's session object is not JSON");
        Problem::StoreUnavailable(caller.store.name.clone())
    })?;
    let origin = app.origin(conn, headers);
    let body = rewrite::session(value, &origin).to_string();
    let mut out = Response::new(Body::from(body));
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(out)
}

fn too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        out.push_str(": ");
        out.push_str(&err.to_string());
        cur = err.source();
    }
    out
}

/// A response body that ends when the MEM shuts down or the session ends.
struct UntilCancelled {
    inner: Incoming,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    session: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl UntilCancelled {
    fn new(
        inner: Incoming,
        shutdown: tokio_util::sync::CancellationToken,
        session: Option<tokio_util::sync::CancellationToken>,
    ) -> Self {
        Self {
            inner,
            shutdown: Box::pin(shutdown.cancelled_owned()),
            session: session.map(|t| Box::pin(t.cancelled_owned())),
        }
    }
}

impl http_body::Body for UntilCancelled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        if let Some(s) = self.session.as_mut()
            && s.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
