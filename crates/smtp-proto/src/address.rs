//! Mailbox addresses in MAIL FROM and RCPT TO paths, per RFC 5321 4.1.2,
//! with the SMTPUTF8 extension of RFC 6531 3.3.
//!
//! - Quoted local parts (`"john smith"@example.org`) are unquoted: the
//!   [`Address::local_part`] is the *value*, [`Address`]'s `Display` quotes
//!   again when needed.
//! - Source routes (`<@relay.example:user@example.org>`) are accepted and
//!   ignored (RFC 5321 4.1.1.3 and appendix C).
//! - The null reverse path `<>` exists only for MAIL FROM
//!   ([`ReversePath::Null`]).
//! - `RCPT TO:<Postmaster>` without a domain is accepted (RFC 5321 4.1.1.3);
//!   its [`Address::domain`] is empty.
//! - Limits of RFC 5321 4.5.3.1: local part 64 octets, domain 255 octets,
//!   path 256 octets including the angle brackets.
//! - Non-ASCII characters are accepted only when the caller says UTF-8 is
//!   allowed (SMTPUTF8 announced and requested); otherwise the reply is
//!   `553 5.6.7`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;

/// RFC 5321 4.5.3.1.1: local part at most 64 octets.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 4.5.3.1.2: domain at most 255 octets.
pub const MAX_DOMAIN: usize = 255;
/// RFC 5321 4.5.3.1.3: path at most 256 octets including `<` and `>`.
pub const MAX_PATH: usize = 256;

/// A mailbox, `local-part@domain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    local: String,
    domain: String,
}

/// The MAIL FROM path: an address or the null path `<>` used by bounces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>` (RFC 5321 4.5.5).
    Null,
    /// A sender mailbox.
    Address(Address),
}

impl ReversePath {
    /// The address, unless this is the null path.
    pub fn address(&self) -> Option<&Address> {
        match self {
            ReversePath::Null => None,
            ReversePath::Address(a) => Some(a),
        }
    }
}

impl fmt::Display for ReversePath {
    /// The path in angle brackets, as on the wire.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Address(a) => write!(f, "<{a}>"),
        }
    }
}

impl From<Address> for ReversePath {
    fn from(a: Address) -> Self {
        ReversePath::Address(a)
    }
}

/// Which path is being parsed, to pick the reply for bad syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Sender,
    Recipient,
}

impl Role {
    fn err(self, why: &'static str) -> Error {
        match self {
            Role::Sender => Error::BadSender(why),
            Role::Recipient => Error::BadRecipient(why),
        }
    }
}

impl Address {
    /// Parses `local@domain` (no angle brackets), for configuration and
    /// tests. `utf8` allows non-ASCII characters.
    pub fn parse(text: &str, utf8: bool) -> Result<Self, Error> {
        if text.len() + 2 > MAX_PATH {
            return Err(Error::BadRecipient("path too long"));
        }
        parse_mailbox(text, Role::Recipient, utf8)
    }

    /// The local part, unquoted (`john smith` for `"john smith"@x`).
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain or address literal as given (case preserved). Empty only
    /// for the bare `<Postmaster>` recipient.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// True for `RCPT TO:<Postmaster>` without a domain (RFC 5321 4.1.1.3).
    pub fn is_bare_postmaster(&self) -> bool {
        self.domain.is_empty()
    }

    /// True when local part and domain are ASCII.
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }

    /// Splits a subaddress: `alice+lists` with `'+'` gives
    /// `("alice", Some("lists"))`; `alice` gives `("alice", None)`. The
    /// first separator wins; an empty user part means no detail.
    pub fn split_detail(&self, separator: char) -> (&str, Option<&str>) {
        match self.local.split_once(separator) {
            Some((user, detail)) if !user.is_empty() => (user, Some(detail)),
            _ => (&self.local, None),
        }
    }
}

impl fmt::Display for Address {
    /// `local@domain`, quoting the local part when it is not a dot-string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_dot_string(&self.local) {
            f.write_str(&self.local)?;
        } else {
            f.write_str("\"")?;
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        if !self.domain.is_empty() {
            write!(f, "@{}", self.domain)?;
        }
        Ok(())
    }
}

/// RFC 5321 4.1.2 atext, plus any non-ASCII character (RFC 6531 3.3; the
/// caller checks whether UTF-8 is allowed).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_dot_string(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|a| !a.is_empty() && a.chars().all(is_atext))
}

