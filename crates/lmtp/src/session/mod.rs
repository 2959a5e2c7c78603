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
//! further complete command is buffered (PIPELINING, RFC 2920 3).
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
use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_smtp_proto::command::MAX_LINE;
use mail_smtp_proto::{
    Command, DataDecoder, LineReader, MailParams, ParseOptions, Reply, ReversePath,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::Error;
use crate::mailboxes::{Mailboxes, Target};
use crate::server::Shared;
use crate::spool::Spool;

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

/// Content of a BDAT transaction so far (RFC 3030).
pub(crate) struct Chunks {
    decoder: DataDecoder,
    spool: Spool,
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
        chunks: Box<Chunks>,
    },
}

/// A session's state and buffers.
pub(crate) struct Session<M> {
    shared: Arc<Shared<M>>,
    peer: SocketAddr,
    state: State,
    reader: LineReader,
    out: Vec<u8>,
    buf: Vec<u8>,
    errors: u32,
}

impl<M: Mailboxes> Session<M> {
    pub(crate) fn new(shared: Arc<Shared<M>>, peer: SocketAddr) -> Self {
        Self {
            shared,
            peer,
            state: State::Greeted,
            reader: LineReader::new(MAX_LINE),
            out: Vec::new(),
            buf: vec![0; 16 * 1024],
            errors: 0,
        }
    }

    /// Serves the connection until QUIT, close, timeout or shutdown.
    pub(crate) async fn run(mut self, mut conn: Conn, shutdown: Shutdown) {
        let greeting = Reply::greeting(&self.shared.config.hostname, "LMTP service ready");
        self.reply(&greeting);
        loop {
            while let Some(line) = self.reader.next_line() {
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
                if self.out.len() > MAX_QUEUED_REPLIES && self.flush(&mut conn).await.is_err() {
                    return;
                }
            }
            if self.flush(&mut conn).await.is_err() {
                return;
            }
            let timeout = self.shared.config.command_timeout;
            let read = tokio::select! {
                _ = shutdown.triggered() => None,
                r = tokio::time::timeout(timeout, conn.stream.read(&mut self.buf)) => Some(r),
            };
            match read {
                None => {
                    self.reply(&Reply::shutting_down("Service shutting down"));
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Some(Err(_)) => {
                    tracing::info!("command timeout");
                    self.reply(&Reply::timeout());
                    let _ = self.flush(&mut conn).await;
                    return;
                }
                Some(Ok(Ok(0))) => {
                    self.abort_transaction("client closed the connection");
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
            Command::Noop => self.ok("OK"),
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
        self.out.extend_from_slice(&reply.render(true));
    }

    fn ok(&mut self, text: &str) -> Flow {
        self.reply(&Reply::ok(text));
        Flow::Continue
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

    async fn flush(&mut self, conn: &mut Conn) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let write = async {
            conn.stream.write_all(&out).await?;
            conn.stream.flush().await
        };
        match tokio::time::timeout(self.shared.config.command_timeout, write).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// The next piece of message content, at most `max` octets: buffered
    /// input first, then the socket, waiting at most the data timeout.
    async fn next_piece(&mut self, conn: &mut Conn, max: usize) -> Result<Vec<u8>, Error> {
        if !self.reader.is_empty() {
            let mut piece = self.reader.take_buffered();
            if piece.len() > max {
                let rest = piece.split_off(max);
                self.reader.push(&rest);
            }
            return Ok(piece);
        }
        let len = self.buf.len().min(max.max(1));
        let read = conn.stream.read(&mut self.buf[..len]);
        match tokio::time::timeout(self.shared.config.data_timeout, read).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(e)) => Err(Error::Io(e)),
            Ok(Ok(0)) => Err(Error::Closed),
            Ok(Ok(n)) => Ok(self.buf[..n].to_vec()),
        }
    }

    /// Ends the session after content could not be read.
    fn content_failed(&mut self, e: Error) -> Flow {
        tracing::info!(error = %e, "message content incomplete");
        self.shared.metrics.message("aborted");
        if matches!(e, Error::Timeout) {
            self.reply(&Reply::timeout());
        }
        Flow::Close
    }

    /// Upgrades after `220 Ready to start TLS`.
    async fn start_tls(&mut self, mut conn: Conn) -> Option<Conn> {
        if self.flush(&mut conn).await.is_err() {
            return None;
        }
        // RFC 3207 6: discard anything the client sent before the handshake.
        let _ = self.reader.take_buffered();
        let handshake = tokio::time::timeout(Duration::from_secs(30), conn.start_tls()).await;
        match handshake {
            Ok(Ok(conn)) => {
                tracing::debug!("TLS started");
                tracing::Span::current().record("tls", true);
                // RFC 3207 4.2: forget everything learnt before TLS.
                self.state = State::Greeted;
                Some(conn)
            }
            Ok(Err(e)) => {
                tracing::info!(error = %Error::Tls(e), "STARTTLS failed");
                None
            }
            Err(_) => {
                tracing::info!("STARTTLS handshake timed out");
                None
            }
        }
    }
}
