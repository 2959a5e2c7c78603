//! The one error type of this crate. Every variant knows the reply the
//! server should send ([`Error::reply`]); none of them ends the session by
//! itself — RFC 5321 lets the client try again after a syntax error.

use crate::reply::Reply;

/// Why a command line or a piece of one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line is longer than RFC 5321 4.5.3.1.4 allows
    /// (`500 5.5.2 Line too long`).
    #[error("command line too long")]
    LineTooLong,
    /// The verb is not an SMTP/LMTP command we know
    /// (`500 5.5.1 Command unrecognized`).
    #[error("command unrecognized")]
    UnknownCommand,
    /// The line cannot be a command at all: NUL, stray CR/LF, invalid UTF-8
    /// (`500 5.5.2 Syntax error`).
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// The verb is known but its arguments are malformed
    /// (`501 5.5.4 Syntax error in parameters`).
    #[error("syntax error in arguments: {0}")]
    Arguments(&'static str),
    /// The MAIL FROM path is malformed (`501 5.1.7 Bad sender address
    /// syntax`).
    #[error("bad sender address: {0}")]
    BadSender(&'static str),
    /// The RCPT TO path is malformed (`501 5.1.3 Bad recipient address
    /// syntax`).
    #[error("bad recipient address: {0}")]
    BadRecipient(&'static str),
    /// A non-ASCII address without SMTPUTF8 announced and requested
    /// (`553 5.6.7`, RFC 6531 3.7.4.1 / RFC 6533).
    #[error("non-ASCII address without SMTPUTF8")]
    Utf8NotAllowed,
    /// An ESMTP parameter we do not implement (`555 5.5.4`, RFC 5321
    /// 4.1.1.11). The name is cut to 32 printable characters.
    #[error("unsupported parameter {0}")]
    UnsupportedParameter(String),
    /// A known parameter with a bad value (`501 5.5.4`).
    #[error("invalid value for parameter {0}")]
    InvalidParameter(&'static str),
    /// A parameter given twice (`501 5.5.4`).
    #[error("duplicate parameter {0}")]
    DuplicateParameter(&'static str),
}

impl Error {
    /// The reply this error deserves.
    pub fn reply(&self) -> Reply {
        match self {
            Error::LineTooLong => Reply::with_status(500, (5, 5, 2), "Line too long"),
            Error::UnknownCommand => Reply::with_status(500, (5, 5, 1), "Command unrecognized"),
            Error::Syntax(why) => {
                Reply::with_status(500, (5, 5, 2), &format!("Syntax error ({why})"))
            }
            Error::Arguments(why) => Reply::with_status(
                501,
                (5, 5, 4),
                &format!("Syntax error in parameters ({why})"),
            ),
            Error::BadSender(why) => Reply::with_status(
                501,
                (5, 1, 7),
                &format!("Bad sender address syntax ({why})"),
            ),
            Error::BadRecipient(why) => Reply::with_status(
                501,
                (5, 1, 3),
                &format!("Bad recipient address syntax ({why})"),
            ),
            Error::Utf8NotAllowed => {
                Reply::with_status(553, (5, 6, 7), "Non-ASCII address requires SMTPUTF8")
            }
            Error::UnsupportedParameter(name) => {
                Reply::with_status(555, (5, 5, 4), &format!("Unsupported parameter {name}"))
            }
            Error::InvalidParameter(name) => Reply::with_status(
                501,
                (5, 5, 4),
                &format!("Invalid value for parameter {name}"),
            ),
            Error::DuplicateParameter(name) => {
                Reply::with_status(501, (5, 5, 4), &format!("Duplicate parameter {name}"))
            }
        }
    }

    /// An [`Error::UnsupportedParameter`] with a name safe to echo.
    pub(crate) fn unsupported(name: &str) -> Self {
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(32)
            .collect();
        Error::UnsupportedParameter(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_match_the_documented_codes() {
        assert_eq!(
            Error::BadRecipient("x").reply().to_string(),
            "501 5.1.3 Bad recipient address syntax (x)\r\n"
        );
        assert_eq!(
            Error::unsupported("FOO\u{0}BAR").reply().to_string(),
            "555 5.5.4 Unsupported parameter FOOBAR\r\n"
        );
        assert_eq!(Error::LineTooLong.reply().code(), 500);
        assert_eq!(Error::Utf8NotAllowed.reply().code(), 553);
    }
}
