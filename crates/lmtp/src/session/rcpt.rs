//! RCPT TO (RFC 5321 4.1.1.3): asks the store about each recipient and
//! caps the number per transaction (RFC 5321 4.5.3.1.10: `452` asks the
//! client to send the rest in another transaction).

use mail_smtp_proto::Reply;
use mail_smtp_proto::command::RcptTo;
use tracing::Instrument;

use super::{Flow, Session, State};
use crate::mailboxes::{Mailboxes, RcptVerdict, Recipient};

impl<M: Mailboxes> Session<M> {
    pub(super) async fn rcpt(&mut self, r: RcptTo) -> Flow {
        let (lhlo, mut tx) = match self.take_state() {
            State::Envelope { lhlo, tx } => (lhlo, tx),
            other => {
                let text = match other {
                    State::Chunking { .. } => "RCPT not allowed after BDAT",
                    _ => "Need MAIL command",
                };
                self.state = other;
                return self.bad(&Reply::bad_sequence(text));
            }
        };
        let metrics = self.shared.metrics.clone();
        if tx.targets.len() >= self.shared.config.max_recipients {
            self.state = State::Envelope { lhlo, tx };
            metrics.recipient("too_many");
            // Not counted as a client error: the client is doing nothing wrong.
            self.reply(&Reply::too_many_recipients());
            return Flow::Continue;
        }
        let rcpt = Recipient::new(
            r.recipient,
            r.params,
            self.shared.config.recipient_delimiter,
        );
        let verdict = self
            .shared
            .mailboxes
            .check_recipient(&rcpt)
            .instrument(tx.span.clone())
            .await;
        let address = rcpt.address.to_string();
        let reply = match verdict {
            RcptVerdict::Accept(target) => {
                tx.targets.push(target);
                metrics.recipient("accepted");
                Reply::with_status(250, (2, 1, 5), &format!("<{address}> OK"))
            }
            RcptVerdict::Unknown => {
                metrics.recipient("unknown");
                Reply::with_status(550, (5, 1, 1), &format!("<{address}> Mailbox unknown"))
            }
            RcptVerdict::HomedElsewhere { host } => {
                metrics.recipient("elsewhere");
                tx.span.in_scope(|| {
                    tracing::warn!(recipient = %address, mail_host = %host, "recipient is homed on another store; the relay's routing is stale")
                });
                Reply::with_status(
                    451,
                    (4, 4, 0),
                    &format!("<{address}> Mailbox is not on this store, try again later"),
                )
            }
            RcptVerdict::Inactive => {
                metrics.recipient("inactive");
                Reply::with_status(550, (5, 2, 1), &format!("<{address}> Mailbox disabled"))
            }
            RcptVerdict::TempFail(reason) => {
                metrics.recipient("tempfail");
                tx.span.in_scope(
                    || tracing::warn!(recipient = %address, %reason, "recipient check failed"),
                );
                Reply::local_error(&format!("<{address}> Temporary failure, try again later"))
            }
        };
        self.state = State::Envelope { lhlo, tx };
        self.reply(&reply);
        Flow::Continue
    }
}
