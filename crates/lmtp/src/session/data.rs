//! DATA (RFC 5321 4.1.1.4) and the per-recipient replies of LMTP
//! (RFC 2033 4.2): after the final dot, one reply for each accepted
//! recipient, in RCPT order. Also used by BDAT LAST.

use std::time::SystemTime;

use mail_core::listener::Conn;
use mail_queue::MessageBuffer;
use mail_queue::intake::Incoming;
use mail_smtp_proto::{Body, DataPolicy, DataSummary, Reply};
use tracing::Instrument;

use super::{Flow, Session, State, Transaction};
use crate::mailboxes::{DeliveryResult, Envelope, IncomingMessage, Mailboxes};

impl<M: Mailboxes> Session<M> {
    pub(super) async fn data(&mut self, conn: &mut Conn) -> Flow {
        let (lhlo, tx) = match self.take_state() {
            State::Envelope { lhlo, tx } if tx.targets.is_empty() => {
                self.state = State::Envelope { lhlo, tx };
                // RFC 2033 4.2: with no successful RCPT, DATA MUST fail with 503.
                return self.bad(&Reply::bad_sequence("No valid recipients"));
            }
            // RFC 3030 3: BINARYMIME content only with BDAT.
            State::Envelope { lhlo, tx } if tx.params.body == Some(Body::BinaryMime) => {
                self.state = State::Envelope { lhlo, tx };
                return self.bad(&Reply::bad_sequence("BODY=BINARYMIME requires BDAT"));
            }
            State::Envelope { lhlo, tx } => (lhlo, tx),
            other => {
                let text = match other {
                    State::Chunking { .. } => "DATA not allowed after BDAT",
                    _ => "Need MAIL and RCPT commands",
                };
                self.state = other;
                return self.bad(&Reply::bad_sequence(text));
            }
        };
        self.reply(&Reply::start_data());
        if let Err(e) = self.flush(conn).await {
            return self.content_failed(e);
        }
        // While content arrives the session is out of the transaction: a
        // timeout or a drop ends it with nothing delivered.
        self.state = State::Ready { lhlo: lhlo.clone() };
        let cfg = &self.shared.config;
        let buffer = MessageBuffer::new(cfg.spool_threshold, cfg.spool_dir.clone());
        let mut incoming = Incoming::data(cfg.max_message_size, buffer, cfg.message_timeout);
        if let Err(e) = self.wire.receive_data(conn, &mut incoming).await {
            return self.content_failed(e);
        }
        let (buffer, summary) = incoming.finish().await;
        self.finish_message(lhlo, tx, buffer, summary).await;
        Flow::Continue
    }

    /// Applies the content policy, delivers, and queues one reply per
    /// accepted recipient (RFC 2033 4.2). Leaves the session in `Ready`.
    pub(super) async fn finish_message(
        &mut self,
        lhlo: String,
        tx: Transaction,
        buffer: MessageBuffer,
        summary: DataSummary,
    ) {
        let Transaction {
            sender,
            params,
            targets,
            span,
        } = tx;
        span.record("recipients", targets.len());
        span.record("size", summary.size);
        let metrics = self.shared.metrics.clone();
        let policy = if params.body == Some(Body::BinaryMime) {
            // RFC 3030 3: binary content has no line structure.
            DataPolicy {
                allow_long_lines: true,
                allow_bare_line_endings: true,
                allow_nul: true,
            }
        } else {
            DataPolicy {
                allow_long_lines: self.shared.config.accept_long_lines,
                ..DataPolicy::default()
            }
        };
        self.state = State::Ready { lhlo: lhlo.clone() };
        let replies: Vec<Reply> = if let Some(reject) = summary.verdict(&policy) {
            span.in_scope(|| {
                tracing::info!(
                    reply = %reject.to_string().trim_end(),
                    bare_lf = summary.bare_lf,
                    bare_cr = summary.bare_cr,
                    nul = summary.nul,
                    long_lines = summary.long_lines,
                    "message refused"
                )
            });
            metrics.message("rejected");
            vec![reject; targets.len()]
        } else {
            match buffer.finish().await {
                Err(e) => {
                    span.in_scope(|| tracing::error!(error = %e, "spooling the message failed"));
                    metrics.message("rejected");
                    vec![Reply::local_error("Local error spooling the message"); targets.len()]
                }
                Ok((body, size)) => {
                    let msg = IncomingMessage {
                        envelope: Envelope {
                            sender,
                            traceparent: params.traceparent.clone(),
                            delivery_id: params.delivery_id.clone(),
                            params,
                            lhlo,
                            peer: self.peer,
                            received_at: SystemTime::now(),
                        },
                        body,
                        size,
                    };
                    let results = self
                        .shared
                        .mailboxes
                        .deliver(msg, &targets)
                        .instrument(span.clone())
                        .await;
                    let replies = delivery_replies(&targets, results, &metrics);
                    let delivered = replies.iter().filter(|r| r.is_positive()).count();
                    span.in_scope(|| {
                        tracing::info!(
                            delivered,
                            recipients = targets.len(),
                            size,
                            "message delivered"
                        )
                    });
                    metrics.message(if delivered > 0 {
                        "delivered"
                    } else {
                        "rejected"
                    });
                    replies
                }
            }
        };
        for r in &replies {
            self.reply(r);
        }
    }
}

/// One reply per target, in order; a missing result is a local error.
fn delivery_replies(
    targets: &[crate::mailboxes::Target],
    results: Vec<DeliveryResult>,
    metrics: &crate::metrics::Metrics,
) -> Vec<Reply> {
    let mut results = results.into_iter();
    targets
        .iter()
        .map(|t| match results.next() {
            Some(DeliveryResult::Delivered) => {
                metrics.delivery("delivered");
                Reply::ok(&format!("<{}> delivered", t.recipient.address))
            }
            Some(DeliveryResult::AlreadyDelivered) => {
                metrics.delivery("redelivery");
                Reply::ok(&format!(
                    "<{}> delivered before (X-DELIVERY-ID), not stored again",
                    t.recipient.address
                ))
            }
            Some(DeliveryResult::TempFail(r)) => {
                metrics.delivery("tempfail");
                r
            }
            Some(DeliveryResult::PermFail(r)) => {
                metrics.delivery("permfail");
                r
            }
            None => {
                metrics.delivery("tempfail");
                Reply::local_error("No delivery result")
            }
        })
        .collect()
}
