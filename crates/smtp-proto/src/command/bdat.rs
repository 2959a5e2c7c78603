//! `BDAT chunk-size [SP "LAST"]` (RFC 3030 2).

use super::Command;
use crate::error::Error;

pub(super) fn parse(args: &str) -> Result<Command, Error> {
    let mut words = args.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .ok_or(Error::Arguments("chunk size required"))?;
    // RFC 3030 2: chunk-size = 1*DIGIT
    if size.len() > 20 || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Arguments("bad chunk size"));
    }
    let size: u64 = size
        .parse()
        .map_err(|_| Error::Arguments("bad chunk size"))?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(Error::Arguments("expected LAST")),
    };
    if words.next().is_some() {
        return Err(Error::Arguments("too many arguments"));
    }
    Ok(Command::Bdat { size, last })
}

#[cfg(test)]
mod tests {
    use crate::{Command, Error, ParseOptions};

    fn p(line: &str) -> Result<Command, Error> {
        Command::parse(line.as_bytes(), &ParseOptions::default())
    }

    #[test]
    fn bdat() {
        assert_eq!(
            p("BDAT 100"),
            Ok(Command::Bdat {
                size: 100,
                last: false
            })
        );
        assert_eq!(
            p("bdat 0 last"),
            Ok(Command::Bdat {
                size: 0,
                last: true
            })
        );
        assert!(p("BDAT").is_err());
        assert!(p("BDAT -1").is_err());
        assert!(p("BDAT 1 FIRST").is_err());
        assert!(p("BDAT 1 LAST x").is_err());
        assert!(p("BDAT 999999999999999999999").is_err());
    }
}
