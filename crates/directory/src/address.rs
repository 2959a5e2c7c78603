//! Mail addresses as the directory compares them.
//!
//! Lookups are case-insensitive (LDAP's `mail` and `mailLocalAddress` use
//! `caseIgnoreIA5Match`), so an [`Address`] is stored lower-cased. Parsing
//! is strict on purpose: what reaches a filter or a file lookup has passed
//! RFC 5321 dot-atom rules, and the filter layer escapes it anyway
//! (RFC 4515) because `*` is a legal address character.

use std::fmt;

use crate::error::DirectoryError;

/// A parsed, lower-cased `local@domain` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    local: String,
    domain: String,
}

/// Characters RFC 5322 3.2.3 allows in an atom besides letters and digits.
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

impl Address {
    /// Parses `text`; refuses quoted local parts, source routes, IP literals,
    /// control characters and anything over the RFC 5321 4.5.3.1 limits.
    pub fn parse(text: &str) -> Result<Self, DirectoryError> {
        let bad = |reason: &str| DirectoryError::InvalidInput {
            what: "address",
            reason: format!("{text:?}: {reason}"),
        };
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(bad("no @"));
        };
        if local.is_empty() {
            return Err(bad("empty local part"));
        }
        // RFC 5321 4.5.3.1.1: local part at most 64 octets.
        if local.len() > 64 {
            return Err(bad("local part longer than 64 octets"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("misplaced dot in local part"));
        }
        for c in local.chars() {
            let ok = c.is_ascii_alphanumeric()
                || ATEXT_SPECIALS.contains(c)
                || c == '.'
                // RFC 6531: UTF-8 in the local part, but no controls or spaces.
                || (!c.is_ascii() && !c.is_control() && !c.is_whitespace());
            if !ok {
                return Err(bad("character not allowed in local part"));
            }
        }
        let domain = parse_domain(domain).map_err(|r| bad(&r))?;
        Ok(Self {
            local: local.to_lowercase(),
            domain,
        })
    }

    /// The part before `@`, lower-cased.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The same local part in another domain (for domain aliases).
    pub fn with_domain(&self, domain: &str) -> Self {
        Self {
            local: self.local.clone(),
            domain: domain.to_ascii_lowercase(),
        }
    }
}

/// Checks a domain name (RFC 1035 labels, RFC 5321 4.5.3.1.2 length) and
/// lower-cases it.
pub fn parse_domain(domain: &str) -> Result<String, String> {
    if domain.is_empty() {
        return Err("empty domain".into());
    }
    if domain.len() > 255 {
        return Err("domain longer than 255 octets".into());
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("empty or over-long domain label".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("domain label starts or ends with a hyphen".into());
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("character not allowed in domain".into());
        }
    }
    Ok(domain.to_ascii_lowercase())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl std::str::FromStr for Address {
    type Err = DirectoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_lowercases() {
        let a = Address::parse("Alice.Smith+tag@Example.TEST").expect("valid");
        assert_eq!(a.to_string(), "alice.smith+tag@example.test");
        assert_eq!(a.domain(), "example.test");
        assert!(Address::parse("a*b@example.test").is_ok(), "* is atext");
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "alice",
            "@example.test",
            "alice@",
            "al ice@example.test",
            "alice)(uid=*@example.test",
            "\"alice\"@example.test",
            ".alice@example.test",
            "a..b@example.test",
            "alice@exa_mple.test",
            "alice@-example.test",
            "alice@example..test",
            "alice@[127.0.0.1]",
            "ali\0ce@example.test",
            "ali\\ce@example.test",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} must be refused");
        }
        let long = format!("{}@example.test", "a".repeat(65));
        assert!(Address::parse(&long).is_err());
    }
}
