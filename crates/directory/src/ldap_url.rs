//! LDAP URLs (RFC 4516) as dynamic groups use them in `memberURL`:
//! `ldap:///ou=people,dc=example,dc=test??sub?(departmentNumber=sales)`.
//!
//! The host part is ignored on purpose: a dynamic group is evaluated on the
//! directory that holds it, so a URL cannot make a service connect elsewhere.

use percent_encoding::percent_decode_str;

use crate::error::DirectoryError;

/// Search scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The base entry only (the RFC 4516 default).
    Base,
    /// Direct children of the base.
    One,
    /// The base and everything below.
    Sub,
}

/// The search an LDAP URL describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUrl {
    /// Base DN.
    pub base: String,
    /// Scope.
    pub scope: Scope,
    /// Filter; `(objectClass=*)` when absent.
    pub filter: String,
}

impl LdapUrl {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<Self, DirectoryError> {
        let bad = |reason: &str| DirectoryError::InvalidInput {
            what: "LDAP URL",
            reason: format!("{url:?}: {reason}"),
        };
        let lower = url.to_ascii_lowercase();
        let rest = ["ldap://", "ldaps://", "ldapi://"]
            .iter()
            .find_map(|s| lower.starts_with(s).then(|| &url[s.len()..]))
            .ok_or_else(|| bad("not an ldap:// URL"))?;
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
        let mut fields = path.splitn(5, '?');
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("bad percent-encoding"))
        };
        let base = decode(fields.next().unwrap_or(""))?;
        let _attrs = fields.next();
        let scope = match fields.next().unwrap_or("").to_ascii_lowercase().as_str() {
            "" | "base" => Scope::Base,
            "one" => Scope::One,
            "sub" => Scope::Sub,
            _ => return Err(bad("unknown scope")),
        };
        let filter = decode(fields.next().unwrap_or(""))?;
        let filter = if filter.is_empty() {
            "(objectClass=*)".to_string()
        } else {
            filter
        };
        Ok(Self {
            base,
            scope,
            filter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u =
            LdapUrl::parse("ldap:///ou=people,dc=example,dc=test??sub?(departmentNumber=sales)")
                .expect("valid");
        assert_eq!(u.base, "ou=people,dc=example,dc=test");
        assert_eq!(u.scope, Scope::Sub);
        assert_eq!(u.filter, "(departmentNumber=sales)");
        let u = LdapUrl::parse("ldap://evil.example:389/dc=x?cn?one?%28cn=a%29").expect("valid");
        assert_eq!(
            (u.base.as_str(), u.scope, u.filter.as_str()),
            ("dc=x", Scope::One, "(cn=a)")
        );
        assert!(LdapUrl::parse("http://x/").is_err());
    }
}
