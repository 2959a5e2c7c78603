//! Commands as parsed values. One file per command family; this one holds
//! the [`Command`] type and the dispatch on the command name.

mod fetch;
mod mailbox;
mod message;
mod misc;
mod search;

use crate::cursor::{Cursor, Result};
use crate::date::DateTime;
use crate::error::ErrorKind;
use crate::mailbox::MailboxName;
use crate::sequence::SequenceSet;

pub use fetch::{FetchAttr, FetchItems, FetchModifiers, Section, SectionText};
pub use mailbox::{ListCommand, ListReturn, Qresync, SelectParams, StatusItem};
pub use message::StoreMode;
pub use misc::decode_sasl;
pub use search::{SearchKey, SearchReturn, SortCriterion, SortKey, ThreadAlgorithm};

/// One tagged command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The client's tag, echoed in the completion response.
    pub tag: String,
    /// What to do.
    pub body: CommandBody,
}

/// One message of an APPEND (several with MULTIAPPEND, RFC 3502).
#[derive(Debug, Clone, PartialEq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<String>,
    /// INTERNALDATE to record.
    pub date: Option<DateTime>,
    /// The message.
    pub data: Vec<u8>,
    /// Sent as literal8 (`~{N}`, RFC 3516): may hold NUL and raw binary.
    pub binary: bool,
}

/// The commands the server understands.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CommandBody {
    /// CAPABILITY.
    Capability,
    /// NOOP.
    Noop,
    /// LOGOUT.
    Logout,
    /// STARTTLS.
    StartTls,
    /// AUTHENTICATE mechanism [initial-response] (RFC 4959 SASL-IR; `=` is
    /// an empty response, which arrives as `Some(vec![])`).
    Authenticate {
        /// Mechanism name, upper case.
        mechanism: String,
        /// Decoded initial response.
        initial: Option<Vec<u8>>,
    },
    /// LOGIN user password.
    Login {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// ENABLE capability... (RFC 5161).
    Enable(Vec<String>),
    /// SELECT or EXAMINE.
    Select {
        /// The mailbox.
        mailbox: MailboxName,
        /// EXAMINE: open read-only.
        read_only: bool,
        /// CONDSTORE / QRESYNC parameters.
        params: SelectParams,
    },
    /// CREATE [USE (...)] (RFC 6154 create-special-use).
    Create {
        /// The mailbox.
        mailbox: MailboxName,
        /// Special-use attributes requested.
        special_use: Vec<String>,
    },
    /// DELETE.
    Delete(MailboxName),
    /// RENAME from to.
    Rename {
        /// Existing name.
        from: MailboxName,
        /// New name.
        to: MailboxName,
    },
    /// SUBSCRIBE.
    Subscribe(MailboxName),
    /// UNSUBSCRIBE.
    Unsubscribe(MailboxName),
    /// LIST (with RFC 5258 extensions).
    List(ListCommand),
    /// LSUB reference pattern.
    Lsub {
        /// Reference name.
        reference: String,
        /// Pattern.
        pattern: String,
    },
    /// NAMESPACE.
    Namespace,
    /// STATUS mailbox (items).
    Status {
        /// The mailbox.
        mailbox: MailboxName,
        /// Requested items.
        items: Vec<StatusItem>,
    },
    /// APPEND mailbox message... .
    Append {
        /// Destination.
        mailbox: MailboxName,
        /// One or more messages.
        messages: Vec<AppendMessage>,
    },
    /// IDLE (RFC 2177); the session then waits for `DONE`.
    Idle,
    /// CHECK.
    Check,
    /// CLOSE.
    Close,
    /// UNSELECT (RFC 3691).
    Unselect,
    /// EXPUNGE, or UID EXPUNGE set (RFC 4315).
    Expunge {
        /// The UID set for UID EXPUNGE.
        uids: Option<SequenceSet>,
    },
    /// SEARCH / UID SEARCH.
    Search {
        /// UID SEARCH.
        uid: bool,
        /// CHARSET argument.
        charset: Option<String>,
        /// ESEARCH `RETURN (...)` options; `None` for a plain SEARCH.
        returns: Option<Vec<SearchReturn>>,
        /// The criteria (an implicit AND is an [`SearchKey::And`]).
        key: SearchKey,
    },
    /// SORT / UID SORT (RFC 5256).
    Sort {
        /// UID SORT.
        uid: bool,
        /// Sort criteria.
        criteria: Vec<SortCriterion>,
        /// Charset.
        charset: String,
        /// Search criteria.
        key: SearchKey,
    },
    /// THREAD / UID THREAD (RFC 5256).
    Thread {
        /// UID THREAD.
        uid: bool,
        /// Algorithm.
        algorithm: ThreadAlgorithm,
        /// Charset.
        charset: String,
        /// Search criteria.
        key: SearchKey,
    },
    /// FETCH / UID FETCH.
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// What to return.
        items: FetchItems,
        /// CHANGEDSINCE / VANISHED (RFC 7162).
        modifiers: FetchModifiers,
    },
    /// STORE / UID STORE.
    Store {
        /// UID STORE.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Replace, add or remove.
        mode: StoreMode,
        /// `.SILENT`.
        silent: bool,
        /// The flags.
        flags: Vec<String>,
        /// UNCHANGEDSINCE (RFC 7162).
        unchanged_since: Option<u64>,
    },
    /// COPY / UID COPY.
    Copy {
        /// UID COPY.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Destination.
        mailbox: MailboxName,
    },
    /// MOVE / UID MOVE (RFC 6851).
    Move {
        /// UID MOVE.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Destination.
        mailbox: MailboxName,
    },
    /// GETQUOTA root (RFC 9208).
    GetQuota(String),
    /// GETQUOTAROOT mailbox.
    GetQuotaRoot(MailboxName),
    /// SETQUOTA root (resource limit ...).
    SetQuota {
        /// Quota root.
        root: String,
        /// (resource name, limit).
        limits: Vec<(String, u64)>,
    },
    /// GETACL mailbox (RFC 4314).
    GetAcl(MailboxName),
    /// SETACL mailbox identifier rights (`+`/`-` prefix modifies).
    SetAcl {
        /// Mailbox.
        mailbox: MailboxName,
        /// Who.
        identifier: String,
        /// Rights string, possibly with a `+` or `-` prefix.
        rights: String,
    },
    /// DELETEACL mailbox identifier.
    DeleteAcl {
        /// Mailbox.
        mailbox: MailboxName,
        /// Who.
        identifier: String,
    },
    /// LISTRIGHTS mailbox identifier.
    ListRights {
        /// Mailbox.
        mailbox: MailboxName,
        /// Who.
        identifier: String,
    },
    /// MYRIGHTS mailbox.
    MyRights(MailboxName),
    /// ID (RFC 2971): `None` for `ID NIL`.
    Id(Option<Vec<(String, Option<String>)>>),
    /// COMPRESS mechanism (RFC 4978), upper case.
    Compress(String),
}

