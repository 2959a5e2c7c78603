//! The domain side of a rewrite rule: which domains a rule applies to.
//!
//! Three forms, all case-insensitive and compared in A-labels:
//! `example.com` (that domain only), `*.example.com` (any subdomain, one
//! label or more, but not `example.com` itself) and `$*` (every domain).
//! The part a wildcard matched is the rule's `$H`.

use std::fmt;

use crate::address::normalize_domain;

/// A parsed domain pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainPattern {
    /// `$*`.
    Any,
    /// An exact domain.
    Exact(String),
    /// `*.suffix`: holds the suffix.
    Subdomains(String),
}

impl DomainPattern {
    /// Parses a pattern from the configuration.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "$*" {
            return Ok(Self::Any);
        }
        if t == "*" || t == "*.*" {
            return Err("use \"$*\" for a rule that matches every domain".into());
        }
        if let Some(suffix) = t.strip_prefix("*.") {
            let (s, _) = normalize_domain(suffix)?;
            return Ok(Self::Subdomains(s));
        }
        if t.contains('*') || t.contains('$') {
            return Err(format!(
                "{t:?}: a pattern is a domain, \"*.\" followed by a domain, or \"$*\""
            ));
        }
        let (d, _) = normalize_domain(t)?;
        Ok(Self::Exact(d))
    }

    /// Whether `domain` (lower-cased A-labels) matches; on a match, returns
    /// the unmatched host part (`$H`).
    pub fn matches<'a>(&self, domain: &'a str) -> Option<&'a str> {
        match self {
            Self::Any => Some(domain),
            Self::Exact(d) => (d == domain).then_some(""),
            Self::Subdomains(suffix) => {
                let host = domain.strip_suffix(suffix.as_str())?.strip_suffix('.')?;
                (!host.is_empty()).then_some(host)
            }
        }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("$*"),
            Self::Exact(d) => f.write_str(d),
            Self::Subdomains(s) => write!(f, "*.{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: &str) -> DomainPattern {
        DomainPattern::parse(t).expect("valid pattern")
    }

    #[test]
    fn exact_is_case_insensitive_and_has_empty_host() {
        assert_eq!(p("Example.COM").matches("example.com"), Some(""));
        assert_eq!(p("example.com").matches("a.example.com"), None);
    }

    #[test]
    fn subdomains_exclude_the_parent_and_give_the_host_part() {
        let s = p("*.example.com");
        assert_eq!(s.matches("a.b.example.com"), Some("a.b"));
        assert_eq!(s.matches("example.com"), None);
        assert_eq!(s.matches("badexample.com"), None);
    }

    #[test]
    fn catch_all_gives_the_whole_domain() {
        assert_eq!(p("$*").matches("x.test"), Some("x.test"));
    }

    #[test]
    fn idn_patterns_compare_in_a_labels() {
        assert_eq!(
            p("*.Bücher.example").matches("shop.xn--bcher-kva.example"),
            Some("shop")
        );
    }

    #[test]
    fn refuses_other_wildcards() {
        for bad in ["*", "a.*.com", "ex*ample.com", "$U", "", "exa_mple.com"] {
            assert!(DomainPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
