//! RETR and TOP (RFC 1939 5, 7): the message streamed through the
//! [`MultiLine`] encoder, written out in pieces so that a large message
//! never sits in memory twice.

use mail_core::listener::Conn;
use tokio::io::AsyncReadExt;

use crate::maildrop::{Authenticator, Maildrop, Maildrops, MessageContent};
use crate::proto::{MultiLine, RespCode, Response};

use super::{FLUSH_AT, Flow, Session, State};

impl<A: Authenticator, M: Maildrops> Session<A, M> {
    /// RETR n (`top` is `None`) or TOP n lines.
    pub(super) async fn retr(&mut self, n: u32, top: Option<u32>, conn: &mut Conn) -> Flow {
        let info = match self.message(n) {
            Ok((_, info)) => info,
            Err(r) => return self.bad(r),
        };
        let content = match &self.state {
            State::Transaction(tx) => tx.maildrop.read(&info).await,
            _ => return Flow::Close,
        };
        let content = match content {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(uid = %info.uid, error = %e, "message unreadable");
                self.reply(Response::err_code(
                    RespCode::SysTemp,
                    format!("Message {n} cannot be read now"),
                ));
                return Flow::Continue;
            }
        };
        self.reply(match top {
            None => Response::ok(format!("{} octets", info.size)),
            Some(_) => Response::ok("Top of message follows"),
        });
        let mut enc = MultiLine::new(top);
        let mut sent = 0u64;
        match content {
            MessageContent::Bytes(bytes) => {
                for chunk in bytes.chunks(FLUSH_AT) {
                    if !self.encode(&mut enc, chunk, &mut sent, conn).await {
                        return Flow::Close;
                    }
                    if enc.is_done() {
                        break;
                    }
                }
            }
            MessageContent::Stream(mut reader) => {
                let mut buf = std::mem::take(&mut self.buf);
                let timeout = self.shared.config.idle_timeout;
                loop {
                    let read = tokio::time::timeout(timeout, reader.read(&mut buf)).await;
                    let n = match read {
                        Ok(Ok(0)) => break,
                        Ok(Ok(n)) => n,
                        Ok(Err(e)) => {
                            // The +OK is out: the only honest end is closing.
                            tracing::warn!(uid = %info.uid, error = %e, "message read failed mid-response");
                            return Flow::Close;
                        }
                        Err(_) => {
                            tracing::warn!(uid = %info.uid, "message read timed out mid-response");
                            return Flow::Close;
                        }
                    };
                    let Some(piece) = buf.get(..n) else { break };
                    if !self.encode(&mut enc, piece, &mut sent, conn).await || enc.is_done() {
                        break;
                    }
                }
                self.buf = buf;
            }
        }
        enc.finish(&mut self.out);
        self.shared.metrics.retrieved(sent);
        tracing::debug!(uid = %info.uid, octets = sent, top = ?top, "message sent");
        Flow::Continue
    }

    /// Feeds one piece through the encoder, writing out when the queue is
    /// large; false when the client connection failed.
    async fn encode(
        &mut self,
        enc: &mut MultiLine,
        piece: &[u8],
        sent: &mut u64,
        conn: &mut Conn,
    ) -> bool {
        let before = self.out.len();
        enc.feed(piece, &mut self.out);
        *sent += (self.out.len() - before) as u64;
        if self.out.len() >= FLUSH_AT {
            return self.flush(conn).await.is_ok();
        }
        true
    }
}
