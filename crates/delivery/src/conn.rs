//! One client connection to an SMTP or LMTP server: greeting, EHLO/LHLO,
//! STARTTLS (RFC 3207) and mail transactions with or without PIPELINING
//! (RFC 2920). LMTP (RFC 2033) differs only in the greeting command and in
//! giving one reply per accepted recipient after the data.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mail_routing::TlsPolicy;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::reply::{Capabilities, Reply, ReplyParser, dot_stuff};

/// Longest reply line accepted (RFC 5321 4.5.3.1.5 says 512; be lenient).
const MAX_LINE: usize = 8192;

/// SMTP or LMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 5321.
    Smtp,
    /// RFC 2033.
    Lmtp,
}

/// Timeouts of one connection (RFC 5321 4.5.3.2 gives the classic values).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// Each command's reply (greeting, EHLO, MAIL, RCPT, DATA's 354).
    pub command: Duration,
    /// Sending the data and waiting for the final reply.
    pub data: Duration,
}

/// How TLS is used on a connection.
#[derive(Clone)]
pub struct TlsMode {
    /// The channel's policy.
    pub policy: TlsPolicy,
    /// The connector (verifying or not, per the channel's `tls_verify`).
    pub connector: Option<tokio_rustls::TlsConnector>,
}

/// Why a connection could not be used. Every case means "try another
/// host, then retry later", except what the caller decides from a reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnError {
    /// Network failure, timeout, or a server that does not speak SMTP.
    #[error("{0}")]
    Io(String),
    /// The server refused the greeting or EHLO/LHLO.
    #[error("{0}")]
    Refused(Reply),
    /// The channel requires TLS and the server does not offer STARTTLS.
    #[error("TLS required but STARTTLS not offered by {0}")]
    TlsNotOffered(String),
    /// The TLS handshake failed (with `required`, or verification on).
    #[error("TLS with {host}: {why}")]
    TlsFailed {
        /// The server.
        host: String,
        /// What failed.
        why: String,
    },
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// An open, greeted connection ready for transactions.
pub struct Conn {
    io: BufReader<Box<dyn Io>>,
    /// What the server announced (after STARTTLS: the second EHLO).
    pub caps: Capabilities,
    /// Whether the session is encrypted.
    pub tls: bool,
    /// The server's name (MX host or configured host) for logs and DSNs.
    pub peer_name: String,
    /// The address connected to.
    pub peer: SocketAddr,
    protocol: Protocol,
    timeouts: Timeouts,
    opened: Instant,
    /// Transactions completed on this connection.
    pub transactions: u32,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("peer_name", &self.peer_name)
            .field("tls", &self.tls)
            .finish()
    }
}

async fn timed<T>(
    d: Duration,
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, ConnError> {
    match tokio::time::timeout(d, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ConnError::Io(format!("{what}: {e}"))),
        Err(_) => Err(ConnError::Io(format!("{what}: timed out after {d:?}"))),
    }
}

async fn read_reply<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    d: Duration,
    what: &str,
) -> Result<Reply, ConnError> {
    let mut parser = ReplyParser::default();
    let deadline = tokio::time::Instant::now() + d;
    loop {
        let mut buf = Vec::new();
        let n = tokio::time::timeout_at(deadline, read_line(r, &mut buf))
            .await
            .map_err(|_| ConnError::Io(format!("{what}: no reply within {d:?}")))?
            .map_err(|e| ConnError::Io(format!("{what}: {e}")))?;
        if n == 0 {
            return Err(ConnError::Io(format!("{what}: connection closed")));
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\r', '\n']);
        match parser.feed(line) {
            Ok(Some(reply)) => return Ok(reply),
            Ok(None) => {}
            Err(e) => return Err(ConnError::Io(format!("{what}: {e}"))),
        }
    }
}

/// Reads up to LF, refusing lines over [`MAX_LINE`].
async fn read_line<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(buf.len());
        }
        if let Some(i) = avail.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&avail[..=i]);
            r.consume(i + 1);
            return Ok(buf.len());
        }
        let n = avail.len();
        buf.extend_from_slice(avail);
        r.consume(n);
        if buf.len() > MAX_LINE {
            return Err(std::io::Error::other("reply line too long"));
        }
    }
}

fn hello_cmd(protocol: Protocol, name: &str) -> String {
    match protocol {
        Protocol::Smtp => format!("EHLO {name}\r\n"),
        Protocol::Lmtp => format!("LHLO {name}\r\n"),
    }
}

