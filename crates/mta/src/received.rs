//! The `Received:` header the server prepends (RFC 5321 4.4) and the
//! RFC 5322 3.3 date it carries. The protocol name follows RFC 3848 and
//! RFC 6531 (`ESMTPSA`, `UTF8SMTPS`...).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

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
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(t.at)));
    h.into_bytes()
}

/// `Sat, 28 Nov 2026 17:52:40 +0000` (RFC 5322 3.3), in UTC.
pub(crate) fn rfc5322_date(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const DOW: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DOW[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc5322_date(at(0)), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(at(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(at(1_795_888_360)),
            "Sat, 28 Nov 2026 17:52:40 +0000"
        );
    }

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