/// Parses a path that starts with `<` and returns it with the rest of the
/// line (the ESMTP parameters). RFC 5321 4.1.2 `Path`, `Reverse-path`.
pub(crate) fn parse_path(s: &str, role: Role, utf8: bool) -> Result<(ReversePath, &str), Error> {
    if !s.starts_with('<') {
        return Err(role.err("path must be in angle brackets"));
    }
    let end = find_close(s).ok_or_else(|| role.err("unbalanced angle brackets or quotes"))?;
    // RFC 5321 4.5.3.1.3
    if end + 1 > MAX_PATH {
        return Err(role.err("path too long"));
    }
    let inner = &s[1..end];
    let rest = &s[end + 1..];
    if inner.is_empty() {
        return match role {
            Role::Sender => Ok((ReversePath::Null, rest)),
            Role::Recipient => Err(role.err("empty path")),
        };
    }
    let mailbox = strip_source_route(inner).ok_or_else(|| role.err("bad source route"))?;
    // RFC 5321 4.1.1.3: <Postmaster> without a domain must be accepted.
    if role == Role::Recipient && mailbox.eq_ignore_ascii_case("postmaster") {
        return Ok((
            ReversePath::Address(Address {
                local: mailbox.to_string(),
                domain: String::new(),
            }),
            rest,
        ));
    }
    let addr = parse_mailbox(mailbox, role, utf8)?;
    Ok((ReversePath::Address(addr), rest))
}

/// Index of the `>` closing the path, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => return Some(i),
            '<' if !in_quote => return None,
            _ => {}
        }
    }
    None
}

/// RFC 5321 4.1.2 `A-d-l ":"`: `@one,@two:` before the mailbox is dropped
/// (appendix C: source routes SHOULD be ignored).
fn strip_source_route(inner: &str) -> Option<&str> {
    if !inner.starts_with('@') {
        return Some(inner);
    }
    let (route, mailbox) = inner.split_once(':')?;
    let ok = route.split(',').all(|hop| {
        hop.strip_prefix('@')
            .is_some_and(|d| check_domain(d, true).is_ok())
    });
    ok.then_some(mailbox)
}

/// RFC 5321 4.1.2 `Mailbox = Local-part "@" ( Domain / address-literal )`.
fn parse_mailbox(s: &str, role: Role, utf8: bool) -> Result<Address, Error> {
    let (local, wire_len, after) = if let Some(quoted) = s.strip_prefix('"') {
        let (value, used) =
            unquote(quoted, utf8).map_err(|e| e.unwrap_or(role.err("bad quoted local part")))?;
        (value, used + 1, &quoted[used..])
    } else {
        let at = s.find('@').ok_or_else(|| role.err("missing @domain"))?;
        let local = &s[..at];
        if !is_dot_string(local) {
            return Err(role.err("bad local part"));
        }
        if !utf8 && !local.is_ascii() {
            return Err(Error::Utf8NotAllowed);
        }
        (local.to_string(), at, &s[at..])
    };
    // RFC 5321 4.5.3.1.1
    if wire_len > MAX_LOCAL_PART {
        return Err(role.err("local part longer than 64 octets"));
    }
    let domain = after
        .strip_prefix('@')
        .ok_or_else(|| role.err("missing @domain"))?;
    check_domain(domain, utf8).map_err(|e| e.unwrap_or(role.err("bad domain")))?;
    Ok(Address {
        local,
        domain: domain.to_string(),
    })
}

/// Parses the body of a quoted string (after the opening quote). Returns
/// the value and the number of bytes used including the closing quote.
/// RFC 5321 4.1.2 `qtextSMTP`, `quoted-pairSMTP`.
fn unquote(s: &str, utf8: bool) -> Result<(String, usize), Option<Error>> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, i + 1)),
            '\\' => match chars.next() {
                Some((_, q)) if (' '..='~').contains(&q) => value.push(q),
                _ => return Err(None),
            },
            ' '..='~' => value.push(c),
            c if !c.is_ascii() => {
                if !utf8 {
                    return Err(Some(Error::Utf8NotAllowed));
                }
                value.push(c);
            }
            _ => return Err(None),
        }
    }
    Err(None)
}

/// RFC 5321 4.1.2 `Domain` / `address-literal`; `Ok` or why not (`None`
/// for plain bad syntax).
fn check_domain(d: &str, utf8: bool) -> Result<(), Option<Error>> {
    // RFC 5321 4.5.3.1.2
    if d.is_empty() || d.len() > MAX_DOMAIN {
        return Err(None);
    }
    if let Some(lit) = d.strip_prefix('[') {
        let lit = lit.strip_suffix(']').ok_or(None)?;
        return check_address_literal(lit).then_some(()).ok_or(None);
    }
    for label in d.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii());
        if !ok {
            return Err(None);
        }
        // RFC 6531 3.3: U-labels only with SMTPUTF8.
        if !utf8 && !label.is_ascii() {
            return Err(Some(Error::Utf8NotAllowed));
        }
    }
    Ok(())
}

