//! Reading one message file for FETCH and SEARCH, one at a time.
//!
//! FETCH and SEARCH over a large mailbox must never hold more than one
//! message body at once (a 1 GiB mailbox would otherwise cost 1 GiB of
//! RAM per command), so both read bodies through here, message by
//! message, and drop each one before the next.
//!
//! A file that cannot be read is not a message without content: it is a
//! damaged store. It is logged (with UID and mailbox, for the operator)
//! and the command ends `NO [SERVERBUG]` instead of answering NIL or "no
//! match" as if nothing were wrong. A message expunged by another session
//! between loading its index row and reading its file is not an error:
//! its row is gone too, and the command skips it as it skips any message
//! expunged before it started.

use mail_store::{MailboxHandle, Store, StoreError};

/// What reading one message's file found.
pub(super) enum Content<T = Vec<u8>> {
    /// What was read (the bytes that were delivered, or the data built
    /// from them).
    Bytes(T),
    /// The message was expunged meanwhile: nothing to report.
    Expunged,
    /// The file exists in the index but cannot be read (logged).
    Unreadable,
}

/// Reads message `uid` of `mailbox` (blocking: call inside `Store::run`).
/// Store errors other than the file itself (the index database) are
/// returned as errors, the command's usual `NO` for store failures.
pub(super) fn read(s: &Store, mailbox: &MailboxHandle, uid: u32) -> Result<Content, StoreError> {
    classify(s, mailbox, uid, s.read_message(mailbox, uid))
}

/// Sorts the result of anything that read message `uid`'s file (the
/// whole of it, or byte ranges of it) into [`Content`], logging damage.
pub(super) fn classify<T>(
    s: &Store,
    mailbox: &MailboxHandle,
    uid: u32,
    read: Result<T, StoreError>,
) -> Result<Content<T>, StoreError> {
    match read {
        Ok(b) => Ok(Content::Bytes(b)),
        Err(StoreError::NoSuchMessage(_)) => Ok(Content::Expunged),
        Err(StoreError::Io { path, source }) => {
            // An EXPUNGE commits the row's removal before it unlinks the
            // file: a file gone while its row remains is damage, a file
            // gone with its row is an expunge that won the race.
            if let Err(StoreError::NoSuchMessage(_)) = s.message_path(mailbox, uid) {
                return Ok(Content::Expunged);
            }
            tracing::error!(
                uid,
                owner = %mailbox.path.owner,
                mailbox = %mailbox.path.name,
                path = %path.display(),
                error = %source,
                "message file cannot be read"
            );
            Ok(Content::Unreadable)
        }
        Err(e) => Err(e),
    }
}

/// The tagged text for a command that met unreadable message files.
pub(super) fn unreadable_text(uids: &[u32]) -> String {
    let shown: Vec<String> = uids.iter().take(10).map(u32::to_string).collect();
    let more = if uids.len() > 10 { " ..." } else { "" };
    format!(
        "Message data could not be read (UID {}{more}); the error was logged",
        shown.join(",")
    )
}
