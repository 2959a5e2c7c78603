//! The proxied POP3 login at the store:
//!
//! ```text
//! S: +OK store POP3 server ready
//! C: STLS                                          (backend.tls = "starttls")
//! S: +OK Begin TLS negotiation
//!    <TLS handshake>
//! C: XCLIENT ADDR=192.0.2.7 PORT=50123 SESSION=...
//! C: AUTH PLAIN <base64(user NUL mmp NUL secret)>
//! S: +OK Client address noted
//! S: +OK Logged in, 3 messages (4711 octets)
//! ```
//!
//! XCLIENT carries the client's address as Dovecot's POP3 proxy does (the
//! attribute syntax of Postfix's XCLIENT: IPv6 as `IPV6:addr`); the store
//! believes it only from its trusted networks. Both commands go in one
//! write (RFC 2449 PIPELINING). The store's `+OK` for the login is what
//! the client receives.

use super::{Backend, BackendError, BackendStream, ClientInfo, Established, LineConn};
use crate::route::Route;

/// `ADDR` as XCLIENT writes it: IPv4 plain, IPv6 with the `IPV6:` prefix.
pub fn xclient_addr(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("IPV6:{v6}"),
        },
    }
}

fn ok(line: &[u8]) -> bool {
    line.starts_with(b"+OK")
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
    let greeting = conn.read_line().await?;
    if !ok(&greeting) {
        return Err(BackendError::Refused(
            String::from_utf8_lossy(&greeting).into_owned(),
        ));
    }
    if backend.wants_starttls() {
        conn.send(b"STLS\r\n").await?;
        let reply = conn.read_line().await?;
        if !ok(&reply) {
            return Err(BackendError::Refused(format!(
                "STLS: {}",
                String::from_utf8_lossy(&reply)
            )));
        }
        let stream = backend.starttls(conn.take_for_tls()?, route).await?;
        conn = LineConn::new(stream);
    }
    let plain = backend.plain_response(user);
    let out = format!(
        "XCLIENT ADDR={} PORT={} SESSION={}\r\nAUTH PLAIN {plain}\r\n",
        xclient_addr(client.peer.ip()),
        client.peer.port(),
        client.session,
    );
    conn.send(out.as_bytes()).await?;
    let xclient = conn.read_line().await?;
    if !ok(&xclient) {
        // The session still works; only the store's logs and limits see
        // this proxy's address instead of the client's.
        tracing::warn!(
            store = %route.host,
            reply = %String::from_utf8_lossy(&xclient),
            "the store did not take the client address (is this proxy in its [proxy] networks?)"
        );
    }
    let reply = conn.read_line().await?;
    if let Some(text) = reply
        .strip_prefix(b"-ERR [IN-USE]")
        .map(|t| String::from_utf8_lossy(t).trim().to_string())
    {
        return Err(BackendError::Busy(text));
    }
    if !ok(&reply) {
        return Err(BackendError::Refused(
            String::from_utf8_lossy(&reply).into_owned(),
        ));
    }
    let (stream, pending) = conn.into_parts();
    Ok(Established {
        stream,
        pending,
        greeting: vec![String::from_utf8_lossy(&reply).into_owned()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xclient_addresses() {
        assert_eq!(xclient_addr("192.0.2.1".parse().expect("ip")), "192.0.2.1");
        assert_eq!(
            xclient_addr("2001:db8::1".parse().expect("ip")),
            "IPV6:2001:db8::1"
        );
        assert_eq!(
            xclient_addr("::ffff:192.0.2.1".parse().expect("ip")),
            "192.0.2.1"
        );
    }
}
