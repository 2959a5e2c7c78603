//! POP3 towards clients: the AUTHORIZATION state (RFC 1939 4) answered by
//! the proxy, then a byte pump to the store.
//!
//! ```text
//! Start --USER--> User(name) --PASS: directory, mailHost, store login--> Relaying --> closed
//!   |  \--AUTH PLAIN [initial] (or its "+ " exchange)------------------^
//!   +--STLS (TLS, state and buffered input dropped)--> Start
//!   +--QUIT, too many failures or errors, login timeout--> closed
//! ```
//!
//! Lines are split and commands parsed by `mail-pop3`'s wire module
//! (`LineReader`, `Command`, `sasl`). CAPA lists what the store offers
//! after login plus the login methods offered here; USER/PASS and AUTH are
//! refused before TLS unless `allow_plaintext_login` (RFC 2595 2.1).

use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler};
use mail_pop3::proto::sasl::{self, SaslError};
use mail_pop3::proto::{Command, LineReader, RespCode, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tracing::Instrument;

use crate::backend::ClientInfo;
use crate::config::FrontConfig;
use crate::login::{Failure, LoggedIn, Shared, left, session_id};
use crate::route::Protocol;

/// The POP3 listener's handler.
pub(crate) struct Pop3Front {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Arc<FrontConfig>,
}

impl Handler for Pop3Front {
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send {
        let id = session_id();
        let span = tracing::info_span!(
            "mmp.session",
            protocol = "pop3",
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
                shared.metrics.refused(Protocol::Pop3, "per_ip_limit");
                tracing::warn!("too many connections from this address");
                let mut conn = conn;
                let _ = conn
                    .stream
                    .write_all(b"-ERR [SYS/TEMP] Too many connections from your address\r\n")
                    .await;
                let _ = conn.stream.shutdown().await;
                return;
            };
            shared.metrics.opened(Protocol::Pop3);
            let client = ClientInfo {
                peer: conn.peer,
                local: conn.local,
                session: id,
            };
            let session = Session::new(shared.clone(), config, client);
            session.run(conn, shutdown).await;
            shared.metrics.closed(Protocol::Pop3);
        }
        .instrument(span)
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"
    }
}

/// AUTHORIZATION sub-states.
enum State {
    /// Waiting for USER, AUTH, CAPA, STLS or QUIT.
    Start,
    /// USER accepted; PASS next.
    User(String),
    /// AUTH PLAIN sent without initial response; `+ ` sent.
    Plain,
}

enum Flow {
    Continue,
    Close,
    StartTls,
    Relay(Box<LoggedIn>),
}

struct Session {
    shared: Arc<Shared>,
    config: Arc<FrontConfig>,
    client: ClientInfo,
    state: State,
    reader: LineReader,
    out: Vec<u8>,
    tls: bool,
    can_start_tls: bool,
    errors: u32,
    auth_failures: u32,
    deadline: Instant,
}

impl Session {
    fn new(shared: Arc<Shared>, config: Arc<FrontConfig>, client: ClientInfo) -> Self {
        Self {
            reader: LineReader::new(config.max_line),
            deadline: Instant::now() + config.login_timeout,
            shared,
            config,
            client,
            state: State::Start,
            out: Vec::new(),
            tls: false,
            can_start_tls: false,
            errors: 0,
            auth_failures: 0,
        }
    }

    fn reply(&mut self, r: Response) {
        self.out.extend_from_slice(&r.render());
    }

    fn ok(&mut self, text: &str) -> Flow {
        self.reply(Response::ok(text));
        Flow::Continue
    }

    /// An error the client caused; too many end the session.
    fn bad(&mut self, r: Response) -> Flow {
        self.reply(r);
        self.errors += 1;
        if self.errors >= self.config.max_bad_commands {
            self.reply(Response::err("Too many errors, closing connection"));
            return Flow::Close;
        }
        Flow::Continue
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_login
    }

