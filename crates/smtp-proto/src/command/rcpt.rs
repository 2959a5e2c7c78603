//! `RCPT TO:<forward-path> [SP Rcpt-parameters]` (RFC 5321 4.1.1.3).
//! `<Postmaster>` without a domain is accepted. UTF-8 addresses only in a
//! transaction opened with SMTPUTF8 (RFC 6531 3.4).

use super::{ParseOptions, after_keyword};
use crate::address::{Address, ReversePath, Role, parse_path};
use crate::error::Error;
use crate::params::RcptParams;

/// A parsed RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptTo {
    /// The recipient.
    pub recipient: Address,
    /// ESMTP parameters.
    pub params: RcptParams,
}

pub(super) fn parse(args: &str, opts: &ParseOptions) -> Result<RcptTo, Error> {
    let path = after_keyword(args, "TO:").ok_or(Error::Arguments("expected TO:<address>"))?;
    let utf8 = opts.smtputf8 && opts.utf8_transaction;
    let (recipient, rest) = parse_path(path, Role::Recipient, utf8)?;
    let ReversePath::Address(recipient) = recipient else {
        return Err(Error::BadRecipient("empty path"));
    };
    let params = RcptParams::parse(rest)?;
    Ok(RcptTo { recipient, params })
}

#[cfg(test)]
mod tests {
    use crate::{Command, Error, ParseOptions};

    fn p(line: &str, opts: ParseOptions) -> Result<Command, Error> {
        Command::parse(line.as_bytes(), &opts)
    }

    fn rcpt(line: &str) -> Result<super::RcptTo, Error> {
        match p(line, ParseOptions::default())? {
            Command::Rcpt(r) => Ok(r),
            other => panic!("not RCPT: {other:?}"),
        }
    }

    #[test]
    fn recipients() {
        let r = rcpt("RCPT TO:<bob+work@example.org>").expect("plain");
        assert_eq!(r.recipient.split_detail('+'), ("bob", Some("work")));
        assert!(
            rcpt("rcpt to:<Postmaster>")
                .expect("pm")
                .recipient
                .is_bare_postmaster()
        );
        let r = rcpt("RCPT TO:<b@x.org> NOTIFY=FAILURE ORCPT=rfc822;b@x.org").expect("dsn");
        assert!(r.params.notify.is_some() && r.params.orcpt.is_some());
    }

    #[test]
    fn recipient_errors() {
        assert_eq!(rcpt("RCPT TO:<>"), Err(Error::BadRecipient("empty path")));
        assert!(matches!(
            rcpt("RCPT TO:<a@@b.org>"),
            Err(Error::BadRecipient(_))
        ));
        assert!(matches!(
            rcpt("RCPT FROM:<a@b.org>"),
            Err(Error::Arguments(_))
        ));
        assert!(matches!(
            rcpt("RCPT TO:<a@b.org> SIZE=1"),
            Err(Error::UnsupportedParameter(_))
        ));
        assert_eq!(
            rcpt("RCPT TO:<a@b.org>").expect("ok").recipient.to_string(),
            "a@b.org"
        );
    }

    #[test]
    fn utf8_only_in_utf8_transaction() {
        let announced = ParseOptions {
            smtputf8: true,
            utf8_transaction: false,
        };
        assert_eq!(
            p("RCPT TO:<jörg@x.org>", announced),
            Err(Error::Utf8NotAllowed)
        );
        let tx = ParseOptions {
            smtputf8: true,
            utf8_transaction: true,
        };
        assert!(p("RCPT TO:<jörg@x.org>", tx).is_ok());
    }
}
