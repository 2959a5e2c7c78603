//! POP3 commands (RFC 1939 5-7, RFC 2449 5, RFC 2595 4, RFC 5034 4).

use std::fmt;

/// The longest keyword we know is four letters; anything longer is garbage
/// and is not echoed back in full.
const MAX_KEYWORD_ECHO: usize = 12;

/// A parsed command line.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name` (RFC 1939 7).
    User(String),
    /// `PASS secret`: the rest of the line, spaces included (RFC 1939 7
    /// lets the password contain spaces).
    Pass(String),
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 4). Without a
    /// mechanism it lists the mechanisms (a common client probe).
    Auth {
        /// The SASL mechanism, upper-cased.
        mechanism: Option<String>,
        /// The base64 initial response as sent (`=` means empty).
        initial: Option<String>,
    },
    /// `CAPA` (RFC 2449 5).
    Capa,
    /// `STLS` (RFC 2595 4).
    Stls,
    /// `QUIT`.
    Quit,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `TOP msg n`: the header and `n` lines of the body.
    Top(u32, u32),
    /// `DELE msg`.
    Dele(u32),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `XCLIENT NAME=VALUE ...` from an access-tier proxy: the real
    /// client's address (`ADDR`, `PORT`; Postfix's XCLIENT attribute
    /// syntax, as Dovecot's POP3 proxy sends it). Names upper-cased.
    Xclient(Vec<(String, String)>),
}

impl fmt::Debug for Command {
    /// Never prints a password or a SASL response.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Pass(_) => f.write_str("Pass(..)"),
            Command::Auth { mechanism, initial } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .field("initial", &initial.as_ref().map(|_| ".."))
                .finish(),
            Command::User(u) => f.debug_tuple("User").field(u).finish(),
            Command::List(n) => f.debug_tuple("List").field(n).finish(),
            Command::Uidl(n) => f.debug_tuple("Uidl").field(n).finish(),
            Command::Retr(n) => f.debug_tuple("Retr").field(n).finish(),
            Command::Top(n, l) => f.debug_tuple("Top").field(n).field(l).finish(),
            Command::Dele(n) => f.debug_tuple("Dele").field(n).finish(),
            Command::Xclient(a) => f.debug_tuple("Xclient").field(a).finish(),
            other => f.write_str(other.keyword()),
        }
    }
}

/// Why a line is not a valid command; the text is sent after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// An empty line.
    #[error("Empty command")]
    Empty,
    /// A keyword we do not implement (APOP among them).
    #[error("Unknown command {0}")]
    Unknown(String),
    /// Too few or too many arguments.
    #[error("{0}")]
    Syntax(&'static str),
    /// A message number that is not a positive decimal number.
    #[error("Invalid message number {0}")]
    BadNumber(String),
    /// Bytes that are not UTF-8 where text is expected.
    #[error("Command is not valid UTF-8")]
    NotUtf8,
}

impl Command {
    /// The keyword, upper-case, for logs and metrics.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Auth { .. } => "AUTH",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Quit => "QUIT",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Uidl(_) => "UIDL",
            Command::Retr(_) => "RETR",
            Command::Top(..) => "TOP",
            Command::Dele(_) => "DELE",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Xclient(_) => "XCLIENT",
        }
    }

    /// Parses one line (without its CRLF).
    pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
        if line.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        let (keyword, rest) = match line.split_once(' ') {
            Some((k, r)) => (k, r),
            None => (line, ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        // PASS keeps its argument verbatim (spaces are part of the password).
        if keyword == "PASS" {
            if rest.is_empty() {
                return Err(ParseError::Syntax("PASS needs a password"));
            }
            return Ok(Command::Pass(rest.to_string()));
        }
        let args: Vec<&str> = rest.split_ascii_whitespace().collect();
        let cmd = match keyword.as_str() {
            "USER" => match args.as_slice() {
                [name] => Command::User((*name).to_string()),
                _ => return Err(ParseError::Syntax("USER needs exactly one name")),
            },
            "AUTH" => match args.as_slice() {
                [] => Command::Auth {
                    mechanism: None,
                    initial: None,
                },
                [m] => Command::Auth {
                    mechanism: Some(m.to_ascii_uppercase()),
                    initial: None,
                },
                [m, ir] => Command::Auth {
                    mechanism: Some(m.to_ascii_uppercase()),
                    initial: Some((*ir).to_string()),
                },
                _ => {
                    return Err(ParseError::Syntax(
                        "AUTH takes a mechanism and an optional initial response",
                    ));
                }
            },
            "CAPA" => no_args(&args, Command::Capa)?,
            "STLS" => no_args(&args, Command::Stls)?,
            "QUIT" => no_args(&args, Command::Quit)?,
            "STAT" => no_args(&args, Command::Stat)?,
            "RSET" => no_args(&args, Command::Rset)?,
            "NOOP" => no_args(&args, Command::Noop)?,
            "LIST" => Command::List(optional_number(&args, "LIST")?),
            "UIDL" => Command::Uidl(optional_number(&args, "UIDL")?),
            "RETR" => Command::Retr(one_number(&args, "RETR needs one message number")?),
            "DELE" => Command::Dele(one_number(&args, "DELE needs one message number")?),
            "XCLIENT" => Command::Xclient(xclient_attributes(&args)?),
            "TOP" => match args.as_slice() {
                // RFC 1939 7: a non-negative number of lines, in digits
                // only (Rust's parse would also take a leading `+`).
                [msg, lines] if lines.bytes().all(|b| b.is_ascii_digit()) => Command::Top(
                    message_number(msg)?,
                    lines
                        .parse()
                        .map_err(|_| ParseError::Syntax("TOP line count must be a number"))?,
                ),
                [_, _] => return Err(ParseError::Syntax("TOP line count must be a number")),
                _ => {
                    return Err(ParseError::Syntax(
                        "TOP needs a message number and a line count",
                    ));
                }
            },
            _ => {
                let mut shown: String = keyword.chars().take(MAX_KEYWORD_ECHO).collect();
                shown.retain(|c| !c.is_control());
                return Err(ParseError::Unknown(shown));
            }
        };
        Ok(cmd)
    }
}

