//! The store side of a session: connect to the user's store within a
//! bounded time (trying its addresses in order), TLS when configured (one
//! shared rustls client configuration, so TLS sessions resume across
//! connections), and the trusted-proxy login in [`imap`] and [`pop3`].
//!
//! The login itself is the one `mail_core::trusted_proxy` describes: the
//! client's address first (IMAP `ID`, POP3 `XCLIENT`), then SASL PLAIN
//! with the user as authorization identity and this proxy's identity and
//! secret as credentials. Anything the store does not accept is a
//! [`BackendError`]; the client hears only "unavailable".

pub mod imap;
mod line;
pub mod pop3;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{BackendConfig, BackendTls};
use crate::error::Error;
use crate::route::Route;

pub(crate) use line::LineConn;

/// A connection to a store, plain or TLS.
#[derive(Debug)]
pub enum BackendStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_flush(cx),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BackendStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            BackendStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The client whose session is proxied, as the store is told.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// The address it connected to (ours).
    pub local: std::net::SocketAddr,
    /// This session's id, also in the MMP's log, for correlating the two.
    pub session: String,
}

/// A logged-in store connection.
#[derive(Debug)]
pub struct Established {
    /// The connection.
    pub stream: BackendStream,
    /// Bytes the store sent after its login reply (usually none); they go
    /// to the client first.
    pub pending: Vec<u8>,
    /// The store's answer to hand the client: IMAP, its capabilities after
    /// login; POP3, its `+OK` line.
    pub greeting: Vec<String>,
}

/// Why the store could not be used for this session. Logged with the
/// store's name; the client is told only that the service is unavailable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// No address accepted the connection.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// The connect or login limit passed.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS: {0}")]
    Tls(io::Error),
    /// The connection broke during the login.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// The store said something this proxy does not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The store refused the proxied login (wrong secret, untrusted
    /// address, user homed elsewhere, store unavailable): its answer.
    #[error("refused: {0}")]
    Refused(String),
    /// The store took the proxy's login but the user is at a limit there:
    /// too many sessions (IMAP `NO [LIMIT]`, RFC 5530) or the POP maildrop
    /// locked by another session (`-ERR [IN-USE]`, RFC 2449 8.1.1). The
    /// client gets the same code and the store's text: it is the user's
    /// own situation, not an outage.
    #[error("busy: {0}")]
    Busy(String),
}

impl BackendError {
    /// A short word for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::Connect(_) => "connect",
            BackendError::Timeout(_) => "timeout",
            BackendError::Tls(_) => "tls",
            BackendError::Io(_) => "io",
            BackendError::Protocol(_) => "protocol",
            BackendError::Refused(_) => "refused",
            BackendError::Busy(_) => "busy",
        }
    }
}

/// What every backend connection shares: settings, the proxy credential
/// and the TLS client configuration.
pub struct Backend {
    pub(crate) identity: String,
    secret: Vec<u8>,
    tls: BackendTls,
    connector: Option<TlsConnector>,
    pub(crate) connect_timeout: Duration,
    pub(crate) login_timeout: Duration,
    source: Option<std::net::IpAddr>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("identity", &self.identity)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Backend {
    /// Reads the secret and builds the TLS client configuration once.
    pub fn new(cfg: &BackendConfig) -> Result<Self, Error> {
        let secret = mail_core::trusted_proxy::read_secret(&cfg.secret_file).map_err(|source| {
            Error::Secret {
                path: cfg.secret_file.clone(),
                source,
            }
        })?;
        let connector = match cfg.tls {
            BackendTls::None => None,
            _ => {
                let config: Arc<ClientConfig> =
                    mail_core::tls::client_config(cfg.tls_ca.as_deref())?;
                Some(TlsConnector::from(config))
            }
        };
        Ok(Self {
            identity: cfg.identity.clone(),
            secret,
            tls: cfg.tls,
            connector,
            connect_timeout: cfg.connect_timeout,
            login_timeout: cfg.login_timeout,
            source: cfg.source_address,
        })
    }

    /// The SASL PLAIN message for `user` (RFC 4616): authorization identity
    /// the user, authentication identity this proxy, its secret.
    pub(crate) fn plain_response(&self, user: &str) -> String {
        let mut msg = Vec::with_capacity(user.len() + self.identity.len() + self.secret.len() + 2);
        msg.extend_from_slice(user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(self.identity.as_bytes());
        msg.push(0);
        msg.extend_from_slice(&self.secret);
        base64::engine::general_purpose::STANDARD.encode(msg)
    }

    /// Connects to `route` (its addresses in order, all within
    /// `connect_timeout`), with implicit TLS when configured. Returns the
    /// stream and the address that answered.
    pub async fn connect(
        &self,
        route: &Route,
    ) -> Result<(BackendStream, SocketAddr), BackendError> {
        let deadline = Instant::now() + self.connect_timeout;
        let mut last = None;
        for &addr in &route.addrs {
            let attempt = tokio::time::timeout_at(deadline, self.tcp(addr)).await;
            match attempt {
                Err(_) => return Err(BackendError::Timeout("connecting")),
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "store address refused");
                    last = Some(e);
                }
                Ok(Ok(tcp)) => {
                    let stream = if self.tls == BackendTls::Implicit {
                        let tls = tokio::time::timeout_at(deadline, self.handshake(tcp, route))
                            .await
                            .map_err(|_| BackendError::Timeout("in the TLS handshake"))??;
                        BackendStream::Tls(Box::new(tls))
                    } else {
                        BackendStream::Plain(tcp)
                    };
                    return Ok((stream, addr));
                }
            }
        }
        Err(BackendError::Connect(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, "the store has no address")
        })))
    }

    async fn tcp(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = match self.source {
            None => TcpStream::connect(addr).await?,
            Some(src) => {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.bind(SocketAddr::new(src, 0))?;
                socket.connect(addr).await?
            }
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
        route: &Route,
    ) -> Result<TlsStream<TcpStream>, BackendError> {
        let Some(connector) = &self.connector else {
            return Err(BackendError::Protocol("TLS is not configured".into()));
        };
        let name = ServerName::try_from(route.tls_name.clone())
            .map_err(|e| BackendError::Tls(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(BackendError::Tls)
    }

    /// Whether the protocol step must negotiate STARTTLS/STLS.
    pub(crate) fn wants_starttls(&self) -> bool {
        self.tls == BackendTls::Starttls
    }

    /// Upgrades a plain connection after the store accepted STARTTLS/STLS.
    pub(crate) async fn starttls(
        &self,
        stream: BackendStream,
        route: &Route,
    ) -> Result<BackendStream, BackendError> {
        match stream {
            BackendStream::Plain(tcp) => Ok(BackendStream::Tls(Box::new(
                self.handshake(tcp, route).await?,
            ))),
            BackendStream::Tls(_) => Err(BackendError::Protocol("TLS already active".into())),
        }
    }
}
