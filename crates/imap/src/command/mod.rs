//! One file per command family; this one dispatches a parsed command after
//! checking that the session's state allows it, and maps store errors to
//! response codes (RFC 5530).

mod acl;
mod any;
mod append;
mod auth;
mod compress;
mod content;
mod copy;
mod expunge;
mod fetch;
mod fetch_section;
mod idle;
mod list;
mod mailbox;
mod namespace;
mod quota;
mod search;
mod select;
mod status;
mod store;
mod thread;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_imap_proto::response::Code;
use mail_imap_proto::{Command, CommandBody};
use mail_store::StoreError;

use crate::session::{Flow, Session, State};

pub use namespace::{OTHER_USERS, SHARED};

/// Which states a command is valid in.
enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

fn needs(body: &CommandBody) -> Needs {
    use CommandBody as C;
    match body {
        C::Capability | C::Noop | C::Logout | C::Id(_) => Needs::Any,
        C::StartTls | C::Authenticate { .. } | C::Login { .. } => Needs::NotAuthenticated,
        C::Check
        | C::Close
        | C::Unselect
        | C::Expunge { .. }
        | C::Search { .. }
        | C::Sort { .. }
        | C::Thread { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. } => Needs::Selected,
        _ => Needs::Authenticated,
    }
}

fn name(body: &CommandBody) -> &'static str {
    use CommandBody as C;
    match body {
        C::Capability => "CAPABILITY",
        C::Noop => "NOOP",
        C::Logout => "LOGOUT",
        C::StartTls => "STARTTLS",
        C::Authenticate { .. } => "AUTHENTICATE",
        C::Login { .. } => "LOGIN",
        C::Enable(_) => "ENABLE",
        C::Select {
            read_only: false, ..
        } => "SELECT",
        C::Select { .. } => "EXAMINE",
        C::Create { .. } => "CREATE",
        C::Delete(_) => "DELETE",
        C::Rename { .. } => "RENAME",
        C::Subscribe(_) => "SUBSCRIBE",
        C::Unsubscribe(_) => "UNSUBSCRIBE",
        C::List(_) => "LIST",
        C::Lsub { .. } => "LSUB",
        C::Namespace => "NAMESPACE",
        C::Status { .. } => "STATUS",
        C::Append { .. } => "APPEND",
        C::Idle => "IDLE",
        C::Check => "CHECK",
        C::Close => "CLOSE",
        C::Unselect => "UNSELECT",
        C::Expunge { .. } => "EXPUNGE",
        C::Search { .. } => "SEARCH",
        C::Sort { .. } => "SORT",
        C::Thread { .. } => "THREAD",
        C::Fetch { .. } => "FETCH",
        C::Store { .. } => "STORE",
        C::Copy { .. } => "COPY",
        C::Move { .. } => "MOVE",
        C::GetQuota(_) => "GETQUOTA",
        C::GetQuotaRoot(_) => "GETQUOTAROOT",
        C::SetQuota { .. } => "SETQUOTA",
        C::GetAcl(_) => "GETACL",
        C::SetAcl { .. } => "SETACL",
        C::DeleteAcl { .. } => "DELETEACL",
        C::ListRights { .. } => "LISTRIGHTS",
        C::MyRights(_) => "MYRIGHTS",
        C::Compress(_) => "COMPRESS",
        _ => "OTHER",
    }
}

/// Whether untagged EXPUNGE may be sent before this command's answer
/// (RFC 3501 7.4.1: not during FETCH, STORE, SEARCH by sequence number).
fn expunge_allowed(body: &CommandBody) -> bool {
    use CommandBody as C;
    !matches!(
        body,
        C::Fetch { uid: false, .. }
            | C::Store { uid: false, .. }
            | C::Search { uid: false, .. }
            | C::Sort { uid: false, .. }
            | C::Thread { uid: false, .. }
            | C::Copy { uid: false, .. }
            | C::Move { uid: false, .. }
    )
}

/// Whether a command turns CONDSTORE on (RFC 7162 3.1): it is turned on
/// before the updates that precede the answer, so they carry MODSEQ too.
/// SELECT (CONDSTORE) and ENABLE do it themselves.
fn enables_condstore(body: &CommandBody) -> bool {
    use CommandBody as C;
    match body {
        C::Fetch {
            items, modifiers, ..
        } => {
            modifiers.changed_since.is_some() || items.contains(&mail_imap_proto::FetchAttr::ModSeq)
        }
        C::Store {
            unchanged_since, ..
        } => unchanged_since.is_some(),
        C::Search { key, .. } | C::Sort { key, .. } | C::Thread { key, .. } => {
            search::has_modseq(key)
        }
        C::Status { items, .. } => items.contains(&mail_imap_proto::StatusItem::HighestModSeq),
        _ => false,
    }
}

