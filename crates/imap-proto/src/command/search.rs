//! SEARCH (RFC 3501 6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 7162
//! MODSEQ), SORT and THREAD (RFC 5256). Search keys nest through `NOT`,
//! `OR` and parentheses; each level counts against `max_depth`, so a
//! million `NOT`s are a BAD rather than a stack overflow.

use super::CommandBody;
use crate::cursor::{Cursor, Result};
use crate::date::Date;
use crate::error::ErrorKind;
use crate::sequence::SequenceSet;

/// A search criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchKey {
    /// ALL.
    All,
    /// ANSWERED.
    Answered,
    /// BCC string.
    Bcc(String),
    /// BEFORE date (internal date).
    Before(Date),
    /// BODY string.
    Body(String),
    /// CC string.
    Cc(String),
    /// DELETED.
    Deleted,
    /// DRAFT.
    Draft,
    /// FLAGGED.
    Flagged,
    /// FROM string.
    From(String),
    /// HEADER field string.
    Header(String, String),
    /// KEYWORD flag.
    Keyword(String),
    /// LARGER n.
    Larger(u64),
    /// NEW (RECENT UNSEEN).
    New,
    /// NOT key.
    Not(Box<SearchKey>),
    /// OLD.
    Old,
    /// ON date.
    On(Date),
    /// OR key key.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// RECENT.
    Recent,
    /// SEEN.
    Seen,
    /// SENTBEFORE date.
    SentBefore(Date),
    /// SENTON date.
    SentOn(Date),
    /// SENTSINCE date.
    SentSince(Date),
    /// SINCE date.
    Since(Date),
    /// SMALLER n.
    Smaller(u64),
    /// SUBJECT string.
    Subject(String),
    /// TEXT string.
    Text(String),
    /// TO string.
    To(String),
    /// UID set.
    Uid(SequenceSet),
    /// UNANSWERED.
    Unanswered,
    /// UNDELETED.
    Undeleted,
    /// UNDRAFT.
    Undraft,
    /// UNFLAGGED.
    Unflagged,
    /// UNKEYWORD flag.
    Unkeyword(String),
    /// UNSEEN.
    Unseen,
    /// A sequence set.
    Sequence(SequenceSet),
    /// All of these (a parenthesised list or the top-level list).
    And(Vec<SearchKey>),
    /// MODSEQ [entry type] n (RFC 7162).
    ModSeq(u64),
    /// OLDER seconds (RFC 5032).
    Older(u32),
    /// YOUNGER seconds (RFC 5032).
    Younger(u32),
}

/// ESEARCH return options (RFC 4731, RFC 5182).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    /// MIN.
    Min,
    /// MAX.
    Max,
    /// ALL.
    All,
    /// COUNT.
    Count,
    /// SAVE.
    Save,
}

/// A SORT key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// ARRIVAL (internal date).
    Arrival,
    /// CC.
    Cc,
    /// DATE (sent date).
    Date,
    /// FROM.
    From,
    /// SIZE.
    Size,
    /// SUBJECT (base subject).
    Subject,
    /// TO.
    To,
}

/// A SORT criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// REVERSE.
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// THREAD algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// ORDEREDSUBJECT.
    OrderedSubject,
    /// REFERENCES.
    References,
}

fn text(c: &mut Cursor<'_>) -> Result<String> {
    c.sp()?;
    Ok(String::from_utf8_lossy(&c.astring()?).into_owned())
}

fn date(c: &mut Cursor<'_>) -> Result<Date> {
    c.sp()?;
    Date::parse(c)
}

fn key(c: &mut Cursor<'_>) -> Result<SearchKey> {
    c.enter()?;
    let k = key_inner(c);
    c.leave();
    k
}

