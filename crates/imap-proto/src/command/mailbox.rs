//! Mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
//! UNSUBSCRIBE, LIST (RFC 5258/5819/6154), LSUB, STATUS, APPEND.

use super::{AppendMessage, CommandBody};
use crate::cursor::{Cursor, Result};
use crate::date::DateTime;
use crate::error::ErrorKind;
use crate::sequence::SequenceSet;

/// QRESYNC parameters of SELECT (RFC 7162 3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    /// The UIDVALIDITY the client knows.
    pub uid_validity: u32,
    /// The HIGHESTMODSEQ the client knows.
    pub modseq: u64,
    /// The UIDs the client knows.
    pub known_uids: Option<SequenceSet>,
    /// (sequence numbers, UIDs) the client has matched.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// SELECT/EXAMINE parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `(CONDSTORE)`.
    pub condstore: bool,
    /// `(QRESYNC (...))`.
    pub qresync: Option<Qresync>,
}

/// A STATUS item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusItem {
    /// MESSAGES.
    Messages,
    /// RECENT (IMAP4rev1 only).
    Recent,
    /// UIDNEXT.
    UidNext,
    /// UIDVALIDITY.
    UidValidity,
    /// UNSEEN.
    Unseen,
    /// DELETED (RFC 9051).
    Deleted,
    /// SIZE (RFC 8438).
    Size,
    /// HIGHESTMODSEQ (RFC 7162).
    HighestModSeq,
    /// APPENDLIMIT (RFC 7889).
    AppendLimit,
}

impl StatusItem {
    /// The item's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
        }
    }

    fn parse(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(match c.atom_upper()?.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "APPENDLIMIT" => StatusItem::AppendLimit,
            _ => return Err(ErrorKind::Syntax("unknown STATUS item")),
        })
    }
}

/// LIST return options (RFC 5258 6, RFC 5819, RFC 6154).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    /// RETURN (SUBSCRIBED).
    pub subscribed: bool,
    /// RETURN (CHILDREN).
    pub children: bool,
    /// RETURN (SPECIAL-USE).
    pub special_use: bool,
    /// RETURN (STATUS (...)).
    pub status: Option<Vec<StatusItem>>,
}

/// A LIST command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCommand {
    /// Reference name (decoded).
    pub reference: String,
    /// Patterns (decoded; `*` and `%` wildcards).
    pub patterns: Vec<String>,
    /// Selection: SUBSCRIBED.
    pub select_subscribed: bool,
    /// Selection: RECURSIVEMATCH.
    pub recursive_match: bool,
    /// Selection: SPECIAL-USE.
    pub select_special_use: bool,
    /// Selection: REMOTE (accepted, meaningless here).
    pub remote: bool,
    /// Whether any extended syntax was used (then the answer may carry
    /// extended data, RFC 5258 3).
    pub extended: bool,
    /// Return options.
    pub returns: ListReturn,
}

