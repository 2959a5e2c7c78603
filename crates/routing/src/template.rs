//! Rewrite templates: text with `$` substitutions.
//!
//! | form | meaning |
//! |---|---|
//! | `$U` | the local part, as given (case kept) |
//! | `$0U` | the local part without its `+detail` subaddress |
//! | `$1U` | the subaddress after the first `+` (empty without one) |
//! | `$D` | the whole domain, lower-cased A-labels |
//! | `$H` | the host part the rule's pattern left unmatched: `a.b` for `a.b.example.com` under `*.example.com`, empty under an exact pattern, the whole domain under `$*` |
//! | `$L` | this MTA's own host name (`routing.local_host`) |
//! | `$$` | a literal `$` |
//! | `${domain}` | directory: the canonical name of the hosted domain `$D` (follows domain aliases) |
//! | `${user}` | directory: the primary address of the user the address reaches (through alternate addresses, domain aliases, `+detail`, catch-all), keeping the given `+detail`; fails for a deleted account |
//! | `${mailhost}` | directory: that user's `mailHost` |
//! | `${routing}` | directory: that user's `mailRoutingAddress` |
//! | `${group}` | directory: the address of the group the address reaches |
//! | `${map:NAME:KEY}` | the value of KEY in `[mapping.NAME]`; KEY may use the `$` forms above except `${...}` |
//!
//! A `${...}` lookup that finds nothing *fails*: the rule does not apply and
//! the next rule is tried (as in the classic MTA's rewrite rules). Only an
//! error in asking (an unreachable directory) ends routing.

use std::fmt;

/// A substitution that needs no lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `$U`.
    User,
    /// `$0U`.
    UserBase,
    /// `$1U`.
    UserDetail,
    /// `$D`.
    Domain,
    /// `$H`.
    Host,
    /// `$L`.
    LocalHost,
}

/// A directory question a template asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirQuery {
    /// `${domain}`.
    Domain,
    /// `${user}`.
    User,
    /// `${mailhost}`.
    MailHost,
    /// `${routing}`.
    Routing,
    /// `${group}`.
    Group,
}

impl DirQuery {
    /// The name inside `${...}`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::User => "user",
            Self::MailHost => "mailhost",
            Self::Routing => "routing",
            Self::Group => "group",
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A substitution without lookup.
    Var(Var),
    /// A directory lookup.
    Dir(DirQuery),
    /// A mapping lookup: table name and key template (no lookups inside).
    Map(String, Vec<Piece>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; the error says which substitution is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let pieces = parse_pieces(text, true)?;
        Ok(Self {
            source: text.to_string(),
            pieces,
        })
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The template's value when it has no substitutions at all.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Names of the mapping tables the template uses.
    pub fn mappings(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Map(name, _) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the template asks the directory anything.
    pub fn uses_directory(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Dir(_)))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Values of the lookup-free substitutions for one address and rule.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// `$U`.
    pub user: &'a str,
    /// `$0U`.
    pub user_base: &'a str,
    /// `$1U`.
    pub user_detail: &'a str,
    /// `$D`.
    pub domain: &'a str,
    /// `$H`.
    pub host: &'a str,
    /// `$L`.
    pub local_host: &'a str,
}

impl Vars<'_> {
    /// The value of `v`.
    pub fn get(&self, v: Var) -> &str {
        match v {
            Var::User => self.user,
            Var::UserBase => self.user_base,
            Var::UserDetail => self.user_detail,
            Var::Domain => self.domain,
            Var::Host => self.host,
            Var::LocalHost => self.local_host,
        }
    }
}

/// Expands lookup-free pieces (a mapping key).
pub fn expand_simple(pieces: &[Piece], vars: &Vars<'_>) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(v) => out.push_str(vars.get(*v)),
            // The parser refuses lookups inside a mapping key.
            Piece::Dir(_) | Piece::Map(..) => {}
        }
    }
    out
}