/// `NAME=VALUE` pairs; at least one, a bounded number, no empty names.
fn xclient_attributes(args: &[&str]) -> Result<Vec<(String, String)>, ParseError> {
    if args.is_empty() || args.len() > 16 {
        return Err(ParseError::Syntax(
            "XCLIENT takes 1 to 16 NAME=VALUE attributes",
        ));
    }
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                Ok((name.to_ascii_uppercase(), value.to_string()))
            }
            _ => Err(ParseError::Syntax("XCLIENT attributes are NAME=VALUE")),
        })
        .collect()
}

fn no_args(args: &[&str], cmd: Command) -> Result<Command, ParseError> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(ParseError::Syntax("This command takes no arguments"))
    }
}

fn optional_number(args: &[&str], verb: &'static str) -> Result<Option<u32>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => message_number(n).map(Some),
        _ => Err(ParseError::Syntax(if verb == "LIST" {
            "LIST takes at most one message number"
        } else {
            "UIDL takes at most one message number"
        })),
    }
}

fn one_number(args: &[&str], usage: &'static str) -> Result<u32, ParseError> {
    match args {
        [n] => message_number(n),
        _ => Err(ParseError::Syntax(usage)),
    }
}

/// A message number is a positive decimal (RFC 1939 3); `0`, signs and
/// numbers beyond u32 are refused here, numbers past the maildrop later.
fn message_number(s: &str) -> Result<u32, ParseError> {
    let shown = || s.chars().take(20).filter(|c| !c.is_control()).collect();
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadNumber(shown()));
    }
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ParseError::BadNumber(shown())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        Command::parse(s.as_bytes())
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(p("stat"), Ok(Command::Stat));
        assert_eq!(p("Capa"), Ok(Command::Capa));
        assert_eq!(p("list 3"), Ok(Command::List(Some(3))));
        assert_eq!(p("UIDL"), Ok(Command::Uidl(None)));
        assert_eq!(p("top 1 0"), Ok(Command::Top(1, 0)));
    }

    #[test]
    fn pass_keeps_spaces() {
        assert_eq!(
            p("PASS correct horse  battery"),
            Ok(Command::Pass("correct horse  battery".into()))
        );
        assert!(matches!(p("PASS"), Err(ParseError::Syntax(_))));
        assert_eq!(format!("{:?}", p("PASS secret")), "Ok(Pass(..))");
    }

    #[test]
    fn auth_forms() {
        assert_eq!(
            p("AUTH plain AGFsaWNlAHNlY3JldA=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGFsaWNlAHNlY3JldA==".into())
            })
        );
        assert_eq!(
            p("AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert!(p("AUTH a b c").is_err());
    }

    #[test]
    fn bad_numbers_and_arguments() {
        assert_eq!(p("RETR 0"), Err(ParseError::BadNumber("0".into())));
        assert_eq!(p("RETR -1"), Err(ParseError::BadNumber("-1".into())));
        assert_eq!(
            p("DELE 99999999999"),
            Err(ParseError::BadNumber("99999999999".into()))
        );
        assert_eq!(p("DELE x"), Err(ParseError::BadNumber("x".into())));
        assert!(matches!(p("RETR"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("TOP 1"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("TOP 1 x"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("TOP 1 +1"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("TOP 1 -1"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("STAT 1"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("USER"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn xclient_attributes_are_pairs() {
        assert_eq!(
            p("xclient addr=192.0.2.1 PORT=4711 SESSION=ab"),
            Ok(Command::Xclient(vec![
                ("ADDR".into(), "192.0.2.1".into()),
                ("PORT".into(), "4711".into()),
                ("SESSION".into(), "ab".into()),
            ]))
        );
        assert!(p("XCLIENT").is_err());
        assert!(p("XCLIENT ADDR").is_err());
        assert!(p("XCLIENT =x").is_err());
    }

    #[test]
    fn unknown_and_garbage() {
        assert_eq!(p("APOP a b"), Err(ParseError::Unknown("APOP".into())));
        assert_eq!(p(""), Err(ParseError::Empty));
        assert_eq!(Command::parse(&[0xff, 0xfe]), Err(ParseError::NotUtf8));
        let long = "X".repeat(500);
        match p(&long) {
            Err(ParseError::Unknown(k)) => assert_eq!(k.len(), MAX_KEYWORD_ECHO),
            other => panic!("{other:?}"),
        }
    }
}
