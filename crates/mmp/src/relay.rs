//! The byte pump after login: client and store bytes copied both ways,
//! unchanged, with back-pressure, so IDLE, COMPRESS, literals and large
//! FETCHes pass as they are and memory stays bounded.
//!
//! Like `tokio::io::copy_bidirectional`, but an idle session holds no
//! buffer: each direction reads into a per-thread scratch buffer and
//! writes straight on; only when the other side cannot take everything
//! does the rest move into a buffer of the session's own, and that
//! direction stops reading until it is written (back-pressure: a slow
//! client slows the store's sender down through TCP, not through our
//! memory). So memory per proxied connection is what the sockets and the
//! task need, plus at most one read (16 KiB) per blocked direction.
//!
//! Ending: when the store closes, the client's side is shut down cleanly
//! (TLS close_notify, then FIN) and the session ends. When the client
//! closes, the store's side is shut down and what the store still sends
//! is relayed for a short grace period.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::metrics::Metrics;
use crate::route::Protocol;

/// One read: a TLS record's worth of plaintext.
const SCRATCH: usize = 16 * 1024;
/// Relayed bytes are added to the metric in steps this large (and at the
/// end), not per read.
const REPORT_EVERY: u64 = 1024 * 1024;
/// After the client closed, how long the store's last words are relayed.
const CLIENT_CLOSED_GRACE: Duration = Duration::from_secs(10);

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH].into_boxed_slice());
}

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to store.
    ToStore,
    /// Store to client.
    ToClient,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ToStore => "to_store",
            Direction::ToClient => "to_client",
        }
    }
}

/// Which side of a direction failed.
enum Failed {
    /// Reading from the sender.
    Read(io::Error),
    /// Writing to the receiver.
    Write(io::Error),
}

/// One direction's state.
struct Half {
    direction: Direction,
    /// Bytes read but not yet written (only while the writer is blocked).
    pending: Vec<u8>,
    pos: usize,
    needs_flush: bool,
    eof: bool,
    done: bool,
    total: u64,
    unreported: u64,
}

impl Half {
    fn new(direction: Direction) -> Self {
        Self {
            direction,
            pending: Vec::new(),
            pos: 0,
            needs_flush: false,
            eof: false,
            done: false,
            total: 0,
            unreported: 0,
        }
    }

    fn count(&mut self, n: usize, metrics: &Metrics, protocol: Protocol) {
        self.total += n as u64;
        self.unreported += n as u64;
        if self.unreported >= REPORT_EVERY {
            metrics.relayed(protocol, self.direction.as_str(), self.unreported);
            self.unreported = 0;
        }
    }

    /// Copies until `r` ends (then shuts `w` down) or an error; `Pending`
    /// while waiting for either side.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
        metrics: &Metrics,
        protocol: Protocol,
    ) -> Poll<Result<(), Failed>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            while self.pos < self.pending.len() {
                let n = ready!(Pin::new(&mut *w).poll_write(cx, &self.pending[self.pos..]))
                    .map_err(Failed::Write)?;
                if n == 0 {
                    return Poll::Ready(Err(Failed::Write(io::ErrorKind::WriteZero.into())));
                }
                self.pos += n;
                self.count(n, metrics, protocol);
            }
            if !self.pending.is_empty() {
                // Give the memory back: the common case needs none.
                self.pending = Vec::new();
                self.pos = 0;
            }
            if self.eof {
                ready!(Pin::new(&mut *w).poll_shutdown(cx)).map_err(Failed::Write)?;
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            let read = SCRATCH_BUF.with(|cell| {
                let mut scratch = cell.borrow_mut();
                let mut buf = ReadBuf::new(&mut scratch[..]);
                match Pin::new(&mut *r).poll_read(cx, &mut buf) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Err(Failed::Read(e))),
                    Poll::Ready(Ok(())) => {
                        let data = buf.filled();
                        if data.is_empty() {
                            return Poll::Ready(Ok(0));
                        }
                        let mut off = 0;
                        while off < data.len() {
                            match Pin::new(&mut *w).poll_write(cx, &data[off..]) {
                                Poll::Ready(Ok(0)) => {
                                    return Poll::Ready(Err(Failed::Write(
                                        io::ErrorKind::WriteZero.into(),
                                    )));
                                }
                                Poll::Ready(Ok(n)) => off += n,
                                Poll::Ready(Err(e)) => return Poll::Ready(Err(Failed::Write(e))),
                                Poll::Pending => break,
                            }
                        }
                        if off < data.len() {
                            self.pending = data[off..].to_vec();
                            self.pos = 0;
                        }
                        Poll::Ready(Ok(off))
                    }
                }
            });
            match read {
                Poll::Pending => {
                    if self.needs_flush {
                        ready!(Pin::new(&mut *w).poll_flush(cx)).map_err(Failed::Write)?;
                        self.needs_flush = false;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(written)) => {
                    if written == 0 && self.pending.is_empty() {
                        self.eof = true;
                    } else {
                        self.count(written, metrics, protocol);
                        self.needs_flush = true;
                    }
                }
            }
        }
    }
}

