//! User export archives: one user's mailboxes and messages as a byte
//! stream, to move the user to another store (`mailctl store export` /
//! `import`, the admin API's `ExportUser` / `ImportUser`).
//!
//! The format is line-framed so it streams in both directions without
//! knowing the total size, and it carries counts at the end so a cut
//! stream is detected rather than imported as a smaller mailbox:
//!
//! ```text
//! TIERMAIL-EXPORT 1 alice                                        header: magic, version, user
//! {"type":"mailbox","name":"INBOX","special_use":null,"subscribed":true}
//! {"type":"mailbox","name":"Sent","special_use":"\\Sent","subscribed":true}
//! {"type":"message","mailbox":"INBOX","internal_date":1767225600,"flags":["\\Seen"],"size":1234}
//! <exactly 1234 raw bytes of the message>\n
//! ...
//! {"type":"end","mailboxes":2,"messages":1}
//! ```
//!
//! Every mailbox record comes before any message; parents before children.
//! `internal_date` is Unix seconds; message bytes are stored as delivered
//! (8-bit, NUL, bare CR/LF) and followed by one `\n` so that a wrong `size`
//! shows as a framing error at once. Readers ignore unknown JSON fields; a
//! change that a version-1 reader would misread gets a new version number.
//! Flags, INTERNALDATE, special-use and subscriptions travel; UIDs,
//! UIDVALIDITY, MODSEQs and ACLs do not (sharing is per store).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::engine::Store;
use crate::error::{Result, StoreError};
use crate::quota::QuotaLimits;
use crate::types::{Flags, MailboxHandle, MailboxPath, SpecialUse, UidSet};

/// First word of an archive.
pub const EXPORT_MAGIC: &str = "TIERMAIL-EXPORT";
/// The archive version this store writes and reads.
pub const EXPORT_VERSION: u32 = 1;
/// Longest header or JSON record line accepted, so garbage input cannot
/// make the reader buffer without bound.
const MAX_LINE: u64 = 1 << 20;

/// One JSON line of the archive.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Record {
    Mailbox {
        name: String,
        special_use: Option<String>,
        subscribed: bool,
    },
    Message {
        mailbox: String,
        internal_date: i64,
        flags: Vec<String>,
        size: u64,
    },
    End {
        mailboxes: u64,
        messages: u64,
    },
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Mailbox records.
    pub mailboxes: u64,
    /// Messages.
    pub messages: u64,
    /// Message octets (without framing).
    pub bytes: u64,
}

/// What an import added. On error, what was imported before it stays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The user named in the archive header (the exporting account).
    pub source_user: String,
    /// Mailbox records read.
    pub mailboxes: u64,
    /// Of those, mailboxes that did not exist yet.
    pub created: u64,
    /// Messages appended.
    pub messages: u64,
    /// Message octets appended.
    pub bytes: u64,
}

const SPECIAL_USES: [SpecialUse; 7] = [
    SpecialUse::All,
    SpecialUse::Archive,
    SpecialUse::Drafts,
    SpecialUse::Flagged,
    SpecialUse::Junk,
    SpecialUse::Sent,
    SpecialUse::Trash,
];

/// Parses an RFC 6154 attribute (`\Sent`), without regard to case.
pub fn parse_special_use(attr: &str) -> Option<SpecialUse> {
    SPECIAL_USES
        .into_iter()
        .find(|s| s.attribute().eq_ignore_ascii_case(attr))
}

fn write_err(e: std::io::Error) -> StoreError {
    StoreError::io("<export stream>", e)
}

fn write_record(out: &mut impl Write, rec: &Record) -> Result<()> {
    let mut line = serde_json::to_vec(rec).map_err(|e| StoreError::Invalid(e.to_string()))?;
    line.push(b'\n');
    out.write_all(&line).map_err(write_err)
}

