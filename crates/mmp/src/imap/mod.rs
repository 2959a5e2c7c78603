//! IMAP towards clients: a small state machine before login, a byte pump
//! after it.
//!
//! ```text
//! NotAuthenticated --STARTTLS--> NotAuthenticated (TLS, input buffered before it dropped)
//!        |
//!        +--LOGIN / AUTHENTICATE PLAIN: directory, mailHost, store login--> Relaying --> closed
//!        +--LOGOUT, too many failures or bad commands, login timeout--> closed
//! ```
//!
//! Before login the proxy answers CAPABILITY, NOOP, ID, STARTTLS and
//! LOGOUT itself (commands are framed and parsed by `mail-imap-proto`, with
//! the small literal limit of `[imap] max_literal`); anything else is BAD.
//! After login the client gets the store's post-login capabilities in the
//! tagged OK (RFC 3501 6.2.3) and from then on talks to the store
//! ([`crate::relay`]).

mod commands;

use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler};
use mail_imap_proto::response::{Code, Status, StatusKind};
use mail_imap_proto::{ParseOptions, Parsed, parse_command};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tracing::Instrument;

use crate::backend::ClientInfo;
use crate::config::FrontConfig;
use crate::login::{LoggedIn, Shared, left, session_id};
use crate::route::Protocol;

/// The IMAP listener's handler.
pub(crate) struct ImapFront {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Arc<FrontConfig>,
}

impl Handler for ImapFront {
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send {
        let id = session_id();
        let span = tracing::info_span!(
            "mmp.session",
            protocol = "imap",
            session = %id,
            peer = %conn.peer,
            tls = conn.is_tls(),
            user = tracing::field::Empty,
            store = tracing::field::Empty,
        );
        let shared = self.shared.clone();
        let config = self.config.clone();
        async move {
            let Some(_slot) = shared.per_ip.acquire(conn.peer.ip()) else {
                shared.metrics.refused(Protocol::Imap, "per_ip_limit");
                tracing::warn!("too many connections from this address");
                let mut conn = conn;
                let _ = conn
                    .stream
                    .write_all(b"* BYE [UNAVAILABLE] Too many connections from your address\r\n")
                    .await;
                let _ = conn.stream.shutdown().await;
                return;
            };
            shared.metrics.opened(Protocol::Imap);
            let client = ClientInfo {
                peer: conn.peer,
                local: conn.local,
                session: id,
            };
            let session = Session::new(shared.clone(), config, client);
            session.run(conn, shutdown).await;
            shared.metrics.closed(Protocol::Imap);
        }
        .instrument(span)
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
    }
}

/// What the run loop does after a command.
pub(crate) enum Flow {
    Continue,
    Close,
    StartTls,
    Relay(Box<LoggedIn>),
}

/// The state before login.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Arc<FrontConfig>,
    pub(crate) client: ClientInfo,
    pub(crate) tls: bool,
    pub(crate) can_start_tls: bool,
    pub(crate) inbuf: Vec<u8>,
    pub(crate) out: Vec<u8>,
    pub(crate) bad_commands: u32,
    pub(crate) auth_failures: u32,
    /// The time by which the client must have logged in.
    pub(crate) deadline: Instant,
    continued: Option<usize>,
}

/// Why reading stopped.
pub(crate) enum ReadEnd {
    Closed,
    Timeout,
    Shutdown,
}

impl Session {
    fn new(shared: Arc<Shared>, config: Arc<FrontConfig>, client: ClientInfo) -> Self {
        let deadline = Instant::now() + config.login_timeout;
        Self {
            shared,
            config,
            client,
            tls: false,
            can_start_tls: false,
            inbuf: Vec::new(),
            out: Vec::new(),
            bad_commands: 0,
            auth_failures: 0,
            deadline,
            continued: None,
        }
    }

    fn options(&self) -> ParseOptions {
        ParseOptions {
            max_line: self.config.max_line,
            max_literal: self.config.max_literal,
            max_command: self.config.max_literal * 2 + self.config.max_line as u64,
            max_depth: 8,
            utf8_names: false,
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
        self.push(&Status::bad(tag, None, text).to_bytes());
        self.count_bad()
    }

    fn count_bad(&mut self) -> Flow {
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            self.bye(None, "Too many invalid commands");
            return Flow::Close;
        }
        Flow::Continue
    }

    pub(crate) fn bye(&mut self, code: Option<Code>, text: &str) {
        self.push(&Status::untagged(StatusKind::Bye, code, text).to_bytes());
    }

