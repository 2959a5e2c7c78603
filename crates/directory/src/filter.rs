//! LDAP search filters (RFC 4515): escaping values that come from the
//! outside, and a small evaluator so the file backend answers dynamic
//! groups (`memberURL`) with the same filters as a real server.
//!
//! Every value a caller supplies (an address, a uid, a domain) goes through
//! [`escape`] before it is put into a filter: `*`, `(`, `)`, `\` and NUL
//! would otherwise change the filter's meaning (`*` is even legal in an
//! address).

use std::collections::BTreeMap;

/// Escapes `value` for use as an assertion value in a filter string
/// (RFC 4515 3: `*`, `(`, `)`, `\` and NUL become `\2a`, `\28`, `\29`,
/// `\5c`, `\00`).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `(&…)`
    And(Vec<Filter>),
    /// `(|…)`
    Or(Vec<Filter>),
    /// `(!…)`
    Not(Box<Filter>),
    /// `(attr=value)`, also used for `~=`.
    Equal(String, String),
    /// `(attr>=value)`, compared as numbers when both are.
    GreaterOrEqual(String, String),
    /// `(attr<=value)`.
    LessOrEqual(String, String),
    /// `(attr=*)`
    Present(String),
    /// `(attr=ini*any*fin)`
    Substring {
        /// Attribute.
        attr: String,
        /// Leading part.
        initial: Option<String>,
        /// Middle parts, in order.
        any: Vec<String>,
        /// Trailing part.
        last: Option<String>,
    },
}

/// Why a filter string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad LDAP filter at byte {at}: {why}")]
pub struct FilterError {
    /// Byte offset.
    pub at: usize,
    /// Explanation.
    pub why: &'static str,
}

impl Filter {
    /// Parses an RFC 4515 filter string; a bare `attr=value` without
    /// parentheses is accepted as LDAP URLs often carry one.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let text = text.trim();
        let owned;
        let text = if text.starts_with('(') {
            text
        } else {
            owned = format!("({text})");
            &owned
        };
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let f = p.filter()?;
        if p.i != p.s.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(f)
    }

    /// Evaluates against an entry whose attribute names are lower-cased.
    /// Matching is case-insensitive, as for the `caseIgnore` rules of the
    /// attributes Tiermail filters on.
    pub fn matches(&self, entry: &BTreeMap<String, Vec<String>>) -> bool {
        let values = |a: &str| {
            entry
                .get(&a.to_ascii_lowercase())
                .map(Vec::as_slice)
                .unwrap_or(&[])
        };
        match self {
            Self::And(fs) => fs.iter().all(|f| f.matches(entry)),
            Self::Or(fs) => fs.iter().any(|f| f.matches(entry)),
            Self::Not(f) => !f.matches(entry),
            Self::Present(a) => !values(a).is_empty(),
            Self::Equal(a, v) => values(a)
                .iter()
                .any(|x| x.to_lowercase() == v.to_lowercase()),
            Self::GreaterOrEqual(a, v) => values(a).iter().any(|x| compare(x, v).is_ge()),
            Self::LessOrEqual(a, v) => values(a).iter().any(|x| compare(x, v).is_le()),
            Self::Substring {
                attr,
                initial,
                any,
                last,
            } => values(attr).iter().any(|x| {
                let x = x.to_lowercase();
                let mut rest = x.as_str();
                if let Some(i) = initial {
                    match rest.strip_prefix(i.to_lowercase().as_str()) {
                        Some(r) => rest = r,
                        None => return false,
                    }
                }
                for part in any {
                    let part = part.to_lowercase();
                    match rest.find(&part) {
                        Some(pos) => rest = &rest[pos + part.len()..],
                        None => return false,
                    }
                }
                match last {
                    Some(l) => rest.ends_with(l.to_lowercase().as_str()),
                    None => true,
                }
            }),
        }
    }
}

fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, why: &'static str) -> FilterError {
        FilterError { at: self.i, why }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, b: u8, why: &'static str) -> Result<(), FilterError> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(why))
        }
    }

    fn filter(&mut self) -> Result<Filter, FilterError> {
        self.expect(b'(', "expected '('")?;
        let f = match self.peek() {
            Some(b'&') => {
                self.i += 1;
                Filter::And(self.list()?)
            }
            Some(b'|') => {
                self.i += 1;
                Filter::Or(self.list()?)
            }
            Some(b'!') => {
                self.i += 1;
                Filter::Not(Box::new(self.filter()?))
            }
            Some(_) => self.item()?,
            None => return Err(self.err("unexpected end")),
        };
        self.expect(b')', "expected ')'")?;
        Ok(f)
    }

    fn list(&mut self) -> Result<Vec<Filter>, FilterError> {
        let mut out = Vec::new();
        while self.peek() == Some(b'(') {
            out.push(self.filter()?);
        }
        Ok(out)
    }

    fn item(&mut self) -> Result<Filter, FilterError> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b';' {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i == start {
            return Err(self.err("expected an attribute"));
        }
        let attr = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        let op = match (self.peek(), self.s.get(self.i + 1).copied()) {
            (Some(b'='), _) => {
                self.i += 1;
                b'='
            }
            (Some(c @ (b'>' | b'<' | b'~')), Some(b'=')) => {
                self.i += 2;
                c
            }
            _ => return Err(self.err("expected '=', '>=', '<=' or '~='")),
        };
        // The value runs to the closing parenthesis; split on unescaped '*'.
        let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
        while let Some(c) = self.peek() {
            match c {
                b')' => break,
                b'(' => return Err(self.err("unescaped '(' in value")),
                b'*' => {
                    parts.push(Vec::new());
                    self.i += 1;
                }
                b'\\' => {
                    let hex = self
                        .s
                        .get(self.i + 1..self.i + 3)
                        .ok_or_else(|| self.err("short escape"))?;
                    let hex = std::str::from_utf8(hex).map_err(|_| self.err("bad escape"))?;
                    let b = u8::from_str_radix(hex, 16).map_err(|_| self.err("bad escape"))?;
                    if let Some(last) = parts.last_mut() {
                        last.push(b);
                    }
                    self.i += 3;
                }
                _ => {
                    if let Some(last) = parts.last_mut() {
                        last.push(c);
                    }
                    self.i += 1;
                }
            }
        }
        let parts: Vec<String> = parts
            .into_iter()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .collect();
        Ok(match (op, parts.len()) {
            (b'=', 1) | (b'~', 1) => {
                Filter::Equal(attr, parts.into_iter().next().unwrap_or_default())
            }
            (b'>', 1) => Filter::GreaterOrEqual(attr, parts.into_iter().next().unwrap_or_default()),
            (b'<', 1) => Filter::LessOrEqual(attr, parts.into_iter().next().unwrap_or_default()),
            (b'=', 2) if parts.iter().all(String::is_empty) => Filter::Present(attr),
            (b'=', n) => {
                let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
                Filter::Substring {
                    initial: parts.first().and_then(non_empty),
                    last: parts.last().and_then(non_empty),
                    any: parts[1..n - 1]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .cloned()
                        .collect(),
                    attr,
                }
            }
            _ => return Err(self.err("'*' not allowed with this operator")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.to_string());
        }
        m
    }

    #[test]
    fn escapes_rfc4515_specials() {
        assert_eq!(escape("a*b(c)d\\e\0"), "a\\2ab\\28c\\29d\\5ce\\00");
        assert_eq!(escape("alice@example.test"), "alice@example.test");
    }

    #[test]
    fn escaped_value_matches_only_itself() {
        let e = entry(&[("mail", "alice@example.test")]);
        let f = Filter::parse(&format!("(mail={})", escape("*"))).expect("parses");
        assert!(!f.matches(&e));
        let f = Filter::parse(&format!("(mail={})", escape("alice@example.test"))).expect("parses");
        assert!(f.matches(&e));
    }

    #[test]
    fn evaluates() {
        let e = entry(&[
            ("objectClass", "inetOrgPerson"),
            ("departmentNumber", "Sales"),
            ("uid", "alice"),
        ]);
        for (f, want) in [
            ("(departmentNumber=sales)", true),
            (
                "(&(objectClass=inetOrgPerson)(departmentNumber=sales))",
                true,
            ),
            ("(|(uid=bob)(uid=alice))", true),
            ("(!(uid=alice))", false),
            ("(uid=*)", true),
            ("(mail=*)", false),
            ("(uid=al*)", true),
            ("(uid=*li*)", true),
            ("(uid=*ce)", true),
            ("(uid=*x*)", false),
            ("departmentNumber=sales", true),
        ] {
            assert_eq!(Filter::parse(f).expect(f).matches(&e), want, "{f}");
        }
        assert!(Filter::parse("(uid=a(b)").is_err());
        assert!(Filter::parse("(&(uid=a)").is_err());
    }
}
