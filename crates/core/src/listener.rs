//! The one listener layer every protocol uses: accept, connection limit,
//! implicit TLS or STARTTLS upgrade, a tracing span per connection, and
//! draining on shutdown. A protocol implements [`Handler`] and nothing else.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::Instrument;

use crate::config::{Validate, Validator};
use crate::shutdown::Shutdown;

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text only.
    None,
    /// Plain text, with STARTTLS/STLS offered when a certificate is set.
    #[default]
    Starttls,
    /// TLS from the first byte (465, 993, 995).
    Implicit,
}

/// One listening socket as configured.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port; port 0 picks a free port.
    pub listen: SocketAddr,
    /// TLS use on this socket.
    #[serde(default)]
    pub tls: TlsMode,
    /// Connections served at once; more are told the server is busy and
    /// closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Time allowed for an implicit-TLS handshake.
    #[serde(default = "default_handshake", with = "humantime_serde")]
    pub handshake_timeout: Duration,
}

fn default_max_connections() -> usize {
    1024
}

fn default_handshake() -> Duration {
    Duration::from_secs(10)
}

impl ListenerConfig {
    /// A plain listener on `listen` with default limits.
    pub fn plain(listen: SocketAddr) -> Self {
        Self {
            listen,
            tls: TlsMode::None,
            max_connections: default_max_connections(),
            handshake_timeout: default_handshake(),
        }
    }
}

impl Validate for ListenerConfig {
    fn validate(&self, v: &mut Validator) {
        if self.max_connections == 0 {
            v.error("max_connections", "must be at least 1");
        }
        if self.handshake_timeout.is_zero() {
            v.error("handshake_timeout", "must be longer than zero");
        }
    }
}

/// A client connection, plain or TLS.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An accepted connection handed to a [`Handler`].
pub struct Conn {
    /// The byte stream.
    pub stream: Stream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address on this connection.
    pub local: SocketAddr,
    acceptor: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("tls", &self.is_tls())
            .finish()
    }
}

impl Conn {
    /// True when the stream is already TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// True when STARTTLS can be offered: a certificate is configured and the
    /// stream is still plain.
    pub fn can_start_tls(&self) -> bool {
        self.acceptor.is_some() && !self.is_tls()
    }

    /// Upgrades a plain connection to TLS (after the protocol's STARTTLS
    /// reply has been sent and flushed).
    pub async fn start_tls(self) -> io::Result<Conn> {
        let Conn {
            stream,
            peer,
            local,
            acceptor,
        } = self;
        let (Stream::Plain(tcp), Some(acc)) = (stream, acceptor.as_ref()) else {
            return Err(io::Error::other("TLS is not available on this connection"));
        };
        let tls = acc.accept(tcp).await?;
        Ok(Conn {
            stream: Stream::Tls(Box::new(tls)),
            peer,
            local,
            acceptor,
        })
    }

    /// A connection with no TLS ability, for tests and in-process clients.
    pub fn from_plain(stream: TcpStream) -> io::Result<Conn> {
        Ok(Conn {
            peer: stream.peer_addr()?,
            local: stream.local_addr()?,
            stream: Stream::Plain(stream),
            acceptor: None,
        })
    }
}

/// The protocol side of a listener.
pub trait Handler: Send + Sync + 'static {
    /// Serves one connection until it ends. Should finish promptly (after
    /// telling the client, where the protocol allows) once `shutdown` fires.
    fn handle(&self, conn: Conn, shutdown: Shutdown) -> impl Future<Output = ()> + Send;

    /// Bytes written to a client turned away because the listener is full
    /// (for example `421 4.3.2 Too many connections\r\n`).
    fn busy_reply(&self) -> &'static [u8] {
        b""
    }
}

/// A bound socket ready to serve.
pub struct Listener {
    name: &'static str,
    tcp: TcpListener,
    config: ListenerConfig,
    acceptor: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish()
    }
}