fn key_inner(c: &mut Cursor<'_>) -> Result<SearchKey> {
    match c.peek() {
        Some(b'(') => {
            let keys = c.paren_list(key)?;
            if keys.is_empty() {
                return Err(ErrorKind::Syntax("empty search key list"));
            }
            return Ok(SearchKey::And(keys));
        }
        Some(b'0'..=b'9' | b'*' | b'$') => return Ok(SearchKey::Sequence(SequenceSet::parse(c)?)),
        _ => {}
    }
    let name = c.atom_upper()?;
    Ok(match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered,
        "BCC" => SearchKey::Bcc(text(c)?),
        "BEFORE" => SearchKey::Before(date(c)?),
        "BODY" => SearchKey::Body(text(c)?),
        "CC" => SearchKey::Cc(text(c)?),
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "FLAGGED" => SearchKey::Flagged,
        "FROM" => SearchKey::From(text(c)?),
        "HEADER" => {
            let field = text(c)?;
            SearchKey::Header(field, text(c)?)
        }
        "KEYWORD" => {
            c.sp()?;
            SearchKey::Keyword(c.flag()?)
        }
        "UNKEYWORD" => {
            c.sp()?;
            SearchKey::Unkeyword(c.flag()?)
        }
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number64()?)
        }
        "NEW" => SearchKey::New,
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(key(c)?))
        }
        "OLD" => SearchKey::Old,
        "ON" => SearchKey::On(date(c)?),
        "OR" => {
            c.sp()?;
            let a = key(c)?;
            c.sp()?;
            SearchKey::Or(Box::new(a), Box::new(key(c)?))
        }
        "RECENT" => SearchKey::Recent,
        "SEEN" => SearchKey::Seen,
        "SENTBEFORE" => SearchKey::SentBefore(date(c)?),
        "SENTON" => SearchKey::SentOn(date(c)?),
        "SENTSINCE" => SearchKey::SentSince(date(c)?),
        "SINCE" => SearchKey::Since(date(c)?),
        "SUBJECT" => SearchKey::Subject(text(c)?),
        "TEXT" => SearchKey::Text(text(c)?),
        "TO" => SearchKey::To(text(c)?),
        "UID" => {
            c.sp()?;
            SearchKey::Uid(SequenceSet::parse(c)?)
        }
        "UNANSWERED" => SearchKey::Unanswered,
        "UNDELETED" => SearchKey::Undeleted,
        "UNDRAFT" => SearchKey::Undraft,
        "UNFLAGGED" => SearchKey::Unflagged,
        "UNSEEN" => SearchKey::Unseen,
        "OLDER" => {
            c.sp()?;
            SearchKey::Older(c.nz_number()?)
        }
        "YOUNGER" => {
            c.sp()?;
            SearchKey::Younger(c.nz_number()?)
        }
        "MODSEQ" => {
            c.sp()?;
            if c.peek() == Some(b'"') {
                // entry-name entry-type-req: accepted, the store has one
                // modseq per message.
                c.string()?;
                c.sp()?;
                let t = c.atom_upper()?;
                if !matches!(t.as_str(), "PRIV" | "SHARED" | "ALL") {
                    return Err(ErrorKind::Syntax("invalid MODSEQ entry type"));
                }
                c.sp()?;
            }
            SearchKey::ModSeq(c.number64()?)
        }
        _ => return Err(ErrorKind::Syntax("unknown search key")),
    })
}

/// `key *(SP key)` to the end of the command.
fn keys(c: &mut Cursor<'_>) -> Result<SearchKey> {
    let mut all = vec![key(c)?];
    while c.eat(b' ') {
        all.push(key(c)?);
        if all.len() > 10_000 {
            return Err(ErrorKind::Syntax("too many search keys"));
        }
    }
    Ok(if all.len() == 1 {
        all.remove(0)
    } else {
        SearchKey::And(all)
    })
}

pub(super) fn parse_search(c: &mut Cursor<'_>, uid: bool) -> Result<CommandBody> {
    c.sp()?;
    let mut returns = None;
    if c.eat_word("RETURN") {
        c.sp()?;
        let opts = c.paren_list(|c| {
            Ok(match c.atom_upper()?.as_str() {
                "MIN" => SearchReturn::Min,
                "MAX" => SearchReturn::Max,
                "ALL" => SearchReturn::All,
                "COUNT" => SearchReturn::Count,
                "SAVE" => SearchReturn::Save,
                _ => return Err(ErrorKind::Syntax("unknown SEARCH RETURN option")),
            })
        })?;
        returns = Some(opts);
        c.sp()?;
    }
    let mut charset = None;
    if c.eat_word("CHARSET") {
        c.sp()?;
        charset = Some(c.astring_utf8()?.to_ascii_uppercase());
        c.sp()?;
    }
    Ok(CommandBody::Search {
        uid,
        charset,
        returns,
        key: keys(c)?,
    })
}

pub(super) fn parse_sort(c: &mut Cursor<'_>, uid: bool) -> Result<CommandBody> {
    c.sp()?;
    let mut criteria = Vec::new();
    c.expect(b'(', "expected sort criteria")?;
    loop {
        let reverse = c.eat_word("REVERSE") && c.eat(b' ');
        let key = match c.atom_upper()?.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" | "DISPLAYFROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" | "DISPLAYTO" => SortKey::To,
            _ => return Err(ErrorKind::Syntax("unknown sort key")),
        };
        criteria.push(SortCriterion { reverse, key });
        if criteria.len() > 32 {
            return Err(ErrorKind::Syntax("too many sort criteria"));
        }
        if c.eat(b')') {
            break;
        }
        c.sp()?;
    }
    c.sp()?;
    let charset = c.astring_utf8()?.to_ascii_uppercase();
    c.sp()?;
    Ok(CommandBody::Sort {
        uid,
        criteria,
        charset,
        key: keys(c)?,
    })
}

pub(super) fn parse_thread(c: &mut Cursor<'_>, uid: bool) -> Result<CommandBody> {
    c.sp()?;
    let algorithm = match c.atom_upper()?.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return Err(ErrorKind::Syntax("unknown THREAD algorithm")),
    };
    c.sp()?;
    let charset = c.astring_utf8()?.to_ascii_uppercase();
    c.sp()?;
    Ok(CommandBody::Thread {
        uid,
        algorithm,
        charset,
        key: keys(c)?,
    })
}
