//! BDAT (RFC 3030 2): counted chunks, no dot-stuffing, read through
//! [`Wire::bdat_chunk`](mail_queue::intake::Wire::bdat_chunk). A refused
//! BDAT still has its chunk read and discarded, or its octets would be
//! taken for commands. A chunk that would take the message past the size
//! limit is refused with `552 5.3.4` before it is read, and ends the
//! transaction (RFC 3030 2: the client must send no more chunks after an
//! error).

use mail_core::listener::Conn;
use mail_queue::MessageBuffer;
use mail_queue::intake::{Chunk, Incoming, answers};
use mail_smtp_proto::Reply;

use super::{Flow, Session, State};

impl Session {
    pub(super) async fn bdat(&mut self, conn: &mut Conn, size: u64, last: bool) -> Flow {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let (hello, tx, mut chunks) = match self.take_state() {
            State::Envelope { hello, tx } if !tx.rcpts.is_empty() => {
                let buffer =
                    MessageBuffer::new(cfg.memory_threshold, Some(shared.temp_dir.clone()));
                let chunks = Incoming::chunks(cfg.max_message_size, buffer, cfg.message_timeout);
                (hello, tx, Box::new(chunks))
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
                if let Err(e) = self.wire.refuse_chunk(conn, size).await {
                    return self.content_failed(e);
                }
                return self.bad(&reply);
            }
        };
        // While content arrives the session is out of the transaction:
        // a timeout or a drop ends it with nothing queued.
        self.state = State::Ready {
            hello: hello.clone(),
        };
        let enhanced = hello.esmtp;
        match self
            .wire
            .bdat_chunk(conn, &mut chunks, size, 1, enhanced)
            .await
        {
            Chunk::Received => {}
            Chunk::Refused => {
                tx.span.in_scope(|| {
                    tracing::info!(
                        size = chunks.size().saturating_add(size),
                        "BDAT over the size limit"
                    )
                });
                shared.metrics.message("rejected");
                return Flow::Continue;
            }
            Chunk::Failed(e) => return self.content_failed(e),
        }
        if !last {
            self.state = State::Chunking { hello, tx, chunks };
            self.reply(&answers::chunk_received(size));
            return Flow::Continue;
        }
        let (buffer, summary) = chunks.finish().await;
        self.finish_message(conn, hello, tx, buffer, summary).await
    }
}
