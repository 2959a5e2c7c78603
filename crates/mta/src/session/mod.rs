//! One SMTP session: an explicit state machine fed with command lines.
//!
//! ```text
//! Greeted --EHLO/HELO--> Ready --MAIL--> Envelope --RCPT*--> (DATA: content, queue) --> Ready
//!                                                \--BDAT--> Chunking --BDAT LAST--> Ready
//! ```
//!
//! EHLO/HELO resets any transaction (RFC 5321 4.1.4), as does RSET;
//! STARTTLS goes back to `Greeted` and forgets the HELO name and any AUTH
//! (RFC 3207 4.2). AUTH changes the session's identity, not its state.
//! Each command lives in its own file. Replies are queued and flushed only
//! when no further complete command is buffered (PIPELINING, RFC 2920 3);
//! enhanced status codes are sent only after EHLO (RFC 2034 3). The
//! wire (line reader, reply queue, timeouts, content reading, BDAT size
//! refusal, STARTTLS) is [`mail_queue::intake`], shared with LMTP.

mod auth;
mod bdat;
mod data;
mod hello;
mod mail;
mod misc;
mod rcpt;

use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_queue::intake::{Incoming, Input, Timeouts, Wire, answers};
use mail_smtp_proto::{Address, Command, MailParams, ParseOptions, RcptParams, Reply, ReversePath};
use tokio::io::AsyncWriteExt;

use crate::policy::{ClientInfo, Route};
use crate::server::Shared;

/// Replies queued beyond this are flushed even while pipelining.
const MAX_QUEUED_REPLIES: usize = 64 * 1024;

/// What the run loop does after a command.
pub(crate) enum Flow {
    Continue,
    Close,
    StartTls,
}

/// The client's EHLO or HELO.
#[derive(Debug, Clone)]
pub(crate) struct Hello {
    name: String,
    /// EHLO (extensions, enhanced status codes) rather than HELO.
    esmtp: bool,
}

/// A recipient the policy accepted.
pub(crate) struct Accepted {
    address: Address,
    params: RcptParams,
    route: Route,
}

/// An open mail transaction (after MAIL FROM).
pub(crate) struct Transaction {
    sender: ReversePath,
    params: MailParams,
    rcpts: Vec<Accepted>,
    span: tracing::Span,
}

/// Where the session is.
enum State {
    /// Greeting sent, EHLO/HELO not yet seen.
    Greeted,
    /// EHLO/HELO seen, no transaction.
    Ready { hello: Hello },
    /// MAIL FROM accepted; RCPT TO, DATA or BDAT next.
    Envelope { hello: Hello, tx: Transaction },
    /// At least one non-final BDAT chunk received.
    Chunking {
        hello: Hello,
        tx: Transaction,
        chunks: Box<Incoming>,
    },
}