fn system_time(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

impl Store {
    /// Writes `user`'s own mailboxes and messages to `out` as an archive
    /// (format in the module docs). Runs while the store serves; a message
    /// expunged during the export is left out, one delivered during it may
    /// be.
    pub fn export_user(&self, user: &str, out: &mut impl Write) -> Result<ExportReport> {
        if user.contains(['\n', '\r']) {
            return Err(StoreError::Invalid(format!("bad user id {user:?}")));
        }
        if self.user_partition(user)?.is_none() {
            return Err(StoreError::MailboxNotFound {
                owner: user.into(),
                name: "INBOX".into(),
            });
        }
        writeln!(out, "{EXPORT_MAGIC} {EXPORT_VERSION} {user}").map_err(write_err)?;
        let subs: BTreeSet<MailboxPath> = self.subscriptions(user)?.into_iter().collect();
        let mut boxes: Vec<_> = self
            .list(user)?
            .into_iter()
            .filter(|m| m.path.owner == user)
            .collect();
        // Sorting by name puts every parent before its children.
        boxes.sort_by(|a, b| a.path.name.cmp(&b.path.name));
        let mut report = ExportReport::default();
        for m in &boxes {
            write_record(
                out,
                &Record::Mailbox {
                    name: m.path.name.clone(),
                    special_use: m.special_use.map(|s| s.attribute().to_string()),
                    subscribed: subs.contains(&m.path),
                },
            )?;
            report.mailboxes += 1;
        }
        for m in &boxes {
            let mb = match self.open_mailbox(user, &m.path) {
                Ok(h) => h,
                // Deleted since the listing: its record stays, empty.
                Err(StoreError::MailboxNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            self.export_mailbox(&mb, out, &mut report)?;
        }
        write_record(
            out,
            &Record::End {
                mailboxes: report.mailboxes,
                messages: report.messages,
            },
        )?;
        out.flush().map_err(write_err)?;
        Ok(report)
    }

    fn export_mailbox(
        &self,
        mb: &MailboxHandle,
        out: &mut impl Write,
        report: &mut ExportReport,
    ) -> Result<()> {
        for row in self.fetch_index(mb, &UidSet::all(), None)? {
            let path = match self.message_path(mb, row.uid) {
                Ok(p) => p,
                Err(StoreError::NoSuchMessage(_)) => continue,
                Err(e) => return Err(e),
            };
            // An open file stays readable even if it is expunged meanwhile.
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io(path, e)),
            };
            // The file is the truth about the bytes; the row's size agrees
            // unless the user area was damaged.
            let size = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
            write_record(
                out,
                &Record::Message {
                    mailbox: mb.path.name.clone(),
                    internal_date: row.internal_date,
                    flags: row.flags.iter().map(str::to_string).collect(),
                    size,
                },
            )?;
            let copied = std::io::copy(&mut file.take(size), out).map_err(write_err)?;
            if copied != size {
                return Err(StoreError::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("message file shrank from {size} to {copied} bytes"),
                    ),
                ));
            }
            out.write_all(b"\n").map_err(write_err)?;
            report.messages += 1;
            report.bytes += size;
        }
        Ok(())
    }

    /// Reads an archive from `input` into `user`'s mailboxes (creating the
    /// user on `partition` or the default one, and missing mailboxes),
    /// appending every message with its flags and INTERNALDATE. Quota is
    /// not enforced: the mail already belonged to the user. A truncated or
    /// corrupt archive is [`StoreError::Archive`], naming the record; what
    /// was imported before it stays.
    pub fn import_user(
        &self,
        user: &str,
        partition: Option<&str>,
        input: &mut impl Read,
    ) -> Result<ImportReport> {
        let mut r = ArchiveReader {
            inner: BufReader::new(input),
            offset: 0,
            record: 0,
        };
        let header = r
            .line()?
            .ok_or_else(|| r.error("empty input: not an export archive"))?;
        let source_user = parse_header(&header).map_err(|m| r.error(m))?;
        self.ensure_user(user, partition)?;
        let mut report = ImportReport {
            source_user,
            ..ImportReport::default()
        };
        let mut handles: HashMap<String, MailboxHandle> = HashMap::new();
        let mut declared = BTreeSet::new();
        loop {
            r.record += 1;
            let Some(line) = r.line()? else {
                return Err(r.error(format!(
                    "archive ends after {} mailboxes and {} messages without its end record (truncated)",
                    report.mailboxes, report.messages
                )));
            };
            if line.is_empty() {
                return Err(r.error("empty record line (the previous message's size may be wrong)"));
            }
            let rec: Record = serde_json::from_slice(&line)
                .map_err(|e| r.error(format!("not a valid record: {e}")))?;
            match rec {
                Record::Mailbox {
                    name,
                    special_use,
                    subscribed,
                } => {
                    let su = match special_use.as_deref() {
                        None | Some("") => None,
                        Some(a) => Some(
                            parse_special_use(a)
                                .ok_or_else(|| r.error(format!("unknown special-use {a:?}")))?,
                        ),
                    };
                    let path = MailboxPath::new(user, name.clone());
                    match self.create_mailbox(user, &name, su) {
                        Ok(()) => report.created += 1,
                        Err(StoreError::MailboxExists { .. }) => {
                            if su.is_some() {
                                self.set_special_use(user, &path, su)?;
                            }
                        }
                        Err(e) => return Err(e),
                    }
                    if subscribed {
                        self.subscribe(user, &path)?;
                    }
                    declared.insert(name);
                    report.mailboxes += 1;
                }
                Record::Message {
                    mailbox,
                    internal_date,
                    flags,
                    size,
                } => {
                    if !declared.contains(&mailbox) {
                        return Err(r.error(format!(
                            "message in mailbox {mailbox:?}, which no earlier record declares"
                        )));
                    }
                    let body = r.body(size)?;
                    let mb = match handles.get(&mailbox) {
                        Some(h) => h.clone(),
                        None => {
                            let h = self.open_mailbox(user, &MailboxPath::new(user, &mailbox))?;
                            handles.insert(mailbox, h.clone());
                            h
                        }
                    };
                    let flags: Flags = flags.iter().collect();
                    self.append(
                        &mb,
                        &body,
                        &flags,
                        Some(system_time(internal_date)),
                        &QuotaLimits::UNLIMITED,
                    )?;
                    report.messages += 1;
                    report.bytes += size;
                }
                Record::End {
                    mailboxes,
                    messages,
                } => {
                    if (mailboxes, messages) != (report.mailboxes, report.messages) {
                        return Err(r.error(format!(
                            "end record counts {mailboxes} mailboxes and {messages} messages, the archive held {} and {}",
                            report.mailboxes, report.messages
                        )));
                    }
                    if r.line()?.is_some() {
                        return Err(r.error("data after the end record"));
                    }
                    return Ok(report);
                }
            }
        }
    }
}

