//! The proxied IMAP login at the store:
//!
//! ```text
//! S: * OK [CAPABILITY ... SASL-IR ...] store ready
//! C: M1 STARTTLS                                   (backend.tls = "starttls")
//! S: M1 OK Begin TLS negotiation now
//!    <TLS handshake>
//! C: M2 CAPABILITY                                 (when the greeting carried none, or after TLS)
//! C: M3 ID ("x-originating-ip" "192.0.2.7" "x-originating-port" "50123" "x-connected-ip" "..." "x-connected-port" "143" "x-session-id" "...")
//! C: M4 AUTHENTICATE PLAIN <base64(user NUL mmp NUL secret)>
//! S: M4 OK [CAPABILITY IMAP4rev1 ...] Logged in
//! ```
//!
//! ID (RFC 2971) carries the client's address, as Dovecot's proxy does; the
//! store believes it only from its trusted networks. ID and AUTHENTICATE
//! are pipelined (one round trip). Without SASL-IR (RFC 4959) at the store,
//! the PLAIN response follows the `+` continuation instead.

use super::{Backend, BackendError, BackendStream, ClientInfo, Established, LineConn};
use crate::route::Route;

/// A tagged completion: status word, response code (inside the brackets)
/// and text.
#[derive(Debug, PartialEq, Eq)]
struct Tagged {
    status: String,
    code: Option<String>,
    text: String,
}

fn parse_tagged(line: &str, tag: &str) -> Option<Tagged> {
    let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
    let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (code, text) = match rest.strip_prefix('[') {
        Some(r) => match r.split_once(']') {
            Some((c, t)) => (Some(c.to_string()), t.trim_start()),
            None => (None, rest),
        },
        None => (None, rest),
    };
    Some(Tagged {
        status: status.to_ascii_uppercase(),
        code,
        text: text.to_string(),
    })
}

/// The list inside `[CAPABILITY ...]` or after `* CAPABILITY`.
fn capabilities(line: &str) -> Option<Vec<String>> {
    let list = if let Some(rest) = line.strip_prefix("* CAPABILITY ") {
        rest
    } else {
        let start = line.find("[CAPABILITY ")? + "[CAPABILITY ".len();
        let end = line[start..].find(']')? + start;
        &line[start..end]
    };
    Some(list.split_ascii_whitespace().map(str::to_string).collect())
}

