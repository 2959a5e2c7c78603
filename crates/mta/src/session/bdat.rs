//! BDAT (RFC 3030 2): counted chunks, no dot-stuffing. A refused BDAT
//! still has its chunk read and discarded, or its octets would be taken
//! for commands. A chunk that takes the message past the size limit ends
//! the transaction with `552` at once (RFC 3030 2: the client must send
//! no more chunks after an error).

use mail_core::listener::Conn;
use mail_smtp_proto::{DataDecoder, Reply};
use tokio::time::Instant;

use super::{Chunks, Flow, Session, State};
use crate::content::Incoming;

impl Session {
    pub(super) async fn bdat(&mut self, conn: &mut Conn, size: u64, last: bool) -> Flow {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let (hello, tx, mut chunks) = match self.take_state() {
            State::Envelope { hello, tx } if !tx.rcpts.is_empty() => {
                let chunks = Box::new(Chunks {
                    decoder: DataDecoder::raw(cfg.max_message_size),
                    incoming: Incoming::new(cfg.memory_threshold, shared.temp_dir.clone()),
                    deadline: Instant::now() + cfg.message_timeout,
                });
                (hello, tx, chunks)
            }
            State::Chunking { hello, tx, chunks } => (hello, tx, chunks),
            other => {
                let reply = match &other {
                    State::Envelope { .. } => {
                        Reply::with_status(554, (5, 5, 1), "No valid recipients")
                    }
                    _ => Reply::bad_sequence("Need MAIL and RCPT commands"),
                };
                self.state = other;
                if let Err(e) = self.discard(conn, size).await {
                    return self.content_failed(e);
                }
                return self.bad(&reply);
            }
        };
        let so_far = chunks.decoder.summary().size;
        if so_far.saturating_add(size) > cfg.max_message_size {
            tx.span.in_scope(|| {
                tracing::info!(
                    size = so_far.saturating_add(size),
                    "BDAT over the size limit"
                )
            });
            self.state = State::Ready { hello };
            shared.metrics.message("rejected");
            if let Err(e) = self.discard(conn, size).await {
                return self.content_failed(e);
            }
            self.reply(&Reply::message_too_big());
            return Flow::Continue;
        }
        self.state = State::Ready {
            hello: hello.clone(),
        };
        let mut remaining = size;
        let mut out = Vec::new();
        while remaining > 0 {
            let max = usize::try_from(remaining).unwrap_or(usize::MAX);
            let piece = match self.next_piece(conn, max, chunks.deadline).await {
                Ok(p) => p,
                Err(e) => return self.content_failed(e),
            };
            remaining -= piece.len() as u64;
            out.clear();
            chunks.decoder.feed(&piece, &mut out);
            chunks.incoming.write(&out).await;
        }
        if !last {
            self.state = State::Chunking { hello, tx, chunks };
            self.reply(&Reply::ok(&format!("{size} octets received")));
            return Flow::Continue;
        }
        let Chunks {
            mut decoder,
            mut incoming,
            ..
        } = *chunks;
        out.clear();
        let summary = decoder.finish_raw(&mut out);
        incoming.write(&out).await;
        self.finish_message(conn, hello, tx, incoming, summary)
            .await
    }

    /// Reads and drops `size` octets of a refused chunk.
    async fn discard(&mut self, conn: &mut Conn, size: u64) -> Result<(), crate::Error> {
        let deadline = Instant::now() + self.shared.config.message_timeout;
        let mut remaining = size;
        while remaining > 0 {
            let max = usize::try_from(remaining).unwrap_or(usize::MAX);
            let piece = self.next_piece(conn, max, deadline).await?;
            remaining -= piece.len() as u64;
        }
        Ok(())
    }
}
