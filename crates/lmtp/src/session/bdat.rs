//! BDAT (RFC 3030 2): counted chunks, no dot-stuffing. A refused BDAT
//! still has its chunk read and discarded, or the octets would be taken
//! for commands.

use mail_core::listener::Conn;
use mail_smtp_proto::{DataDecoder, Reply};

use super::{Chunks, Flow, Session, State};
use crate::mailboxes::Mailboxes;
use crate::spool::Spool;

impl<M: Mailboxes> Session<M> {
    pub(super) async fn bdat(&mut self, conn: &mut Conn, size: u64, last: bool) -> Flow {
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let (lhlo, tx, mut chunks) = match self.take_state() {
            State::Envelope { lhlo, tx } if !tx.targets.is_empty() => {
                let chunks = Box::new(Chunks {
                    decoder: DataDecoder::raw(cfg.max_message_size),
                    spool: Spool::new(cfg.spool_threshold, cfg.spool_dir.clone()),
                });
                (lhlo, tx, chunks)
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
                if let Err(e) = self.discard(conn, size).await {
                    return self.content_failed(e);
                }
                return self.bad(&reply);
            }
        };
        let mut remaining = size;
        let mut out = Vec::new();
        while remaining > 0 {
            let max = usize::try_from(remaining).unwrap_or(usize::MAX);
            let piece = match self.next_piece(conn, max).await {
                Ok(p) => p,
                Err(e) => return self.content_failed(e),
            };
            remaining -= piece.len() as u64;
            out.clear();
            chunks.decoder.feed(&piece, &mut out);
            chunks.spool.write(&out).await;
        }
        if !last {
            self.state = State::Chunking { lhlo, tx, chunks };
            self.reply(&Reply::ok(&format!("{size} octets received")));
            return Flow::Continue;
        }
        out.clear();
        let summary = chunks.decoder.finish_raw(&mut out);
        chunks.spool.write(&out).await;
        self.finish_message(lhlo, tx, chunks.spool, summary).await;
        Flow::Continue
    }

    /// Reads and drops `size` octets of a refused chunk.
    async fn discard(&mut self, conn: &mut Conn, size: u64) -> Result<(), crate::Error> {
        let mut remaining = size;
        while remaining > 0 {
            let max = usize::try_from(remaining).unwrap_or(usize::MAX);
            let piece = self.next_piece(conn, max).await?;
            remaining -= piece.len() as u64;
        }
        Ok(())
    }
}
