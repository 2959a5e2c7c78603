//! STORE, COPY and MOVE (the UID forms too).

use super::CommandBody;
use crate::cursor::{Cursor, Result};
use crate::error::ErrorKind;
use crate::sequence::SequenceSet;

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

pub(super) fn parse_store(c: &mut Cursor<'_>, uid: bool) -> Result<CommandBody> {
    c.sp()?;
    let set = SequenceSet::parse(c)?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.eat(b'(') {
        // RFC 7162 store-modifiers.
        c.enter()?;
        loop {
            let name = c.atom_upper()?;
            c.sp()?;
            match name.as_str() {
                "UNCHANGEDSINCE" => unchanged_since = Some(c.number64()?),
                _ => return Err(ErrorKind::Syntax("unknown STORE modifier")),
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        c.leave();
        c.sp()?;
    }
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let item = c.atom_upper()?;
    let silent = match item.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(ErrorKind::Syntax("expected FLAGS, +FLAGS or -FLAGS")),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut flags = vec![c.flag()?];
        while c.eat(b' ') {
            flags.push(c.flag()?);
        }
        flags
    };
    Ok(CommandBody::Store {
        uid,
        set,
        mode,
        silent,
        flags,
        unchanged_since,
    })
}

pub(super) fn parse_copy(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> Result<CommandBody> {
    c.sp()?;
    let set = SequenceSet::parse(c)?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}
