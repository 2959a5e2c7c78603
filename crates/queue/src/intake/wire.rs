//! The connection side of a session: command lines in, replies out,
//! message content read against the data timeout and the message's
//! deadline.

use std::time::Duration;

use mail_core::Shutdown;
use mail_core::listener::Conn;
use mail_smtp_proto::command::MAX_LINE;
use mail_smtp_proto::{LineReader, LineTooLong, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::Incoming;
use crate::error::Error;

/// How long a STARTTLS handshake may take.
const TLS_HANDSHAKE: Duration = Duration::from_secs(30);

/// The timeouts of a session (RFC 5321 4.5.3.2).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Wait for the next command, and for a reply to be written
    /// (4.5.3.2.7 suggests 5 minutes).
    pub command: Duration,
    /// Wait for each piece of message content (4.5.3.2.5-6: 3 minutes).
    pub data: Duration,
    /// The whole message's content, first octet to last: against clients
    /// that trickle a byte just before each data timeout.
    pub message: Duration,
}

/// What [`Wire::read_commands`] got.
#[derive(Debug)]
pub enum Input {
    /// More input is buffered: look for lines again.
    Read,
    /// The server is shutting down (answer `421 4.3.2`).
    Shutdown,
    /// Nothing within the command timeout (answer `421 4.4.2`).
    Timeout,
    /// The client closed the connection.
    Closed,
    /// The read failed.
    Failed(std::io::Error),
}

/// What became of one BDAT chunk ([`Wire::bdat_chunk`]).
#[derive(Debug)]
pub enum Chunk {
    /// Read into the message.
    Received,
    /// Over the size limit: the `552 5.3.4` is sent, the octets were
    /// discarded, the transaction is over.
    Refused,
    /// The connection failed or a timeout hit while reading it.
    Failed(Error),
}

/// Line reader, reply queue and read buffer of one session.
#[derive(Debug)]
pub struct Wire {
    reader: LineReader,
    out: Vec<u8>,
    buf: Vec<u8>,
    timeouts: Timeouts,
}

