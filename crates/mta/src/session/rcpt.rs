//! RCPT TO (RFC 5321 4.1.1.3): the recipient policy decides (hosted and
//! known, relaying allowed, or not); the number per transaction is capped
//! (RFC 5321 4.5.3.1.10: `452` asks the client to send the rest in
//! another transaction). Refusals count as errors, so a client guessing
//! addresses is disconnected after `max_errors`.

use mail_smtp_proto::Reply;
use mail_smtp_proto::command::RcptTo;
use tracing::Instrument;

use super::{Accepted, Flow, Session, State};
use crate::policy::RcptVerdict;

impl Session {
    pub(super) async fn rcpt(&mut self, r: RcptTo) -> Flow {
        let (hello, mut tx) = match self.take_state() {
            State::Envelope { hello, tx } => (hello, tx),
            other => {
                let text = match other {
                    State::Chunking { .. } => "RCPT not allowed after BDAT",
                    _ => "Need MAIL command",
                };
                self.state = other;
                return self.bad(&Reply::bad_sequence(text));
            }
        };
        let shared = self.shared.clone();
        let metrics = &shared.metrics;
        let address = r.recipient.to_string();
        let duplicate = tx
            .rcpts
            .iter()
            .any(|a| a.address.to_string().eq_ignore_ascii_case(&address));
        if duplicate {
            self.state = State::Envelope { hello, tx };
            self.reply(&Reply::with_status(
                250,
                (2, 1, 5),
                &format!("<{address}> OK (duplicate, delivered once)"),
            ));
            return Flow::Continue;
        }
        if tx.rcpts.len() >= shared.config.max_recipients {
            self.state = State::Envelope { hello, tx };
            metrics.recipient("too_many");
            // Not an error: the client is doing nothing wrong.
            self.reply(&Reply::too_many_recipients());
            return Flow::Continue;
        }
        let verdict = shared
            .hooks
            .recipients
            .check_recipient(&self.client, &tx.sender, &r.recipient, &r.params)
            .instrument(tx.span.clone())
            .await;
        let (reply, error) = match verdict {
            RcptVerdict::Accept(route) if !mail_queue::valid_channel(&route.channel) => {
                metrics.recipient("tempfail");
                tx.span.in_scope(|| {
                    tracing::error!(recipient = %address, channel = %route.channel, "routing chose an invalid channel name")
                });
                (
                    Reply::with_status(
                        451,
                        (4, 3, 5),
                        &format!("<{address}> Routing configuration error, try again later"),
                    ),
                    false,
                )
            }
            RcptVerdict::Accept(route) => {
                metrics.recipient("accepted");
                tx.rcpts.push(Accepted {
                    address: r.recipient,
                    params: r.params,
                    route,
                });
                (
                    Reply::with_status(250, (2, 1, 5), &format!("<{address}> OK")),
                    false,
                )
            }
            RcptVerdict::UnknownUser => {
                metrics.recipient("unknown");
                (
                    Reply::with_status(550, (5, 1, 1), &format!("<{address}> Mailbox unknown")),
                    true,
                )
            }
            RcptVerdict::RelayDenied => {
                metrics.recipient("relay_denied");
                tx.span
                    .in_scope(|| tracing::info!(recipient = %address, "relaying denied"));
                (
                    Reply::with_status(550, (5, 7, 1), &format!("<{address}> Relaying denied")),
                    true,
                )
            }
            RcptVerdict::TempFail(reason) => {
                metrics.recipient("tempfail");
                tx.span.in_scope(
                    || tracing::warn!(recipient = %address, %reason, "recipient check failed"),
                );
                (
                    Reply::local_error(&format!("<{address}> Temporary failure, try again later")),
                    false,
                )
            }
            RcptVerdict::Reject(reply) => {
                metrics.recipient("rejected");
                let error = reply.is_permanent();
                (reply, error)
            }
        };
        self.state = State::Envelope { hello, tx };
        if error {
            return self.bad(&reply);
        }
        self.reply(&reply);
        Flow::Continue
    }
}
