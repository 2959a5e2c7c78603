//! Distinguished names, just enough to compare and build them.

/// A comparable form of `dn`: lower-cased, without blanks around `,`, `=`
/// and `+`. Good enough to match DNs written by people against DNs returned
/// by a server; not a full RFC 4514 canonicaliser.
pub fn normalize(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    for c in dn.trim().chars() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                out.push(c);
                escaped = true;
            }
            ',' | '=' | '+' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
            }
            ' ' if out.ends_with([',', '=', '+']) => {}
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Escapes an attribute value for use inside a DN (RFC 4514 2.4).
pub fn escape(value: &str) -> String {
    ldap3::dn_escape(value).into_owned()
}

/// Whether `dn` lies at or below `base`.
pub fn is_under(dn: &str, base: &str) -> bool {
    let (dn, base) = (normalize(dn), normalize(base));
    base.is_empty() || dn == base || dn.ends_with(&format!(",{base}"))
}

/// Whether `dn` is exactly one level below `base`.
pub fn is_child(dn: &str, base: &str) -> bool {
    let (dn, base) = (normalize(dn), normalize(base));
    match dn.strip_suffix(&format!(",{base}")) {
        Some(rdn) => !rdn.replace("\\,", "").contains(','),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_compares() {
        assert_eq!(
            normalize("UID=Alice, OU=People,dc=Example"),
            "uid=alice,ou=people,dc=example"
        );
        assert!(is_under("uid=a,ou=people,dc=x", "dc=X"));
        assert!(is_child("uid=a,ou=people,dc=x", "ou=people, dc=x"));
        assert!(!is_child("uid=a,ou=b,ou=people,dc=x", "ou=people,dc=x"));
        assert_eq!(escape("a,b"), "a\\2cb");
    }
}
