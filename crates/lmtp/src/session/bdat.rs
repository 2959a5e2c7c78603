//! BDAT (RFC 3030 2): counted chunks, no dot-stuffing, read through
//! [`Wire::bdat_chunk`](mail_queue::intake::Wire::bdat_chunk) as SMTP
//! does. A refused BDAT still has its chunk read and discarded, or the
//! octets would be taken for commands. A chunk that would take the
//! message past `max_message_size` is refused with `552 5.3.4` before it
//! is read, and ends the transaction: once for a non-final chunk, once
//! per accepted recipient for BDAT LAST (RFC 2033 4.3: BDAT LAST gets one
//! reply per successful RCPT, so a client counting replies stays in step).
//! All chunks of a message share one deadline (`message_timeout`).

use mail_core::listener::Conn;
use mail_queue::MessageBuffer;
use mail_queue::intake::{Chunk, Incoming, answers};
use mail_smtp_proto::Reply;

use super::{Flow, Session, State};
use crate::mailboxes::Mailboxes;

impl<M: Mailboxes> Session<M> {
    pub(super) async fn bdat(&mut self, conn: &mut Conn, size: u64, last: bool) -> Flow {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let (lhlo, tx, mut chunks) = match self.take_state() {
            State::Envelope { lhlo, tx } if !tx.targets.is_empty() => {
                let buffer = MessageBuffer::new(cfg.spool_threshold, cfg.spool_dir.clone());
                let chunks = Incoming::chunks(cfg.max_message_size, buffer, cfg.message_timeout);
                (lhlo, tx, Box::new(chunks))
            }
            State::Chunking { lhlo, tx, chunks } => (lhlo, tx, chunks),
            other => {
                let reply = match &other {
                    State::Envelope { .. } => {
                        // RFC 2033 4.2, as for DATA.
                        Reply::bad_sequence("No valid recipients")
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
        // While content arrives the session is out of the transaction: a
        // refusal, a timeout or a drop ends it with nothing delivered.
        self.state = State::Ready { lhlo: lhlo.clone() };
        let refusals = if last { tx.targets.len() } else { 1 };
        match self
            .wire
            .bdat_chunk(conn, &mut chunks, size, refusals, true)
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
            self.state = State::Chunking { lhlo, tx, chunks };
            self.reply(&answers::chunk_received(size));
            return Flow::Continue;
        }
        let (buffer, summary) = chunks.finish().await;
        self.finish_message(lhlo, tx, buffer, summary).await;
        Flow::Continue
    }
}
