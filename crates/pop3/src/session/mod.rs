//! One POP3 session: an explicit state machine fed with command lines.
//!
//! ```text
//! AUTHORIZATION --USER/PASS or AUTH, maildrop locked--> TRANSACTION --QUIT--> UPDATE (commit) --> closed
//!       |  ^                                                 |
//!       |  '--STLS (TLS, state forgotten)                    '--drop, timeout, shutdown: closed, nothing deleted
//!       '--QUIT: closed
//! ```
//!
//! AUTHORIZATION itself has sub-states: waiting for a command, after USER
//! (waiting for PASS), and inside a SASL exchange (waiting for a base64
//! response line). Each command family lives in its own file. Replies are
//! queued and flushed only when no further complete command is buffered
//! (PIPELINING, RFC 2449 6.6), or when a message being sent grows large.

mod auth;
mod capa;
mod quit;
mod retr;
mod transaction;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;
use crate::maildrop::{Account, Authenticator, Maildrops};
use crate::proto::{Command, LineReader, Response};
use crate::server::Shared;

/// Output queued beyond this is written out even while pipelining, and
/// while a message is streamed.
const FLUSH_AT: usize = 64 * 1024;

/// What the run loop does after a command.
pub(crate) enum Flow {
    Continue,
    Close,
    StartTls,
}

/// A SASL exchange waiting for the client's next response line.
enum SaslStep {
    /// AUTH PLAIN sent without initial response; `+ ` sent.
    Plain,
    /// AUTH LOGIN: `Username:` prompt sent.
    LoginUser,
    /// AUTH LOGIN: `Password:` prompt sent for this user.
    LoginPassword(String),
}

/// AUTHORIZATION sub-states (RFC 1939 4).
enum Authorization {
    /// Waiting for USER, AUTH, CAPA, STLS or QUIT.
    Start,
    /// USER accepted; PASS next.
    User(String),
    /// Inside AUTH.
    Sasl(SaslStep),
}

/// The TRANSACTION state: a locked maildrop and the DELE marks.
struct Transaction<D> {
    account: Account,
    maildrop: D,
    deleted: Vec<bool>,
    /// The session's place in the per-user session limit.
    _slot: Option<mail_core::conn_limit::Slot<String>>,
}

/// Where the session is (RFC 1939 3).
enum State<D> {
    /// Not logged in.
    Authorization(Authorization),
    /// Logged in with the maildrop locked.
    Transaction(Box<Transaction<D>>),
    /// QUIT received in TRANSACTION: deletions committed, closing. Also
    /// the placeholder while a state is taken out to be swapped.
    Update,
}

/// A session's state and buffers.
pub(crate) struct Session<A, M: Maildrops> {
    shared: Arc<Shared<A, M>>,
    shutdown: Shutdown,
    state: State<M::Maildrop>,
    reader: LineReader,
    out: Vec<u8>,
    buf: Vec<u8>,
    tls: bool,
    errors: u32,
    auth_failures: u32,
    /// Who is connected: a trusted proxy, or the client itself.
    peer: SocketAddr,
    /// The client as logs and limits see it: the peer, or the address a
    /// trusted proxy passed with XCLIENT.
    client: SocketAddr,
}

impl<A: Authenticator, M: Maildrops> Session<A, M> {
    pub(crate) fn new(shared: Arc<Shared<A, M>>, shutdown: Shutdown) -> Self {
        Self {
            reader: LineReader::new(shared.config.max_line),
            shared,
            shutdown,
            state: State::Authorization(Authorization::Start),
            out: Vec::new(),
            buf: vec![0; 16 * 1024],
            tls: false,
            errors: 0,
            auth_failures: 0,
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// Serves the connection until QUIT, close, timeout or shutdown. The
    /// maildrop (and its lock) is dropped when this returns, whichever way.
    pub(crate) async fn run(mut self, mut conn: Conn) {
        self.tls = conn.is_tls();
        self.peer = conn.peer;
        self.client = conn.peer;
        let mut greeting = format!("{} POP3 server ready", self.shared.config.hostname);
        // RFC 8314 3: a client that forgot TLS learns it from the first line.
        if !self.auth_allowed() {
            greeting.push_str(", TLS is required to log in: use STLS or the POP3S port");
        }
        self.reply(Response::ok(greeting));
        loop {
            while let Some(line) = self.reader.next_line() {
                let flow = match line {
                    Ok(line) => self.line(&line, &mut conn).await,
                    Err(_) => {
                        self.shared.metrics.command("UNKNOWN");
                        self.cancel_sasl();
                        self.bad(Response::err(format!(
                            "Line too long (limit {} octets)",
                            self.shared.config.max_line
                        )))
                    }
                };
                match flow {
                    Flow::Continue => {}
                    Flow::Close => {
                        let _ = self.flush(&mut conn).await;
                        let _ = conn.stream.shutdown().await;
                        return;
                    }
                    Flow::StartTls => match self.start_tls(conn).await {
                        Some(upgraded) => conn = upgraded,
                        None => return,
                    },
                }
                if self.out.len() > FLUSH_AT && self.flush(&mut conn).await.is_err() {
                    return;
                }
            }
            if self.flush(&mut conn).await.is_err() {
                return;
            }
            let timeout = self.shared.config.idle_timeout;
            let read = tokio::select! {
                _ = self.shutdown.triggered() => None,
                r = tokio::time::timeout(timeout, conn.stream.read(&mut self.buf)) => Some(r),
            };
            match read {
                None => {
                    self.reply(Response::err_code(
                        crate::proto::RespCode::SysTemp,
                        "Server shutting down, nothing deleted",
                    ));
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Some(Err(_)) => {
                    // RFC 1939 3: close silently, without entering UPDATE.
                    tracing::info!("idle timeout, closing without deleting");
                    return;
                }
                Some(Ok(Ok(0))) => {
                    if matches!(self.state, State::Transaction(_)) {
                        tracing::info!("connection dropped before QUIT, nothing deleted");
                    }
                    return;
                }
                Some(Ok(Err(e))) => {
                    tracing::info!(error = %e, "read failed");
                    return;
                }
                Some(Ok(Ok(n))) => {
                    let (reader, buf) = (&mut self.reader, &self.buf);
                    reader.push(&buf[..n]);
                }
            }
        }
    }

    /// Runs one input line: a SASL response inside AUTH, else a command.
    async fn line(&mut self, line: &[u8], conn: &mut Conn) -> Flow {
        if let State::Authorization(Authorization::Sasl(_)) = &self.state {
            return self.sasl_response(line).await;
        }
        let cmd = match Command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                tracing::debug!(error = %e, "bad command");
                self.shared.metrics.command("UNKNOWN");
                return self.bad(Response::err(e.to_string()));
            }
        };
        tracing::trace!(command = ?cmd, "command");
        self.shared.metrics.command(cmd.keyword());
        if cmd == Command::Capa {
            return self.capa(conn);
        }
        match self.state {
            State::Authorization(_) => self.authorization(cmd, conn).await,
            State::Transaction(_) => self.transaction(cmd, conn).await,
            State::Update => Flow::Close,
        }
    }

    /// A command in the AUTHORIZATION state (RFC 1939 4, 7).
    async fn authorization(&mut self, cmd: Command, conn: &Conn) -> Flow {
        match cmd {
            Command::User(name) => self.user(name),
            Command::Pass(password) => self.pass(password).await,
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial).await,
            Command::Stls => self.stls(conn),
            Command::Xclient(attrs) => self.xclient(&attrs),
            Command::Quit => {
                self.reply(Response::ok("Bye"));
                Flow::Close
            }
            other => self.bad(Response::err(format!(
                "{} is not valid before login",
                other.keyword()
            ))),
        }
    }

