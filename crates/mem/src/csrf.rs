//! Cross-site request forgery defences for cookie sessions.
//!
//! The cookie is `SameSite=Strict`, so a browser sends it only on requests
//! from our own pages. On top of that, every state-changing request
//! (anything but GET/HEAD/OPTIONS) must
//!
//! - carry the session's CSRF token in `X-Tiermail-CSRF` (the web client
//!   gets it at login; another site's page cannot read it), and
//! - come from our own origin: `Origin` (or, without it, `Referer`) must
//!   be the MEM's public origin, and `Sec-Fetch-Site`, when the browser
//!   sends it, must say `same-origin`.
//!
//! The login form gets the origin check (login CSRF: another site must not
//! log a victim into the attacker's account). API clients that send
//! HTTP Basic credentials are not browsers and send no `Origin`; when one
//! is present it must be ours all the same, so a page elsewhere cannot
//! ride on credentials a browser has cached.

use axum::http::HeaderMap;

use crate::app::App;
use crate::problem::Problem;
use crate::server::ClientConn;
use crate::session::Session;

/// The request header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-tiermail-csrf";

/// A state-changing request of a cookie session: token and origin.
pub fn check(
    app: &App,
    conn: &ClientConn,
    headers: &HeaderMap,
    session: &Session,
) -> Result<(), Problem> {
    let sent = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .ok_or(Problem::CsrfRejected("no CSRF token"))?;
    if !constant_time_eq(sent, session.csrf.as_bytes()) {
        return Err(Problem::CsrfRejected("wrong CSRF token"));
    }
    same_origin(app, conn, headers)
}

/// The request must come from our own origin.
pub fn same_origin(app: &App, conn: &ClientConn, headers: &HeaderMap) -> Result<(), Problem> {
    not_cross_site(headers)?;
    let expected = app.origin(conn, headers);
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        return if origin.as_bytes() == expected.as_bytes() {
            Ok(())
        } else {
            Err(Problem::CsrfRejected("request from another origin"))
        };
    }
    match headers
        .get(axum::http::header::REFERER)
        .and_then(|r| r.to_str().ok())
    {
        Some(r) if r == expected || r.starts_with(&format!("{expected}/")) => Ok(()),
        Some(_) => Err(Problem::CsrfRejected("request from another origin")),
        None => Err(Problem::CsrfRejected("no Origin header")),
    }
}

/// An `Origin`, when sent, must be ours (API clients send none).
pub fn origin_if_present(app: &App, conn: &ClientConn, headers: &HeaderMap) -> Result<(), Problem> {
    not_cross_site(headers)?;
    match headers.get(axum::http::header::ORIGIN) {
        Some(o) if o.as_bytes() != app.origin(conn, headers).as_bytes() => {
            Err(Problem::CsrfRejected("request from another origin"))
        }
        _ => Ok(()),
    }
}

/// Fetch metadata (`Sec-Fetch-Site`): a browser tells us when another
/// site started the request; `none` is the user typing the address.
pub fn not_cross_site(headers: &HeaderMap) -> Result<(), Problem> {
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        None | Some(b"same-origin" | b"none") => Ok(()),
        Some(_) => Err(Problem::CsrfRejected("cross-site request")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
