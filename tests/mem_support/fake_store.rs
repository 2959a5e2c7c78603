//! A stand-in for a store's JMAP service, in the test process, that
//! records every request the MEM relays (method, path, headers, body) and
//! answers like a store would: a session object naming the store's own
//! URLs, an API echo, a download with a dangerous content type, an upload
//! counter and a push stream the test feeds event by event.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, get, post};
use tokio::sync::mpsc;

/// One request as the store received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<binary>").to_string())
    }
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    push: Arc<Mutex<Option<mpsc::Receiver<String>>>>,
}

/// A running fake store.
pub struct FakeStore {
    pub addr: SocketAddr,
    shared: Shared,
    push_tx: mpsc::Sender<String>,
}

impl FakeStore {
    /// Starts on `ip`, port 0, on the current runtime.
    pub async fn start(ip: &str) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let shared = Shared {
            push: Arc::new(Mutex::new(Some(rx))),
            ..Shared::default()
        };
        let app = Router::new()
            .route("/.well-known/jmap", get(session))
            .route("/jmap/api/", post(api))
            .route("/jmap/eventsource", get(eventsource))
            .route("/jmap/download/{*rest}", get(download))
            .route("/jmap/upload/{*rest}", post(upload))
            .fallback(any(fallback))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
            .await
            .expect("bind the fake store");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            push_tx: tx,
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// Sends one event down the push stream.
    pub async fn push(&self, data: &str) {
        self.push_tx
            .send(data.to_string())
            .await
            .expect("the push stream is open");
    }
}

async fn record(state: &Shared, req: Request) -> Seen {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body,
    };
    state.seen.lock().expect("lock").push(seen.clone());
    seen
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .expect("response")
}

async fn session(State(s): State<Shared>, req: Request) -> Response {
    let seen = record(&s, req).await;
    let user = seen.header("x-tiermail-user").unwrap_or_default();
    let base = "https://store-a.internal:8443";
    json(
        StatusCode::OK,
        serde_json::json!({
            "capabilities": {"urn:ietf:params:jmap:core": {}, "urn:ietf:params:jmap:mail": {}},
            "accounts": {"a1": {"name": user, "isPersonal": true, "isReadOnly": false, "accountCapabilities": {}}},
            "primaryAccounts": {"urn:ietf:params:jmap:mail": "a1"},
            "username": user,
            "apiUrl": format!("{base}/jmap/api/"),
            "downloadUrl": format!("{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}"),
            "uploadUrl": format!("{base}/jmap/upload/{{accountId}}/"),
            "eventSourceUrl": format!("{base}/jmap/eventsource?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"),
            "state": "1"
        }),
    )
}

async fn api(State(s): State<Shared>, req: Request) -> Response {
    let seen = record(&s, req).await;
    json(
        StatusCode::OK,
        serde_json::json!({
            "methodResponses": [["Core/echo", {"user": seen.header("x-tiermail-user"), "bytes": seen.body.len()}, "0"]],
            "sessionState": "1"
        }),
    )
}

async fn download(State(s): State<Shared>, req: Request) -> Response {
    record(&s, req).await;
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html")
        .header(
            header::CONTENT_DISPOSITION,
            "inline; filename=\"evil.html\"",
        )
        .body(Body::from("<script>parent.pwned = 1</script>"))
        .expect("response")
}

async fn upload(State(s): State<Shared>, req: Request) -> Response {
    let seen = record(&s, req).await;
    json(
        StatusCode::CREATED,
        serde_json::json!({"accountId": "a1", "blobId": "b1", "type": "application/octet-stream", "size": seen.body.len()}),
    )
}

/// RFC 8620 section 7.3: one `state` event per message the test pushes.
async fn eventsource(State(s): State<Shared>, req: Request) -> Response {
    record(&s, req).await;
    let rx = s.push.lock().expect("lock").take();
    let Some(mut rx) = rx else {
        return json(
            StatusCode::CONFLICT,
            serde_json::json!({"detail": "one stream at a time"}),
        );
    };
    let (tx, body_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            let event = format!("event: state\ndata: {data}\n\n");
            if tx.send(Ok(Bytes::from(event))).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(body_rx),
        ))
        .expect("response")
}

async fn fallback(State(s): State<Shared>, req: Request) -> Response {
    record(&s, req).await;
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"detail": "no such path"}),
    )
}
