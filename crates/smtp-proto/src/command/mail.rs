//! `MAIL FROM:<reverse-path> [SP Mail-parameters]` (RFC 5321 4.1.1.2).
//!
//! A UTF-8 sender is allowed only when the server announced SMTPUTF8 and
//! the command carries the SMTPUTF8 parameter (RFC 6531 3.4).

use super::{ParseOptions, after_keyword};
use crate::address::{ReversePath, Role, parse_path};
use crate::error::Error;
use crate::params::MailParams;

/// A parsed MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    /// The sender, or `<>`.
    pub sender: ReversePath,
    /// ESMTP parameters.
    pub params: MailParams,
}

pub(super) fn parse(args: &str, opts: &ParseOptions) -> Result<MailFrom, Error> {
    let path = after_keyword(args, "FROM:").ok_or(Error::Arguments("expected FROM:<address>"))?;
    // Parameters first tell whether UTF-8 is allowed in the path; find
    // them by parsing the path leniently, then strictly.
    let (_, rest) = parse_path(path, Role::Sender, true)?;
    let params = MailParams::parse(rest)?;
    let utf8 = opts.smtputf8 && params.smtputf8;
    if params.smtputf8 && !opts.smtputf8 {
        return Err(Error::unsupported("SMTPUTF8"));
    }
    let (sender, _) = parse_path(path, Role::Sender, utf8)?;
    Ok(MailFrom { sender, params })
}

#[cfg(test)]
mod tests {
    use crate::{Command, Error, ParseOptions, ReversePath};

    fn p(line: &str, opts: ParseOptions) -> Result<Command, Error> {
        Command::parse(line.as_bytes(), &opts)
    }

    fn mail(line: &str) -> Result<super::MailFrom, Error> {
        match p(line, ParseOptions::default())? {
            Command::Mail(m) => Ok(m),
            other => panic!("not MAIL: {other:?}"),
        }
    }

    #[test]
    fn sender_forms() {
        let m = mail("MAIL FROM:<alice@example.org>").expect("plain");
        assert_eq!(m.sender.to_string(), "<alice@example.org>");
        assert_eq!(
            mail("mail from:<>").expect("null").sender,
            ReversePath::Null
        );
        assert!(
            mail("MAIL FROM: <bob@example.org>").is_ok(),
            "space after colon tolerated"
        );
        let m = mail("MAIL FROM:<a@b.org> SIZE=10 BODY=8BITMIME").expect("params");
        assert_eq!(m.params.size, Some(10));
    }

    #[test]
    fn sender_errors() {
        assert_eq!(
            mail("MAIL TO:<a@b.org>"),
            Err(Error::Arguments("expected FROM:<address>"))
        );
        assert_eq!(
            mail("MAIL"),
            Err(Error::Arguments("expected FROM:<address>"))
        );
        assert!(matches!(
            mail("MAIL FROM:a@b.org"),
            Err(Error::BadSender(_))
        ));
        assert!(matches!(
            mail("MAIL FROM:<a@b.org"),
            Err(Error::BadSender(_))
        ));
        assert_eq!(
            mail("MAIL FROM:<a@b.org> XYZ=1"),
            Err(Error::UnsupportedParameter("XYZ".into()))
        );
        assert!(matches!(
            mail("MAIL FROM:<a@b.org>SIZE=1"),
            Err(Error::Arguments(_))
        ));
    }

    #[test]
    fn smtputf8_rules() {
        let on = ParseOptions {
            smtputf8: true,
            ..ParseOptions::default()
        };
        assert!(p("MAIL FROM:<jörg@example.org> SMTPUTF8", on).is_ok());
        assert_eq!(
            p("MAIL FROM:<jörg@example.org>", on),
            Err(Error::Utf8NotAllowed)
        );
        assert_eq!(
            p(
                "MAIL FROM:<a@example.org> SMTPUTF8",
                ParseOptions::default()
            ),
            Err(Error::UnsupportedParameter("SMTPUTF8".into()))
        );
    }
}
