//! DATA (RFC 5321 4.1.1.4) and what follows the final dot for DATA and
//! BDAT LAST alike: content policy, the content filter, the Received
//! header, queueing (durable before the `250`), then the queue notifier.

use std::time::SystemTime;

use mail_core::listener::Conn;
use mail_queue::intake::Incoming;
use mail_queue::{ClientRecord, Envelope, MessageBuffer, QueuedRecipient, RcptState};
use mail_smtp_proto::{Body, DataPolicy, DataSummary, Orcpt, Reply};
use tracing::Instrument;

use super::{Accepted, Flow, Hello, Session, State, Transaction};
use crate::config::EightBitPolicy;
use crate::policy::{FilterInput, FilterVerdict};
use crate::received;
use crate::trace;

impl Session {
    pub(super) async fn data(&mut self, conn: &mut Conn) -> Flow {
        let (hello, tx) = match self.take_state() {
            State::Envelope { hello, tx } if tx.rcpts.is_empty() => {
                self.state = State::Envelope { hello, tx };
                // RFC 5321 3.3: no valid recipient, DATA fails (554 or 503).
                return self.bad(&Reply::with_status(554, (5, 5, 1), "No valid recipients"));
            }
            State::Envelope { hello, tx } => (hello, tx),
            other => {
                let text = match other {
                    State::Chunking { .. } => "DATA not allowed after BDAT",
                    _ => "Need MAIL and RCPT commands",
                };
                self.state = other;
                return self.bad(&Reply::bad_sequence(text));
            }
        };
        // While content arrives the session is out of the transaction:
        // a timeout or a drop ends it with nothing queued.
        self.state = State::Ready {
            hello: hello.clone(),
        };
        self.reply(&Reply::start_data());
        if let Err(e) = self.flush(conn).await {
            return self.content_failed(e);
        }
        let cfg = &self.shared.config;
        let buffer = MessageBuffer::new(cfg.memory_threshold, Some(self.shared.temp_dir.clone()));
        let mut incoming = Incoming::data(cfg.max_message_size, buffer, cfg.message_timeout);
        // Connection dropped before CRLF.CRLF, or a timeout: nothing is
        // queued.
        if let Err(e) = self.wire.receive_data(conn, &mut incoming).await {
            return self.content_failed(e);
        }
        let (buffer, summary) = incoming.finish().await;
        self.finish_message(conn, hello, tx, buffer, summary).await
    }

