//! One delivery attempt of one queue entry through a channel: find the
//! destination (MX walk, a fixed host, the user's store), get a connection
//! (reused or new, within the per-destination limit), run the transaction
//! and turn each recipient's reply into an outcome.

use std::net::SocketAddr;
use std::sync::Arc;

use mail_queue::{Envelope, QueuedRecipient};
use mail_routing::config::parse_host_port;
use mail_routing::{Channel, ChannelKind, Destination, TlsPolicy};
use mail_smtp_proto::{Body, Ret, xtext};

use crate::conn::{Conn, ConnError, Protocol, Timeouts, TlsMode, Transaction};
use crate::dns::{DnsFailure, MxResolver};
use crate::pool::Pool;
use crate::reply::Reply;

/// What happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server took responsibility (2xx).
    Delivered,
    /// Try again later (4xx, network trouble, TLS policy not met).
    Retry,
    /// Permanent failure (5xx): bounce.
    Failed,
}

/// One recipient's result, with the reply that decided it.
#[derive(Debug, Clone)]
pub struct RcptResult {
    /// The envelope recipient.
    pub address: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The server's reply, or a local one describing the failure.
    pub reply: Reply,
}

/// The result of one attempt.
#[derive(Debug, Clone, Default)]
pub struct AttemptResult {
    /// One per recipient attempted, in order.
    pub results: Vec<RcptResult>,
    /// The server that answered (for the log and DSN `Remote-MTA`).
    pub remote: Option<String>,
    /// Whether that server took the DSN parameters (then it, not we,
    /// sends success notices).
    pub remote_dsn: bool,
}

/// Everything a channel's workers share.
pub struct ChannelRuntime {
    /// The channel's keywords.
    pub channel: Channel,
    /// TLS per the channel's policy.
    pub tls: TlsMode,
    /// Idle connections and per-destination limits.
    pub pool: Pool,
    /// DNS, for MX and host lookups.
    pub resolver: MxResolver,
    /// EHLO/LHLO name.
    pub hostname: String,
    /// This relay's name in jobctl: with a queue id, the delivery id a
    /// store recognises a redelivery by (`X-DELIVERY-ID`).
    pub relay: String,
    /// Connection timeouts.
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for ChannelRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRuntime")
            .field("channel", &self.channel.name)
            .finish()
    }
}

/// Where a queue entry of `channel` goes, from its envelope's `host` (what
/// the relay stored from the route, see [`host_for`]). An empty host means
/// the channel's own `relay`.
pub fn destination(channel: &Channel, host: &str) -> Result<Destination, String> {
    let default_port = channel.default_port();
    let fixed = |text: &str| -> Result<Destination, String> {
        let (host, port) = parse_host_port(text)?;
        Ok(Destination::Host {
            host,
            port: port.unwrap_or(default_port),
        })
    };
    match channel.kind {
        ChannelKind::SmtpMx if host.is_empty() => Err("no destination domain".into()),
        ChannelKind::SmtpMx => Ok(Destination::Mx {
            domain: host.trim().to_ascii_lowercase(),
            port: default_port,
        }),
        ChannelKind::Lmtp | ChannelKind::SmtpRelay => match (host.trim(), &channel.relay) {
            ("", Some(relay)) => fixed(relay),
            ("", None) => Err("no destination host and no relay".into()),
            (h, _) => fixed(h),
        },
        _ => Ok(Destination::Local),
    }
}

