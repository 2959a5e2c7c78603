//! One IMAP session: an explicit state machine fed with parsed commands.
//!
//! ```text
//! NotAuthenticated --LOGIN/AUTHENTICATE--> Authenticated --SELECT/EXAMINE--> Selected
//!        |                                     ^    |                          |
//!        |                                     |    +---------LOGOUT-----------+--> Logout
//!        +--STARTTLS (same state, new stream)  +--CLOSE/UNSELECT/failed SELECT-+
//! ```
//!
//! The run loop frames commands with `mail_imap_proto::parse_command`
//! (sending `+` for synchronizing literals, refusing oversized ones before
//! reading them), runs each through [`crate::command`], and writes the
//! responses once no further complete command is buffered (pipelining).
//! After COMPRESS (RFC 4978) the same buffers stay plain: `flush`
//! deflates what it writes and `read_more` inflates what it reads (see
//! [`crate::compress`]), so every command, literal and IDLE works
//! unchanged through the compressed stream.

use std::sync::Arc;
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_imap_proto::response::{Code, Status, StatusKind};
use mail_imap_proto::{ParseOptions, Parsed, parse_command};
use mail_store::QuotaLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::compress::{Deflate, RELEASE_AFTER};
use crate::server::Shared;
use crate::view::{SyncMode, View};

/// Responses queued beyond this are written even while pipelining, and
/// commands that produce much (FETCH) write as soon as this much waits.
pub(crate) const MAX_QUEUED: usize = 256 * 1024;

/// How much of `out` is deflated and written at a time: compressing a
/// large response whole would double the memory it takes.
const WRITE_CHUNK: usize = 64 * 1024;

/// A logged-in user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// Directory uid, also the store's user id.
    pub(crate) uid: String,
    /// Limits from the directory, enforced by the store on APPEND/COPY.
    pub(crate) quota: QuotaLimits,
}

/// Where the session is (RFC 3501 3).
pub(crate) enum State {
    /// Before LOGIN/AUTHENTICATE.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated(User),
    /// A mailbox is selected.
    Selected(User, Box<View>),
    /// LOGOUT accepted; the connection closes.
    Logout,
}

/// Extensions the client turned on (RFC 5161 ENABLE and implicit ones).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Enabled {
    pub(crate) condstore: bool,
    pub(crate) qresync: bool,
    pub(crate) utf8: bool,
    pub(crate) rev2: bool,
}

/// What the run loop does after a command.
pub(crate) enum Flow {
    Continue,
    Close,
    StartTls,
    /// COMPRESS accepted: the tagged OK goes out plain, then deflate starts.
    Compress,
    /// The connection is unusable (a write failed, or the client read
    /// nothing for the idle timeout): drop it without writing more.
    Abort,
}

/// Why reading more input stopped.
pub(crate) enum ReadEnd {
    Closed,
    Timeout,
    Shutdown,
    TooLong,
}

