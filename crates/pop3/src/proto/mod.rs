//! The POP3 wire format, with no I/O: command lines in, response bytes out.
//!
//! - [`LineReader`] (SMTP's, the same line discipline) splits input into
//!   lines with a hard length limit, so a client cannot make the server
//!   buffer more than one line.
//! - [`Command::parse`] turns a line into a typed command (RFC 1939 3,
//!   keywords case-insensitive, arguments separated by single spaces).
//! - [`Response`] renders `+OK` / `-ERR` lines with RFC 2449 8 response
//!   codes (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[AUTH]`...).
//! - [`MultiLine`] encodes message content for RETR and TOP: bare LF
//!   becomes CRLF, lines starting with `.` are byte-stuffed (RFC 1939 3),
//!   TOP stops after the header and n body lines, and the terminating
//!   `.` line is added.
//! - [`sasl`] decodes the AUTH PLAIN and LOGIN exchanges (RFC 5034,
//!   RFC 4616).
//!
//! Everything here can be fed arbitrary bytes without panicking.

mod command;
mod multiline;
mod response;
pub mod sasl;

pub use command::{Command, ParseError};
pub use mail_smtp_proto::{LineReader, LineTooLong};
pub use multiline::MultiLine;
pub use response::{RespCode, Response};

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random bytes biased towards the interesting ones.
    fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"\r\n. \0\xffAUTHPLAINTOPRETR0123456789=*+-";
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                let r = *seed as usize;
                if r.is_multiple_of(4) {
                    (r >> 8) as u8
                } else {
                    ALPHABET[(r >> 8) % ALPHABET.len()]
                }
            })
            .collect()
    }

    #[test]
    fn arbitrary_input_never_panics_and_stays_bounded() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let input = noise(&mut seed, round % 300);
            let _ = Command::parse(&input);
            let _ = sasl::decode_response(&input, round % 2 == 0);
            let _ = sasl::parse_plain(&input);
            let mut reader = LineReader::new(64);
            reader.push(&input);
            while let Some(line) = reader.next_line() {
                if let Ok(line) = line {
                    assert!(line.len() <= 64);
                    let _ = Command::parse(&line);
                }
            }
            let mut enc = MultiLine::new((round % 3 == 0).then_some((round % 5) as u32));
            let mut out = Vec::new();
            enc.feed(&input, &mut out);
            enc.finish(&mut out);
            // The terminator appears exactly once, at the end.
            assert!(out.ends_with(b".\r\n"));
            let body = &out[..out.len() - 3];
            assert!(body.is_empty() || body.ends_with(b"\r\n"), "{out:?}");
            assert!(
                !body.windows(5).any(|w| w == b"\r\n.\r\n") && !body.starts_with(b".\r\n"),
                "early terminator in {out:?}"
            );
        }
    }
}
