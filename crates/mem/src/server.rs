//! HTTP/1.1 on the shared listener layer (`mail_core::listener`: accept,
//! connection limit, TLS, a span per connection, draining). Each
//! connection is served by hyper with the axum router; the client's
//! address rides along in the request's extensions.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use mail_core::Shutdown;
use mail_core::listener::{Conn, Handler};
use tower::Service;

/// Where a request came from, as the listener saw it.
#[derive(Debug, Clone, Copy)]
pub struct ClientConn {
    /// The TCP peer (a load balancer, or the user).
    pub peer: SocketAddr,
    /// True when the connection is HTTPS.
    pub tls: bool,
}

/// Serves the router on each accepted connection.
pub struct HttpHandler {
    router: Router,
    header_read_timeout: Duration,
}

impl HttpHandler {
    /// A handler for `router`.
    pub fn new(router: Router, header_read_timeout: Duration) -> Self {
        Self {
            router,
            header_read_timeout,
        }
    }
}

impl Handler for HttpHandler {
    async fn handle(&self, conn: Conn, shutdown: Shutdown) {
        let info = ClientConn {
            peer: conn.peer,
            tls: conn.is_tls(),
        };
        let router = self.router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(info);
            let mut router = router.clone();
            async move {
                let req = req.map(Body::new);
                Ok::<_, Infallible>(match router.call(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                })
            }
        });
        let http = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(conn.stream), service);
        tokio::pin!(http);
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            _ = shutdown.triggered() => {
                // Finish the request in flight, then close; push streams
                // end by themselves at shutdown (see proxy).
                http.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(30), http).await;
            }
        }
    }
}
