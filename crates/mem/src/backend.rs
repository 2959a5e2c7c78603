//! The HTTP client to the stores: pooled HTTP/1.1 connections over TLS
//! (rustls, trusting the public roots plus `[stores] ca`), a connect
//! deadline so that a store that is down is reported at once, and the
//! trusted-proxy credential of CONTRACTS.md on every request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::Uri;
use hyper::http::HeaderValue;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{ProxyCredentialConfig, StoresConfig};
use crate::error::MemError;

/// A connection to a store.
#[derive(Debug)]
pub enum StoreStream {
    /// `http://` stores (a private network without TLS).
    Plain(TcpStream),
    /// `https://` stores.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for StoreStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for StoreStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connection for StoreStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Dials stores: TCP, then TLS for `https`, within `timeout`.
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
    timeout: Duration,
}

impl Connector {
    async fn connect(self, uri: Uri) -> io::Result<TokioIo<StoreStream>> {
        let host = uri
            .host()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let dial = async {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            if !https {
                return Ok(StoreStream::Plain(tcp));
            }
            let name = ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = self.tls.connect(name, tcp).await?;
            Ok(StoreStream::Tls(Box::new(tls)))
        };
        match tokio::time::timeout(self.timeout, dial).await {
            Ok(r) => r.map(TokioIo::new),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection to {host}:{port} within {:?}", self.timeout),
            )),
        }
    }
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<StoreStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

/// The shared client and the MEM's credential.
#[derive(Clone)]
pub struct Backend {
    /// Pooled connections per store.
    pub client: Client<Connector, Body>,
    /// `Basic base64(name:secret)`, ready to send.
    pub authorization: HeaderValue,
    /// Time for a store to send its response headers.
    pub response_timeout: Duration,
    /// The store's session resource path.
    pub session_path: Arc<str>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// The client `[stores]` and `[proxy]` describe.
    pub fn new(stores: &StoresConfig, proxy: &ProxyCredentialConfig) -> Result<Self, MemError> {
        use base64::Engine;
        let secret =
            mail_core::trusted_proxy::read_secret(&proxy.secret_file).map_err(|source| {
                MemError::Secret {
                    path: proxy.secret_file.clone(),
                    source,
                }
            })?;
        let mut cred = proxy.name.as_bytes().to_vec();
        cred.push(b':');
        cred.extend_from_slice(&secret);
        let mut authorization = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(&cred)
        ))
        .map_err(|_| MemError::Store("the proxy secret is not a valid header value".into()))?;
        authorization.set_sensitive(true);
        let tls = mail_core::tls::client_config(stores.ca.as_deref())?;
        let connector = Connector {
            tls: TlsConnector::from(tls),
            timeout: stores.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(stores.max_idle_per_store)
            .build(connector);
        Ok(Self {
            client,
            authorization,
            response_timeout: stores.response_timeout,
            session_path: stores.session_path.as_str().into(),
        })
    }
}