/// The `host` to store in a queue envelope (and jobctl job) for a route's
/// destination: the domain for MX delivery, `host:port` for a fixed host,
/// empty for a local channel. [`destination`] reads it back.
pub fn host_for(dest: &Destination) -> String {
    match dest {
        Destination::Mx { domain, .. } => domain.clone(),
        Destination::Host { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        Destination::Host { host, port } => format!("{host}:{port}"),
        Destination::Local => String::new(),
    }
}

fn classify(reply: &Reply) -> Outcome {
    match reply.code {
        200..=399 => Outcome::Delivered,
        400..=499 => Outcome::Retry,
        _ => Outcome::Failed,
    }
}

fn all(rcpts: &[QueuedRecipient], outcome: Outcome, reply: Reply) -> AttemptResult {
    AttemptResult {
        results: rcpts
            .iter()
            .map(|r| RcptResult {
                address: r.address.clone(),
                outcome,
                reply: reply.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

impl ChannelRuntime {
    /// Delivers `data` to `rcpts` of the entry `env`. Never fails: every
    /// problem becomes the recipients' outcome.
    pub async fn deliver(
        &self,
        env: &Envelope,
        data: &[u8],
        rcpts: &[QueuedRecipient],
        traceparent: Option<&str>,
    ) -> AttemptResult {
        let protocol = match self.channel.kind {
            ChannelKind::Lmtp => Protocol::Lmtp,
            ChannelKind::SmtpMx | ChannelKind::SmtpRelay => Protocol::Smtp,
            ChannelKind::Bounce => {
                return all(
                    rcpts,
                    Outcome::Failed,
                    Reply::local(550, "5.1.1", "address refused by routing (bounce channel)"),
                );
            }
            kind => {
                return all(
                    rcpts,
                    Outcome::Retry,
                    Reply::local(
                        451,
                        "4.3.5",
                        &format!("no master program for kind {}", kind.as_str()),
                    ),
                );
            }
        };
        let dest = match destination(&self.channel, &env.host) {
            Ok(d) => d,
            Err(e) => return all(rcpts, Outcome::Retry, Reply::local(451, "4.3.5", &e)),
        };
        let key = host_for(&dest);
        let _permit = self.pool.permit(&key).await;
        if let Some(mut conn) = self.pool.take(&key)
            && conn.reset().await.is_ok()
        {
            let (result, usable) = self
                .run(&mut conn, protocol, env, data, rcpts, traceparent)
                .await;
            if usable && let Some(c) = self.pool.put(&key, conn) {
                c.quit().await;
            }
            return result;
        }
        let (hosts, port) = match &dest {
            Destination::Mx { domain, port } => match self.resolver.mail_hosts(domain).await {
                Ok(h) => (h, *port),
                Err(f) => return dns_failure(rcpts, domain, f),
            },
            Destination::Host { host, port } => (vec![host.clone()], *port),
            Destination::Local => (Vec::new(), 0),
        };
        let mut last = Reply::local(451, "4.4.1", &format!("no mail host for {key}"));
        let mut last_outcome = Outcome::Retry;
        for host in &hosts {
            let addrs = match self.resolver.addresses(host).await {
                Ok(a) => a,
                Err(DnsFailure::Temporary(e)) => {
                    last = Reply::local(451, "4.4.3", &format!("DNS lookup of {host}: {e}"));
                    continue;
                }
                Err(DnsFailure::NoSuchDomain | DnsFailure::NoMailHost(_))
                    if hosts.len() == 1
                        && matches!(dest, Destination::Mx { .. })
                        && host == &key =>
                {
                    // Implicit MX of a domain without any address.
                    last = Reply::local(550, "5.1.2", &format!("{host} has no mail host"));
                    last_outcome = Outcome::Failed;
                    continue;
                }
                Err(e) => {
                    last = Reply::local(451, "4.4.4", &format!("{host}: {e:?}"));
                    continue;
                }
            };
            for ip in addrs {
                let peer = SocketAddr::new(ip, port);
                match self.connect(peer, host, protocol).await {
                    Ok(mut conn) => {
                        let (result, usable) = self
                            .run(&mut conn, protocol, env, data, rcpts, traceparent)
                            .await;
                        if usable && let Some(c) = self.pool.put(&key, conn) {
                            c.quit().await;
                        }
                        return result;
                    }
                    Err(e) => {
                        tracing::debug!(%peer, host, error = %e, "connection failed, trying the next address");
                        last = match e {
                            ConnError::Refused(r) => Reply {
                                code: if r.code >= 500 { 451 } else { r.code },
                                lines: vec![format!("4.4.0 {host} refused the session: {r}")],
                            },
                            ConnError::TlsNotOffered(h) => Reply::local(
                                451,
                                "4.7.10",
                                &format!(
                                    "TLS required by the channel but STARTTLS not offered by {h}"
                                ),
                            ),
                            other => Reply::local(451, "4.4.1", &format!("{host} [{ip}]: {other}")),
                        };
                        last_outcome = Outcome::Retry;
                    }
                }
            }
        }
        all(rcpts, last_outcome, last)
    }

    async fn connect(
        &self,
        peer: SocketAddr,
        host: &str,
        protocol: Protocol,
    ) -> Result<Conn, ConnError> {
        match Conn::open(
            peer,
            host,
            protocol,
            &self.hostname,
            &self.tls,
            self.timeouts,
        )
        .await
        {
            Err(ConnError::TlsFailed { host: h, why })
                if self.tls.policy == TlsPolicy::Opportunistic =>
            {
                // RFC 7435: opportunistic security falls back to clear text.
                tracing::info!(%peer, host = %h, why, "TLS failed, delivering without it");
                let plain = TlsMode {
                    policy: TlsPolicy::None,
                    connector: None,
                };
                Conn::open(peer, host, protocol, &self.hostname, &plain, self.timeouts).await
            }
            other => other,
        }
    }

    /// The transaction on an open connection; also says whether the
    /// connection may be reused.
    async fn run(
        &self,
        conn: &mut Conn,
        protocol: Protocol,
        env: &Envelope,
        data: &[u8],
        rcpts: &[QueuedRecipient],
        traceparent: Option<&str>,
    ) -> (AttemptResult, bool) {
        let caps = conn.caps.clone();
        let remote = Some(conn.peer_name.clone());
        let result = |outcome, reply| {
            let mut r = all(rcpts, outcome, reply);
            r.remote = remote.clone();
            r
        };
        if let Some(limit) = caps.size.filter(|&n| n > 0 && data.len() as u64 > n) {
            let msg = format!(
                "message of {} octets exceeds {}'s limit of {limit}",
                data.len(),
                conn.peer_name
            );
            return (
                result(Outcome::Failed, Reply::local(552, "5.3.4", &msg)),
                true,
            );
        }
        if env.smtputf8 && !caps.smtputf8 {
            let msg = format!("{} does not support SMTPUTF8 (RFC 6531)", conn.peer_name);
            return (
                result(Outcome::Failed, Reply::local(553, "5.6.7", &msg)),
                true,
            );
        }
        let mut mail_params = Vec::new();
        if caps.size.is_some() {
            mail_params.push(format!("SIZE={}", data.len()));
        }
        if env.body == Some(Body::EightBitMime) && caps.eight_bit_mime {
            mail_params.push("BODY=8BITMIME".into());
        }
        if env.smtputf8 {
            mail_params.push("SMTPUTF8".into());
        }
        if caps.dsn {
            match env.ret {
                Some(Ret::Full) => mail_params.push("RET=FULL".into()),
                Some(Ret::Headers) => mail_params.push("RET=HDRS".into()),
                None => {}
            }
            if let Some(id) = &env.envid {
                mail_params.push(format!("ENVID={}", xtext::encode(id)));
            }
        }
        if protocol == Protocol::Lmtp
            && caps.traceparent
            && let Some(tp) = traceparent
        {
            mail_params.push(format!("X-TRACEPARENT={tp}"));
        }
        // Ours: the same on every attempt of this queued message, so a
        // store that stored it before (and whose 250 we never recorded)
        // answers 250 without a second copy. Sent only to a server that
        // announces it.
        if protocol == Protocol::Lmtp && caps.delivery_id {
            let id = format!("{}:{}", self.relay, env.id);
            mail_params.push(format!("X-DELIVERY-ID={}", xtext::encode(&id)));
        }
        let recipients = rcpts
            .iter()
            .map(|r| {
                let mut p = Vec::new();
                if caps.dsn {
                    let n = r.notify_keywords();
                    if !n.is_empty() {
                        p.push(format!("NOTIFY={}", n.join(",")));
                    }
                    if let Some(o) = &r.orcpt {
                        p.push(format!(
                            "ORCPT={};{}",
                            o.addr_type,
                            xtext::encode(&o.address)
                        ));
                    }
                }
                (r.address.clone(), p)
            })
            .collect();
        let tx = Transaction {
            sender: &env.sender,
            mail_params,
            recipients,
            data,
        };
        let mut outcomes: Vec<Option<Reply>> = vec![None; rcpts.len()];
        let run = conn.transaction(&tx, &mut outcomes).await;
        let usable = run.is_ok();
        let broken = run.err().map(|e| e.to_string());
        let results = rcpts
            .iter()
            .zip(outcomes)
            .map(|(r, o)| {
                let reply = o.unwrap_or_else(|| {
                    Reply::local(
                        451,
                        "4.4.2",
                        &format!(
                            "{}: {}",
                            conn.peer_name,
                            broken.as_deref().unwrap_or("no reply")
                        ),
                    )
                });
                RcptResult {
                    address: r.address.clone(),
                    outcome: classify(&reply),
                    reply,
                }
            })
            .collect();
        (
            AttemptResult {
                results,
                remote,
                remote_dsn: caps.dsn,
            },
            usable,
        )
    }
}

fn dns_failure(rcpts: &[QueuedRecipient], domain: &str, f: DnsFailure) -> AttemptResult {
    match f {
        DnsFailure::NoSuchDomain => all(
            rcpts,
            Outcome::Failed,
            Reply::local(550, "5.1.2", &format!("domain {domain} does not exist")),
        ),
        DnsFailure::NoMailHost(why) => {
            all(rcpts, Outcome::Failed, Reply::local(556, "5.1.10", &why))
        }
        DnsFailure::Temporary(why) => all(
            rcpts,
            Outcome::Retry,
            Reply::local(451, "4.4.3", &format!("DNS lookup of {domain}: {why}")),
        ),
    }
}

/// Shared handle to a channel's runtime.
pub type SharedRuntime = Arc<ChannelRuntime>;
