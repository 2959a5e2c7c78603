//! Serving a gRPC API: plaintext on loopback, or mutual TLS with every
//! call checked against the API's [`Policy`] and the server's [`Allow`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::StreamExt;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::{Allow, GrpcError, Identity, Role, ServerTls};
use crate::Shutdown;
use crate::tls::{TlsError, load_certs, load_key};

/// The roles that may call a method (the last path segment, e.g.
/// `Delete`); an unknown method gets none, so it is refused.
pub type Policy = fn(method: &str) -> &'static [Role];

/// One API's authorisation: its policy and the server's allow lists.
#[derive(Debug)]
pub struct Access {
    api: &'static str,
    policy: Policy,
    allow: Allow,
}

impl Access {
    /// The check for `api` (`jobctl.v1`) with `policy` and `allow`.
    pub fn new(api: &'static str, policy: Policy, allow: Allow) -> Self {
        Self { api, policy, allow }
    }

    /// Decides one call of `method` from a client that presented `certs`
    /// (leaf first; verified against the CA by the TLS layer), logging
    /// every refusal.
    pub fn check(
        &self,
        method: &str,
        certs: Option<&[rustls_pki_types::CertificateDer<'static>]>,
        peer: Option<SocketAddr>,
    ) -> Result<Identity, tonic::Status> {
        let peer = peer.map(|p| p.to_string()).unwrap_or_default();
        let Some(leaf) = certs.and_then(|c| c.first()) else {
            tracing::warn!(api = self.api, method, %peer, "gRPC call refused: no client certificate");
            return Err(tonic::Status::unauthenticated(
                "a client certificate from the deployment CA is required",
            ));
        };
        let id = match Identity::from_der(leaf) {
            Ok(id) => id,
            Err(why) => {
                tracing::warn!(api = self.api, method, %peer, %why, "gRPC call refused: unusable client certificate");
                return Err(tonic::Status::unauthenticated(why));
            }
        };
        let allowed = (self.policy)(method);
        let ok = id
            .role
            .is_some_and(|r| allowed.contains(&r) && self.allow.admits(r, &id.name));
        if !ok {
            tracing::warn!(api = self.api, method, %peer, identity = %id, "gRPC call refused: not authorised");
            let roles: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            return Err(tonic::Status::permission_denied(format!(
                "{id} may not call {method} (allowed: {})",
                if roles.is_empty() {
                    "nobody".to_string()
                } else {
                    format!("{} listed in this server's tls.allow", roles.join(", "))
                }
            )));
        }
        tracing::debug!(api = self.api, method, %peer, identity = %id, "gRPC call authorised");
        Ok(id)
    }
}

/// A generated tonic service behind [`Access`]: each call is checked
/// before it reaches the service, which finds the caller's [`Identity`]
/// in the request's extensions.
#[derive(Debug, Clone)]
pub struct Authorized<S> {
    inner: S,
    access: Arc<Access>,
}

impl<S> Authorized<S> {
    /// `inner` behind `access`.
    pub fn new(inner: S, access: Access) -> Self {
        Self {
            inner,
            access: Arc::new(access),
        }
    }
}

impl<S: NamedService> NamedService for Authorized<S> {
    const NAME: &'static str = S::NAME;
}

type Answer = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl<S, B> Service<http::Request<B>> for Authorized<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let method = req.uri().path().rsplit('/').next().unwrap_or_default();
        let info = req
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .cloned();
        let certs = info.as_ref().and_then(|i| i.peer_certs());
        let peer = info.as_ref().and_then(|i| i.get_ref().remote_addr());
        match self
            .access
            .check(method, certs.as_deref().map(Vec::as_slice), peer)
        {
            Ok(id) => {
                req.extensions_mut().insert(id);
                // The clone is ready only after poll_ready; take the ready
                // one and leave the clone for the next call.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(ready.call(req))
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

/// Binds `listen` and serves `svc` (a generated tonic server for `api`)
/// until shutdown: with `tls`, mutual TLS and every call checked by
/// `policy`; without, plaintext (the configuration allows that on
/// loopback only). Returns the bound address.
pub async fn serve<S>(
    api: &'static str,
    listen: SocketAddr,
    tls: Option<&ServerTls>,
    policy: Policy,
    svc: S,
    shutdown: &Shutdown,
) -> Result<SocketAddr, GrpcError>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let tls_setup = match tls {
        Some(t) => Some((acceptor(t)?, t.handshake_timeout, t.allow.clone())),
        None => None,
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| GrpcError::Bind {
            api,
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| GrpcError::Bind {
        api,
        addr: listen,
        source,
    })?;
    let stop = shutdown.clone();
    let router = tonic::transport::Server::builder()
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()));
    match tls_setup {
        Some((acceptor, timeout, allow)) => {
            let incoming = tls_incoming(api, listener, acceptor, timeout, shutdown.clone());
            let svc = Authorized::new(svc, Access::new(api, policy, allow));
            let mut router = router;
            let routes = router.add_service(svc);
            shutdown.spawn(async move {
                if let Err(e) = routes
                    .serve_with_incoming_shutdown(incoming, stop.triggered())
                    .await
                {
                    tracing::error!(api, error = %e, "gRPC server failed");
                }
            });
            tracing::info!(api, %addr, "listening (mutual TLS)");
        }
        None => {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
                s.and_then(|s| {
                    s.set_nodelay(true)?;
                    Ok(s)
                })
            });
            let mut router = router;
            let routes = router.add_service(svc);
            shutdown.spawn(async move {
                if let Err(e) = routes
                    .serve_with_incoming_shutdown(incoming, stop.triggered())
                    .await
                {
                    tracing::error!(api, error = %e, "gRPC server failed");
                }
            });
            if addr.ip().is_loopback() {
                tracing::warn!(api, %addr, "listening WITHOUT authentication (no tls section): any local process may call it");
            } else {
                tracing::error!(api, %addr, "listening WITHOUT authentication on a network address (insecure_plaintext)");
            }
        }
    }
    Ok(addr)
}

/// rustls for the server side: the deployment CA verifies client
/// certificates, but a client without one completes the handshake so that
/// its calls get a gRPC `UNAUTHENTICATED` rather than a bare TLS alert.
fn acceptor(t: &ServerTls) -> Result<TlsAcceptor, GrpcError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in load_certs(&t.ca)? {
        roots.add(ca).map_err(TlsError::from)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Pem {
            path: t.ca.clone(),
            message: e.to_string(),
        })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::from)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&t.cert)?, load_key(&t.key)?)
        .map_err(TlsError::from)?;
    // gRPC is HTTP/2; tonic's client insists on negotiating it.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepted connections after their TLS handshake, each done in its own
/// task (a slow client holds up nobody) within `timeout`. A failed
/// handshake, such as a certificate the CA did not sign, is logged.
fn tls_incoming(
    api: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    stop: Shutdown,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = stop.triggered() => return,
                _ = tx.closed() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(api, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(api, %peer, error = %e, "TLS handshake refused");
                    }
                    Err(_) => {
                        tracing::warn!(api, %peer, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
