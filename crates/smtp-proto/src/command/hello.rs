//! EHLO, HELO (RFC 5321 4.1.1.1) and LHLO (RFC 2033 4.1): a domain or an
//! address literal. A server must not refuse a session because the name
//! does not match the client's address (RFC 5321 4.1.4), so the check is
//! syntactic and lenient: one printable word of at most 255 octets.

use crate::error::Error;

pub(super) fn parse(args: &str) -> Result<String, Error> {
    let name = args.trim_matches(' ');
    if name.is_empty() {
        return Err(Error::Arguments("domain name required"));
    }
    // RFC 5321 4.5.3.1.2
    if name.len() > 255 || name.chars().any(|c| c == ' ' || c.is_control()) {
        return Err(Error::Arguments("invalid domain name"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use crate::{Command, Error, ParseOptions};

    fn p(line: &str) -> Result<Command, Error> {
        Command::parse(line.as_bytes(), &ParseOptions::default())
    }

    #[test]
    fn hello_variants() {
        assert_eq!(
            p("EHLO mx.example.org"),
            Ok(Command::Ehlo("mx.example.org".into()))
        );
        assert_eq!(
            p("helo [192.0.2.1]"),
            Ok(Command::Helo("[192.0.2.1]".into()))
        );
        assert_eq!(p("LHLO relay "), Ok(Command::Lhlo("relay".into())));
        assert_eq!(p("LHLO"), Err(Error::Arguments("domain name required")));
        assert_eq!(p("EHLO a b"), Err(Error::Arguments("invalid domain name")));
        assert!(p(&format!("EHLO {}", "a".repeat(256))).is_err());
    }
}
