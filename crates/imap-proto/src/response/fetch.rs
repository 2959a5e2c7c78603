//! Building one `* n FETCH (...)` response item by item.

use super::{flag_list, write_literal, write_literal8, write_nstring};

/// An untagged FETCH response under construction.
#[derive(Debug)]
pub struct FetchResponse {
    out: Vec<u8>,
    first: bool,
    utf8: bool,
}

impl FetchResponse {
    /// Starts `* seq FETCH (`.
    pub fn new(seq: u32, utf8: bool) -> Self {
        Self {
            out: format!("* {seq} FETCH (").into_bytes(),
            first: true,
            utf8,
        }
    }

    fn name(&mut self, name: &str) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
    }

    /// `UID n`.
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.name("UID");
        self.out.extend_from_slice(uid.to_string().as_bytes());
        self
    }

    /// `FLAGS (...)`.
    pub fn flags<S: AsRef<str>>(&mut self, flags: &[S]) -> &mut Self {
        self.name("FLAGS");
        self.out.extend_from_slice(flag_list(flags).as_bytes());
        self
    }

    /// `MODSEQ (n)`.
    pub fn modseq(&mut self, modseq: u64) -> &mut Self {
        self.name("MODSEQ");
        self.out.extend_from_slice(format!("({modseq})").as_bytes());
        self
    }

    /// A number-valued item (`RFC822.SIZE 1234`, `BINARY.SIZE[1] 5`).
    pub fn number(&mut self, name: &str, n: u64) -> &mut Self {
        self.name(name);
        self.out.extend_from_slice(n.to_string().as_bytes());
        self
    }

    /// An item whose value is already encoded (`INTERNALDATE "..."`,
    /// `ENVELOPE (...)`).
    pub fn raw(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.name(name);
        self.out.extend_from_slice(value);
        self
    }

    /// A string item (`BODY[TEXT] {12}...`), NIL when `None`. Message data
    /// always goes as a literal: it may hold anything.
    pub fn body(&mut self, name: &str, data: Option<&[u8]>) -> &mut Self {
        self.name(name);
        match data {
            None => self.out.extend_from_slice(b"NIL"),
            Some(d) => write_literal(&mut self.out, d),
        }
        self
    }

    /// A BINARY item: literal8 when the data holds NUL (RFC 3516 4.2).
    pub fn binary(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.name(name);
        if data.contains(&0) {
            write_literal8(&mut self.out, data);
        } else {
            write_literal(&mut self.out, data);
        }
        self
    }

    /// An nstring item.
    pub fn nstring(&mut self, name: &str, s: Option<&[u8]>) -> &mut Self {
        self.name(name);
        write_nstring(&mut self.out, s, self.utf8);
        self
    }

    /// Finishes with `)\r\n`.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b")\r\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_fetch() {
        let mut f = FetchResponse::new(3, false);
        f.uid(7)
            .flags(&["\\Seen"])
            .modseq(12)
            .body("BODY[HEADER]", Some(b"a\r\n"));
        assert_eq!(
            f.finish(),
            b"* 3 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (12) BODY[HEADER] {3}\r\na\r\n)\r\n"
        );
    }
}