fn has(caps: &[String], name: &str) -> bool {
    caps.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// Reads responses until the one tagged `tag`, collecting capabilities
/// announced on the way.
async fn until_tagged(
    conn: &mut LineConn,
    tag: &str,
    caps: &mut Option<Vec<String>>,
) -> Result<Tagged, BackendError> {
    loop {
        let raw = conn.read_response().await?;
        let line = String::from_utf8_lossy(&raw);
        if let Some(c) = capabilities(&line) {
            *caps = Some(c);
        }
        if let Some(t) = parse_tagged(&line, tag) {
            return Ok(t);
        }
        if line.starts_with("* BYE") {
            return Err(BackendError::Refused(line.into_owned()));
        }
    }
}

fn quoted_ip(ip: std::net::IpAddr) -> String {
    // IP addresses never hold '"' or '\\'.
    format!("\"{ip}\"")
}

/// Logs in at the store for `user`, on a connected `stream`.
pub async fn login(
    backend: &Backend,
    route: &Route,
    stream: BackendStream,
    user: &str,
    client: &ClientInfo,
) -> Result<Established, BackendError> {
    let mut conn = LineConn::new(stream);
    let greeting = String::from_utf8_lossy(&conn.read_response().await?).into_owned();
    if !greeting.starts_with("* OK") {
        // PREAUTH would skip the proxy login; BYE is a refusal.
        return Err(BackendError::Refused(greeting));
    }
    let mut caps = capabilities(&greeting);
    if backend.wants_starttls() {
        if caps.as_ref().is_some_and(|c| !has(c, "STARTTLS")) {
            return Err(BackendError::Protocol(
                "the store does not offer STARTTLS".into(),
            ));
        }
        conn.send(b"M1 STARTTLS\r\n").await?;
        let t = until_tagged(&mut conn, "M1", &mut None).await?;
        if t.status != "OK" {
            return Err(BackendError::Refused(format!(
                "STARTTLS: {} {}",
                t.status, t.text
            )));
        }
        let stream = backend.starttls(conn.take_for_tls()?, route).await?;
        conn = LineConn::new(stream);
        // RFC 3501 6.2.1: capabilities learnt before TLS no longer count.
        caps = None;
    }
    if caps.is_none() {
        conn.send(b"M2 CAPABILITY\r\n").await?;
        until_tagged(&mut conn, "M2", &mut caps).await?;
    }
    let sasl_ir = caps.as_ref().is_some_and(|c| has(c, "SASL-IR"));
    let id = format!(
        "M3 ID (\"x-originating-ip\" {} \"x-originating-port\" \"{}\" \"x-connected-ip\" {} \"x-connected-port\" \"{}\" \"x-session-id\" \"{}\")\r\n",
        quoted_ip(client.peer.ip()),
        client.peer.port(),
        quoted_ip(client.local.ip()),
        client.local.port(),
        client.session,
    );
    let plain = backend.plain_response(user);
    let mut out = id.into_bytes();
    if sasl_ir {
        out.extend_from_slice(format!("M4 AUTHENTICATE PLAIN {plain}\r\n").as_bytes());
        conn.send(&out).await?;
        until_tagged(&mut conn, "M3", &mut None).await?;
    } else {
        out.extend_from_slice(b"M4 AUTHENTICATE PLAIN\r\n");
        conn.send(&out).await?;
        until_tagged(&mut conn, "M3", &mut None).await?;
        let cont = conn.read_line().await?;
        if !cont.starts_with(b"+") {
            return Err(BackendError::Refused(
                String::from_utf8_lossy(&cont).into_owned(),
            ));
        }
        conn.send(format!("{plain}\r\n").as_bytes()).await?;
    }
    let mut after = None;
    let t = until_tagged(&mut conn, "M4", &mut after).await?;
    if t.status == "NO" && t.code.as_deref() == Some("LIMIT") {
        return Err(BackendError::Busy(t.text));
    }
    if t.status != "OK" {
        let code = t.code.map(|c| format!("[{c}] ")).unwrap_or_default();
        return Err(BackendError::Refused(format!(
            "{} {code}{}",
            t.status, t.text
        )));
    }
    let caps = match after.or_else(|| {
        t.code
            .as_deref()
            .and_then(|c| capabilities(&format!("[{c}]")))
    }) {
        Some(c) => c,
        None => {
            let mut c = None;
            conn.send(b"M5 CAPABILITY\r\n").await?;
            until_tagged(&mut conn, "M5", &mut c).await?;
            c.ok_or_else(|| BackendError::Protocol("no capabilities after login".into()))?
        }
    };
    let (stream, pending) = conn.into_parts();
    Ok(Established {
        stream,
        pending,
        greeting: caps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_lines_and_capabilities() {
        let t = parse_tagged("M4 OK [CAPABILITY IMAP4rev1 IDLE] Logged in", "M4").expect("tagged");
        assert_eq!(t.status, "OK");
        assert_eq!(t.code.as_deref(), Some("CAPABILITY IMAP4rev1 IDLE"));
        assert_eq!(t.text, "Logged in");
        let t =
            parse_tagged("M4 NO [REFERRAL imap://a;AUTH=*@b/] Elsewhere", "M4").expect("tagged");
        assert_eq!(t.code.as_deref(), Some("REFERRAL imap://a;AUTH=*@b/"));
        assert!(parse_tagged("M41 OK x", "M4").is_none());
        assert!(parse_tagged("* OK x", "M4").is_none());
        assert_eq!(
            capabilities("* OK [CAPABILITY IMAP4rev1 SASL-IR] ready"),
            Some(vec!["IMAP4rev1".to_string(), "SASL-IR".to_string()])
        );
        assert_eq!(
            capabilities("* CAPABILITY A B"),
            Some(vec!["A".to_string(), "B".to_string()])
        );
        assert_eq!(capabilities("* OK ready"), None);
    }
}
