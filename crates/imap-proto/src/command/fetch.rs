//! FETCH and UID FETCH (RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162
//! CHANGEDSINCE/VANISHED).

use super::CommandBody;
use crate::cursor::{Cursor, Result};
use crate::error::ErrorKind;
use crate::sequence::SequenceSet;

/// The text part of a section specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// HEADER.
    Header,
    /// HEADER.FIELDS (...) or HEADER.FIELDS.NOT (...).
    HeaderFields {
        /// `.NOT`.
        not: bool,
        /// Field names (upper case).
        fields: Vec<String>,
    },
    /// TEXT.
    Text,
    /// MIME (only after a part number).
    Mime,
}

/// `[1.2.HEADER]` and friends. An empty section is the whole message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Part numbers, outermost first.
    pub part: Vec<u32>,
    /// What of the part.
    pub text: Option<SectionText>,
}

impl Section {
    /// The section as the server echoes it in the response
    /// (`BODY[1.HEADER.FIELDS (SUBJECT)]` without the `BODY`).
    pub fn to_wire(&self) -> String {
        let mut s: Vec<String> = self.part.iter().map(u32::to_string).collect();
        match &self.text {
            None => {}
            Some(SectionText::Header) => s.push("HEADER".into()),
            Some(SectionText::Text) => s.push("TEXT".into()),
            Some(SectionText::Mime) => s.push("MIME".into()),
            Some(SectionText::HeaderFields { not, fields }) => s.push(format!(
                "HEADER.FIELDS{} ({})",
                if *not { ".NOT" } else { "" },
                fields.join(" ")
            )),
        }
        format!("[{}]", s.join("."))
    }
}

/// One FETCH data item (macros are expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchAttr {
    /// ENVELOPE.
    Envelope,
    /// FLAGS.
    Flags,
    /// INTERNALDATE.
    InternalDate,
    /// RFC822 (= BODY[]).
    Rfc822,
    /// RFC822.HEADER (= BODY.PEEK[HEADER]).
    Rfc822Header,
    /// RFC822.SIZE.
    Rfc822Size,
    /// RFC822.TEXT (= BODY[TEXT]).
    Rfc822Text,
    /// BODY (structure without extension data).
    Body,
    /// BODYSTRUCTURE.
    BodyStructure,
    /// UID.
    Uid,
    /// MODSEQ (RFC 7162).
    ModSeq,
    /// BODY[section]<partial> or BODY.PEEK[...].
    BodySection {
        /// `.PEEK`: do not set \Seen.
        peek: bool,
        /// The section.
        section: Section,
        /// `<origin.count>`.
        partial: Option<(u32, u32)>,
    },
    /// BINARY[part]<partial> or BINARY.PEEK (RFC 3516).
    Binary {
        /// `.PEEK`.
        peek: bool,
        /// Part numbers.
        part: Vec<u32>,
        /// `<origin.count>`.
        partial: Option<(u32, u32)>,
    },
    /// BINARY.SIZE[part].
    BinarySize {
        /// Part numbers.
        part: Vec<u32>,
    },
}

/// The data items of a FETCH.
pub type FetchItems = Vec<FetchAttr>;

/// FETCH modifiers (RFC 7162 3.1.4.1, 3.2.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchModifiers {
    /// CHANGEDSINCE modseq.
    pub changed_since: Option<u64>,
    /// VANISHED (UID FETCH only, with CHANGEDSINCE).
    pub vanished: bool,
}

fn section(c: &mut Cursor<'_>) -> Result<Section> {
    c.expect(b'[', "expected [")?;
    let mut s = Section::default();
    if c.eat(b']') {
        return Ok(s);
    }
    loop {
        if c.peek().is_some_and(|b| b.is_ascii_digit()) {
            s.part.push(c.nz_number()?);
            if s.part.len() > 64 {
                return Err(ErrorKind::Syntax("section part too deep"));
            }
            if c.eat(b'.') {
                continue;
            }
            break;
        }
        let word = c.item_name()?;
        s.text = Some(match word.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !s.part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                c.sp()?;
                let fields = c.paren_list(|c| {
                    Ok(String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase())
                })?;
                if fields.is_empty() {
                    return Err(ErrorKind::Syntax("empty header field list"));
                }
                SectionText::HeaderFields {
                    not: word.ends_with(".NOT"),
                    fields,
                }
            }
            _ => return Err(ErrorKind::Syntax("invalid section")),
        });
        break;
    }
    c.expect(b']', "expected ] after section")?;
    Ok(s)
}