    pub(crate) async fn flush(&mut self, conn: &mut Conn) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let write = async {
                conn.stream.write_all(&self.out).await?;
                conn.stream.flush().await
            };
            // A client that does not read cannot hold the session forever.
            tokio::time::timeout(self.config.login_timeout, write)
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads more input, until the login deadline at most.
    pub(crate) async fn read_more(
        &mut self,
        conn: &mut Conn,
        shutdown: &Shutdown,
    ) -> Result<(), ReadEnd> {
        self.inbuf.reserve(4096);
        let read = tokio::select! {
            _ = shutdown.triggered() => return Err(ReadEnd::Shutdown),
            r = tokio::time::timeout(left(self.deadline), conn.stream.read_buf(&mut self.inbuf)) => r,
        };
        match read {
            Err(_) => Err(ReadEnd::Timeout),
            Ok(Ok(0)) | Ok(Err(_)) => Err(ReadEnd::Closed),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Reads one line (an AUTHENTICATE response), at most `max_line` long.
    pub(crate) async fn read_line(
        &mut self,
        conn: &mut Conn,
        shutdown: &Shutdown,
    ) -> Result<Option<Vec<u8>>, ReadEnd> {
        loop {
            match mail_imap_proto::parse_line(&self.inbuf, self.config.max_line) {
                Ok(Some((line, consumed))) => {
                    let line = line.to_vec();
                    self.inbuf.drain(..consumed);
                    return Ok(Some(line));
                }
                Ok(None) => {}
                Err(_) => return Ok(None),
            }
            self.flush(conn).await.map_err(|_| ReadEnd::Closed)?;
            self.read_more(conn, shutdown).await?;
        }
    }

    fn greeting(&mut self) {
        let caps = self.capabilities();
        let text = format!("{} IMAP4rev1 IMAP4rev2 proxy ready", self.config.hostname);
        self.push(
            &Status::untagged(StatusKind::Ok, Some(Code::Capability(caps)), &text).to_bytes(),
        );
    }

    /// Passwords are accepted now (RFC 3501 6.2.3, RFC 9051 11.1).
    pub(crate) fn login_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_login
    }

    /// The capabilities before login (RFC 3501 7.2.1).
    pub(crate) fn capabilities(&self) -> Vec<String> {
        let mut caps = vec!["IMAP4rev1".to_string(), "IMAP4rev2".to_string()];
        if self.can_start_tls {
            caps.push("STARTTLS".into());
        }
        if self.login_allowed() {
            caps.push("AUTH=PLAIN".into());
        } else {
            caps.push("LOGINDISABLED".into());
        }
        caps.extend(["SASL-IR", "ID", "LITERAL+"].map(String::from));
        caps
    }

    async fn close(&mut self, conn: &mut Conn) {
        let _ = self.flush(conn).await;
        let _ = conn.stream.shutdown().await;
    }

    /// Serves the connection until it logs in (then relays), closes, or
    /// runs out of time.
    async fn run(mut self, mut conn: Conn, shutdown: Shutdown) {
        self.tls = conn.is_tls();
        self.can_start_tls = conn.can_start_tls();
        self.greeting();
        loop {
            loop {
                let opts = self.options();
                match parse_command(&self.inbuf, &opts) {
                    Ok(Parsed::Complete { command, consumed }) => {
                        self.inbuf.drain(..consumed);
                        self.continued = None;
                        match self.command(command, &mut conn, &shutdown).await {
                            Flow::Continue => {}
                            Flow::Close => return self.close(&mut conn).await,
                            Flow::StartTls => match self.start_tls(conn).await {
                                Some(upgraded) => conn = upgraded,
                                None => return,
                            },
                            Flow::Relay(logged_in) => {
                                return self.relay(conn, *logged_in).await;
                            }
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
                        self.push(&e.response());
                        let close = matches!(self.count_bad(), Flow::Close);
                        match e.consumed {
                            _ if close => return self.close(&mut conn).await,
                            Some(n) => {
                                self.inbuf.drain(..n.min(self.inbuf.len()));
                            }
                            None => {
                                self.bye(None, "Cannot recover from the previous error, closing");
                                return self.close(&mut conn).await;
                            }
                        }
                    }
                }
            }
            if self.flush(&mut conn).await.is_err() {
                return;
            }
            match self.read_more(&mut conn, &shutdown).await {
                Ok(()) => {}
                Err(ReadEnd::Shutdown) => {
                    self.bye(Some(Code::Unavailable), "Server shutting down");
                    return self.close(&mut conn).await;
                }
                Err(ReadEnd::Timeout) => {
                    tracing::info!("no login in time");
                    self.bye(None, "Autologout; no login in time");
                    return self.close(&mut conn).await;
                }
                Err(ReadEnd::Closed) => return,
            }
        }
    }

    async fn start_tls(&mut self, mut conn: Conn) -> Option<Conn> {
        if self.flush(&mut conn).await.is_err() {
            return None;
        }
        // RFC 3501 6.2.1: nothing the client sent before the handshake counts.
        self.inbuf.clear();
        match tokio::time::timeout(left(self.deadline), conn.start_tls()).await {
            Ok(Ok(upgraded)) => {
                self.tls = true;
                self.can_start_tls = false;
                tracing::Span::current().record("tls", true);
                Some(upgraded)
            }
            Ok(Err(e)) => {
                tracing::info!(error = %e, "STARTTLS handshake failed");
                None
            }
            Err(_) => {
                tracing::info!("STARTTLS handshake timed out");
                None
            }
        }
    }

    /// Hands the client to the store: anything it pipelined after its
    /// login goes first, then bytes flow both ways until one side closes.
    async fn relay(mut self, mut conn: Conn, logged_in: LoggedIn) {
        let LoggedIn {
            uid,
            store,
            backend,
        } = logged_in;
        let mut stream = backend.stream;
        let early = std::mem::take(&mut self.inbuf);
        if !backend.pending.is_empty() {
            self.push(&backend.pending);
        }
        if self.flush(&mut conn).await.is_err() {
            return;
        }
        if !early.is_empty() && stream.write_all(&early).await.is_err() {
            self.bye(Some(Code::Unavailable), "Mail store connection lost");
            return self.close(&mut conn).await;
        }
        let shared = self.shared.clone();
        // The pre-login buffers are not needed any more.
        drop(self);
        drop(early);
        let started = Instant::now();
        let r = crate::relay::relay(
            &mut conn.stream,
            &mut stream,
            &shared.metrics,
            Protocol::Imap,
        )
        .await;
        tracing::info!(
            user = %uid,
            store = %store,
            ended_by = r.ended_by,
            to_store = r.to_store,
            to_client = r.to_client,
            error = r.error.as_ref().map(tracing::field::display),
            duration = ?started.elapsed(),
            "session ended"
        );
    }
}