impl Listener {
    /// Binds `config.listen`. `tls` is required for [`TlsMode::Implicit`]
    /// and enables STARTTLS for [`TlsMode::Starttls`].
    pub async fn bind(
        name: &'static str,
        config: &ListenerConfig,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Self> {
        if config.tls == TlsMode::Implicit && tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: implicit TLS needs a certificate"),
            ));
        }
        let acceptor = match config.tls {
            TlsMode::None => None,
            _ => tls.map(TlsAcceptor::from),
        };
        let tcp = TcpListener::bind(config.listen).await.map_err(|e| {
            io::Error::new(e.kind(), format!("{name}: bind {}: {e}", config.listen))
        })?;
        Ok(Self {
            name,
            tcp,
            config: config.clone(),
            acceptor,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The listener's name, as used in logs and the ports file.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Binds `config`, starts serving `handler` until `shutdown` and
    /// returns the bound address (useful with port 0): what every protocol
    /// server does to start.
    pub async fn start<H: Handler>(
        name: &'static str,
        config: &ListenerConfig,
        tls: Option<Arc<ServerConfig>>,
        handler: Arc<H>,
        shutdown: &Shutdown,
    ) -> io::Result<SocketAddr> {
        let listener = Self::bind(name, config, tls).await?;
        let local = listener.local_addr()?;
        listener.serve(handler, shutdown.clone());
        Ok(local)
    }

    /// Accepts connections until shutdown, each served by `handler` in its
    /// own task tracked by `shutdown` so that draining waits for it.
    pub fn serve<H: Handler>(self, handler: Arc<H>, shutdown: Shutdown) {
        let tracker = shutdown.clone();
        tracker.spawn(self.accept_loop(handler, shutdown));
    }

    async fn accept_loop<H: Handler>(self, handler: Arc<H>, shutdown: Shutdown) {
        let limit = Arc::new(Semaphore::new(self.config.max_connections));
        let local = self.tcp.local_addr().ok();
        tracing::info!(listener = self.name, addr = ?local, tls = ?self.config.tls, "listening");
        loop {
            let accepted = tokio::select! {
                _ = shutdown.triggered() => break,
                r = self.tcp.accept() => r,
            };
            let (tcp, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = self.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                tracing::warn!(listener = self.name, %peer, "connection limit reached");
                let reply = handler.busy_reply();
                shutdown.spawn(async move {
                    let mut tcp = tcp;
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        let _ = tcp.write_all(reply).await;
                        let _ = tcp.shutdown().await;
                    })
                    .await;
                });
                continue;
            };
            let span = tracing::info_span!("conn", listener = self.name, %peer);
            let handler = handler.clone();
            let acceptor = self.acceptor.clone();
            let implicit = self.config.tls == TlsMode::Implicit;
            let handshake = self.config.handshake_timeout;
            let session_shutdown = shutdown.clone();
            shutdown.spawn(
                async move {
                    let _permit = permit;
                    let Ok(local) = tcp.local_addr() else { return };
                    let stream = match (&acceptor, implicit) {
                        (Some(acc), true) => {
                            match tokio::time::timeout(handshake, acc.accept(tcp)).await {
                                Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                                Ok(Err(e)) => {
                                    tracing::info!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::info!("TLS handshake timed out");
                                    return;
                                }
                            }
                        }
                        _ => Stream::Plain(tcp),
                    };
                    let conn = Conn {
                        stream,
                        peer,
                        local,
                        acceptor,
                    };
                    tracing::debug!("connected");
                    handler.handle(conn, session_shutdown).await;
                    tracing::debug!("closed");
                }
                .instrument(span),
            );
        }
        tracing::info!(listener = self.name, "stopped accepting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    struct Echo;

    impl Handler for Echo {
        async fn handle(&self, conn: Conn, shutdown: Shutdown) {
            let mut conn = conn;
            let _ = conn.stream.write_all(b"hello\r\n").await;
            let (r, mut w) = tokio::io::split(conn.stream);
            let mut lines = BufReader::new(r).lines();
            loop {
                tokio::select! {
                    _ = shutdown.triggered() => {
                        let _ = w.write_all(b"bye\r\n").await;
                        return;
                    }
                    line = lines.next_line() => match line {
                        Ok(Some(l)) => { let _ = w.write_all(format!("{l}\r\n").as_bytes()).await; }
                        _ => return,
                    }
                }
            }
        }

        fn busy_reply(&self) -> &'static [u8] {
            b"busy\r\n"
        }
    }

    #[tokio::test]
    async fn limit_turns_away_extra_clients_and_drain_ends_sessions() {
        let mut cfg = ListenerConfig::plain("127.0.0.1:0".parse().expect("addr"));
        cfg.max_connections = 1;
        let l = Listener::bind("echo", &cfg, None).await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        l.serve(Arc::new(Echo), shutdown.clone());

        let first = TcpStream::connect(addr).await.expect("connect");
        let mut first = BufReader::new(first);
        let mut line = String::new();
        first.read_line(&mut line).await.expect("greeting");
        assert_eq!(line, "hello\r\n");

        let second = TcpStream::connect(addr).await.expect("connect");
        let mut second = BufReader::new(second);
        line.clear();
        second.read_line(&mut line).await.expect("busy");
        assert_eq!(line, "busy\r\n");

        let left = shutdown.drain(Duration::from_secs(5)).await;
        assert_eq!(left, 0);
        line.clear();
        first.read_line(&mut line).await.expect("bye");
        assert_eq!(line, "bye\r\n");
    }

    /// Greets, and on `STARTTLS` upgrades and greets again over TLS.
    struct StartTls;

    impl Handler for StartTls {
        async fn handle(&self, conn: Conn, _shutdown: Shutdown) {
            let mut conn = conn;
            let greeting: &[u8] = if conn.is_tls() {
                b"tls\r\n"
            } else {
                b"plain\r\n"
            };
            let _ = conn.stream.write_all(greeting).await;
            let mut buf = [0u8; 10];
            let Ok(n) = tokio::io::AsyncReadExt::read(&mut conn.stream, &mut buf).await else {
                return;
            };
            if &buf[..n] == b"STARTTLS\r\n" && conn.can_start_tls() {
                let _ = conn.stream.write_all(b"go\r\n").await;
                let Ok(mut tls) = conn.start_tls().await else {
                    return;
                };
                let _ = tls.stream.write_all(b"secure\r\n").await;
                let _ = tls.stream.flush().await;
            }
        }
    }

    async fn read_line<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while tokio::io::AsyncReadExt::read(r, &mut b).await.unwrap_or(0) == 1 {
            out.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn tls_pair() -> (
        tempfile::TempDir,
        Arc<ServerConfig>,
        tokio_rustls::TlsConnector,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let files =
            crate::tls::generate_self_signed(dir.path(), &["localhost".into()]).expect("cert");
        let server = crate::tls::server_config(&files).expect("server");
        let client = crate::tls::client_config(Some(&files.cert)).expect("client");
        (dir, server, tokio_rustls::TlsConnector::from(client))
    }

    #[tokio::test]
    async fn implicit_tls_and_starttls_upgrade() {
        let (_dir, server, connector) = tls_pair();
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");

        let mut cfg = ListenerConfig::plain("127.0.0.1:0".parse().expect("addr"));
        cfg.tls = TlsMode::Implicit;
        let l = Listener::bind("implicit", &cfg, Some(server.clone()))
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        l.serve(Arc::new(StartTls), shutdown.clone());
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut tls = connector
            .connect(name.clone(), tcp)
            .await
            .expect("handshake");
        assert_eq!(read_line(&mut tls).await, "tls\r\n");
        drop(tls);
        assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);

        let shutdown = Shutdown::new();
        cfg.tls = TlsMode::Starttls;
        let l = Listener::bind("starttls", &cfg, Some(server))
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        l.serve(Arc::new(StartTls), shutdown.clone());
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(read_line(&mut tcp).await, "plain\r\n");
        tcp.write_all(b"STARTTLS\r\n").await.expect("write");
        assert_eq!(read_line(&mut tcp).await, "go\r\n");
        let mut tls = connector.connect(name, tcp).await.expect("upgrade");
        assert_eq!(read_line(&mut tls).await, "secure\r\n");

        drop(tls);
        assert_eq!(shutdown.drain(Duration::from_secs(5)).await, 0);
    }

    #[tokio::test]
    async fn implicit_tls_without_a_certificate_is_refused() {
        let mut cfg = ListenerConfig::plain("127.0.0.1:0".parse().expect("addr"));
        cfg.tls = TlsMode::Implicit;
        let err = Listener::bind("x", &cfg, None)
            .await
            .expect_err("needs a cert");
        assert!(err.to_string().contains("needs a certificate"));
    }
}
