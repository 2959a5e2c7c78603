//! The addresses routing accepts: an RFC 5321 `Mailbox` with a domain name.
//!
//! Routing is stricter than the grammar on purpose. Source routes
//! (RFC 5321 4.1.2 `A-d-l`, obsolete since RFC 2821 but still parseable),
//! the percent hack (`user%host@relay`) and UUCP bang paths
//! (`host!user@relay`) all ask this MTA to relay onwards to a host the
//! sender picked; they are refused rather than silently stripped. Domain
//! literals (`[192.0.2.1]`) are refused too: no rule can route them.
//!
//! Domains are compared case-insensitively and stored lower-cased, and an
//! internationalised domain (RFC 6531) is converted to its A-label form
//! (`bücher.example` -> `xn--bcher-kva.example`, UTS #46 through the `idna`
//! crate), so that rules, mapping tables and DNS all see one spelling. The
//! local part keeps its case: RFC 5321 2.4 leaves it to the destination.

use std::fmt;

use crate::error::Error;

/// A parsed mailbox: local part as given, domain lower-cased in A-labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    local: String,
    domain: String,
}

/// RFC 5322 3.2.3 atext besides letters and digits. `%` and `!` are atext
/// but are refused before this table is consulted (see the module docs).
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// What parsing noticed besides the result, for the route's steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// `<...>` removed.
    pub stripped_brackets: bool,
    /// The domain had upper-case letters.
    pub lowercased: bool,
    /// The domain was converted from U-labels; holds the original.
    pub idn_from: Option<String>,
}