async fn hello<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    protocol: Protocol,
    name: &str,
    t: Duration,
) -> Result<Reply, ConnError> {
    timed(
        t,
        "EHLO",
        io.get_mut().write_all(hello_cmd(protocol, name).as_bytes()),
    )
    .await?;
    let r = read_reply(io, t, "EHLO").await?;
    if r.code == 250 || protocol == Protocol::Lmtp {
        return Ok(r);
    }
    // RFC 5321 3.2: a server that does not know EHLO gets HELO.
    if r.code >= 500 {
        timed(
            t,
            "HELO",
            io.get_mut()
                .write_all(format!("HELO {name}\r\n").as_bytes()),
        )
        .await?;
        return read_reply(io, t, "HELO").await;
    }
    Ok(r)
}

impl Conn {
    /// Connects to `peer`, reads the greeting, says EHLO/LHLO as
    /// `helo_name` and negotiates TLS per `tls`. `peer_name` is the name
    /// the certificate must carry when verification is on.
    pub async fn open(
        peer: SocketAddr,
        peer_name: &str,
        protocol: Protocol,
        helo_name: &str,
        tls: &TlsMode,
        timeouts: Timeouts,
    ) -> Result<Conn, ConnError> {
        let tcp = timed(timeouts.connect, "connect", TcpStream::connect(peer))
            .await
            .map_err(|e| ConnError::Io(format!("{peer}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut io = BufReader::new(tcp);
        let greeting = read_reply(&mut io, timeouts.command, "greeting").await?;
        if greeting.code != 220 {
            return Err(ConnError::Refused(greeting));
        }
        let ehlo = hello(&mut io, protocol, helo_name, timeouts.command).await?;
        if ehlo.code != 250 {
            return Err(ConnError::Refused(ehlo));
        }
        let caps = Capabilities::parse(&ehlo);
        let want_tls = !matches!(tls.policy, TlsPolicy::None);
        if want_tls && !caps.starttls {
            if tls.policy == TlsPolicy::Required {
                let _ = io.get_mut().write_all(b"QUIT\r\n").await;
                return Err(ConnError::TlsNotOffered(peer_name.to_string()));
            }
        } else if want_tls && let Some(connector) = &tls.connector {
            let failed = |why: String| ConnError::TlsFailed {
                host: peer_name.to_string(),
                why,
            };
            timed(
                timeouts.command,
                "STARTTLS",
                io.get_mut().write_all(b"STARTTLS\r\n"),
            )
            .await?;
            let r = read_reply(&mut io, timeouts.command, "STARTTLS").await?;
            if r.code != 220 {
                return Err(failed(format!("STARTTLS refused: {r}")));
            }
            if !io.buffer().is_empty() {
                return Err(failed("data pipelined after the STARTTLS reply".into()));
            }
            let name = server_name(peer_name, peer);
            let stream = timed(
                timeouts.command,
                "TLS handshake",
                connector.connect(name, io.into_inner()),
            )
            .await
            .map_err(|e| failed(e.to_string()))?;
            let mut io = BufReader::new(stream);
            // RFC 3207 4.2: forget everything learnt before TLS.
            let ehlo = hello(&mut io, protocol, helo_name, timeouts.command).await?;
            if ehlo.code != 250 {
                return Err(ConnError::Refused(ehlo));
            }
            let boxed: Box<dyn Io> = Box::new(io.into_inner());
            return Ok(Conn {
                io: BufReader::new(boxed),
                caps: Capabilities::parse(&ehlo),
                tls: true,
                peer_name: peer_name.to_string(),
                peer,
                protocol,
                timeouts,
                opened: Instant::now(),
                transactions: 0,
            });
        }
        let boxed: Box<dyn Io> = Box::new(io.into_inner());
        Ok(Conn {
            io: BufReader::new(boxed),
            caps,
            tls: false,
            peer_name: peer_name.to_string(),
            peer,
            protocol,
            timeouts,
            opened: Instant::now(),
            transactions: 0,
        })
    }

    /// How long the connection has been open.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    async fn write(&mut self, bytes: &[u8], d: Duration, what: &str) -> Result<(), ConnError> {
        let w = self.io.get_mut();
        timed(d, what, async {
            w.write_all(bytes).await?;
            w.flush().await
        })
        .await
    }

    async fn reply(&mut self, d: Duration, what: &str) -> Result<Reply, ConnError> {
        read_reply(&mut self.io, d, what).await
    }

    /// RSET, to check that a reused connection is alive and clean.
    pub async fn reset(&mut self) -> Result<(), ConnError> {
        let t = self.timeouts.command;
        self.write(b"RSET\r\n", t, "RSET").await?;
        let r = self.reply(t, "RSET").await?;
        if r.code == 250 {
            Ok(())
        } else {
            Err(ConnError::Refused(r))
        }
    }

    /// Says QUIT and closes, ignoring what happens.
    pub async fn quit(mut self) {
        let t = self.timeouts.command.min(Duration::from_secs(5));
        if self.write(b"QUIT\r\n", t, "QUIT").await.is_ok() {
            let _ = self.reply(t, "QUIT").await;
        }
    }

    /// Runs one transaction. `outcomes[i]` is set for each recipient as its
    /// fate becomes known: the RCPT reply when it refuses, else the reply
    /// to the data (LMTP: that recipient's own). On `Err` the connection is
    /// unusable and the recipients still `None` have an unknown fate (not
    /// delivered as far as we know).
    pub async fn transaction(
        &mut self,
        tx: &Transaction<'_>,
        outcomes: &mut [Option<Reply>],
    ) -> Result<(), ConnError> {
        let t = self.timeouts.command;
        let mail = format!("MAIL FROM:<{}>{}\r\n", tx.sender, params(&tx.mail_params));
        let rcpts: Vec<String> = tx
            .recipients
            .iter()
            .map(|(a, p)| format!("RCPT TO:<{a}>{}\r\n", params(p)))
            .collect();
        let mut accepted = Vec::new();
        if self.caps.pipelining {
            // RFC 2920 3.1: MAIL, every RCPT and DATA in one send.
            let mut batch = mail.into_bytes();
            for r in &rcpts {
                batch.extend_from_slice(r.as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            self.write(&batch, t, "MAIL").await?;
            let mail_reply = self.reply(t, "MAIL").await?;
            for (i, out) in outcomes.iter_mut().enumerate() {
                let r = self.reply(t, "RCPT").await?;
                if !mail_reply.is_positive() {
                    *out = Some(mail_reply.clone());
                } else if r.is_positive() {
                    accepted.push(i);
                } else {
                    *out = Some(r);
                }
            }
            let data_reply = self.reply(t, "DATA").await?;
            if data_reply.code != 354 {
                for &i in &accepted {
                    outcomes[i] = Some(data_reply.clone());
                }
                if !accepted.is_empty() || mail_reply.is_positive() {
                    // Clean state for the next transaction.
                    let _ = self.reset().await;
                }
                self.transactions += 1;
                return Ok(());
            }
            if accepted.is_empty() {
                // A server that said 354 anyway gets an empty message, which
                // it must not deliver to anyone (RFC 2920 3.1).
                self.write(b".\r\n", t, "DATA").await?;
                let _ = self.reply(self.timeouts.data, "DATA").await?;
                self.transactions += 1;
                return Ok(());
            }
        } else {
            self.write(mail.as_bytes(), t, "MAIL").await?;
            let mail_reply = self.reply(t, "MAIL").await?;
            if !mail_reply.is_positive() {
                for o in outcomes.iter_mut() {
                    *o = Some(mail_reply.clone());
                }
                let _ = self.reset().await;
                self.transactions += 1;
                return Ok(());
            }
            for (i, r) in rcpts.iter().enumerate() {
                self.write(r.as_bytes(), t, "RCPT").await?;
                let reply = self.reply(t, "RCPT").await?;
                if reply.is_positive() {
                    accepted.push(i);
                } else {
                    outcomes[i] = Some(reply);
                }
            }
            if accepted.is_empty() {
                let _ = self.reset().await;
                self.transactions += 1;
                return Ok(());
            }
            self.write(b"DATA\r\n", t, "DATA").await?;
            let data_reply = self.reply(t, "DATA").await?;
            if data_reply.code != 354 {
                for &i in &accepted {
                    outcomes[i] = Some(data_reply.clone());
                }
                let _ = self.reset().await;
                self.transactions += 1;
                return Ok(());
            }
        }
        let d = self.timeouts.data;
        self.write(&dot_stuff(tx.data), d, "message data").await?;
        match self.protocol {
            Protocol::Smtp => {
                let r = self.reply(d, "end of data").await?;
                for &i in &accepted {
                    outcomes[i] = Some(r.clone());
                }
            }
            Protocol::Lmtp => {
                // RFC 2033 4.2: one reply per accepted recipient, in order.
                for &i in &accepted {
                    let r = self.reply(d, "end of data").await?;
                    outcomes[i] = Some(r);
                }
            }
        }
        self.transactions += 1;
        Ok(())
    }
}

fn params(p: &[String]) -> String {
    let mut s = String::new();
    for x in p {
        s.push(' ');
        s.push_str(x);
    }
    s
}

fn server_name(name: &str, peer: SocketAddr) -> ServerName<'static> {
    ServerName::try_from(name.trim_end_matches('.').to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(peer.ip().into()))
}

/// One message for some recipients, with the parameters for the server
/// at hand (see [`crate::deliver`] for how they are chosen).
#[derive(Debug)]
pub struct Transaction<'a> {
    /// The reverse path, empty for `<>`.
    pub sender: &'a str,
    /// MAIL FROM parameters (`SIZE=...`, `BODY=8BITMIME`, ...).
    pub mail_params: Vec<String>,
    /// Each recipient with its RCPT TO parameters.
    pub recipients: Vec<(String, Vec<String>)>,
    /// The message, CRLF line ends, not yet dot-stuffed.
    pub data: &'a [u8],
}
