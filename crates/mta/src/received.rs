//! The `Received:` header the server prepends (RFC 5321 4.4) and the
//! RFC 5322 3.3 date it carries. The protocol name follows RFC 3848 and
//! RFC 6531 (`ESMTPSA`, `UTF8SMTPS`...).

use std::net::IpAddr;
use std::time::SystemTime;

/// What goes into one Received header.
pub(crate) struct Trace<'a> {
    pub(crate) helo: &'a str,
    pub(crate) ip: IpAddr,
    pub(crate) by: &'a str,
    pub(crate) esmtp: bool,
    pub(crate) tls: bool,
    pub(crate) auth: bool,
    pub(crate) utf8: bool,
    pub(crate) id: &'a str,
    /// Named only for a single recipient (more would disclose Bcc).
    pub(crate) for_rcpt: Option<&'a str>,
    pub(crate) at: SystemTime,
}

/// RFC 3848 / RFC 6531 3.7.3 `with` protocol.
fn protocol(t: &Trace<'_>) -> String {
    let base = match (t.utf8, t.esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    let mut p = base.to_string();
    if t.tls {
        p.push('S');
    }
    if t.auth {
        p.push('A');
    }
    p
}

/// Client text is cut down to printable ASCII so the header stays valid
/// whatever the client sent.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && !"()<>;\\\"".contains(c) {
                c
            } else {
                '?'
            }
        })
        .take(255)
        .collect()
}

pub(crate) fn header(t: &Trace<'_>) -> Vec<u8> {
    let literal = match t.ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("[{v4}]"),
            None => format!("[IPv6:{v6}]"),
        },
    };
    let mut h = format!(
        "Received: from {} ({literal})\r\n\tby {} (Tiermail) with {} id {}",
        clean(t.helo),
        t.by,
        protocol(t),
        t.id
    );
    if let Some(r) = t.for_rcpt {
        let r: String = r.chars().filter(|c| !c.is_control()).collect();
        h.push_str(&format!("\r\n\tfor <{r}>"));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", mail_core::date::rfc5322(t.at)));
    h.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn header_names_protocol_and_cleans_client_text() {
        let h = header(&Trace {
            helo: "evil\r\nX-Injected: 1",
            ip: "::ffff:192.0.2.1".parse().expect("ip"),
            by: "mx.test",
            esmtp: true,
            tls: true,
            auth: true,
            utf8: false,
            id: "ABC",
            for_rcpt: Some("a@b.org"),
            at: UNIX_EPOCH,
        });
        let h = String::from_utf8(h).expect("ascii");
        assert!(h.starts_with("Received: from evil??X-Injected:?1 ([192.0.2.1])\r\n\tby mx.test (Tiermail) with ESMTPSA id ABC\r\n\tfor <a@b.org>;\r\n\t"), "{h}");
        assert!(h.ends_with("+0000\r\n"));
        assert_eq!(h.matches("\r\n").count(), 4);
    }
}