impl Wire {
    /// A fresh session's wire.
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            reader: LineReader::new(MAX_LINE),
            out: Vec::new(),
            buf: vec![0; 16 * 1024],
            timeouts,
        }
    }

    /// The session's timeouts.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The next complete command line, if one is buffered.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineTooLong>> {
        self.reader.next_line()
    }

    /// Whether input is buffered beyond the line just taken (pipelining).
    pub fn has_buffered(&self) -> bool {
        !self.reader.is_empty()
    }

    /// Queues a reply (flushed before the next read, RFC 2920 3);
    /// `enhanced` adds the enhanced status code (RFC 2034 3: after EHLO
    /// or LHLO only).
    pub fn reply(&mut self, reply: &Reply, enhanced: bool) {
        self.out.extend_from_slice(&reply.render(enhanced));
    }

    /// Queues text that is not a reply of the usual form (AUTH's `334`
    /// challenges, RFC 4954 4).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Octets of replies waiting to be flushed.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Writes the queued replies, within the command timeout.
    pub async fn flush(&mut self, conn: &mut Conn) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let write = async {
            conn.stream.write_all(&out).await?;
            conn.stream.flush().await
        };
        match tokio::time::timeout(self.timeouts.command, write).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Waits for more command input (command timeout), or shutdown.
    pub async fn read_commands(&mut self, conn: &mut Conn, shutdown: &Shutdown) -> Input {
        let read = tokio::select! {
            _ = shutdown.triggered() => return Input::Shutdown,
            r = tokio::time::timeout(self.timeouts.command, conn.stream.read(&mut self.buf)) => r,
        };
        match read {
            Err(_) => Input::Timeout,
            Ok(Ok(0)) => Input::Closed,
            Ok(Err(e)) => Input::Failed(e),
            Ok(Ok(n)) => {
                self.reader.push(&self.buf[..n]);
                Input::Read
            }
        }
    }

    /// Reads one more line (an AUTH continuation), flushing first.
    pub async fn read_line(&mut self, conn: &mut Conn) -> Result<Vec<u8>, Error> {
        self.flush(conn).await?;
        loop {
            match self.reader.next_line() {
                Some(Ok(line)) => return Ok(line),
                Some(Err(_)) => {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "line too long",
                    )));
                }
                None => {}
            }
            let read = conn.stream.read(&mut self.buf);
            match tokio::time::timeout(self.timeouts.command, read).await {
                Err(_) => return Err(Error::Timeout),
                Ok(Err(e)) => return Err(Error::Io(e)),
                Ok(Ok(0)) => return Err(Error::Closed),
                Ok(Ok(n)) => self.reader.push(&self.buf[..n]),
            }
        }
    }

    /// The next piece of message content, at most `max` octets: buffered
    /// input first, then the socket, waiting at most the data timeout
    /// (RFC 5321 4.5.3.2.6) and never past the message's `deadline`.
    pub async fn next_piece(
        &mut self,
        conn: &mut Conn,
        max: usize,
        deadline: Instant,
    ) -> Result<Vec<u8>, Error> {
        if !self.reader.is_empty() {
            let mut piece = self.reader.take_buffered();
            if piece.len() > max {
                let rest = piece.split_off(max);
                self.reader.push(&rest);
            }
            return Ok(piece);
        }
        let wait = self
            .timeouts
            .data
            .min(deadline.saturating_duration_since(Instant::now()));
        let len = self.buf.len().min(max.max(1));
        let read = conn.stream.read(&mut self.buf[..len]);
        match tokio::time::timeout(wait, read).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(e)) => Err(Error::Io(e)),
            Ok(Ok(0)) => Err(Error::Closed),
            Ok(Ok(n)) => Ok(self.buf[..n].to_vec()),
        }
    }

    /// Reads DATA content up to the final dot (after the `354` was
    /// flushed); input after the dot stays buffered as commands.
    pub async fn receive_data(
        &mut self,
        conn: &mut Conn,
        incoming: &mut Incoming,
    ) -> Result<(), Error> {
        let mut out = Vec::new();
        loop {
            let piece = self
                .next_piece(conn, usize::MAX, incoming.deadline())
                .await?;
            if let Some(consumed) = incoming.feed(&piece, &mut out).await {
                // Pipelined commands after the final dot.
                self.reader.push(&piece[consumed..]);
                return Ok(());
            }
        }
    }

    /// One BDAT chunk of `size` octets (RFC 3030 2). A chunk that would
    /// take the message past its size limit is refused before it is read:
    /// `refusals` copies of `552 5.3.4` are sent at once (one for SMTP;
    /// LMTP answers BDAT LAST once per recipient, RFC 2033 4.3), then the
    /// chunk's octets are read and dropped, within the message deadline.
    pub async fn bdat_chunk(
        &mut self,
        conn: &mut Conn,
        incoming: &mut Incoming,
        size: u64,
        refusals: usize,
        enhanced: bool,
    ) -> Chunk {
        if !incoming.fits(size) {
            for _ in 0..refusals.max(1) {
                self.reply(&Reply::message_too_big(), enhanced);
            }
            if let Err(e) = self.flush(conn).await {
                return Chunk::Failed(e);
            }
            return match self.discard(conn, size, incoming.deadline()).await {
                Ok(()) => Chunk::Refused,
                Err(e) => Chunk::Failed(e),
            };
        }
        let mut out = Vec::new();
        let mut remaining = size;
        while remaining > 0 {
            let max = usize::try_from(remaining).unwrap_or(usize::MAX);
            let piece = match self.next_piece(conn, max, incoming.deadline()).await {
                Ok(p) => p,
                Err(e) => return Chunk::Failed(e),
            };
            remaining -= piece.len() as u64;
            incoming.feed(&piece, &mut out).await;
        }
        Chunk::Received
    }

    /// Reads and drops the `size` octets of a BDAT refused for another
    /// reason (no transaction, no recipient), within a message timeout.
    pub async fn refuse_chunk(&mut self, conn: &mut Conn, size: u64) -> Result<(), Error> {
        let deadline = Instant::now() + self.timeouts.message;
        self.discard(conn, size, deadline).await
    }

    async fn discard(
        &mut self,
        conn: &mut Conn,
        size: u64,
        deadline: Instant,
    ) -> Result<(), Error> {
        let mut remaining = size;
        while remaining > 0 {
            let max = usize::try_from(remaining).unwrap_or(usize::MAX);
            let piece = self.next_piece(conn, max, deadline).await?;
            remaining -= piece.len() as u64;
        }
        Ok(())
    }

    /// Flushes the `220` and upgrades the connection; `None` when the
    /// handshake failed (the session ends). Input the client sent before
    /// the handshake is dropped (RFC 3207 6).
    pub async fn start_tls(&mut self, mut conn: Conn) -> Option<Conn> {
        if self.flush(&mut conn).await.is_err() {
            return None;
        }
        let _ = self.reader.take_buffered();
        match tokio::time::timeout(TLS_HANDSHAKE, conn.start_tls()).await {
            Ok(Ok(conn)) => {
                tracing::debug!("TLS started");
                tracing::Span::current().record("tls", true);
                Some(conn)
            }
            Ok(Err(e)) => {
                tracing::info!(error = %e, "STARTTLS failed");
                None
            }
            Err(_) => {
                tracing::info!("STARTTLS handshake timed out");
                None
            }
        }
    }
}
