//! Binary data (RFC 8620 6): upload, download, and the blob ids the other
//! methods use.
//!
//! | blob id | what |
//! |---|---|
//! | `u` + SHA-256 hex | an upload, kept under `state_dir/uploads/<account>/` for `upload_ttl` |
//! | `b` + digest | a whole stored message (the Email's `blobId`) |
//! | `<blob>_<n>` | part `n` of the message in `<blob>` (decoded), nestable |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::{Response, StatusCode, Uri, header};
use mail_core::Shutdown;
use mail_store::MailboxPath;
use serde_json::json;
use sha2::Digest;

use crate::Shared;
use crate::api::Ctx;
use crate::auth::Account;
use crate::http::{build, json_response, problem};

fn upload_dir(shared: &Shared, acc: &Account) -> PathBuf {
    shared.cfg.state_dir.join("uploads").join(&acc.account_id)
}

/// `POST /jmap/upload/{accountId}/` (RFC 8620 6.1).
pub(crate) async fn upload(
    shared: &Arc<Shared>,
    acc: &Account,
    path: &str,
    content_type: &str,
    body: bytes::Bytes,
) -> Response<Body> {
    let account = path
        .trim_start_matches("/jmap/upload/")
        .trim_end_matches('/');
    if account != acc.account_id {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such account");
    }
    let hash: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let blob_id = format!("u{hash}");
    let dir = upload_dir(shared, acc);
    let file = dir.join(&blob_id);
    let size = body.len();
    let written = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, &body)?;
        std::fs::rename(&tmp, &file)
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::warn!(?written, "upload not stored");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "about:blank",
            "the upload could not be stored",
        );
    }
    json_response(
        StatusCode::CREATED,
        &json!({"accountId": acc.account_id, "blobId": blob_id, "type": content_type, "size": size}),
    )
}

/// The bytes of a blob the account may read.
pub(crate) async fn fetch(ctx: &Ctx<'_>, id: &str) -> Option<Vec<u8>> {
    fetch_for(ctx.shared, ctx.acc, id).await
}

async fn fetch_for(shared: &Arc<Shared>, acc: &Account, id: &str) -> Option<Vec<u8>> {
    let mut segs = id.split('_');
    let base = segs.next()?;
    let path: Vec<usize> = segs.map(|s| s.parse().ok()).collect::<Option<_>>()?;
    let mut bytes = if let Some(hash) = base.strip_prefix('u') {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let file = upload_dir(shared, acc).join(base);
        tokio::fs::read(file).await.ok()?
    } else {
        let digest = base.strip_prefix('b')?.to_string();
        let sh = shared.clone();
        let uid = acc.uid.clone();
        shared
            .store
            .run(move |st| {
                let s = sh.index.snapshot(st, &uid)?;
                let Some(locs) = s.locate(&digest) else {
                    return Ok(None);
                };
                let m = s.mbox(locs[0]);
                let h = st.open_mailbox(
                    &uid,
                    &MailboxPath::new(&m.c.info.path.owner, &m.c.info.path.name),
                )?;
                st.read_message(&h, s.row(locs[0]).uid).map(Some)
            })
            .await
            .ok()??
    };
    for idx in path {
        let msg = crate::email::body::parse(&bytes)?;
        let part = msg.parts.get(idx)?;
        let next = crate::email::body::part_bytes(part).into_owned();
        bytes = next;
    }
    Some(bytes)
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `GET /jmap/download/{accountId}/{blobId}/{name}?accept={type}`
/// (RFC 8620 6.2). Served as an attachment that the browser must not
/// sniff or run (`nosniff`, a sandboxing CSP).
pub(crate) async fn download(shared: &Arc<Shared>, acc: &Account, uri: &Uri) -> Response<Body> {
    let rest = uri.path().trim_start_matches("/jmap/download/");
    let mut parts = rest.splitn(3, '/');
    let (Some(account), Some(blob), name) = (parts.next(), parts.next(), parts.next()) else {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such blob");
    };
    if account != acc.account_id {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such blob");
    }
    let Some(bytes) = fetch_for(shared, acc, blob).await else {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such blob");
    };
    let query = uri.query().unwrap_or("");
    let ctype = query_param(query, "accept")
        .filter(|t| {
            let ok = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            t.split_once('/').is_some_and(|(a, b)| ok(a) && ok(b))
        })
        .unwrap_or_else(|| "application/octet-stream".into());
    let name = percent_encoding::percent_decode_str(name.unwrap_or("blob"))
        .decode_utf8_lossy()
        .into_owned();
    let encoded: String =
        percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC).collect();
    let mut r = build(StatusCode::OK, &ctype, Body::from(bytes));
    let h = r.headers_mut();
    if let Ok(v) = format!("attachment; filename*=UTF-8''{encoded}").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=604800, immutable"),
    );
    r
}

/// Removes uploads older than `upload_ttl`, hourly.
pub(crate) fn start_sweeper(shared: Arc<Shared>, shutdown: &Shutdown) {
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.triggered() => return,
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
            let root = shared.cfg.state_dir.join("uploads");
            let ttl = shared.cfg.upload_ttl;
            let _ = tokio::task::spawn_blocking(move || sweep(&root, ttl)).await;
        }
    });
}

fn sweep(root: &std::path::Path, ttl: Duration) {
    let Ok(accounts) = std::fs::read_dir(root) else {
        return;
    };
    for acc in accounts.flatten() {
        let Ok(files) = std::fs::read_dir(acc.path()) else {
            continue;
        };
        for f in files.flatten() {
            let old = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > ttl);
            if old {
                let _ = std::fs::remove_file(f.path());
            }
        }
    }
}
