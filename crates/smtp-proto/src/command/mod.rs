//! One command line in, one [`Command`] out (RFC 5321 4.1.1, RFC 2033 4.1
//! for LHLO). Each command's argument syntax lives in its own file.
//!
//! Line limits (RFC 5321 4.5.3.1.4): 512 octets including CRLF, raised for
//! MAIL by SIZE (26, RFC 1870 3), RET/ENVID (100, RFC 3461 4) and AUTH=
//! (500, RFC 4954 5), and for RCPT by NOTIFY/ORCPT (500, RFC 3461 4).

mod auth;
mod bdat;
mod hello;
mod mail;
mod rcpt;
mod simple;

use crate::error::Error;

pub use auth::Auth;
pub use mail::MailFrom;
pub use rcpt::RcptTo;

/// RFC 5321 4.5.3.1.4: a command line, CRLF included.
pub const MAX_COMMAND_LINE: usize = 512;
/// MAIL FROM with SIZE, RET, ENVID and AUTH= (RFC 1870, 3461, 4954).
pub const MAX_MAIL_LINE: usize = MAX_COMMAND_LINE + 26 + 100 + 500;
/// RCPT TO with NOTIFY and ORCPT (RFC 3461 4).
pub const MAX_RCPT_LINE: usize = MAX_COMMAND_LINE + 500;
/// The longest line any command may have: size a [`crate::LineReader`]
/// with this.
pub const MAX_LINE: usize = MAX_MAIL_LINE;

/// What the session allows while parsing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The server announced SMTPUTF8 (RFC 6531): MAIL FROM may then carry
    /// a UTF-8 address together with the SMTPUTF8 parameter.
    pub smtputf8: bool,
    /// The current transaction was started with `MAIL FROM:... SMTPUTF8`:
    /// RCPT TO may carry UTF-8 addresses (RFC 6531 3.4).
    pub utf8_transaction: bool,
}

/// A parsed SMTP or LMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 4.1.1.1).
    Ehlo(String),
    /// `HELO domain` (RFC 5321 4.1.1.1).
    Helo(String),
    /// `LHLO domain` (RFC 2033 4.1).
    Lhlo(String),
    /// `MAIL FROM:<path> params` (RFC 5321 4.1.1.2).
    Mail(MailFrom),
    /// `RCPT TO:<path> params` (RFC 5321 4.1.1.3).
    Rcpt(RcptTo),
    /// `DATA` (RFC 5321 4.1.1.4).
    Data,
    /// `BDAT size [LAST]` (RFC 3030 2).
    Bdat {
        /// Octets in this chunk.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET` (RFC 5321 4.1.1.5).
    Rset,
    /// `VRFY string` (RFC 5321 4.1.1.6).
    Vrfy(String),
    /// `EXPN string` (RFC 5321 4.1.1.7).
    Expn(String),
    /// `HELP [topic]` (RFC 5321 4.1.1.8).
    Help(Option<String>),
    /// `NOOP [string]` (RFC 5321 4.1.1.9); the argument is ignored.
    Noop,
    /// `QUIT` (RFC 5321 4.1.1.10).
    Quit,
    /// `STARTTLS` (RFC 3207 4).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 4).
    Auth(Auth),
}