    /// Checks, filters and queues one message, replies, and leaves the
    /// session in `Ready`.
    pub(super) async fn finish_message(
        &mut self,
        conn: &mut Conn,
        hello: Hello,
        tx: Transaction,
        incoming: MessageBuffer,
        summary: DataSummary,
    ) -> Flow {
        let Transaction {
            sender,
            mut params,
            rcpts,
            span,
        } = tx;
        span.record("recipients", rcpts.len());
        span.record("size", summary.size);
        let shared = self.shared.clone();
        let metrics = &shared.metrics;
        let cfg = &shared.config;
        self.state = State::Ready {
            hello: hello.clone(),
        };
        let policy = DataPolicy {
            allow_long_lines: cfg.accept_long_lines,
            ..DataPolicy::default()
        };
        let mut refusal = summary.verdict(&policy);
        // RFC 6152 3 / RFC 6531 3.1: 8-bit content needs BODY=8BITMIME
        // (or SMTPUTF8, which implies it).
        let eight_bit_undeclared =
            incoming.eight_bit() && params.body != Some(Body::EightBitMime) && !params.smtputf8;
        if refusal.is_none() && eight_bit_undeclared {
            match cfg.eight_bit_without_8bitmime {
                EightBitPolicy::Reject => {
                    refusal = Some(Reply::with_status(
                        554,
                        (5, 6, 1),
                        "8-bit content requires BODY=8BITMIME",
                    ))
                }
                EightBitPolicy::Accept => params.body = Some(Body::EightBitMime),
            }
        }
        if let Some(reject) = refusal {
            span.in_scope(|| {
                tracing::info!(
                    reply = %reject.to_string().trim_end(),
                    bare_lf = summary.bare_lf,
                    bare_cr = summary.bare_cr,
                    nul = summary.nul,
                    long_lines = summary.long_lines,
                    oversize = summary.oversize,
                    "message refused"
                )
            });
            metrics.message("rejected");
            self.reply(&reject);
            return Flow::Continue;
        }
        let message_id = incoming.message_id();
        let (mut content, size) = match incoming.finish().await {
            Ok(c) => c,
            Err(e) => {
                span.in_scope(|| tracing::error!(error = %e, "receiving the message failed"));
                metrics.message("tempfail");
                self.reply(&Reply::local_error(
                    "Local error in processing, try again later",
                ));
                return Flow::Continue;
            }
        };
        let addresses: Vec<_> = rcpts.iter().map(|a| a.address.clone()).collect();
        let verdict = shared
            .hooks
            .filter
            .check(FilterInput {
                client: &self.client,
                sender: &sender,
                recipients: &addresses,
                content: content.content_ref(),
                size,
            })
            .instrument(span.clone())
            .await;
        let extra = match verdict {
            FilterVerdict::Accept => Vec::new(),
            FilterVerdict::AcceptWithHeaders(h) => h,
            FilterVerdict::Reject(r) | FilterVerdict::TempFail(r) => {
                span.in_scope(|| tracing::info!(reply = %r.to_string().trim_end(), "content filter refused the message"));
                metrics.message(if r.is_transient() {
                    "tempfail"
                } else {
                    "rejected"
                });
                self.reply(&r);
                return Flow::Continue;
            }
        };
        let received_at = SystemTime::now();
        let groups = group_by_route(&rcpts);
        let ids: Vec<_> = groups.iter().map(|_| shared.spool.next_id()).collect();
        let single = match rcpts.as_slice() {
            [one] => Some(one.address.to_string()),
            _ => None,
        };
        let mut prefix = received::header(&received::Trace {
            helo: &hello.name,
            ip: self.client.peer.ip(),
            by: &cfg.hostname,
            esmtp: hello.esmtp,
            tls: self.client.tls,
            auth: self.client.auth.is_some(),
            utf8: params.smtputf8,
            id: ids[0].as_str(),
            for_rcpt: single.as_deref(),
            at: received_at,
        });
        for h in &extra {
            let h: String = h.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            prefix.extend_from_slice(h.as_bytes());
            prefix.extend_from_slice(b"\r\n");
        }
        let traceparent = trace::traceparent(&span);
        let client = ClientRecord {
            ip: self.client.peer.ip(),
            port: self.client.peer.port(),
            helo: hello.name.clone(),
            tls: self.client.tls,
            auth: self.client.auth.clone(),
        };
        let envelopes: Vec<Envelope> = groups
            .into_iter()
            .zip(ids)
            .map(|((channel, host, recipients), id)| Envelope {
                id,
                channel,
                host,
                received_at,
                client: client.clone(),
                sender: sender.address().map(|a| a.to_string()).unwrap_or_default(),
                body: params.body,
                smtputf8: params.smtputf8,
                ret: params.ret,
                envid: params.envid.clone(),
                mail_auth: params.auth.clone(),
                traceparent: traceparent.clone(),
                message_id: message_id.clone(),
                size: 0,
                recipients,
            })
            .collect();
        let queued = shared
            .spool
            .enqueue(envelopes, prefix, content.take_content())
            .instrument(span.clone())
            .await;
        drop(content);
        let queued = match queued {
            Ok(q) => q,
            Err(e) => {
                span.in_scope(|| tracing::error!(error = %e, "queueing failed"));
                metrics.message("tempfail");
                self.reply(&Reply::local_error(
                    "Local error in processing, try again later",
                ));
                return Flow::Continue;
            }
        };
        let ids: Vec<String> = queued.iter().map(|e| e.id.to_string()).collect();
        span.record("queue_id", ids.join(",").as_str());
        span.in_scope(|| {
            for e in &queued {
                // The mail log's "received" event.
                tracing::info!(
                    event = "received",
                    queue_id = %e.id,
                    message_id = e.message_id.as_deref().unwrap_or(""),
                    channel = %e.channel,
                    host = %e.host,
                    sender = %e.sender,
                    recipients = e.recipients.len(),
                    size = e.size,
                    "message queued"
                );
            }
        });
        metrics.message("queued");
        self.reply(&Reply::ok(&format!("Ok: queued as {}", ids.join(" "))));
        // Queued is queued: the notifier hears of it even when the client
        // is gone before its 250 (it will send again, the duplicate SMTP
        // allows; without this the entry waited for the next restart). It
        // runs beside the session: the client's next command need not wait
        // for jobctl (nor for its retries while jobctl is away), and the
        // spool, not this task, is what makes the message safe.
        let notifier = shared.hooks.notifier.clone();
        tokio::spawn(async move { notifier.queued(&queued).await }.instrument(span));
        let flushed = self.flush(conn).await;
        if let Err(e) = flushed {
            tracing::info!(error = %e, "client gone after the message was queued");
            return Flow::Close;
        }
        Flow::Continue
    }
}

/// Recipients grouped by (channel, host), in RCPT order of first
/// appearance: one queue file per group.
fn group_by_route(rcpts: &[Accepted]) -> Vec<(String, String, Vec<QueuedRecipient>)> {
    let mut groups: Vec<(String, String, Vec<QueuedRecipient>)> = Vec::new();
    for a in rcpts {
        let original = a.address.to_string();
        let address = a.route.address.clone().unwrap_or_else(|| original.clone());
        // RFC 3461 4.2: keep the original recipient when routing rewrote it.
        let orcpt = a.params.orcpt.clone().or_else(|| {
            (address != original).then(|| Orcpt {
                addr_type: "rfc822".into(),
                address: original.clone(),
            })
        });
        let q = QueuedRecipient {
            address,
            orcpt,
            notify: a.params.notify,
            state: RcptState::Pending,
        };
        match groups
            .iter_mut()
            .find(|(c, h, _)| *c == a.route.channel && *h == a.route.host)
        {
            Some((_, _, list)) => list.push(q),
            None => groups.push((a.route.channel.clone(), a.route.host.clone(), vec![q])),
        }
    }
    groups
}
