//! Commands with no or free-form arguments: DATA, RSET, QUIT, STARTTLS
//! (no arguments: RFC 5321 4.1.1.4, 4.1.1.5, 4.1.1.10, RFC 3207 4), VRFY and
//! EXPN (a required string, RFC 5321 4.1.1.6-7), HELP (optional,
//! RFC 5321 4.1.1.8).

use super::Command;
use crate::error::Error;

/// Accepts only an empty argument (trailing spaces tolerated).
pub(super) fn no_args(args: &str, cmd: Command) -> Result<Command, Error> {
    if args.trim_end_matches(' ').is_empty() {
        Ok(cmd)
    } else {
        Err(Error::Arguments("no arguments allowed"))
    }
}

/// A non-empty argument.
pub(super) fn required(args: &str) -> Result<String, Error> {
    let a = args.trim_matches(' ');
    if a.is_empty() {
        Err(Error::Arguments("argument required"))
    } else {
        Ok(a.to_string())
    }
}

/// An optional argument.
pub(super) fn optional(args: &str) -> Option<String> {
    let a = args.trim_matches(' ');
    (!a.is_empty()).then(|| a.to_string())
}