/// A session's state and buffers.
pub(crate) struct Session {
    shared: Arc<Shared>,
    client: ClientInfo,
    state: State,
    wire: Wire,
    errors: u32,
    auth_failures: u32,
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, conn: &Conn) -> Self {
        let cfg = &shared.config;
        let wire = Wire::new(Timeouts {
            command: cfg.command_timeout,
            data: cfg.data_timeout,
            message: cfg.message_timeout,
        });
        Self {
            shared,
            client: ClientInfo {
                peer: conn.peer,
                local: conn.local,
                helo: None,
                tls: conn.is_tls(),
                auth: None,
            },
            state: State::Greeted,
            wire,
            errors: 0,
            auth_failures: 0,
        }
    }

    /// Serves the connection until QUIT, close, timeout or shutdown.
    pub(crate) async fn run(mut self, mut conn: Conn, shutdown: Shutdown) {
        let greeting = Reply::greeting(&self.shared.config.hostname, "ESMTP Tiermail ready");
        self.reply(&greeting);
        loop {
            while let Some(line) = self.wire.next_line() {
                let flow = match line {
                    Ok(line) if self.out_of_sync(&line) => {
                        tracing::info!(
                            command = %String::from_utf8_lossy(&line[..line.len().min(16)]),
                            "improper pipelining, closing"
                        );
                        self.abort_transaction("improper pipelining");
                        self.reply(&Reply::with_status(
                            554,
                            (5, 5, 0),
                            "SMTP protocol synchronization error (improper pipelining)",
                        ));
                        Flow::Close
                    }
                    Ok(line) => self.command(&line, &mut conn).await,
                    Err(too_long) => self.bad(&mail_smtp_proto::Error::from(too_long).reply()),
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
                if self.wire.queued() > MAX_QUEUED_REPLIES && self.flush(&mut conn).await.is_err() {
                    return;
                }
            }
            if self.flush(&mut conn).await.is_err() {
                return;
            }
            match self.wire.read_commands(&mut conn, &shutdown).await {
                Input::Read => {}
                Input::Shutdown => {
                    self.abort_transaction("shutdown");
                    self.reply(&Reply::shutting_down("Service shutting down"));
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Input::Timeout => {
                    // RFC 5321 4.5.3.2.7
                    tracing::info!("command timeout");
                    self.abort_transaction("command timeout");
                    self.reply(&Reply::timeout());
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Input::Closed => {
                    self.abort_transaction("client closed the connection");
                    return;
                }
                Input::Failed(e) => {
                    tracing::info!(error = %e, "read failed");
                    self.abort_transaction("read failed");
                    return;
                }
            }
        }
    }

    /// RFC 2920 3.1: EHLO, HELO and DATA end a pipelined group, and
    /// without EHLO there is no pipelining at all. Input that arrived
    /// together with such a command breaks the protocol's lock-step; the
    /// classic case is content sent before the `354`, which a server that
    /// refuses DATA would take for commands.
    fn out_of_sync(&self, line: &[u8]) -> bool {
        if !self.shared.config.forbid_unauth_pipelining || !self.wire.has_buffered() {
            return false;
        }
        let verb: Vec<u8> = line
            .iter()
            .take_while(|b| **b != b' ')
            .map(u8::to_ascii_uppercase)
            .collect();
        match verb.as_slice() {
            // Discarded instead (RFC 3207 6); AUTH's continuation reads
            // the next line itself; nothing after QUIT matters.
            b"STARTTLS" | b"AUTH" | b"QUIT" => false,
            b"EHLO" | b"HELO" | b"DATA" => true,
            _ => !self.esmtp(),
        }
    }

    /// Parses and runs one command line.
    async fn command(&mut self, line: &[u8], conn: &mut Conn) -> Flow {
        let opts = ParseOptions {
            smtputf8: true,
            utf8_transaction: self.utf8_transaction(),
        };
        let cmd = match Command::parse(line, &opts) {
            Ok(cmd) => cmd,
            Err(e) => {
                tracing::debug!(error = %e, "bad command");
                return self.bad(&e.reply());
            }
        };
        tracing::trace!(verb = cmd.verb(), "command");
        match cmd {
            Command::Ehlo(name) => self.hello(name, true, conn),
            Command::Helo(name) => self.hello(name, false, conn),
            Command::Lhlo(_) => self.bad(&Reply::with_status(
                500,
                (5, 5, 1),
                "This is SMTP: use EHLO",
            )),
            Command::Mail(m) => self.mail(m).await,
            Command::Rcpt(r) => self.rcpt(r).await,
            Command::Data => self.data(conn).await,
            Command::Bdat { size, last } => self.bdat(conn, size, last).await,
            Command::Rset => self.rset(),
            Command::Noop => {
                self.reply(&answers::noop());
                Flow::Continue
            }
            Command::Quit => {
                self.abort_transaction("QUIT");
                self.reply(&Reply::closing("Bye"));
                Flow::Close
            }
            Command::Vrfy(_) => self.vrfy(),
            Command::Expn(_) => self.bad(&Reply::with_status(502, (5, 5, 1), "EXPN not available")),
            Command::Help(_) => self.help(),
            Command::StartTls => self.starttls(conn),
            Command::Auth(a) => self.auth(conn, a).await,
        }
    }

    /// True after EHLO (not HELO).
    fn esmtp(&self) -> bool {
        match &self.state {
            State::Greeted => false,
            State::Ready { hello }
            | State::Envelope { hello, .. }
            | State::Chunking { hello, .. } => hello.esmtp,
        }
    }

    /// True inside a transaction opened with SMTPUTF8 (RFC 6531 3.4).
    fn utf8_transaction(&self) -> bool {
        match &self.state {
            State::Envelope { tx, .. } | State::Chunking { tx, .. } => tx.params.smtputf8,
            _ => false,
        }
    }

    /// Takes the state out to swap it as a whole.
    fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Greeted)
    }

    /// Drops an open transaction, for the log.
    fn abort_transaction(&mut self, why: &str) {
        if let State::Envelope { tx, .. } | State::Chunking { tx, .. } = &self.state {
            tx.span
                .in_scope(|| tracing::info!(reason = why, "transaction aborted"));
            self.shared.metrics.message("aborted");
        }
    }

    /// Queues a reply (flushed before the next read, RFC 2920 3).
    fn reply(&mut self, reply: &Reply) {
        let enhanced = self.esmtp();
        self.wire.reply(reply, enhanced);
    }

    /// Queues an error reply; too many of them end the session.
    fn bad(&mut self, reply: &Reply) -> Flow {
        self.reply(reply);
        self.errors += 1;
        if self.errors >= self.shared.config.max_errors {
            tracing::info!(errors = self.errors, "too many errors, closing");
            self.abort_transaction("too many errors");
            self.reply(&Reply::with_status(
                421,
                (4, 7, 0),
                "Too many errors, closing connection",
            ));
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), mail_queue::Error> {
        self.wire.flush(conn).await
    }

    /// Ends the session after content could not be read: nothing was
    /// queued (the content is dropped with its temporary file).
    fn content_failed(&mut self, e: mail_queue::Error) -> Flow {
        tracing::info!(error = %e, "message content incomplete, nothing queued");
        self.shared.metrics.message("aborted");
        if matches!(e, mail_queue::Error::Timeout) {
            self.reply(&Reply::timeout());
        }
        Flow::Close
    }

    /// Upgrades after `220 Ready to start TLS`.
    async fn start_tls(&mut self, conn: Conn) -> Option<Conn> {
        let conn = self.wire.start_tls(conn).await?;
        // RFC 3207 4.2: forget everything learnt before TLS.
        self.state = State::Greeted;
        self.client.tls = true;
        self.client.helo = None;
        self.client.auth = None;
        Some(conn)
    }
}
