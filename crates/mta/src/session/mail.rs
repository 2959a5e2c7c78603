//! MAIL FROM (RFC 5321 4.1.1.2): opens a transaction once the client has
//! said EHLO/HELO, is authenticated if the listener requires it, is under
//! its message rate, and the sender policy agrees.

use mail_smtp_proto::command::MailFrom;
use mail_smtp_proto::{Body, Reply};
use tracing::Instrument;

use super::{Flow, Session, State, Transaction};
use crate::policy::SenderVerdict;
use crate::trace;

impl Session {
    pub(super) async fn mail(&mut self, mut m: MailFrom) -> Flow {
        let hello = match self.take_state() {
            State::Ready { hello } => hello,
            State::Greeted => return self.bad(&Reply::bad_sequence("Send EHLO or HELO first")),
            other => {
                self.state = other;
                return self.bad(&Reply::bad_sequence("Nested MAIL command"));
            }
        };
        let shared = self.shared.clone();
        let cfg = &shared.config;
        let refuse = |s: &mut Self, hello, reply: Reply| {
            s.state = State::Ready { hello };
            s.bad(&reply)
        };
        if cfg.require_auth && self.client.auth.is_none() {
            // RFC 4954 6
            return refuse(
                self,
                hello,
                Reply::with_status(530, (5, 7, 0), "Authentication required"),
            );
        }
        // RFC 1870 6.1: refuse a declared size over the limit up front.
        if m.params.size.is_some_and(|s| s > cfg.max_message_size) {
            return refuse(self, hello, Reply::message_too_big());
        }
        if m.params.body == Some(Body::BinaryMime) {
            return refuse(
                self,
                hello,
                Reply::with_status(555, (5, 5, 4), "BODY=BINARYMIME not supported"),
            );
        }
        if m.params.traceparent.is_some() && !cfg.accept_traceparent {
            return refuse(
                self,
                hello,
                Reply::with_status(555, (5, 5, 4), "Unsupported parameter X-TRACEPARENT"),
            );
        }
        // Ours, between a relay and its stores (LMTP) only: never announced here.
        if m.params.delivery_id.is_some() {
            return refuse(
                self,
                hello,
                Reply::with_status(555, (5, 5, 4), "Unsupported parameter X-DELIVERY-ID"),
            );
        }
        if !shared.limiter.message(self.client.peer.ip()) {
            self.state = State::Ready { hello };
            tracing::info!("message rate limit reached");
            self.reply(&Reply::with_status(
                451,
                (4, 7, 1),
                "Message rate limit exceeded, try again later",
            ));
            return Flow::Continue;
        }
        // RFC 4954 5: AUTH= is kept only from an authenticated client.
        if self.client.auth.is_none() {
            m.params.auth = None;
        }
        let span = trace::transaction_span(m.params.traceparent.as_deref());
        span.record("sender", m.sender.to_string());
        let verdict = shared
            .hooks
            .senders
            .check_sender(&self.client, &m.sender, &m.params)
            .instrument(span.clone())
            .await;
        let reply = match verdict {
            SenderVerdict::Accept => None,
            SenderVerdict::NotOwned => Some(Reply::with_status(
                553,
                (5, 7, 1),
                &format!(
                    "Sender address {} not owned by the authenticated user",
                    m.sender
                ),
            )),
            SenderVerdict::TempFail(why) => {
                span.in_scope(|| tracing::warn!(reason = %why, "sender check failed"));
                Some(Reply::local_error(
                    "Temporary failure checking the sender, try again later",
                ))
            }
            SenderVerdict::Reject(r) => Some(r),
        };
        if let Some(r) = reply {
            self.state = State::Ready { hello };
            if r.is_transient() {
                self.reply(&r);
                return Flow::Continue;
            }
            return self.bad(&r);
        }
        span.in_scope(|| tracing::debug!("MAIL FROM accepted"));
        self.state = State::Envelope {
            hello,
            tx: Transaction {
                sender: m.sender,
                params: m.params,
                rcpts: Vec::new(),
                span,
            },
        };
        self.reply(&Reply::with_status(250, (2, 1, 0), "Sender OK"));
        Flow::Continue
    }
}