fn parse_pieces(text: &str, lookups: bool) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = text.char_indices().peekable();
    let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
        if !lit.is_empty() {
            pieces.push(Piece::Text(std::mem::take(lit)));
        }
    };
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            lit.push(c);
            continue;
        }
        let Some((_, n)) = chars.next() else {
            return Err("ends with a lone $ (write $$ for a dollar sign)".into());
        };
        let var = match n {
            '$' => {
                lit.push('$');
                continue;
            }
            'U' => Var::User,
            'D' => Var::Domain,
            'H' => Var::Host,
            'L' => Var::LocalHost,
            '0' | '1' => {
                if chars.next().map(|x| x.1) != Some('U') {
                    return Err(format!("${n} must be followed by U (${n}U)"));
                }
                if n == '0' {
                    Var::UserBase
                } else {
                    Var::UserDetail
                }
            }
            '{' => {
                if !lookups {
                    return Err("a mapping key cannot contain ${...} lookups".into());
                }
                let rest = &text[i + 2..];
                let close = find_close(rest).ok_or("${ without a closing }")?;
                let inner = &rest[..close];
                for _ in 0..inner.chars().count() + 1 {
                    chars.next();
                }
                flush(&mut lit, &mut pieces);
                pieces.push(parse_lookup(inner)?);
                continue;
            }
            other => {
                return Err(format!(
                    "${other} is not a substitution (supported: $U $0U $1U $D $H $L $$ \
                     ${{domain}} ${{user}} ${{mailhost}} ${{routing}} ${{group}} ${{map:NAME:KEY}})"
                ));
            }
        };
        flush(&mut lit, &mut pieces);
        pieces.push(Piece::Var(var));
    }
    flush(&mut lit, &mut pieces);
    Ok(pieces)
}

/// Index of the `}` closing a `${`: the first one, since no lookup name or
/// mapping key needs a brace.
fn find_close(rest: &str) -> Option<usize> {
    rest.find('}')
}

fn parse_lookup(inner: &str) -> Result<Piece, String> {
    let dir = match inner {
        "domain" => Some(DirQuery::Domain),
        "user" => Some(DirQuery::User),
        "mailhost" => Some(DirQuery::MailHost),
        "routing" => Some(DirQuery::Routing),
        "group" => Some(DirQuery::Group),
        _ => None,
    };
    if let Some(q) = dir {
        return Ok(Piece::Dir(q));
    }
    if let Some(rest) = inner.strip_prefix("map:") {
        let (name, key) = rest
            .split_once(':')
            .ok_or("${map:NAME:KEY} needs a table name and a key")?;
        if !valid_table_name(name) {
            return Err(format!(
                "{name:?} is not a mapping table name (letters, digits, '_', '-')"
            ));
        }
        if key.is_empty() {
            return Err(format!("${{map:{name}:}} has an empty key"));
        }
        return Ok(Piece::Map(name.to_string(), parse_pieces(key, false)?));
    }
    Err(format!(
        "${{{inner}}} is not a lookup (supported: domain, user, mailhost, routing, group, map:NAME:KEY)"
    ))
}

/// Mapping table names: letters, digits, `_` and `-`.
pub fn valid_table_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: Vars<'static> = Vars {
        user: "Alice+news",
        user_base: "Alice",
        user_detail: "news",
        domain: "mail.example.test",
        host: "mail",
        local_host: "mx1.example.test",
    };

    fn simple(t: &str) -> String {
        let t = Template::parse(t).expect("valid template");
        expand_simple(t.pieces(), &VARS)
    }

    #[test]
    fn simple_substitutions() {
        assert_eq!(simple("$U@$D"), "Alice+news@mail.example.test");
        assert_eq!(simple("$0U.$1U@$H.$L"), "Alice.news@mail.mx1.example.test");
        assert_eq!(simple("cost$$5@x"), "cost$5@x");
        assert_eq!(simple("plain"), "plain");
    }

    #[test]
    fn lookups_parse_into_pieces() {
        let t = Template::parse("x${map:aliases:$U@$D}y${mailhost}").expect("valid");
        assert_eq!(
            t.pieces(),
            &[
                Piece::Text("x".into()),
                Piece::Map(
                    "aliases".into(),
                    vec![
                        Piece::Var(Var::User),
                        Piece::Text("@".into()),
                        Piece::Var(Var::Domain)
                    ]
                ),
                Piece::Text("y".into()),
                Piece::Dir(DirQuery::MailHost),
            ]
        );
        assert_eq!(t.mappings().collect::<Vec<_>>(), ["aliases"]);
        assert!(t.uses_directory());
        assert_eq!(t.literal(), None);
        assert_eq!(
            Template::parse("tcp-daemon").expect("literal").literal(),
            Some("tcp-daemon".into())
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let err = |t: &str| Template::parse(t).expect_err(t);
        assert!(err("$X").contains("$X is not a substitution"));
        assert!(err("$").contains("lone $"));
        assert!(err("$0X").contains("$0U"));
        assert!(err("${nope}").contains("not a lookup"));
        assert!(err("${mailhost").contains("closing"));
        assert!(err("${map:t}").contains("NAME:KEY"));
        assert!(err("${map:t:${user}}").contains("cannot contain"));
        assert!(err("${map:bad name:k}").contains("table name"));
    }
}