/// Runs one command.
pub(crate) async fn execute(
    s: &mut Session,
    cmd: Command,
    conn: &mut Conn,
    shutdown: &Shutdown,
) -> Flow {
    use CommandBody as C;
    let Command { tag, body } = cmd;
    let cmd_name = name(&body);
    let allowed = matches!(
        (needs(&body), &s.state),
        (Needs::Any, _)
            | (Needs::NotAuthenticated, State::NotAuthenticated)
            | (
                Needs::Authenticated,
                State::Authenticated(_) | State::Selected(..)
            )
            | (Needs::Selected, State::Selected(..))
    );
    if !allowed {
        let text = match s.state {
            State::NotAuthenticated => format!("{cmd_name} needs a login first"),
            State::Authenticated(_) if matches!(needs(&body), Needs::Selected) => {
                format!("{cmd_name} needs a selected mailbox")
            }
            _ => format!("{cmd_name} is not allowed in this state"),
        };
        s.shared.metrics.command(cmd_name, "bad");
        return s.bad(&tag, &text);
    }
    // Changes to the selected mailbox go out before the answer, except for
    // commands that leave it: what they would report about the old mailbox
    // would land among the new one's answers (SELECT, EXAMINE) or after
    // the client stopped listening (CLOSE, UNSELECT, RFC 3501 6.4.2).
    let leaves = matches!(body, C::Select { .. } | C::Close | C::Unselect);
    if enables_condstore(&body) {
        s.enable_condstore().await;
    }
    if matches!(s.state, State::Selected(..)) && !leaves {
        s.sync(expunge_allowed(&body)).await;
    }
    let span = tracing::debug_span!("imap.command", command = cmd_name, tag = %tag);
    let (mark, flushes) = (s.out.len(), s.flushes);
    use tracing::Instrument;
    let flow = async {
        match body {
            C::Capability => s.capability(&tag),
            C::Noop | C::Check => s.ok(&tag, None, &format!("{cmd_name} completed")),
            C::Logout => s.logout(&tag),
            C::Id(fields) => s.id(&tag, fields.as_deref()),
            C::Enable(caps) => s.enable(&tag, &caps).await,
            C::Namespace => s.namespace(&tag),
            C::StartTls => s.starttls(&tag),
            C::Login { username, password } => s.login(&tag, &username, &password).await,
            C::Authenticate { mechanism, initial } => {
                s.authenticate(&tag, &mechanism, initial, conn, shutdown)
                    .await
            }
            C::Create {
                mailbox,
                special_use,
            } => s.create(&tag, &mailbox.0, &special_use).await,
            C::Delete(m) => s.delete(&tag, &m.0).await,
            C::Rename { from, to } => s.rename(&tag, &from.0, &to.0).await,
            C::Subscribe(m) => s.subscribe(&tag, &m.0, true).await,
            C::Unsubscribe(m) => s.subscribe(&tag, &m.0, false).await,
            C::List(l) => s.list(&tag, l).await,
            C::Lsub { reference, pattern } => s.lsub(&tag, &reference, &pattern).await,
            C::Select {
                mailbox,
                read_only,
                params,
            } => s.select(&tag, &mailbox.0, read_only, params).await,
            C::Close => s.close(&tag, true).await,
            C::Unselect => s.close(&tag, false).await,
            C::Status { mailbox, items } => s.status(&tag, &mailbox.0, &items).await,
            C::Append { mailbox, messages } => s.append(&tag, &mailbox.0, messages).await,
            C::Idle => s.idle(&tag, conn, shutdown).await,
            C::Expunge { uids } => s.expunge(&tag, uids).await,
            C::Fetch {
                uid,
                set,
                items,
                modifiers,
            } => {
                s.fetch(&tag, uid, &set, items, modifiers, conn, shutdown)
                    .await
            }
            C::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                s.store(&tag, uid, &set, mode, silent, &flags, unchanged_since)
                    .await
            }
            C::Copy { uid, set, mailbox } => s.copy(&tag, uid, &set, &mailbox.0, false).await,
            C::Move { uid, set, mailbox } => s.copy(&tag, uid, &set, &mailbox.0, true).await,
            C::Search {
                uid,
                charset,
                returns,
                key,
            } => s.search(&tag, uid, charset, returns, key).await,
            C::Sort {
                uid,
                criteria,
                charset,
                key,
            } => s.sort(&tag, uid, &criteria, &charset, key).await,
            C::Thread {
                uid,
                algorithm,
                charset,
                key,
            } => s.thread(&tag, uid, algorithm, &charset, key).await,
            C::GetQuota(root) => s.get_quota(&tag, &root).await,
            C::GetQuotaRoot(m) => s.get_quota_root(&tag, &m.0).await,
            C::SetQuota { root, limits } => s.set_quota(&tag, &root, &limits).await,
            C::GetAcl(m) => s.get_acl(&tag, &m.0).await,
            C::SetAcl {
                mailbox,
                identifier,
                rights,
            } => {
                s.set_acl(&tag, &mailbox.0, &identifier, Some(&rights))
                    .await
            }
            C::DeleteAcl {
                mailbox,
                identifier,
            } => s.set_acl(&tag, &mailbox.0, &identifier, None).await,
            C::ListRights {
                mailbox,
                identifier,
            } => s.list_rights(&tag, &mailbox.0, &identifier).await,
            C::MyRights(m) => s.my_rights(&tag, &m.0).await,
            C::Compress(mechanism) => s.compress(&tag, &mechanism),
            _ => s.bad(&tag, "Command not implemented"),
        }
    }
    .instrument(span)
    .await;
    // A command that wrote while it ran left only its tail in `out`.
    let mark = if s.flushes == flushes { mark } else { 0 };
    let result = match s.out.get(mark..).map(last_status) {
        Some(Some(r)) => r,
        _ => "ok",
    };
    if result != "bad" {
        s.bad_commands = 0;
    }
    s.shared.metrics.command(cmd_name, result);
    flow
}