/// `TIERMAIL-EXPORT 1 <user>` -> the user.
fn parse_header(line: &[u8]) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(line).map_err(|_| "header is not UTF-8".to_string())?;
    let mut parts = text.splitn(3, ' ');
    if parts.next() != Some(EXPORT_MAGIC) {
        return Err(format!(
            "not an export archive (the first line does not start with {EXPORT_MAGIC})"
        ));
    }
    let version = parts.next().unwrap_or_default();
    if version != EXPORT_VERSION.to_string() {
        return Err(format!(
            "archive version {version:?} is not supported (this store reads version {EXPORT_VERSION})"
        ));
    }
    match parts.next() {
        Some(u) if !u.is_empty() => Ok(u.to_string()),
        _ => Err("the header names no user".into()),
    }
}

/// Tracks where in the archive reading is, for error messages.
struct ArchiveReader<R> {
    inner: BufReader<R>,
    offset: u64,
    record: u64,
}

impl<R: Read> ArchiveReader<R> {
    fn error(&self, message: impl Into<String>) -> StoreError {
        StoreError::Archive {
            record: self.record,
            offset: self.offset,
            message: message.into(),
        }
    }

    /// The next line without its `\n`; `None` at a clean end of input.
    fn line(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        let n = (&mut self.inner)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.error(format!("reading the archive: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') {
            return Err(self.error(if n as u64 > MAX_LINE {
                "record line longer than 1 MiB".to_string()
            } else {
                "archive ends in the middle of a record line (truncated)".to_string()
            }));
        }
        self.offset += n as u64;
        buf.pop();
        Ok(Some(buf))
    }

    /// Exactly `size` message bytes, then the framing `\n`.
    fn body(&mut self, size: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        let got = (&mut self.inner)
            .take(size)
            .read_to_end(&mut buf)
            .map_err(|e| self.error(format!("reading the archive: {e}")))?;
        self.offset += got as u64;
        if (got as u64) < size {
            return Err(self.error(format!("message body truncated: {got} of {size} bytes")));
        }
        let mut nl = [0u8; 1];
        match self.inner.read(&mut nl) {
            Ok(1) if nl[0] == b'\n' => {
                self.offset += 1;
                Ok(buf)
            }
            Ok(0) => Err(self.error("archive ends right after a message body (truncated)")),
            Ok(_) => Err(self.error(
                "message body is not followed by a newline: its size does not match the record",
            )),
            Err(e) => Err(self.error(format!("reading the archive: {e}"))),
        }
    }
}
