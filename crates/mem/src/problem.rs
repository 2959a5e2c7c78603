//! What the MEM answers when it cannot do what was asked: an RFC 7807
//! problem document (`application/problem+json`, the form JMAP uses for
//! request-level errors, RFC 8620 section 3.6.1) for the web client and
//! API clients, or a small page for a browser that navigated here.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};

/// Everything that can go wrong in front of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No session cookie or credentials, or they are unknown or expired.
    Unauthenticated,
    /// Wrong user name or password.
    LoginFailed,
    /// The account exists but may not log in.
    AccountInactive,
    /// Too many failed logins; try again after this long.
    Throttled(Duration),
    /// A state-changing request without the right CSRF token or origin.
    CsrfRejected(&'static str),
    /// The user's store cannot be reached.
    StoreUnavailable(String),
    /// The user's store did not answer in time.
    StoreTimeout(String),
    /// The directory cannot be asked.
    DirectoryUnavailable,
    /// The user has no store the MEM knows of.
    NoStore,
    /// The request body is larger than `http.max_request_size`.
    TooLarge,
    /// A malformed request.
    BadRequest(&'static str),
    /// Nothing here.
    NotFound,
    /// Something the MEM itself got wrong.
    Internal,
}

impl Problem {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::LoginFailed => StatusCode::UNAUTHORIZED,
            Self::AccountInactive | Self::CsrfRejected(_) => StatusCode::FORBIDDEN,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::StoreUnavailable(_) | Self::NoStore => StatusCode::BAD_GATEWAY,
            Self::StoreTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::DirectoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type, a URN the web client matches on.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "urn:tiermail:mem:unauthenticated",
            Self::LoginFailed => "urn:tiermail:mem:loginFailed",
            Self::AccountInactive => "urn:tiermail:mem:accountInactive",
            Self::Throttled(_) => "urn:tiermail:mem:throttled",
            Self::CsrfRejected(_) => "urn:tiermail:mem:csrf",
            Self::StoreUnavailable(_) => "urn:tiermail:mem:storeUnavailable",
            Self::StoreTimeout(_) => "urn:tiermail:mem:storeTimeout",
            Self::DirectoryUnavailable => "urn:tiermail:mem:directoryUnavailable",
            Self::NoStore => "urn:tiermail:mem:noStore",
            // RFC 8620 section 3.6.1 names this one.
            Self::TooLarge => "urn:ietf:params:jmap:error:limit",
            Self::BadRequest(_) => "urn:tiermail:mem:badRequest",
            Self::NotFound => "urn:tiermail:mem:notFound",
            Self::Internal => "urn:tiermail:mem:internal",
        }
    }

    /// A short title.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "Please log in",
            Self::LoginFailed => "Wrong user name or password",
            Self::AccountInactive => "This account is not active",
            Self::Throttled(_) => "Too many failed logins",
            Self::CsrfRejected(_) => "Request refused",
            Self::StoreUnavailable(_) => "Your mailbox server is not answering",
            Self::StoreTimeout(_) => "Your mailbox server is too slow to answer",
            Self::DirectoryUnavailable => "Logins are unavailable",
            Self::NoStore => "No mailbox server for this account",
            Self::TooLarge => "Request too large",
            Self::BadRequest(_) => "Bad request",
            Self::NotFound => "Not found",
            Self::Internal => "Internal error",
        }
    }

    /// What the user can do about it.
    pub fn detail(&self) -> String {
        match self {
            Self::Unauthenticated => "Your session has ended or was never started.".into(),
            Self::LoginFailed => "Check your user name and password and try again.".into(),
            Self::AccountInactive => "Ask your mail administrator to enable it.".into(),
            Self::Throttled(d) => format!(
                "Logins from here or for this user are paused. Try again in {} seconds.",
                d.as_secs().max(1)
            ),
            Self::CsrfRejected(why) => {
                format!("The request did not come from this web client ({why}). Reload the page.")
            }
            Self::StoreUnavailable(s) => format!(
                "The server that holds your mail ({s}) cannot be reached. Your mail is safe; try again in a minute."
            ),
            Self::StoreTimeout(s) => format!(
                "The server that holds your mail ({s}) did not answer in time. Try again in a minute."
            ),
            Self::DirectoryUnavailable => {
                "The user directory cannot be reached. Try again in a minute.".into()
            }
            Self::NoStore => {
                "Your account has no mailbox server configured. Ask your mail administrator.".into()
            }
            Self::TooLarge => "The request or upload is larger than this server accepts.".into(),
            Self::BadRequest(why) => (*why).to_string(),
            Self::NotFound => "There is nothing at this address.".into(),
            Self::Internal => "Something went wrong on the web server. Try again.".into(),
        }
    }

    /// The answer, as a problem document or as a page.
    pub fn response(&self, html: bool) -> Response<Body> {
        let status = self.status();
        let mut res = if html {
            let page = format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>{title}</title><link rel=\"stylesheet\" href=\"/css/app.css\"></head>\
                 <body class=\"error-page\"><main class=\"error-card\"><h1>{title}</h1><p>{detail}</p>\
                 <p><a class=\"button\" href=\"/\">Back to mail</a></p></main></body></html>\n",
                title = escape(self.title()),
                detail = escape(&self.detail()),
            );
            let mut r = Response::new(Body::from(page));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        } else {
            let doc = serde_json::json!({
                "type": self.kind(),
                "status": status.as_u16(),
                "title": self.title(),
                "detail": self.detail(),
            });
            let mut r = Response::new(Body::from(doc.to_string()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            r
        };
        *res.status_mut() = status;
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::Throttled(d) = self
            && let Ok(v) = HeaderValue::from_str(&d.as_secs().max(1).to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// True when the request is a browser navigation that should get a page
/// rather than JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes() == b"navigate";
    }
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.starts_with("text/html"))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_html_forms() {
        let p = Problem::StoreUnavailable("store<1>".into());
        let r = p.response(false);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let r = p.response(true);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let t = Problem::Throttled(Duration::from_secs(90)).response(false);
        assert_eq!(t.headers()[header::RETRY_AFTER], "90");
        assert_eq!(escape("store<1>"), "store&lt;1&gt;");
    }
}