/// How a relayed session ended.
#[derive(Debug)]
pub struct Relayed {
    /// Bytes from the client to the store.
    pub to_store: u64,
    /// Bytes from the store to the client.
    pub to_client: u64,
    /// Who ended it.
    pub ended_by: &'static str,
    /// A broken connection, if that is how it ended.
    pub error: Option<io::Error>,
}

/// Relays between `client` and `store` until the session ends.
pub async fn relay<C, S>(
    client: &mut C,
    store: &mut S,
    metrics: &Metrics,
    protocol: Protocol,
) -> Relayed
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Half::new(Direction::ToStore);
    let mut down = Half::new(Direction::ToClient);
    let first = poll_fn(|cx| {
        if let Poll::Ready(r) = down.poll_copy(cx, store, client, metrics, protocol) {
            return Poll::Ready((Direction::ToClient, r));
        }
        if let Poll::Ready(r) = up.poll_copy(cx, client, store, metrics, protocol) {
            return Poll::Ready((Direction::ToStore, r));
        }
        Poll::Pending
    })
    .await;
    // Down: the store reads, the client writes; up the other way round.
    let (ended_by, error) = match first {
        (Direction::ToClient, Ok(())) => ("store", None),
        (Direction::ToClient, Err(Failed::Read(e))) => ("store", Some(e)),
        (Direction::ToClient, Err(Failed::Write(e))) => ("client", Some(e)),
        (Direction::ToStore, Err(Failed::Read(e))) => ("client", Some(e)),
        (Direction::ToStore, Err(Failed::Write(e))) => ("store", Some(e)),
        (Direction::ToStore, Ok(())) => {
            // The client is gone; let the store finish what it says.
            let rest = tokio::time::timeout(
                CLIENT_CLOSED_GRACE,
                poll_fn(|cx| down.poll_copy(cx, store, client, metrics, protocol)),
            )
            .await;
            let error = match rest {
                Ok(Err(Failed::Read(e) | Failed::Write(e))) => Some(e),
                _ => None,
            };
            ("client", error)
        }
    };
    if !down.done {
        // Best effort: the client may already be gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), client.shutdown()).await;
    }
    for half in [&up, &down] {
        if half.unreported > 0 {
            metrics.relayed(protocol, half.direction.as_str(), half.unreported);
        }
    }
    Relayed {
        to_store: up.total,
        to_client: down.total,
        ended_by,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, duplex};

    #[tokio::test]
    async fn bytes_pass_both_ways_and_a_store_close_ends_the_session() {
        let metrics = Metrics::new();
        let (mut client_far, mut client) = duplex(64);
        let (mut store_far, mut store) = duplex(64);
        let task =
            tokio::spawn(
                async move { relay(&mut client, &mut store, &metrics, Protocol::Imap).await },
            );
        // Larger than both pipes: back-pressure must carry it through.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = big.clone();
        let writer = tokio::spawn(async move {
            client_far.write_all(&sent).await.expect("write");
            client_far
        });
        let mut got = vec![0u8; big.len()];
        store_far.read_exact(&mut got).await.expect("read");
        assert_eq!(got, big);
        let mut client_far = writer.await.expect("writer");
        store_far
            .write_all(b"* BYE store going\r\n")
            .await
            .expect("write");
        drop(store_far);
        let mut rest = Vec::new();
        client_far.read_to_end(&mut rest).await.expect("read");
        assert_eq!(rest, b"* BYE store going\r\n");
        let r = task.await.expect("relay");
        assert_eq!(r.ended_by, "store");
        assert_eq!(r.to_store, 200_000);
        assert_eq!(r.to_client, 19);
    }

    #[tokio::test]
    async fn a_client_close_shuts_the_store_side_and_relays_its_last_words() {
        let metrics = Metrics::new();
        let (mut client_far, mut client) = duplex(1024);
        let (mut store_far, mut store) = duplex(1024);
        let task =
            tokio::spawn(
                async move { relay(&mut client, &mut store, &metrics, Protocol::Pop3).await },
            );
        client_far.write_all(b"QUIT\r\n").await.expect("write");
        client_far.shutdown().await.expect("shutdown");
        let mut line = Vec::new();
        store_far.read_to_end(&mut line).await.expect("read");
        assert_eq!(line, b"QUIT\r\n");
        store_far.write_all(b"+OK bye\r\n").await.expect("write");
        drop(store_far);
        let mut rest = Vec::new();
        client_far.read_to_end(&mut rest).await.expect("read");
        assert_eq!(rest, b"+OK bye\r\n");
        let r = task.await.expect("relay");
        assert_eq!(r.ended_by, "client");
    }
}
