//! One LMTP session: an explicit state machine fed with command lines.
//!
//! ```text
//! Greeted --LHLO--> Ready --MAIL--> Envelope --RCPT*--> (DATA: content, replies) --> Ready
//!                                          \--BDAT--> Chunking --BDAT LAST--> Ready
//! ```
//!
//! LHLO is required first (RFC 2033 4.1) and resets any transaction, as
//! does RSET; STARTTLS goes back to `Greeted` (RFC 3207 4.2). Each command
//! lives in its own file. Replies are queued and flushed only when no
//! further complete command is buffered (PIPELINING, RFC 2920 3). The
//! wire (line reader, reply queue, timeouts, content reading, STARTTLS)
//! is [`mail_queue::intake`], shared with the SMTP server.
//!
//! Trace context: `MAIL FROM:<a@b> X-TRACEPARENT=00-<trace>-<span>-01`
//! (announced in LHLO as `X-TRACEPARENT`) parents the transaction's span on
//! the relay's trace and is passed to the store in the [`Envelope`].
//!
//! [`Envelope`]: crate::Envelope

mod bdat;
mod data;
mod lhlo;
mod mail;
mod misc;
mod rcpt;

use std::net::SocketAddr;
use std::sync::Arc;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_queue::intake::{Incoming, Input, Timeouts, Wire, answers};
use mail_smtp_proto::{Command, MailParams, ParseOptions, Reply, ReversePath};
use tokio::io::AsyncWriteExt;

use crate::mailboxes::{Mailboxes, Target};
use crate::server::Shared;

/// Replies queued beyond this are flushed even while pipelining.
const MAX_QUEUED_REPLIES: usize = 64 * 1024;

/// What the run loop does after a command.
pub(crate) enum Flow {
    Continue,
    Close,
    StartTls,
}

/// An open mail transaction (after MAIL FROM).
pub(crate) struct Transaction {
    sender: ReversePath,
    params: MailParams,
    targets: Vec<Target>,
    span: tracing::Span,
}

/// Where the session is.
enum State {
    /// Greeting sent, LHLO not yet seen (RFC 2033 4.1).
    Greeted,
    /// LHLO seen, no transaction.
    Ready { lhlo: String },
    /// MAIL FROM accepted; RCPT TO, DATA or BDAT next.
    Envelope { lhlo: String, tx: Transaction },
    /// At least one non-final BDAT chunk received.
    Chunking {
        lhlo: String,
        tx: Transaction,
        chunks: Box<Incoming>,
    },
}

/// A session's state and buffers.
pub(crate) struct Session<M> {
    shared: Arc<Shared<M>>,
    peer: SocketAddr,
    state: State,
    wire: Wire,
    errors: u32,
}

impl<M: Mailboxes> Session<M> {
    pub(crate) fn new(shared: Arc<Shared<M>>, peer: SocketAddr) -> Self {
        let cfg = &shared.config;
        let wire = Wire::new(Timeouts {
            command: cfg.command_timeout,
            data: cfg.data_timeout,
            message: cfg.message_timeout,
        });
        Self {
            shared,
            peer,
            state: State::Greeted,
            wire,
            errors: 0,
        }
    }

    /// Serves the connection until QUIT, close, timeout or shutdown.
    pub(crate) async fn run(mut self, mut conn: Conn, shutdown: Shutdown) {
        let greeting = Reply::greeting(&self.shared.config.hostname, "LMTP service ready");
        self.reply(&greeting);
        loop {
            while let Some(line) = self.wire.next_line() {
                let flow = match line {
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
            Command::Lhlo(name) => self.lhlo(name, conn.can_start_tls()),
            Command::Ehlo(_) | Command::Helo(_) => self.bad(&Reply::with_status(
                500,
                (5, 5, 1),
                "This is LMTP: use LHLO (RFC 2033 4.1)",
            )),
            Command::Mail(m) => self.mail(m),
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
            Command::Help(_) => self.help(),
            Command::StartTls => self.starttls(conn),
            Command::Expn(_) | Command::Auth(_) => self.bad(&Reply::not_implemented()),
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
        self.wire.reply(reply, true);
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

    /// Ends the session after content could not be read.
    fn content_failed(&mut self, e: mail_queue::Error) -> Flow {
        tracing::info!(error = %e, "message content incomplete");
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
        Some(conn)
    }
}