    async fn flush(&mut self, conn: &mut Conn) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let write = async {
                conn.stream.write_all(&self.out).await?;
                conn.stream.flush().await
            };
            tokio::time::timeout(self.config.login_timeout, write)
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            self.out.clear();
        }
        Ok(())
    }

    async fn close(&mut self, conn: &mut Conn) {
        let _ = self.flush(conn).await;
        let _ = conn.stream.shutdown().await;
    }

    async fn run(mut self, mut conn: Conn, shutdown: Shutdown) {
        self.tls = conn.is_tls();
        self.can_start_tls = conn.can_start_tls();
        let greeting = format!("{} POP3 proxy ready", self.config.hostname);
        self.reply(Response::ok(greeting));
        let mut buf = Vec::new();
        loop {
            while let Some(line) = self.reader.next_line() {
                let flow = match line {
                    Ok(line) => self.line(&line, &shutdown).await,
                    Err(_) => {
                        self.state = State::Start;
                        let text = format!("Line too long (limit {} octets)", self.config.max_line);
                        self.bad(Response::err(text))
                    }
                };
                match flow {
                    Flow::Continue => {}
                    Flow::Close => return self.close(&mut conn).await,
                    Flow::StartTls => match self.start_tls(conn).await {
                        Some(upgraded) => conn = upgraded,
                        None => return,
                    },
                    Flow::Relay(logged_in) => return self.relay(conn, *logged_in).await,
                }
            }
            if self.flush(&mut conn).await.is_err() {
                return;
            }
            buf.clear();
            buf.reserve(4096);
            let read = tokio::select! {
                _ = shutdown.triggered() => None,
                r = tokio::time::timeout(left(self.deadline), conn.stream.read_buf(&mut buf)) => Some(r),
            };
            match read {
                None => {
                    self.reply(Response::err_code(
                        RespCode::SysTemp,
                        "Server shutting down",
                    ));
                    return self.close(&mut conn).await;
                }
                Some(Err(_)) => {
                    tracing::info!("no login in time");
                    self.reply(Response::err("Autologout; no login in time"));
                    return self.close(&mut conn).await;
                }
                Some(Ok(Ok(0)) | Ok(Err(_))) => return,
                Some(Ok(Ok(_))) => self.reader.push(&buf),
            }
        }
    }

    async fn line(&mut self, line: &[u8], shutdown: &Shutdown) -> Flow {
        if matches!(self.state, State::Plain) {
            self.state = State::Start;
            return match sasl::decode_response(line, false) {
                Ok(msg) => self.plain(&msg, shutdown).await,
                Err(e) => self.sasl_error(e),
            };
        }
        let cmd = match Command::parse(line) {
            Ok(c) => c,
            Err(e) => return self.bad(Response::err(e.to_string())),
        };
        match cmd {
            Command::Capa => self.capa(),
            Command::Quit => {
                self.reply(Response::ok("Bye"));
                Flow::Close
            }
            Command::Stls => {
                if !self.can_start_tls {
                    return self.bad(Response::err("STLS is not available on this connection"));
                }
                self.reply(Response::ok("Begin TLS negotiation"));
                Flow::StartTls
            }
            Command::User(name) => {
                if !self.auth_allowed() {
                    return self.plaintext_refused();
                }
                // Accepted whatever the name (RFC 1939 7): refusing here
                // would tell which users exist.
                self.state = State::User(name);
                self.ok("Send PASS")
            }
            Command::Pass(password) => {
                if !self.auth_allowed() {
                    return self.plaintext_refused();
                }
                match std::mem::replace(&mut self.state, State::Start) {
                    State::User(name) => self.login(&name, &password, shutdown).await,
                    _ => self.bad(Response::err("Send USER first")),
                }
            }
            Command::Auth { mechanism, initial } => {
                self.state = State::Start;
                if !self.auth_allowed() {
                    return self.plaintext_refused();
                }
                self.auth(mechanism, initial, shutdown).await
            }
            other => {
                self.state = State::Start;
                self.bad(Response::err(format!(
                    "{} is not valid before login",
                    other.keyword()
                )))
            }
        }
    }

    fn plaintext_refused(&mut self) -> Flow {
        self.state = State::Start;
        self.bad(Response::err_code(
            RespCode::Auth,
            "Plaintext authentication is disabled without TLS, use STLS first",
        ))
    }

    /// RFC 2449 5: the store's post-login capabilities and the login
    /// methods offered here.
    fn capa(&mut self) -> Flow {
        self.reply(Response::ok("Capability list follows"));
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if self.auth_allowed() {
            lines.extend(["USER", "SASL PLAIN"]);
        }
        if self.can_start_tls {
            lines.push("STLS");
        }
        lines.push("IMPLEMENTATION Tiermail-MMP");
        for l in lines {
            self.out.extend_from_slice(l.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b".\r\n");
        Flow::Continue
    }

    async fn auth(
        &mut self,
        mechanism: Option<String>,
        initial: Option<String>,
        shutdown: &Shutdown,
    ) -> Flow {
        let Some(mechanism) = mechanism else {
            self.reply(Response::ok("Supported mechanisms follow"));
            self.out.extend_from_slice(b"PLAIN\r\n.\r\n");
            return Flow::Continue;
        };
        if mechanism != "PLAIN" {
            let mut shown: String = mechanism.chars().take(20).collect();
            shown.retain(|c| !c.is_control());
            return self.bad(Response::err(format!("Unsupported mechanism {shown}")));
        }
        match initial {
            None => {
                // RFC 5034 4: an empty challenge.
                self.out.extend_from_slice(&sasl::challenge(b""));
                self.state = State::Plain;
                Flow::Continue
            }
            Some(ir) => match sasl::decode_response(ir.as_bytes(), true) {
                Ok(msg) => self.plain(&msg, shutdown).await,
                Err(e) => self.sasl_error(e),
            },
        }
    }

    async fn plain(&mut self, msg: &[u8], shutdown: &Shutdown) -> Flow {
        match sasl::parse_plain(msg) {
            Ok((user, password)) => self.login(&user, &password, shutdown).await,
            Err(e) => self.sasl_error(e),
        }
    }

    fn sasl_error(&mut self, e: SaslError) -> Flow {
        self.state = State::Start;
        if e == SaslError::Cancelled {
            self.reply(Response::err("Authentication cancelled"));
            return Flow::Continue;
        }
        self.bad(Response::err(e.to_string()))
    }

    async fn login(&mut self, login: &str, password: &str, shutdown: &Shutdown) -> Flow {
        let client = self.client.clone();
        let result = self
            .shared
            .login(Protocol::Pop3, &client, login, password, shutdown)
            .await;
        match result {
            Ok(logged_in) => {
                // The store's own +OK (message count and size).
                for line in &logged_in.backend.greeting {
                    self.out.extend_from_slice(line.as_bytes());
                    self.out.extend_from_slice(b"\r\n");
                }
                Flow::Relay(Box::new(logged_in))
            }
            Err(Failure::Credentials) => {
                self.auth_failures += 1;
                self.reply(Response::err_code(RespCode::Auth, "Authentication failed"));
                if self.auth_failures >= self.config.max_auth_failures {
                    self.reply(Response::err("Too many failed logins, closing connection"));
                    return Flow::Close;
                }
                Flow::Continue
            }
            Err(Failure::Inactive) => {
                self.reply(Response::err_code(RespCode::SysPerm, "Account is disabled"));
                Flow::Continue
            }
            Err(Failure::Unavailable) => {
                self.reply(Response::err_code(
                    RespCode::SysTemp,
                    "Mail service temporarily unavailable, try again later",
                ));
                Flow::Continue
            }
            Err(Failure::Busy(text)) => {
                self.reply(Response::err_code(
                    RespCode::InUse,
                    crate::login::busy_text(&text),
                ));
                Flow::Continue
            }
        }
    }

    async fn start_tls(&mut self, mut conn: Conn) -> Option<Conn> {
        if self.flush(&mut conn).await.is_err() {
            return None;
        }
        // RFC 2595 3.1: nothing sent before the handshake may be obeyed.
        drop(self.reader.take_buffered());
        match tokio::time::timeout(left(self.deadline), conn.start_tls()).await {
            Ok(Ok(upgraded)) => {
                self.tls = true;
                self.can_start_tls = false;
                self.state = State::Start;
                tracing::Span::current().record("tls", true);
                Some(upgraded)
            }
            Ok(Err(e)) => {
                tracing::info!(error = %e, "STLS handshake failed");
                None
            }
            Err(_) => {
                tracing::info!("STLS handshake timed out");
                None
            }
        }
    }

    async fn relay(mut self, mut conn: Conn, logged_in: LoggedIn) {
        let LoggedIn {
            uid,
            store,
            backend,
        } = logged_in;
        let mut stream = backend.stream;
        let early = self.reader.take_buffered();
        if !backend.pending.is_empty() {
            self.out.extend_from_slice(&backend.pending);
        }
        if self.flush(&mut conn).await.is_err() {
            return;
        }
        if !early.is_empty() && stream.write_all(&early).await.is_err() {
            self.reply(Response::err_code(
                RespCode::SysTemp,
                "Mail store connection lost",
            ));
            return self.close(&mut conn).await;
        }
        let shared = self.shared.clone();
        drop(self);
        drop(early);
        let started = Instant::now();
        let r = crate::relay::relay(
            &mut conn.stream,
            &mut stream,
            &shared.metrics,
            Protocol::Pop3,
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