fn partial(c: &mut Cursor<'_>) -> Result<Option<(u32, u32)>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let origin = c.number()?;
    c.expect(b'.', "expected <origin.count>")?;
    let count = c.nz_number()?;
    c.expect(b'>', "expected > after partial")?;
    Ok(Some((origin, count)))
}

fn binary_part(c: &mut Cursor<'_>) -> Result<Vec<u32>> {
    c.expect(b'[', "expected [")?;
    let mut part = Vec::new();
    if !c.eat(b']') {
        loop {
            part.push(c.nz_number()?);
            if part.len() > 64 {
                return Err(ErrorKind::Syntax("section part too deep"));
            }
            if !c.eat(b'.') {
                break;
            }
        }
        c.expect(b']', "expected ] after binary section")?;
    }
    Ok(part)
}

fn attr(c: &mut Cursor<'_>, out: &mut Vec<FetchAttr>) -> Result<()> {
    let name = c.item_name()?;
    let a = match name.as_str() {
        "ENVELOPE" => FetchAttr::Envelope,
        "FLAGS" => FetchAttr::Flags,
        "INTERNALDATE" => FetchAttr::InternalDate,
        "RFC822" => FetchAttr::Rfc822,
        "RFC822.HEADER" => FetchAttr::Rfc822Header,
        "RFC822.SIZE" => FetchAttr::Rfc822Size,
        "RFC822.TEXT" => FetchAttr::Rfc822Text,
        "BODYSTRUCTURE" => FetchAttr::BodyStructure,
        "UID" => FetchAttr::Uid,
        "MODSEQ" => FetchAttr::ModSeq,
        "BODY" if c.peek() != Some(b'[') => FetchAttr::Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(c)?;
            FetchAttr::BodySection {
                peek: name == "BODY.PEEK",
                section,
                partial: partial(c)?,
            }
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = binary_part(c)?;
            FetchAttr::Binary {
                peek: name == "BINARY.PEEK",
                part,
                partial: partial(c)?,
            }
        }
        "BINARY.SIZE" => FetchAttr::BinarySize {
            part: binary_part(c)?,
        },
        _ => return Err(ErrorKind::Syntax("unknown FETCH data item")),
    };
    out.push(a);
    Ok(())
}

pub(super) fn parse_fetch(c: &mut Cursor<'_>, uid: bool) -> Result<CommandBody> {
    c.sp()?;
    let set = SequenceSet::parse(c)?;
    c.sp()?;
    let mut items = Vec::new();
    if c.peek() == Some(b'(') {
        c.paren_list(|c| attr(c, &mut items))?;
    } else if c.eat_word("ALL") {
        items = vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ];
    } else if c.eat_word("FAST") {
        items = vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ];
    } else if c.eat_word("FULL") {
        items = vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ];
    } else {
        attr(c, &mut items)?;
    }
    if items.is_empty() {
        return Err(ErrorKind::Syntax("empty FETCH item list"));
    }
    let mut modifiers = FetchModifiers::default();
    if c.eat(b' ') {
        let mods = c.paren_list(|c| {
            let name = c.atom_upper()?;
            match name.as_str() {
                "CHANGEDSINCE" => {
                    c.sp()?;
                    Ok((Some(c.number64()?), false))
                }
                "VANISHED" => Ok((None, true)),
                _ => Err(ErrorKind::Syntax("unknown FETCH modifier")),
            }
        })?;
        for (since, vanished) in mods {
            if since.is_some() {
                modifiers.changed_since = since;
            }
            modifiers.vanished |= vanished;
        }
        if modifiers.vanished && (!uid || modifiers.changed_since.is_none()) {
            return Err(ErrorKind::Syntax(
                "VANISHED needs UID FETCH with CHANGEDSINCE",
            ));
        }
    }
    Ok(CommandBody::Fetch {
        uid,
        set,
        items,
        modifiers,
    })
}