    /// A command in the TRANSACTION state (RFC 1939 5).
    async fn transaction(&mut self, cmd: Command, conn: &mut Conn) -> Flow {
        match cmd {
            Command::Stat => self.stat(),
            Command::List(n) => self.list(n),
            Command::Uidl(n) => self.uidl(n),
            Command::Retr(n) => self.retr(n, None, conn).await,
            Command::Top(n, lines) => self.retr(n, Some(lines), conn).await,
            Command::Dele(n) => self.dele(n),
            Command::Rset => self.rset(),
            Command::Noop => self.ok("OK"),
            Command::Quit => self.quit().await,
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } => {
                self.bad(Response::err("Already logged in"))
            }
            Command::Stls => self.bad(Response::err("STLS is only valid before login")),
            Command::Xclient(_) => self.bad(Response::err("XCLIENT is only valid before login")),
            Command::Capa => Flow::Continue,
        }
    }

    /// Takes the state out to swap it as a whole.
    fn take_state(&mut self) -> State<M::Maildrop> {
        std::mem::replace(&mut self.state, State::Update)
    }

    /// Leaves a SASL exchange that cannot go on.
    fn cancel_sasl(&mut self) {
        if let State::Authorization(Authorization::Sasl(_)) = self.state {
            self.state = State::Authorization(Authorization::Start);
        }
    }

    /// Queues a response (flushed before the next read).
    fn reply(&mut self, r: Response) {
        self.out.extend_from_slice(&r.render());
    }

    fn ok(&mut self, text: &str) -> Flow {
        self.reply(Response::ok(text));
        Flow::Continue
    }

    /// Queues an error response; too many of them end the session.
    fn bad(&mut self, r: Response) -> Flow {
        self.reply(r);
        self.errors += 1;
        if self.errors >= self.shared.config.max_errors {
            tracing::info!(errors = self.errors, "too many errors, closing");
            self.reply(Response::err("Too many errors, closing connection"));
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let write = async {
            conn.stream.write_all(&out).await?;
            conn.stream.flush().await
        };
        let result = match tokio::time::timeout(self.shared.config.idle_timeout, write).await {
            Ok(r) => r.map_err(Error::Io),
            Err(_) => Err(Error::Timeout),
        };
        // Keep the allocation for the next response.
        self.out = out;
        self.out.clear();
        result
    }

    /// Upgrades after `+OK Begin TLS negotiation`.
    async fn start_tls(&mut self, mut conn: Conn) -> Option<Conn> {
        if self.flush(&mut conn).await.is_err() {
            return None;
        }
        // RFC 2595 3.1: nothing sent before the handshake may be obeyed.
        drop(self.reader.take_buffered());
        let handshake = tokio::time::timeout(Duration::from_secs(30), conn.start_tls()).await;
        match handshake {
            Ok(Ok(conn)) => {
                tracing::debug!("TLS started");
                tracing::Span::current().record("tls", true);
                self.tls = true;
                self.state = State::Authorization(Authorization::Start);
                Some(conn)
            }
            Ok(Err(e)) => {
                tracing::info!(error = %Error::Tls(e), "STLS failed");
                None
            }
            Err(_) => {
                tracing::info!("STLS handshake timed out");
                None
            }
        }
    }
}