/// A session's state and buffers.
pub struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: State,
    pub(crate) enabled: Enabled,
    pub(crate) tls: bool,
    pub(crate) can_start_tls: bool,
    pub(crate) inbuf: Vec<u8>,
    pub(crate) out: Vec<u8>,
    /// BADs in a row: any other answer resets it, so a long session that
    /// errs now and then is not cut off (only a client that talks no IMAP
    /// at all is).
    pub(crate) bad_commands: u32,
    pub(crate) auth_failures: u32,
    /// UIDs saved by `SEARCH RETURN (SAVE)` (RFC 5182).
    pub(crate) saved: Vec<u32>,
    /// COMPRESS=DEFLATE state once the client turned it on (RFC 4978).
    pub(crate) compress: Option<Deflate>,
    /// Who is connected: a trusted proxy, or the client itself.
    pub(crate) peer: Option<std::net::SocketAddr>,
    /// The client's address a trusted proxy passed with ID.
    pub(crate) client: Option<std::net::SocketAddr>,
    /// The client asked for login referrals (RFC 2221) in its ID.
    pub(crate) referrals: bool,
    /// This session's place in the per-user session limit, held until it
    /// ends.
    pub(crate) user_slot: Option<mail_core::conn_limit::Slot<String>>,
    /// How many times `out` was written: a command that flushes while it
    /// runs (FETCH) moves its own answer to the start of `out`.
    pub(crate) flushes: u64,
    continued: Option<usize>,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            state: State::NotAuthenticated,
            enabled: Enabled::default(),
            tls: false,
            can_start_tls: false,
            inbuf: Vec::new(),
            out: Vec::new(),
            bad_commands: 0,
            auth_failures: 0,
            saved: Vec::new(),
            compress: None,
            peer: None,
            client: None,
            referrals: false,
            user_slot: None,
            flushes: 0,
            continued: None,
        }
    }

    pub(crate) fn parse_options(&self) -> ParseOptions {
        let c = &self.shared.config;
        ParseOptions {
            max_line: c.max_line,
            max_literal: c.max_message_size,
            max_command: c.max_message_size + c.max_line as u64 * 4,
            max_depth: c.max_depth,
            utf8_names: self.utf8(),
        }
    }

    /// Mailbox names and quoted strings are UTF-8.
    pub(crate) fn utf8(&self) -> bool {
        self.enabled.utf8 || self.enabled.rev2
    }

    pub(crate) fn sync_mode(&self, allow_expunge: bool) -> SyncMode {
        SyncMode {
            allow_expunge,
            condstore: self.enabled.condstore,
            qresync: self.enabled.qresync,
            utf8: self.utf8(),
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub(crate) fn ok(&mut self, tag: &str, code: Option<Code>, text: &str) -> Flow {
        self.push(&Status::ok(tag, code, text).to_bytes());
        Flow::Continue
    }

    pub(crate) fn no(&mut self, tag: &str, code: Option<Code>, text: &str) -> Flow {
        self.push(&Status::no(tag, code, text).to_bytes());
        Flow::Continue
    }

    pub(crate) fn bad(&mut self, tag: &str, text: &str) -> Flow {
        self.bad_commands += 1;
        self.push(&Status::bad(tag, None, text).to_bytes());
        if self.bad_commands >= self.shared.config.max_bad_commands {
            self.bye("Too many invalid commands in a row, closing");
            return Flow::Close;
        }
        Flow::Continue
    }

    pub(crate) fn bye(&mut self, text: &str) {
        self.push(&Status::untagged(StatusKind::Bye, None, text).to_bytes());
    }

    /// Queues a response built apart (a FETCH line with its literals):
    /// moved into `out` when nothing else waits, so a large message is
    /// not copied.
    pub(crate) fn queue(&mut self, bytes: Vec<u8>) {
        if self.out.is_empty() {
            self.out = bytes;
        } else {
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Writes `out`, awaiting the socket: a client that does not read
    /// holds the writer here (back-pressure) instead of making `out` grow.
    pub(crate) async fn flush(&mut self, conn: &mut Conn) -> std::io::Result<()> {
        if !self.out.is_empty() {
            match &mut self.compress {
                Some(z) => {
                    let mut wire = Vec::new();
                    for chunk in self.out.chunks(WRITE_CHUNK) {
                        wire.clear();
                        z.compress(chunk, &mut wire)?;
                        conn.stream.write_all(&wire).await?;
                    }
                }
                None => conn.stream.write_all(&self.out).await?,
            }
            conn.stream.flush().await?;
            self.flushes += 1;
            self.out.clear();
            if self.out.capacity() > MAX_QUEUED {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    /// [`Self::flush`] in the middle of a command: gives up when the
    /// client has read nothing for the idle timeout or the server shuts
    /// down. `false` means the connection must be dropped
    /// ([`Flow::Abort`]): part of a response may have been written.
    pub(crate) async fn flush_within(&mut self, conn: &mut Conn, shutdown: &Shutdown) -> bool {
        let limit = self.shared.config.idle_timeout;
        let done = tokio::select! {
            _ = shutdown.triggered() => false,
            r = tokio::time::timeout(limit, self.flush(conn)) => matches!(r, Ok(Ok(()))),
        };
        if !done {
            self.out = Vec::new();
        }
        done
    }

    fn timeout(&self) -> Duration {
        match self.state {
            State::NotAuthenticated => self.shared.config.login_timeout,
            _ => self.shared.config.idle_timeout,
        }
    }

    /// Reads more bytes into `inbuf` (inflated when COMPRESS is on).
    pub(crate) async fn read_more(
        &mut self,
        conn: &mut Conn,
        shutdown: &Shutdown,
        timeout: Duration,
    ) -> Result<(), ReadEnd> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(z) = &mut self.compress
                && z.has_pending()
            {
                match z.inflate(&mut self.inbuf) {
                    Ok(0) => {}
                    Ok(_) => return Ok(()),
                    Err(e) => {
                        tracing::info!(error = %e, "bad compressed input");
                        return Err(ReadEnd::Closed);
                    }
                }
            }
            // An idle session gives its compressor back (see crate::compress).
            let release = self.compress.as_ref().is_some_and(|z| z.holds_compressor());
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let wait = if release {
                left.min(RELEASE_AFTER)
            } else {
                left
            };
            let mut buf = [0u8; 16 * 1024];
            let read = tokio::select! {
                _ = shutdown.triggered() => return Err(ReadEnd::Shutdown),
                r = tokio::time::timeout(wait, conn.stream.read(&mut buf)) => r,
            };
            match read {
                Err(_) if release && wait < left => {
                    if let Some(z) = &mut self.compress {
                        z.release();
                    }
                }
                Err(_) => return Err(ReadEnd::Timeout),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(ReadEnd::Closed),
                Ok(Ok(n)) => match &mut self.compress {
                    Some(z) => z.feed(&buf[..n]),
                    None => {
                        self.inbuf.extend_from_slice(&buf[..n]);
                        return Ok(());
                    }
                },
            }
        }
    }

    /// Reads one plain line (AUTHENTICATE responses, IDLE's DONE).
    pub(crate) async fn read_line(
        &mut self,
        conn: &mut Conn,
        shutdown: &Shutdown,
        timeout: Duration,
    ) -> Result<Vec<u8>, ReadEnd> {
        loop {
            match mail_imap_proto::parse_line(&self.inbuf, self.shared.config.max_line) {
                Ok(Some((line, consumed))) => {
                    let line = line.to_vec();
                    self.inbuf.drain(..consumed);
                    return Ok(line);
                }
                Ok(None) => {}
                Err(_) => return Err(ReadEnd::TooLong),
            }
            self.flush(conn).await.map_err(|_| ReadEnd::Closed)?;
            self.read_more(conn, shutdown, timeout).await?;
        }
    }

    fn greeting(&mut self) {
        let caps = self.capabilities();
        let mut text = format!(
            "{} IMAP4rev1 IMAP4rev2 service ready",
            self.shared.config.hostname
        );
        // A client that forgot TLS is told so before its LOGIN fails
        // (RFC 8314 3: TLS is required; LOGINDISABLED alone is easy to miss).
        if !self.login_allowed() {
            text.push_str("; TLS is required to log in: use STARTTLS or the implicit-TLS port");
        }
        self.push(
            &Status::untagged(StatusKind::Ok, Some(Code::Capability(caps)), &text).to_bytes(),
        );
    }

    /// Serves the connection until LOGOUT, close, timeout or shutdown.
    pub(crate) async fn run(mut self, mut conn: Conn, shutdown: Shutdown) {
        self.tls = conn.is_tls();
        self.can_start_tls = conn.can_start_tls();
        self.peer = Some(conn.peer);
        self.greeting();
        loop {
            loop {
                let opts = self.parse_options();
                match parse_command(&self.inbuf, &opts) {
                    Ok(Parsed::Complete { command, consumed }) => {
                        self.inbuf.drain(..consumed);
                        self.continued = None;
                        let flow =
                            crate::command::execute(&mut self, command, &mut conn, &shutdown).await;
                        match flow {
                            Flow::Continue => {}
                            Flow::Abort => return,
                            Flow::Close => {
                                let _ = self.flush(&mut conn).await;
                                let _ = conn.stream.shutdown().await;
                                return;
                            }
                            Flow::StartTls => {
                                if self.flush(&mut conn).await.is_err() {
                                    return;
                                }
                                // RFC 3501 6.2.1: nothing sent before the handshake counts.
                                self.inbuf.clear();
                                match conn.start_tls().await {
                                    Ok(upgraded) => {
                                        conn = upgraded;
                                        self.tls = true;
                                        self.can_start_tls = false;
                                        tracing::Span::current().record("tls", true);
                                    }
                                    Err(e) => {
                                        tracing::info!(error = %e, "STARTTLS handshake failed");
                                        return;
                                    }
                                }
                            }
                            Flow::Compress => {
                                if self.flush(&mut conn).await.is_err() {
                                    return;
                                }
                                // RFC 4978 3: everything after the tagged OK's
                                // CRLF is compressed, including what the
                                // client already sent.
                                let leftover = std::mem::take(&mut self.inbuf);
                                self.compress = Some(Deflate::new(leftover));
                            }
                        }
                        if self.out.len() > MAX_QUEUED && self.flush(&mut conn).await.is_err() {
                            return;
                        }
                    }
                    Ok(Parsed::Incomplete) => break,
                    Ok(Parsed::NeedLiteral {
                        synchronizing,
                        offset,
                        ..
                    }) => {
                        if synchronizing && self.continued != Some(offset) {
                            self.continued = Some(offset);
                            self.push(b"+ Ready for literal data\r\n");
                        }
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "bad command");
                        self.continued = None;
                        if e.is_refusal() {
                            self.bad_commands = 0;
                        } else {
                            self.bad_commands += 1;
                        }
                        self.push(&e.response());
                        match e.consumed {
                            Some(n) if self.bad_commands < self.shared.config.max_bad_commands => {
                                self.inbuf.drain(..n.min(self.inbuf.len()));
                            }
                            Some(_) => {
                                self.bye("Too many invalid commands in a row, closing");
                                let _ = self.flush(&mut conn).await;
                                let _ = conn.stream.shutdown().await;
                                return;
                            }
                            None => {
                                self.bye("Cannot recover from the previous error, closing");
                                let _ = self.flush(&mut conn).await;
                                let _ = conn.stream.shutdown().await;
                                return;
                            }
                        }
                    }
                }
            }
            if self.flush(&mut conn).await.is_err() {
                return;
            }
            let timeout = self.timeout();
            match self.read_more(&mut conn, &shutdown, timeout).await {
                Ok(()) => {}
                Err(ReadEnd::Shutdown) => {
                    self.bye("Server shutting down");
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Err(ReadEnd::Timeout) => {
                    self.bye("Autologout; idle for too long");
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Err(ReadEnd::Closed | ReadEnd::TooLong) => return,
            }
        }
    }

    /// The capabilities for the current state (RFC 3501 7.2.1).
    pub(crate) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = vec!["IMAP4rev1".into(), "IMAP4rev2".into()];
        let authed = !matches!(self.state, State::NotAuthenticated);
        if !authed {
            if self.can_start_tls {
                caps.push("STARTTLS".into());
            }
            if self.login_allowed() {
                caps.extend(["AUTH=PLAIN".into(), "AUTH=LOGIN".into()]);
            } else {
                caps.push("LOGINDISABLED".into());
            }
            caps.push("SASL-IR".into());
            // RFC 2221 3: a store that refers users homed elsewhere.
            if self.shared.policy.host.is_some() {
                caps.push("LOGIN-REFERRALS".into());
            }
        }
        for c in [
            "LITERAL+",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "CHILDREN",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "CONDSTORE",
            "QRESYNC",
            "ESEARCH",
            "SEARCHRES",
            "SORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "QUOTA=RES-MESSAGE",
            "ACL",
            "RIGHTS=texk",
            "BINARY",
            "STATUS=SIZE",
            "UTF8=ACCEPT",
        ] {
            caps.push(c.into());
        }
        if authed {
            // RFC 4978 5: COMPRESS is a command-auth (after login only).
            caps.push("COMPRESS=DEFLATE".into());
            // RFC 9208 4.1.3: SETQUOTA works for quota administrators.
            if self.is_quota_admin() {
                caps.push("QUOTASET".into());
            }
        }
        caps.push(format!(
            "APPENDLIMIT={}",
            self.shared.config.max_message_size
        ));
        caps
    }

    /// LOGIN/AUTHENTICATE allowed now (RFC 3501 6.2.3, RFC 9051 11.1).
    pub(crate) fn login_allowed(&self) -> bool {
        self.tls || self.shared.config.allow_plaintext_login
    }

    /// The logged-in user, if any.
    pub(crate) fn user(&self) -> Option<&User> {
        match &self.state {
            State::Authenticated(u) | State::Selected(u, _) => Some(u),
            _ => None,
        }
    }

    /// Turns CONDSTORE on for a CONDSTORE-enabling command (RFC 7162
    /// 3.1): when that happens with a mailbox selected, the client learns
    /// the mailbox's HIGHESTMODSEQ at once in an untagged OK, since the
    /// SELECT response it got carried none it had reason to keep.
    pub(crate) async fn enable_condstore(&mut self) {
        if self.enabled.condstore {
            return;
        }
        self.enabled.condstore = true;
        let State::Selected(_, view) = &self.state else {
            return;
        };
        let handle = view.handle.clone();
        match self.shared.store.run(move |s| s.status(&handle)).await {
            Ok(st) => self.push(
                &Status::untagged(
                    StatusKind::Ok,
                    Some(Code::HighestModSeq(st.highestmodseq)),
                    "CONDSTORE enabled",
                )
                .to_bytes(),
            ),
            Err(e) => tracing::warn!(error = %e, "HIGHESTMODSEQ unavailable"),
        }
    }

    /// Reports changes to the selected mailbox (see [`View::sync`]).
    pub(crate) async fn sync(&mut self, allow_expunge: bool) {
        let mode = self.sync_mode(allow_expunge);
        let State::Selected(_, view) = &mut self.state else {
            return;
        };
        let mut out = Vec::new();
        if let Err(e) = view.sync(&self.shared.store, mode, &mut out).await {
            tracing::warn!(error = %e, "mailbox sync failed");
        }
        let gone = view.gone;
        self.out.extend_from_slice(&out);
        if gone && let State::Selected(user, _) = std::mem::replace(&mut self.state, State::Logout)
        {
            self.state = State::Authenticated(user);
            self.push(b"* OK [CLOSED] The selected mailbox was deleted or renamed\r\n");
        }
    }
}