impl Command {
    /// Parses one line, with or without its CRLF.
    pub fn parse(line: &[u8], opts: &ParseOptions) -> Result<Command, Error> {
        let line = strip_eol(line);
        if line.len() + 2 > MAX_LINE {
            return Err(Error::LineTooLong);
        }
        if line.contains(&0) {
            return Err(Error::Syntax("NUL in command"));
        }
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(Error::Syntax("stray CR or LF in command"));
        }
        let line = std::str::from_utf8(line).map_err(|_| Error::Syntax("invalid UTF-8"))?;
        let (verb, args) = match line.split_once(' ') {
            Some((v, a)) => (v, a),
            None => (line, ""),
        };
        if verb.is_empty() || verb.len() > 8 || !verb.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(Error::UnknownCommand);
        }
        let limit = match verb.to_ascii_uppercase().as_str() {
            "MAIL" => MAX_MAIL_LINE,
            "RCPT" => MAX_RCPT_LINE,
            _ => MAX_COMMAND_LINE,
        };
        if line.len() + 2 > limit {
            return Err(Error::LineTooLong);
        }
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => hello::parse(args).map(Command::Ehlo),
            "HELO" => hello::parse(args).map(Command::Helo),
            "LHLO" => hello::parse(args).map(Command::Lhlo),
            "MAIL" => mail::parse(args, opts).map(Command::Mail),
            "RCPT" => rcpt::parse(args, opts).map(Command::Rcpt),
            "DATA" => simple::no_args(args, Command::Data),
            "BDAT" => bdat::parse(args),
            "RSET" => simple::no_args(args, Command::Rset),
            "QUIT" => simple::no_args(args, Command::Quit),
            "STARTTLS" => simple::no_args(args, Command::StartTls),
            "NOOP" => Ok(Command::Noop),
            "VRFY" => simple::required(args).map(Command::Vrfy),
            "EXPN" => simple::required(args).map(Command::Expn),
            "HELP" => Ok(Command::Help(simple::optional(args))),
            "AUTH" => auth::parse(args).map(Command::Auth),
            _ => Err(Error::UnknownCommand),
        }
    }

    /// The command verb in upper case, for logs and metrics.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Lhlo(_) => "LHLO",
            Command::Mail(_) => "MAIL",
            Command::Rcpt(_) => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::StartTls => "STARTTLS",
            Command::Auth(_) => "AUTH",
        }
    }
}

/// Drops one trailing CRLF, or a lone LF (tolerated on command lines; the
/// strict CRLF rule is enforced where it matters, in message content).
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `FROM:` / `TO:` prefix, case-insensitive, with the common (if
/// non-conforming) space after the colon tolerated.
fn after_keyword<'a>(args: &'a str, keyword: &str) -> Option<&'a str> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = &args[keyword.len()..];
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Command, Error> {
        Command::parse(line.as_bytes(), &ParseOptions::default())
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(p("quit\r\n"), Ok(Command::Quit));
        assert_eq!(p("NoOp anything at all"), Ok(Command::Noop));
        assert_eq!(p("starttls"), Ok(Command::StartTls));
    }

    #[test]
    fn junk() {
        assert_eq!(p(""), Err(Error::UnknownCommand));
        assert_eq!(p("FOO"), Err(Error::UnknownCommand));
        assert_eq!(p("GET / HTTP/1.1"), Err(Error::UnknownCommand));
        assert_eq!(p("QU\0IT"), Err(Error::Syntax("NUL in command")));
        assert_eq!(
            p("QUIT\rx"),
            Err(Error::Syntax("stray CR or LF in command"))
        );
        assert_eq!(
            Command::parse(b"HELO \xff\xfe", &ParseOptions::default()),
            Err(Error::Syntax("invalid UTF-8"))
        );
    }

    #[test]
    fn line_limits() {
        let ok = format!("NOOP {}", "x".repeat(MAX_COMMAND_LINE - 7));
        assert_eq!(p(&ok), Ok(Command::Noop));
        let long = format!("NOOP {}", "x".repeat(MAX_COMMAND_LINE - 6));
        assert_eq!(p(&long), Err(Error::LineTooLong));
        let orcpt = format!("RCPT TO:<a@b.org> ORCPT=rfc822;{}@b.org", "c".repeat(450));
        assert!(p(&orcpt).is_ok(), "RCPT may be longer (RFC 3461 4)");
        assert_eq!(p(&"x".repeat(5000)), Err(Error::LineTooLong));
    }

    #[test]
    fn commands_without_arguments_refuse_them() {
        assert_eq!(p("DATA x"), Err(Error::Arguments("no arguments allowed")));
        assert_eq!(p("QUIT now"), Err(Error::Arguments("no arguments allowed")));
        assert_eq!(p("RSET"), Ok(Command::Rset));
    }

    #[test]
    fn vrfy_expn_help() {
        assert_eq!(p("VRFY bob"), Ok(Command::Vrfy("bob".into())));
        assert_eq!(p("EXPN staff"), Ok(Command::Expn("staff".into())));
        assert!(p("VRFY").is_err());
        assert_eq!(p("HELP"), Ok(Command::Help(None)));
        assert_eq!(p("HELP MAIL"), Ok(Command::Help(Some("MAIL".into()))));
    }
}