/// The status word of the last tagged line written, for metrics.
fn last_status(out: &[u8]) -> Option<&'static str> {
    let text = out.strip_suffix(b"\r\n")?;
    let start = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let line = &text[start..];
    let mut words = line.split(|&b| b == b' ');
    words.next()?;
    match words.next()? {
        b"OK" => Some("ok"),
        b"NO" => Some("no"),
        b"BAD" => Some("bad"),
        _ => None,
    }
}

/// The response code and text a store error deserves. `missing_target`
/// says a missing mailbox is the destination of APPEND/COPY/MOVE, where
/// RFC 3501 asks for `[TRYCREATE]`.
pub(crate) fn store_error(e: &StoreError, missing_target: bool) -> (Code, String) {
    match e {
        StoreError::MailboxNotFound { .. } if missing_target => {
            (Code::TryCreate, "Mailbox does not exist".into())
        }
        StoreError::MailboxNotFound { .. } => (Code::NonExistent, "Mailbox does not exist".into()),
        StoreError::MailboxExists { .. } => (Code::AlreadyExists, "Mailbox already exists".into()),
        StoreError::InvalidName(_) => (Code::Cannot, "Invalid or reserved mailbox name".into()),
        StoreError::HasChildren(_) => (
            Code::InUse,
            "Mailbox has child mailboxes; delete them first".into(),
        ),
        StoreError::NoSuchMessage(_) => (Code::ExpungeIssued, "Message was expunged".into()),
        StoreError::PermissionDenied { right, .. } => (
            Code::NoPerm,
            format!("Permission denied (right {right} needed)"),
        ),
        StoreError::OverQuotaTemporary { .. } | StoreError::OverQuotaPermanent => {
            (Code::OverQuota, "Quota exceeded".into())
        }
        StoreError::Invalid(why) => (Code::Cannot, format!("Refused: {why}")),
        other => {
            tracing::error!(error = %other, "store failure");
            (
                Code::ServerBug,
                "Internal error in the message store".into(),
            )
        }
    }
}

impl Session {
    /// Answers NO for a store error.
    pub(crate) fn store_no(&mut self, tag: &str, e: &StoreError, missing_target: bool) -> Flow {
        let (code, text) = store_error(e, missing_target);
        self.no(tag, Some(code), &text)
    }

    /// The logged-in user's uid (commands past the state check have one).
    pub(crate) fn uid(&self) -> String {
        self.user().map(|u| u.uid.clone()).unwrap_or_default()
    }
}