/// Parses one framed command.
pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<Command> {
    let tag = c.tag()?;
    c.sp()
        .map_err(|_| ErrorKind::Syntax("expected a space and a command after the tag"))?;
    let name = c.atom_upper().map_err(|_| ErrorKind::UnknownCommand)?;
    let body = if name == "UID" {
        c.sp()?;
        let sub = c.atom_upper().map_err(|_| ErrorKind::UnknownCommand)?;
        match sub.as_str() {
            "FETCH" => fetch::parse_fetch(c, true)?,
            "STORE" => message::parse_store(c, true)?,
            "COPY" => message::parse_copy(c, true, false)?,
            "MOVE" => message::parse_copy(c, true, true)?,
            "EXPUNGE" => {
                c.sp()?;
                CommandBody::Expunge {
                    uids: Some(SequenceSet::parse(c)?),
                }
            }
            "SEARCH" => search::parse_search(c, true)?,
            "SORT" => search::parse_sort(c, true)?,
            "THREAD" => search::parse_thread(c, true)?,
            _ => return Err(ErrorKind::UnknownCommand),
        }
    } else {
        match name.as_str() {
            "CAPABILITY" => CommandBody::Capability,
            "NOOP" => CommandBody::Noop,
            "LOGOUT" => CommandBody::Logout,
            "STARTTLS" => CommandBody::StartTls,
            "IDLE" => CommandBody::Idle,
            "CHECK" => CommandBody::Check,
            "CLOSE" => CommandBody::Close,
            "UNSELECT" => CommandBody::Unselect,
            "NAMESPACE" => CommandBody::Namespace,
            "EXPUNGE" => CommandBody::Expunge { uids: None },
            "AUTHENTICATE" => misc::parse_authenticate(c)?,
            "LOGIN" => misc::parse_login(c)?,
            "ENABLE" => misc::parse_enable(c)?,
            "ID" => misc::parse_id(c)?,
            "COMPRESS" => misc::parse_compress(c)?,
            "GETQUOTA" | "GETQUOTAROOT" | "SETQUOTA" => misc::parse_quota(c, &name)?,
            "GETACL" | "SETACL" | "DELETEACL" | "LISTRIGHTS" | "MYRIGHTS" => {
                misc::parse_acl(c, &name)?
            }
            "SELECT" => mailbox::parse_select(c, false)?,
            "EXAMINE" => mailbox::parse_select(c, true)?,
            "CREATE" => mailbox::parse_create(c)?,
            "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => mailbox::parse_simple(c, &name)?,
            "RENAME" => mailbox::parse_rename(c)?,
            "LIST" => mailbox::parse_list(c)?,
            "LSUB" => mailbox::parse_lsub(c)?,
            "STATUS" => mailbox::parse_status(c)?,
            "APPEND" => mailbox::parse_append(c)?,
            "FETCH" => fetch::parse_fetch(c, false)?,
            "STORE" => message::parse_store(c, false)?,
            "COPY" => message::parse_copy(c, false, false)?,
            "MOVE" => message::parse_copy(c, false, true)?,
            "SEARCH" => search::parse_search(c, false)?,
            "SORT" => search::parse_sort(c, false)?,
            "THREAD" => search::parse_thread(c, false)?,
            _ => return Err(ErrorKind::UnknownCommand),
        }
    };
    c.eol()?;
    if let Some(why) = c.bad_name {
        return Err(ErrorKind::BadMailboxName(why));
    }
    Ok(Command { tag, body })
}
