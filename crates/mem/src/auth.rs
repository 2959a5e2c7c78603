//! Logging in and out, and finding out who is calling.
//!
//! The web client logs in with `POST /auth/login` (JSON user name and
//! password): the password is checked against the directory, the user's
//! `mailHost` picks the store, and a session starts whose random token
//! goes into a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict). The
//! answer carries the session's CSRF token. `GET /auth/session` tells a
//! reloaded page who is logged in (and the CSRF token again);
//! `POST /auth/logout` ends the session.
//!
//! API clients (third-party JMAP clients) may instead send HTTP Basic
//! credentials with every request; a verified credential is remembered
//! for a minute under a salted SHA-256, so a client's burst of requests
//! costs one directory check. Both paths go through the login throttle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header, request::Parts};
use base64::Engine;
use mail_core::login_throttle::Verdict;
use mail_directory::{AuthResult, User};
use serde::Deserialize;

use crate::app::{App, AppRef};
use crate::csrf;
use crate::problem::Problem;
use crate::server::ClientConn;
use crate::stores::StoreTarget;

/// The session cookie. The `__Host-` prefix makes browsers insist on
/// Secure, `Path=/` and no `Domain`, so no sibling host can set it.
pub const COOKIE: &str = "__Host-tiermail";

/// Who a proxied request is for, and where it goes.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user's primary address.
    pub user: String,
    /// The user's store.
    pub store: Arc<StoreTarget>,
    /// The cookie session's end (none for Basic callers).
    pub ended: Option<tokio_util::sync::CancellationToken>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginForm {
    username: String,
    password: String,
}

/// `POST /auth/login`.
pub async fn login(
    State(app): State<AppRef>,
    Extension(conn): Extension<ClientConn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if let Err(p) = csrf::same_origin(&app, &conn, &headers) {
        app.metrics.login("refused");
        return p.response(false);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Problem::BadRequest("send the login as application/json").response(false);
    }
    let Ok(form) = serde_json::from_slice::<LoginForm>(&body) else {
        return Problem::BadRequest("the login must be {\"username\", \"password\"}")
            .response(false);
    };
    let login = form.username.trim();
    if login.is_empty() || login.len() > 320 || form.password.len() > 4096 {
        app.metrics.login("failed");
        return Problem::LoginFailed.response(false);
    }
    let ip = app.client_ip(&conn, &headers);
    let user = match verify(&app, ip, login, &form.password).await {
        Ok(u) => u,
        Err(p) => return p.response(false),
    };
    let Some(store) = app.stores.target(user.mail_host.as_deref()) else {
        tracing::warn!(user = %user.address, mail_host = ?user.mail_host, "no store for the user");
        app.metrics.login("no_store");
        return Problem::NoStore.response(false);
    };
    let address = user.address.to_string();
    let (token, session) = match app.sessions.create(address.clone(), store) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "no randomness for a session token");
            return Problem::Internal.response(false);
        }
    };
    tracing::info!(user = %address, store = %session.store.name, %ip, "logged in");
    app.metrics.login("ok");
    let mut res = json_response(
        StatusCode::OK,
        serde_json::json!({ "username": address, "csrfToken": session.csrf }),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict"
    )) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `POST /auth/logout`: ends the session (CSRF-checked) and clears the
