//! The replies SMTP and LMTP give alike: RSET (RFC 5321 4.1.1.5), NOOP
//! (4.1.1.9), VRFY (4.1.1.6, answered with `252` as 3.5.3 allows: no
//! address harvesting), HELP (4.1.1.8), STARTTLS (RFC 3207 4) and a BDAT
//! chunk taken (RFC 3030 2). I/O-free.

use mail_smtp_proto::Reply;

/// `250 2.0.0 OK` to RSET: the transaction, if any, is gone.
pub fn rset() -> Reply {
    Reply::ok("OK")
}

/// `250 2.0.0 OK` to NOOP.
pub fn noop() -> Reply {
    Reply::ok("OK")
}

/// `252 2.5.0`: neither confirms nor denies the address.
pub fn vrfy() -> Reply {
    Reply::with_status(
        252,
        (2, 5, 0),
        "Cannot VRFY user, but will accept message and attempt delivery",
    )
}

/// `214 2.0.0 PROTOCOL: VERBS`, e.g. `help("LMTP (RFC 2033)", &["LHLO", ...])`.
pub fn help(protocol: &str, verbs: &[&str]) -> Reply {
    Reply::with_status(214, (2, 0, 0), &format!("{protocol}: {}", verbs.join(" ")))
}

/// STARTTLS: `Ok(220)` to go ahead with the handshake, or the error reply
/// (`503` when TLS is already on or a transaction is open, RFC 3207 4;
/// `502` when the listener has no certificate).
pub fn starttls(
    tls_active: bool,
    can_start_tls: bool,
    in_transaction: bool,
) -> Result<Reply, Reply> {
    if tls_active {
        return Err(Reply::bad_sequence("TLS already active"));
    }
    if !can_start_tls {
        return Err(Reply::not_implemented());
    }
    if in_transaction {
        return Err(Reply::bad_sequence("STARTTLS not allowed in a transaction"));
    }
    Ok(Reply::ready_for_tls())
}

/// `250 2.0.0 N octets received`: a non-final BDAT chunk was taken.
pub fn chunk_received(size: u64) -> Reply {
    Reply::ok(&format!("{size} octets received"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_refusals_in_order() {
        assert_eq!(starttls(true, false, true).unwrap_err().code(), 503);
        assert_eq!(starttls(false, false, true).unwrap_err().code(), 502);
        assert_eq!(starttls(false, true, true).unwrap_err().code(), 503);
        assert_eq!(starttls(false, true, false).expect("go").code(), 220);
    }

    #[test]
    fn help_lists_the_verbs() {
        let r = help("LMTP (RFC 2033)", &["LHLO", "MAIL"]).render(true);
        assert_eq!(r, b"214 2.0.0 LMTP (RFC 2033): LHLO MAIL\r\n");
    }
}