/// RFC 5321 4.1.3: IPv4, `IPv6:` and general address literals.
fn check_address_literal(lit: &str) -> bool {
    if let Some(v6) = lit
        .strip_prefix("IPv6:")
        .or_else(|| lit.strip_prefix("ipv6:"))
    {
        return v6.parse::<Ipv6Addr>().is_ok();
    }
    if lit.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    // General-address-literal = Standardized-tag ":" 1*dcontent
    match lit.split_once(':') {
        Some((tag, content)) => {
            !tag.is_empty()
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !content.is_empty()
                && content.bytes().all(|b| matches!(b, 33..=90 | 94..=126))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt(s: &str) -> Result<Address, Error> {
        let (p, rest) = parse_path(s, Role::Recipient, false)?;
        assert_eq!(rest, "");
        Ok(p.address().cloned().expect("address"))
    }

    #[test]
    fn plain_and_quoted_local_parts() {
        let a = rcpt("<alice@example.org>").expect("plain");
        assert_eq!((a.local_part(), a.domain()), ("alice", "example.org"));
        let q = rcpt("<\"john \\\"j\\\" smith\"@example.org>").expect("quoted");
        assert_eq!(q.local_part(), "john \"j\" smith");
        assert_eq!(q.to_string(), "\"john \\\"j\\\" smith\"@example.org");
        let q = rcpt("<\"a>b\"@example.org>").expect("> inside quotes");
        assert_eq!(q.local_part(), "a>b");
    }

    #[test]
    fn null_path_only_for_sender() {
        let (p, rest) = parse_path("<> SIZE=1", Role::Sender, false).expect("null");
        assert_eq!((p, rest), (ReversePath::Null, " SIZE=1"));
        assert_eq!(
            parse_path("<>", Role::Recipient, false),
            Err(Error::BadRecipient("empty path"))
        );
    }

    #[test]
    fn source_route_is_ignored() {
        let a = rcpt("<@relay.one,@relay.two:bob@example.org>").expect("route");
        assert_eq!(a.to_string(), "bob@example.org");
        assert!(rcpt("<@bad_host:bob@example.org>").is_err());
    }

    #[test]
    fn postmaster_without_domain() {
        assert!(
            rcpt("<Postmaster>")
                .expect("postmaster")
                .is_bare_postmaster()
        );
        assert!(rcpt("<bob>").is_err());
    }

    #[test]
    fn length_limits() {
        let local = "a".repeat(64);
        assert!(rcpt(&format!("<{local}@x.org>")).is_ok());
        assert!(rcpt(&format!("<a{local}@x.org>")).is_err());
        let long_domain = format!("{}.org", "a.".repeat(126));
        assert!(
            rcpt(&format!("<b@{long_domain}>")).is_err(),
            "path over 256"
        );
        assert!(
            rcpt(&format!("<b@{}.org>", "a".repeat(64))).is_err(),
            "label over 63"
        );
    }

    #[test]
    fn utf8_needs_permission() {
        assert_eq!(rcpt("<jörg@example.org>"), Err(Error::Utf8NotAllowed));
        assert_eq!(rcpt("<jorg@exämple.org>"), Err(Error::Utf8NotAllowed));
        let (p, _) = parse_path("<jörg@exämple.org>", Role::Recipient, true).expect("utf8");
        assert_eq!(p.address().map(|a| a.local_part()), Some("jörg"));
    }

    #[test]
    fn address_literals() {
        assert!(rcpt("<a@[192.0.2.1]>").is_ok());
        assert!(rcpt("<a@[IPv6:2001:db8::1]>").is_ok());
        assert!(rcpt("<a@[999.1.1.1]>").is_err());
        assert!(rcpt("<a@[192.0.2.1>").is_err());
    }

    #[test]
    fn malformed() {
        for bad in [
            "alice@example.org",
            "<alice@example.org",
            "<\"unbalanced@example.org>",
            "<a..b@example.org>",
            "<.a@example.org>",
            "<a@-x.org>",
            "<a@x..org>",
            "<a b@x.org>",
            "<a@b@x.org>",
            "<<a@x.org>>",
        ] {
            assert!(rcpt(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn detail() {
        let a = Address::parse("alice+lists@example.org", false).expect("parse");
        assert_eq!(a.split_detail('+'), ("alice", Some("lists")));
        let b = Address::parse("+x@example.org", false).expect("parse");
        assert_eq!(b.split_detail('+'), ("+x", None));
    }
}