/// cookie. Without a live session it only clears the cookie.
pub async fn logout(
    State(app): State<AppRef>,
    Extension(conn): Extension<ClientConn>,
    headers: HeaderMap,
) -> Response<Body> {
    if let Some(cookie) = session_cookie(&headers)
        && let Some(session) = app.sessions.get(cookie)
    {
        if let Err(p) = csrf::check(&app, &conn, &headers, &session) {
            return p.response(false);
        }
        app.sessions.remove(cookie);
        tracing::info!(user = %session.user, "logged out");
    }
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-tiermail=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /auth/session`: who is logged in, for a reloaded page.
pub async fn session_info(State(app): State<AppRef>, headers: HeaderMap) -> Response<Body> {
    if let Err(p) = csrf::not_cross_site(&headers) {
        return p.response(false);
    }
    match session_cookie(&headers).and_then(|c| app.sessions.get(c)) {
        Some(s) => json_response(
            StatusCode::OK,
            serde_json::json!({ "username": s.user, "csrfToken": s.csrf }),
        ),
        None => Problem::Unauthenticated.response(false),
    }
}

/// Who a `/jmap/` request is for: HTTP Basic credentials (API clients)
/// or the session cookie (the web client, CSRF-checked).
pub async fn caller(app: &App, conn: &ClientConn, parts: &Parts) -> Result<Caller, Problem> {
    let headers = &parts.headers;
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        csrf::origin_if_present(app, conn, headers)?;
        return basic(app, conn, headers, auth).await;
    }
    let cookie = session_cookie(headers).ok_or(Problem::Unauthenticated)?;
    let session = app.sessions.get(cookie).ok_or(Problem::Unauthenticated)?;
    if parts.method.is_safe() {
        csrf::not_cross_site(headers)?;
    } else {
        csrf::check(app, conn, headers, &session)?;
    }
    Ok(Caller {
        user: session.user.clone(),
        store: session.store.clone(),
        ended: Some(session.ended.clone()),
    })
}

async fn basic(
    app: &App,
    conn: &ClientConn,
    headers: &HeaderMap,
    auth: &HeaderValue,
) -> Result<Caller, Problem> {
    let encoded = auth
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .ok_or(Problem::Unauthenticated)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Problem::Unauthenticated)?;
    let text = String::from_utf8(decoded).map_err(|_| Problem::Unauthenticated)?;
    let (login, password) = text.split_once(':').ok_or(Problem::Unauthenticated)?;
    if login.is_empty() || login.len() > 320 || password.len() > 4096 {
        return Err(Problem::Unauthenticated);
    }
    let key = app.basic.key(login, password);
    if let Some(c) = app.basic.get(&key) {
        return Ok(c);
    }
    let ip = app.client_ip(conn, headers);
    let user = verify(app, ip, login, password)
        .await
        .map_err(|p| match p {
            Problem::LoginFailed => Problem::Unauthenticated,
            other => other,
        })?;
    let store = app
        .stores
        .target(user.mail_host.as_deref())
        .ok_or(Problem::NoStore)?;
    let caller = Caller {
        user: user.address.to_string(),
        store,
        ended: None,
    };
    app.metrics.login("ok_basic");
    app.basic.put(key, caller.clone());
    Ok(caller)
}

/// The throttle, then the directory. Shared by the login page and Basic.
///
/// A failure is answered only after the throttle's growing delay. A
/// locked-out address or name is refused at once with `429` and
/// `Retry-After` without asking the directory: unlike IMAP or POP, a web
/// user can be told to wait, and the answer says nothing about the
/// password.
async fn verify(app: &App, ip: IpAddr, login: &str, password: &str) -> Result<User, Problem> {
    let started = std::time::Instant::now();
    if let Verdict::Locked { scope, remaining } = app.throttle.check(ip, login) {
        tracing::info!(%ip, login, ?scope, ?remaining, "login refused: locked out");
        app.metrics.login("throttled");
        return Err(Problem::Throttled(remaining));
    }
    match app.directory.authenticate(login, password).await {
        Ok(AuthResult::Authenticated(u)) => {
            app.throttle.succeeded(ip, login);
            Ok(*u)
        }
        Ok(AuthResult::Inactive(_)) => {
            app.metrics.login("inactive");
            Err(Problem::AccountInactive)
        }
        Ok(_) => {
            tracing::info!(%ip, login, "login failed");
            let delay = app.throttle.failed(ip, login);
            app.metrics.login("failed");
            tokio::time::sleep(delay.saturating_sub(started.elapsed())).await;
            Err(Problem::LoginFailed)
        }
        Err(e) => {
            tracing::warn!(error = %e, "directory unavailable for a login");
            app.metrics.login("error");
            Err(Problem::DirectoryUnavailable)
        }
    }
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response<Body> {
    let mut res = Response::new(Body::from(v.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Verified Basic credentials, by a salted hash of user name and password.
pub struct BasicCache {
    salt: [u8; 32],
    ttl: Duration,
    map: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

const BASIC_CACHE_MAX: usize = 10_000;

impl BasicCache {
    /// An empty cache with a fresh random salt.
    pub fn new(ttl: Duration) -> Result<Self, getrandom::Error> {
        Ok(Self {
            salt: crate::session::random_token()?,
            ttl,
            map: Mutex::new(HashMap::new()),
        })
    }

    fn key(&self, login: &str, password: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.salt);
        ctx.update(login.as_bytes());
        ctx.update(&[0]);
        ctx.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    fn get(&self, key: &[u8; 32]) -> Option<Caller> {
        let map = self.map.lock().ok()?;
        let (c, at) = map.get(key)?;
        (at.elapsed() < self.ttl).then(|| c.clone())
    }

    fn put(&self, key: [u8; 32], caller: Caller) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= BASIC_CACHE_MAX {
                let ttl = self.ttl;
                map.retain(|_, (_, at)| at.elapsed() < ttl);
                if map.len() >= BASIC_CACHE_MAX {
                    map.clear();
                }
            }
            map.insert(key, (caller, Instant::now()));
        }
    }
}

impl std::fmt::Debug for BasicCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCache").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tiermailX=no; __Host-tiermail=tok"),
        );
        assert_eq!(session_cookie(&h), Some("tok"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }
}