pub(super) fn parse_select(c: &mut Cursor<'_>, read_only: bool) -> Result<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut params = SelectParams::default();
    if c.eat(b' ') {
        c.expect(b'(', "expected SELECT parameters")?;
        c.enter()?;
        loop {
            match c.atom_upper()?.as_str() {
                "CONDSTORE" => params.condstore = true,
                "QRESYNC" => {
                    c.sp()?;
                    c.expect(b'(', "expected QRESYNC parameters")?;
                    c.enter()?;
                    let uid_validity = c.nz_number()?;
                    c.sp()?;
                    let modseq = c.number64()?;
                    let mut q = Qresync {
                        uid_validity,
                        modseq,
                        known_uids: None,
                        seq_match: None,
                    };
                    if c.eat(b' ') {
                        if c.peek() != Some(b'(') {
                            q.known_uids = Some(SequenceSet::parse(c)?);
                            c.eat(b' ');
                        }
                        if c.eat(b'(') {
                            let seqs = SequenceSet::parse(c)?;
                            c.sp()?;
                            let uids = SequenceSet::parse(c)?;
                            c.expect(b')', "expected ) after QRESYNC sequence match")?;
                            q.seq_match = Some((seqs, uids));
                        }
                    }
                    c.expect(b')', "expected ) after QRESYNC parameters")?;
                    c.leave();
                    params.qresync = Some(q);
                }
                _ => return Err(ErrorKind::Syntax("unknown SELECT parameter")),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        c.leave();
    }
    Ok(CommandBody::Select {
        mailbox,
        read_only,
        params,
    })
}

pub(super) fn parse_create(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.eat(b' ') {
        c.expect(b'(', "expected CREATE parameters")?;
        c.enter()?;
        if !c.eat_word("USE") {
            return Err(ErrorKind::Syntax("unknown CREATE parameter"));
        }
        c.sp()?;
        special_use = c.flag_list()?;
        c.expect(b')', "expected ) after CREATE parameters")?;
        c.leave();
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

pub(super) fn parse_simple(c: &mut Cursor<'_>, name: &str) -> Result<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(match name {
        "DELETE" => CommandBody::Delete(mailbox),
        "SUBSCRIBE" => CommandBody::Subscribe(mailbox),
        _ => CommandBody::Unsubscribe(mailbox),
    })
}

pub(super) fn parse_rename(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let from = c.mailbox()?;
    c.sp()?;
    let to = c.mailbox()?;
    Ok(CommandBody::Rename { from, to })
}

fn status_items(c: &mut Cursor<'_>) -> Result<Vec<StatusItem>> {
    let items = c.paren_list(StatusItem::parse)?;
    if items.is_empty() {
        return Err(ErrorKind::Syntax("empty STATUS item list"));
    }
    Ok(items)
}

pub(super) fn parse_list(c: &mut Cursor<'_>) -> Result<CommandBody> {
    let mut cmd = ListCommand::default();
    c.sp()?;
    if c.peek() == Some(b'(') {
        cmd.extended = true;
        let opts = c.paren_list(|c| c.atom_upper())?;
        for o in opts {
            match o.as_str() {
                "SUBSCRIBED" => cmd.select_subscribed = true,
                "RECURSIVEMATCH" => cmd.recursive_match = true,
                "SPECIAL-USE" => cmd.select_special_use = true,
                "REMOTE" => cmd.remote = true,
                _ => return Err(ErrorKind::Syntax("unknown LIST selection option")),
            }
        }
        if cmd.recursive_match && !cmd.select_subscribed {
            return Err(ErrorKind::Syntax(
                "RECURSIVEMATCH needs another selection option",
            ));
        }
        c.sp()?;
    }
    cmd.reference = c.list_mailbox()?;
    c.sp()?;
    if c.peek() == Some(b'(') {
        cmd.extended = true;
        cmd.patterns = c.paren_list(|c| c.list_mailbox())?;
    } else {
        cmd.patterns = vec![c.list_mailbox()?];
    }
    if c.eat(b' ') {
        cmd.extended = true;
        if !c.eat_word("RETURN") {
            return Err(ErrorKind::Syntax("expected RETURN"));
        }
        c.sp()?;
        c.expect(b'(', "expected LIST return options")?;
        c.enter()?;
        if !c.eat(b')') {
            loop {
                match c.atom_upper()?.as_str() {
                    "SUBSCRIBED" => cmd.returns.subscribed = true,
                    "CHILDREN" => cmd.returns.children = true,
                    "SPECIAL-USE" => cmd.returns.special_use = true,
                    "STATUS" => {
                        c.sp()?;
                        cmd.returns.status = Some(status_items(c)?);
                    }
                    _ => return Err(ErrorKind::Syntax("unknown LIST return option")),
                }
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
        }
        c.leave();
    }
    Ok(CommandBody::List(cmd))
}

pub(super) fn parse_lsub(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let reference = c.list_mailbox()?;
    c.sp()?;
    let pattern = c.list_mailbox()?;
    Ok(CommandBody::Lsub { reference, pattern })
}

pub(super) fn parse_status(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let items = status_items(c)?;
    Ok(CommandBody::Status { mailbox, items })
}

pub(super) fn parse_append(c: &mut Cursor<'_>) -> Result<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    while c.eat(b' ') {
        let mut flags = Vec::new();
        let mut date = None;
        if c.peek() == Some(b'(') {
            flags = c.flag_list()?;
            c.sp()?;
        }
        if c.peek() == Some(b'"') {
            date = Some(DateTime::parse(c)?);
            c.sp()?;
        }
        let (data, binary) = c.literal(true)?;
        messages.push(AppendMessage {
            flags,
            date,
            data,
            binary,
        });
        if messages.len() > 1000 {
            return Err(ErrorKind::Syntax("too many messages in one APPEND"));
        }
    }
    if messages.is_empty() {
        return Err(ErrorKind::Syntax("APPEND needs a message literal"));
    }
    Ok(CommandBody::Append { mailbox, messages })
}
