//! The lexer under the command parser: a cursor over one complete,
//! framed command (literals inline). Every method returns
//! `Err(ErrorKind)` rather than panicking; `depth` bounds recursion.

use crate::error::ErrorKind;
use crate::frame::ParseOptions;
use crate::mailbox::{MailboxName, decode_mailbox};

pub(crate) type Result<T> = std::result::Result<T, ErrorKind>;

/// RFC 3501 ATOM-CHAR: any CHAR except atom-specials.
pub(crate) fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// ASTRING-CHAR minus `+`, as tags allow.
pub(crate) fn is_tag_char(b: u8) -> bool {
    (is_atom_char(b) || b == b']') && b != b'+'
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    pub(crate) opts: &'a ParseOptions,
    /// A mailbox name that could not be decoded: the command is parsed to
    /// its end all the same, so that a well-formed command naming a
    /// mailbox that cannot exist gets `NO`, not `BAD`.
    pub(crate) bad_name: Option<&'static str>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], opts: &'a ParseOptions) -> Self {
        Self {
            buf,
            pos: 0,
            depth: 0,
            opts,
            bad_name: None,
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8, what: &'static str) -> Result<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(ErrorKind::Syntax(what))
        }
    }

    pub(crate) fn sp(&mut self) -> Result<()> {
        self.expect(b' ', "expected a space")
    }

    /// Case-insensitively consumes `word` if it is next (not followed by
    /// another atom character).
    pub(crate) fn eat_word(&mut self, word: &str) -> bool {
        let w = word.as_bytes();
        let end = self.pos + w.len();
        if end <= self.buf.len()
            && self.buf[self.pos..end].eq_ignore_ascii_case(w)
            && !self
                .buf
                .get(end)
                .is_some_and(|&b| is_atom_char(b) && b != b'[' && b != b'.')
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    pub(crate) fn at_eol(&self) -> bool {
        matches!(self.rest(), b"\r\n" | b"\n" | b"")
    }

    pub(crate) fn eol(&mut self) -> Result<()> {
        if self.at_eol() {
            self.pos = self.buf.len();
            Ok(())
        } else {
            Err(ErrorKind::Syntax("unexpected characters at end of command"))
        }
    }

    /// Enters a parenthesised group (the `(` is already consumed).
    pub(crate) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > self.opts.max_depth {
            Err(ErrorKind::TooDeep)
        } else {
            Ok(())
        }
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    pub(crate) fn atom(&mut self) -> Result<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err(ErrorKind::Syntax("expected an atom"))
        } else {
            Ok(a)
        }
    }

    /// A fetch attribute name: atom characters up to `[` or `<`, upper case.
    pub(crate) fn item_name(&mut self) -> Result<String> {
        let a = self.take_while(|b| is_atom_char(b) && b != b'[' && b != b'<');
        if a.is_empty() {
            return Err(ErrorKind::Syntax("expected a data item"));
        }
        Ok(String::from_utf8_lossy(a).to_ascii_uppercase())
    }

    /// An atom as an upper-case string (command names, keywords).
    pub(crate) fn atom_upper(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    pub(crate) fn tag(&mut self) -> Result<String> {
        let t = self.take_while(is_tag_char);
        if t.is_empty() || t.len() > 64 {
            return Err(ErrorKind::BadTag);
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    pub(crate) fn number64(&mut self) -> Result<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 20 {
            return Err(ErrorKind::Syntax("expected a number"));
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ErrorKind::Syntax("number out of range"))
    }

    pub(crate) fn number(&mut self) -> Result<u32> {
        u32::try_from(self.number64()?).map_err(|_| ErrorKind::Syntax("number out of range"))
    }

    pub(crate) fn nz_number(&mut self) -> Result<u32> {
        match self.number()? {
            0 => Err(ErrorKind::Syntax("zero is not a valid number here")),
            n => Ok(n),
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n' | 0) => {
                    return Err(ErrorKind::Syntax("unterminated quoted string"));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(ErrorKind::Syntax("bad escape in quoted string")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A literal (`{N}`, `{N+}`) or, when `allow8`, a literal8 (`~{N}`).
    /// Returns the bytes and whether it was a literal8.
    pub(crate) fn literal(&mut self, allow8: bool) -> Result<(Vec<u8>, bool)> {
        let binary = self.eat(b'~');
        if binary && !allow8 {
            return Err(ErrorKind::Syntax("literal8 not allowed here"));
        }
        self.expect(b'{', "expected a literal")?;
        let size = self.number64()?;
        let _ = self.eat(b'+') || self.eat(b'-');
        self.expect(b'}', "malformed literal announcement")?;
        let _ = self.eat(b'\r');
        self.expect(b'\n', "literal announcement must end the line")?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| self.pos.checked_add(s))
            .filter(|&e| e <= self.buf.len())
            .ok_or(ErrorKind::Syntax("literal shorter than announced"))?;
        let data = self.buf[self.pos..end].to_vec();
        self.pos = end;
        if !binary && data.contains(&0) {
            return Err(ErrorKind::Syntax("NUL in a literal (use literal8)"));
        }
        Ok((data, binary))
    }

    pub(crate) fn string(&mut self) -> Result<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal(false)?.0),
            _ => Err(ErrorKind::Syntax("expected a string")),
        }
    }

    pub(crate) fn astring(&mut self) -> Result<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err(ErrorKind::Syntax("expected a string"))
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    /// An astring that must be UTF-8 (user names, identifiers, charset).
    pub(crate) fn astring_utf8(&mut self) -> Result<String> {
        String::from_utf8(self.astring()?).map_err(|_| ErrorKind::Syntax("string is not UTF-8"))
    }

    pub(crate) fn nstring(&mut self) -> Result<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// A mailbox name. One that is not valid modified UTF-7 (or UTF-8) is
    /// noted in `bad_name` and stands in as its raw text, so the rest of
    /// the command is still checked.
    pub(crate) fn mailbox(&mut self) -> Result<MailboxName> {
        let raw = self.astring()?;
        match decode_mailbox(&raw, self.opts.utf8_names) {
            Ok(name) => Ok(name),
            Err(ErrorKind::BadMailboxName(why)) => {
                self.bad_name.get_or_insert(why);
                Ok(MailboxName(String::from_utf8_lossy(&raw).into_owned()))
            }
            Err(e) => Err(e),
        }
    }

    /// A LIST pattern: list-chars (with `%` and `*`) or a string, decoded
    /// like a mailbox name.
    pub(crate) fn list_mailbox(&mut self) -> Result<String> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err(ErrorKind::Syntax("expected a mailbox pattern"));
                }
                a.to_vec()
            }
        };
        if raw.is_empty() {
            return Ok(String::new());
        }
        // Any pattern gets an answer (RFC 3501 6.3.8): one that is not a
        // valid encoding is matched as the text it is, so it can only
        // match a name spelled exactly so.
        Ok(decode_mailbox(&raw, self.opts.utf8_names)
            .map_or_else(|_| String::from_utf8_lossy(&raw).into_owned(), |m| m.0))
    }

    /// A flag: `\Seen`-style system flag or keyword atom. `\*` only when
    /// `allow_star`.
    pub(crate) fn flag(&mut self) -> Result<String> {
        if self.eat(b'\\') {
            let a = self.atom()?;
            return Ok(format!("\\{}", String::from_utf8_lossy(a)));
        }
        Ok(String::from_utf8_lossy(self.atom()?).into_owned())
    }

    /// `(flag flag ...)`.
    pub(crate) fn flag_list(&mut self) -> Result<Vec<String>> {
        self.expect(b'(', "expected a flag list")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// A parenthesised, space-separated list of items parsed by `item`.
    pub(crate) fn paren_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.expect(b'(', "expected a parenthesised list")?;
        self.enter()?;
        let mut out = Vec::new();
        if !self.eat(b')') {
            loop {
                out.push(item(self)?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        self.leave();
        Ok(out)
    }
}
