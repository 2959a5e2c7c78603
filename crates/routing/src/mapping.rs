//! Mapping tables: `[mapping.NAME]` key -> value, looked up from templates
//! with `${map:NAME:KEY}`.
//!
//! Keys are compared case-insensitively. A key may contain `*` wildcards,
//! each matching any run of characters (possibly empty); the value may then
//! use `$0` ... `$9` for what the first ... tenth wildcard matched, and `$$`
//! for a dollar sign. A lookup tries the exact key first, then the wildcard
//! keys from the most specific (most non-`*` characters) to the least, ties
//! broken by the key's text; so the key `*` is the table's fallback.

use std::collections::BTreeMap;

/// One compiled table.
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    exact: BTreeMap<String, String>,
    /// Wildcard keys in lookup order, each with its value.
    wild: Vec<(String, String)>,
}

/// Why a table entry is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// The key as written.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl Mapping {
    /// Compiles `entries`; reports every bad entry.
    pub fn new(entries: &BTreeMap<String, String>) -> Result<Self, Vec<EntryError>> {
        let mut m = Self::default();
        let mut errors = Vec::new();
        for (key, value) in entries {
            let lower = key.to_lowercase();
            let stars = lower.matches('*').count();
            if let Err(reason) = check_value(value, stars) {
                errors.push(EntryError {
                    key: key.clone(),
                    reason,
                });
                continue;
            }
            if stars > 10 {
                errors.push(EntryError {
                    key: key.clone(),
                    reason: "at most 10 wildcards in a key".into(),
                });
                continue;
            }
            let clash = if stars == 0 {
                m.exact.insert(lower, value.clone()).is_some()
            } else {
                let dup = m.wild.iter().any(|(k, _)| *k == lower);
                m.wild.push((lower, value.clone()));
                dup
            };
            if clash {
                errors.push(EntryError {
                    key: key.clone(),
                    reason: "the same key (ignoring case) appears twice".into(),
                });
            }
        }
        let literal = |k: &str| k.chars().filter(|c| *c != '*').count();
        m.wild.sort_by(|a, b| {
            literal(&b.0)
                .cmp(&literal(&a.0))
                .then_with(|| a.0.cmp(&b.0))
        });
        if errors.is_empty() {
            Ok(m)
        } else {
            Err(errors)
        }
    }

    /// Looks `key` up; returns the value (with captures substituted) and the
    /// table key that matched.
    pub fn lookup(&self, key: &str) -> Option<(String, String)> {
        let key = key.to_lowercase();
        if let Some(v) = self.exact.get(&key) {
            return Some((v.clone(), key));
        }
        for (pattern, value) in &self.wild {
            if let Some(caps) = wildcard_match(pattern, &key) {
                return Some((substitute(value, &caps), pattern.clone()));
            }
        }
        None
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wild.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks `$n` references against the number of wildcards.
fn check_value(value: &str, stars: usize) -> Result<(), String> {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '$' {
            continue;
        }
        match chars.next() {
            Some('$') => {}
            Some(d @ '0'..='9') => {
                let n = d as usize - '0' as usize;
                if n >= stars {
                    return Err(format!(
                        "value uses ${n} but the key has {stars} wildcard(s)"
                    ));
                }
            }
            Some(other) => {
                return Err(format!(
                    "${other} is not a mapping substitution (use $0-$9 or $$)"
                ));
            }
            None => return Err("value ends with a lone $".into()),
        }
    }
    Ok(())
}

fn substitute(value: &str, caps: &[String]) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(d @ '0'..='9') => {
                if let Some(cap) = caps.get(d as usize - '0' as usize) {
                    out.push_str(cap);
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Matches `text` against `pattern` where `*` matches any run; returns what
/// each star matched. Backtracks only to the latest star (the classic glob
/// algorithm), so a lookup costs O(key x text) whatever the pattern; each
/// star takes the shortest run that lets the rest match.
fn wildcard_match(pattern: &str, text: &str) -> Option<Vec<String>> {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // (start, length) in `t` of each star seen so far.
    let mut caps: Vec<(usize, usize)> = Vec::new();
    // Where to resume after a mismatch: pattern index after the latest
    // star, and that star's index in `caps`.
    let mut back: Option<(usize, usize)> = None;
    let (mut pi, mut ti) = (0, 0);
    while ti < t.len() {
        if p.get(pi) == Some(&'*') {
            caps.push((ti, 0));
            back = Some((pi + 1, caps.len() - 1));
            pi += 1;
        } else if p.get(pi) == Some(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((bp, star)) = back {
            caps.truncate(star + 1);
            caps[star].1 += 1;
            pi = bp;
            ti = caps[star].0 + caps[star].1;
        } else {
            return None;
        }
    }
    while p.get(pi) == Some(&'*') {
        caps.push((ti, 0));
        pi += 1;
    }
    (pi == p.len()).then(|| {
        caps.iter()
            .map(|(s, l)| t[*s..*s + *l].iter().collect())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &str)]) -> Mapping {
        let m: BTreeMap<String, String> = entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Mapping::new(&m).expect("valid table")
    }

    #[test]
    fn exact_beats_wildcards_and_case_is_ignored() {
        let t = table(&[
            ("Postmaster@Example.test", "admin@example.test"),
            ("*@example.test", "catch@example.test"),
            ("*", "fallback"),
        ]);
        assert_eq!(
            t.lookup("postmaster@EXAMPLE.test").map(|x| x.0),
            Some("admin@example.test".into())
        );
        assert_eq!(
            t.lookup("bob@example.test").map(|x| x.0),
            Some("catch@example.test".into())
        );
        assert_eq!(t.lookup("x@y").map(|x| x.0), Some("fallback".into()));
    }

    #[test]
    fn captures_fill_the_value() {
        let t = table(&[("*@old.test", "$0@new.test"), ("*.*.legacy", "$1-$0 $$")]);
        assert_eq!(
            t.lookup("alice@old.test"),
            Some(("alice@new.test".into(), "*@old.test".into()))
        );
        assert_eq!(t.lookup("a.b.legacy").map(|x| x.0), Some("b-a $".into()));
        assert_eq!(t.lookup("alice@older.test"), None);
    }

    #[test]
    fn more_specific_wildcards_win() {
        let t = table(&[
            ("*", "any"),
            ("*.test", "test"),
            ("*.example.test", "example"),
        ]);
        assert_eq!(
            t.lookup("a.example.test").map(|x| x.0),
            Some("example".into())
        );
        assert_eq!(t.lookup("a.other.test").map(|x| x.0), Some("test".into()));
        assert_eq!(t.lookup("a.org").map(|x| x.0), Some("any".into()));
    }

    #[test]
    fn bad_entries_are_reported() {
        let m: BTreeMap<String, String> = [
            ("a".to_string(), "$0".to_string()),
            ("*b".to_string(), "$x".to_string()),
            ("c".to_string(), "end$".to_string()),
        ]
        .into();
        let errs = Mapping::new(&m).expect_err("three bad entries");
        assert_eq!(errs.len(), 3);
        assert!(errs[0].reason.contains("$0"), "{errs:?}");
    }

    #[test]
    fn duplicate_keys_differing_in_case_are_refused() {
        let m: BTreeMap<String, String> = [
            ("A@x.test".to_string(), "1".to_string()),
            ("a@x.test".to_string(), "2".to_string()),
        ]
        .into();
        assert!(Mapping::new(&m).is_err());
    }
}