impl Mailbox {
    /// Parses `text` (with or without angle brackets).
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_noting(text).map(|(m, _)| m)
    }

    /// Parses `text` and says what was normalised.
    pub fn parse_noting(text: &str) -> Result<(Self, Normalized), Error> {
        let invalid = |reason: &str| Error::InvalidAddress {
            address: text.to_string(),
            reason: reason.to_string(),
        };
        let relay = |reason: &'static str| Error::RelayForm {
            address: text.to_string(),
            reason,
        };
        let mut note = Normalized::default();
        let mut s = text.trim();
        if let Some(inner) = s.strip_prefix('<') {
            s = inner
                .strip_suffix('>')
                .ok_or_else(|| invalid("unbalanced angle bracket"))?;
            note.stripped_brackets = true;
        }
        if s.is_empty() {
            return Err(invalid(
                "empty address (the null reverse-path <> is not a recipient)",
            ));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(invalid("control character"));
        }
        // RFC 5321 4.1.2: A-d-l ":" Mailbox.
        if s.starts_with('@') && s.contains(':') {
            return Err(relay("source route (@host,...:user@domain)"));
        }
        let (local, domain) = split_mailbox(s).map_err(|r| invalid(&r))?;
        if local.starts_with('"') {
            check_quoted(local).map_err(|r| invalid(&r))?;
        } else {
            if local.contains('%') {
                return Err(relay("percent hack (user%host@relay)"));
            }
            if local.contains('!') {
                return Err(relay("bang path (host!user@relay)"));
            }
            check_dot_string(local).map_err(|r| invalid(&r))?;
        }
        // RFC 5321 4.5.3.1.1: local part at most 64 octets.
        if local.len() > 64 {
            return Err(invalid("local part longer than 64 octets"));
        }
        let given = domain;
        let (domain, idn) = normalize_domain(given).map_err(|r| invalid(&r))?;
        note.lowercased = idn.is_none() && given.trim_end_matches('.') != domain;
        note.idn_from = idn;
        // RFC 5321 4.5.3.1.3: a path is at most 256 octets including "<>".
        if local.len() + 1 + domain.len() + 2 > 256 {
            return Err(invalid("address longer than 254 octets"));
        }
        Ok((
            Self {
                local: local.to_string(),
                domain,
            },
            note,
        ))
    }

    /// The local part, as given.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, lower-cased A-labels.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The local part without its `+detail` (RFC 5233 subaddress).
    pub fn base_local(&self) -> &str {
        self.local_split().0
    }

    /// The subaddress after the first `+`, empty without one.
    pub fn detail(&self) -> &str {
        self.local_split().1
    }

    fn local_split(&self) -> (&str, &str) {
        if self.local.starts_with('"') {
            return (&self.local, "");
        }
        match self.local.split_once('+') {
            Some((base, detail)) if !base.is_empty() => (base, detail),
            _ => (&self.local, ""),
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Splits at the `@` that ends the local part (a quoted local part may
/// contain `@`).
fn split_mailbox(s: &str) -> Result<(&str, &str), String> {
    let at = if s.starts_with('"') {
        let close = closing_quote(s).ok_or("unterminated quoted local part")?;
        if s.as_bytes().get(close + 1) != Some(&b'@') {
            return Err("quoted local part not followed by @".into());
        }
        close + 1
    } else {
        s.rfind('@').ok_or("no @")?
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() {
        return Err("empty local part".into());
    }
    if domain.starts_with('[') {
        return Err("domain literals ([address]) cannot be routed".into());
    }
    if local.contains('@') && !local.starts_with('"') {
        return Err("more than one @".into());
    }
    Ok((local, domain))
}

/// Index of the quote that closes the quoted string starting at 0.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// RFC 5321 4.1.2 Quoted-string: qtextSMTP or quoted-pairSMTP.
fn check_quoted(local: &str) -> Result<(), String> {
    let inner = &local[1..local.len() - 1];
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            if !(' '..='~').contains(&c) {
                return Err("bad quoted pair".into());
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c.is_control() {
            return Err("control character in quoted local part".into());
        }
    }
    Ok(())
}

/// RFC 5321 4.1.2 Dot-string, with RFC 6531 UTF-8.
fn check_dot_string(local: &str) -> Result<(), String> {
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("misplaced dot in local part".into());
    }
    let ok = |c: char| {
        c.is_ascii_alphanumeric()
            || ATEXT_SPECIALS.contains(c)
            || c == '.'
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    if let Some(c) = local.chars().find(|c| !ok(*c)) {
        return Err(format!("character {c:?} not allowed in local part"));
    }
    Ok(())
}

/// Lower-cases a domain and converts U-labels to A-labels; returns the
/// original when a conversion happened. Checks RFC 1035 label syntax and
/// the RFC 5321 4.5.3.1.2 length limit on the result.
pub fn normalize_domain(domain: &str) -> Result<(String, Option<String>), String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err("empty domain".into());
    }
    let (ascii, idn) = if domain.is_ascii() {
        (domain.to_ascii_lowercase(), None)
    } else {
        let a = idna::domain_to_ascii_strict(domain)
            .map_err(|_| format!("{domain:?} is not a valid internationalised domain name"))?;
        (a, Some(domain.to_string()))
    };
    check_domain_syntax(&ascii)?;
    Ok((ascii, idn))
}

/// RFC 1035 2.3.1 labels (letters, digits, hyphens) and length limits.
pub fn check_domain_syntax(domain: &str) -> Result<(), String> {
    if domain.len() > 255 {
        return Err("domain longer than 255 octets".into());
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("empty or over-long label in domain {domain:?}"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with a hyphen"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("character not allowed in domain {domain:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_local_case_and_lowercases_domain() {
        let (m, n) = Mailbox::parse_noting("<Alice.Smith+news@Example.TEST>").expect("valid");
        assert_eq!(m.local(), "Alice.Smith+news");
        assert_eq!(m.domain(), "example.test");
        assert_eq!(m.base_local(), "Alice.Smith");
        assert_eq!(m.detail(), "news");
        assert!(n.stripped_brackets && n.lowercased);
        let (_, n) = Mailbox::parse_noting("bob@example.test").expect("valid");
        assert!(!n.lowercased);
    }

    #[test]
    fn converts_idn_domains() {
        let (m, n) = Mailbox::parse_noting("jörg@Bücher.example").expect("valid");
        assert_eq!(m.domain(), "xn--bcher-kva.example");
        assert_eq!(m.local(), "jörg");
        assert_eq!(n.idn_from.as_deref(), Some("Bücher.example"));
    }

    #[test]
    fn quoted_local_parts() {
        let m = Mailbox::parse("\"john doe@x\"@example.test").expect("quoted");
        assert_eq!(m.local(), "\"john doe@x\"");
        assert_eq!(m.domain(), "example.test");
        let m = Mailbox::parse("\"a%b\"@example.test").expect("% inside quotes is data");
        assert_eq!(m.detail(), "");
    }

    #[test]
    fn refuses_relay_forms() {
        for bad in [
            "@relay.test:user@example.test",
            "@a.test,@b.test:user@example.test",
            "user%other.test@example.test",
            "host!user@example.test",
        ] {
            assert!(
                matches!(Mailbox::parse(bad), Err(Error::RelayForm { .. })),
                "{bad:?} must be refused as a relay form"
            );
        }
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "<>",
            "alice",
            "@",
            "alice@",
            "@example.test",
            "al ice@example.test",
            "a..b@example.test",
            ".a@example.test",
            "a@b@example.test",
            "alice@[192.0.2.1]",
            "alice@exa_mple.test",
            "alice@-example.test",
            "alice@example..test",
            "<alice@example.test",
            "\"unterminated@example.test",
            "a\u{0}b@example.test",
            "alice@xn--.test",
        ] {
            assert!(
                matches!(Mailbox::parse(bad), Err(Error::InvalidAddress { .. })),
                "{bad:?} must be invalid: {:?}",
                Mailbox::parse(bad)
            );
        }
        let long_local = format!("{}@example.test", "a".repeat(65));
        assert!(Mailbox::parse(&long_local).is_err());
        let long_domain = format!("a@{}.test", vec!["a".repeat(60); 5].join("."));
        assert!(Mailbox::parse(&long_domain).is_err());
    }

    #[test]
    fn trailing_root_dot_is_dropped() {
        let m = Mailbox::parse("a@example.test.").expect("valid");
        assert_eq!(m.domain(), "example.test");
    }
}
