//! `AUTH mechanism [SP initial-response]` (RFC 4954 4). The response is
//! kept as sent (base64, or `=` for an empty one); decoding belongs to the
//! SASL layer.

use crate::error::Error;

/// A parsed AUTH command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// SASL mechanism, upper case (`PLAIN`, `LOGIN`, `SCRAM-SHA-256`).
    pub mechanism: String,
    /// The initial response, if any, undecoded.
    pub initial: Option<String>,
}

pub(super) fn parse(args: &str) -> Result<Auth, Error> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let mech = words.next().ok_or(Error::Arguments("mechanism required"))?;
    // RFC 4422 3.1: 1-20 characters of upper-case letters, digits, - and _
    let mech_ok = mech.len() <= 20
        && mech
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !mech_ok {
        return Err(Error::Arguments("bad mechanism name"));
    }
    let initial = words.next();
    if let Some(i) = initial {
        let b64 = i == "="
            || i.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
        if !b64 {
            return Err(Error::Arguments("initial response is not base64"));
        }
    }
    if words.next().is_some() {
        return Err(Error::Arguments("too many arguments"));
    }
    Ok(Auth {
        mechanism: mech.to_ascii_uppercase(),
        initial: initial.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use crate::{Command, ParseOptions};

    fn p(line: &str) -> Option<super::Auth> {
        match Command::parse(line.as_bytes(), &ParseOptions::default()) {
            Ok(Command::Auth(a)) => Some(a),
            _ => None,
        }
    }

    #[test]
    fn auth() {
        let a = p("AUTH plain AGFsaWNlAHNlY3JldA==").expect("plain");
        assert_eq!(a.mechanism, "PLAIN");
        assert_eq!(a.initial.as_deref(), Some("AGFsaWNlAHNlY3JldA=="));
        assert_eq!(p("AUTH LOGIN").expect("login").initial, None);
        assert_eq!(
            p("AUTH PLAIN =").expect("empty").initial.as_deref(),
            Some("=")
        );
        assert!(p("AUTH").is_none());
        assert!(p("AUTH PLAIN a b").is_none());
        assert!(p("AUTH PL@IN").is_none());
        assert!(p("AUTH PLAIN not*base64").is_none());
    }
}
