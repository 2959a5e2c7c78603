//! The web client's static files (`web/` in the repository), built into
//! the binary or read from `[web] root` at start.
//!
//! Every file is revalidated on use (`Cache-Control: no-cache` with a
//! content `ETag`, answered `304` when unchanged): there is no build step
//! to give files versioned names, so this is what keeps an upgraded MEM
//! from serving a stale mix of modules, at the cost of one small request
//! per file per page load.
//!
//! The reading pane's frame (`reader-frame.html`) gets its own Content
//! Security Policy: no script at all, styles inline only (mail needs
//! them), images from `blob:`, `data:` and this origin (a message's `cid:`
//! parts, which the store turns into download URLs) only, or also from the
//! network when the user allowed remote images for a message
//! (`?images=remote`).

use std::collections::HashMap;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};

use crate::app::AppRef;
use crate::error::MemError;
use crate::problem::{Problem, wants_html};

/// The policy of every page of the web client.
pub const MAIN_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; frame-src 'self'; font-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'; manifest-src 'self'";

/// The reading pane's frame: mail HTML, never scripts.
const FRAME_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' blob: data:; \
     font-src data:; media-src blob: data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'self'; sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox";

/// The same, after the user allowed remote images for the message.
const FRAME_CSP_REMOTE: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' blob: data: https: http:; font-src data:; media-src blob: data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'self'; \
     sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox";

/// The reading pane's frame document.
pub const FRAME_FILE: &str = "reader-frame.html";

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../../web/", $path)) as &[u8])),*]
    };
}

/// The files of `web/`, built in. `tests::embedded_list_matches_web_dir`
/// keeps this list and the directory in step.
static EMBEDDED: &[(&str, &[u8])] = embed![
    "index.html",
    "reader-frame.html",
    "favicon.svg",
    "css/app.css",
    "js/main.js",
    "js/jmap.js",
    "js/login.js",
    "js/mailboxes.js",
    "js/messages.js",
    "js/reader.js",
    "js/compose.js",
    "js/keys.js",
    "js/push.js",
    "js/ui.js",
];

struct Asset {
    body: Bytes,
    mime: &'static str,
    etag: HeaderValue,
}

/// The file set.
pub struct Assets {
    files: HashMap<String, Asset>,
}

impl std::fmt::Debug for Assets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assets")
            .field("files", &self.files.len())
            .finish()
    }
}

fn mime(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json" | "webmanifest") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str, bytes: Bytes) -> Asset {
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let hex: String = digest.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Asset {
        mime: mime(path),
        etag: HeaderValue::from_str(&format!("\"{hex}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
        body: bytes,
    }
}

impl Assets {
    /// The copy built into the binary.
    pub fn embedded() -> Self {
        let files = EMBEDDED
            .iter()
            .map(|(p, b)| (p.to_string(), asset(p, Bytes::from_static(b))))
            .collect();
        Self { files }
    }

    /// Every file under `root`, read now.
    pub fn from_dir(root: &Path) -> Result<Self, MemError> {
        let mut files = HashMap::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let rd = std::fs::read_dir(&dir)
                .map_err(|e| MemError::Web(format!("{}: {e}", dir.display())))?;
            for entry in rd {
                let entry = entry.map_err(|e| MemError::Web(format!("{}: {e}", dir.display())))?;
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|e| MemError::Web(format!("{}: {e}", path.display())))?;
                if kind.is_dir() {
                    dirs.push(path);
                } else if kind.is_file() {
                    let rel = path
                        .strip_prefix(root)
                        .map_err(|e| MemError::Web(e.to_string()))?
                        .to_string_lossy()
                        .replace('\\', "/");
                    let bytes = std::fs::read(&path)
                        .map_err(|e| MemError::Web(format!("{}: {e}", path.display())))?;
                    files.insert(rel.clone(), asset(&rel, Bytes::from(bytes)));
                }
            }
        }
        if !files.contains_key("index.html") {
            return Err(MemError::Web(format!(
                "{} holds no index.html",
                root.display()
            )));
        }
        Ok(Self { files })
    }

    /// Answers a GET or HEAD for `path`.
    pub fn serve(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            let mut r = Problem::NotFound.response(false);
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let key = match path.trim_start_matches('/') {
            "" => "index.html",
            p => p,
        };
        let Some(a) = self.files.get(key) else {
            return Problem::NotFound.response(wants_html(headers));
        };
        let mut res = if headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == a.etag.as_bytes())
        {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else if method == Method::HEAD {
            let mut r = Response::new(Body::empty());
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(a.body.len()));
            r
        } else {
            Response::new(Body::from(a.body.clone()))
        };
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
        h.insert(header::ETAG, a.etag.clone());
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if key == FRAME_FILE {
            let remote = query.is_some_and(|q| q.split('&').any(|kv| kv == "images=remote"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(if remote { FRAME_CSP_REMOTE } else { FRAME_CSP }),
            );
            h.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
        }
        res
    }
}

/// Every path no route claims.
pub async fn handler(State(app): State<AppRef>, req: Request<Body>) -> Response<Body> {
    app.assets.serve(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_matches_web_dir() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let on_disk = Assets::from_dir(&root).expect("web/");
        let mut disk: Vec<&String> = on_disk.files.keys().collect();
        disk.sort();
        let mut built: Vec<&str> = EMBEDDED.iter().map(|(p, _)| *p).collect();
        built.sort();
        assert_eq!(
            disk, built,
            "add new web/ files to EMBEDDED in crates/mem/src/assets.rs"
        );
        for (p, b) in EMBEDDED {
            assert_eq!(
                on_disk.files[*p].body.as_ref(),
                *b,
                "{p}: built-in copy is stale"
            );
        }
    }

    #[test]
    fn etags_revalidate_and_the_frame_gets_its_policy() {
        let a = Assets::embedded();
        let res = a.serve(&Method::GET, "/", None, &HeaderMap::new());
        assert_eq!(res.status(), StatusCode::OK);
        let etag = res.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            a.serve(&Method::GET, "/index.html", None, &h).status(),
            StatusCode::NOT_MODIFIED
        );
        let f = a.serve(&Method::GET, "/reader-frame.html", None, &HeaderMap::new());
        let csp = f.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("img-src 'self' blob: data:;") && csp.contains("sandbox"));
        let f = a.serve(
            &Method::GET,
            "/reader-frame.html",
            Some("images=remote"),
            &HeaderMap::new(),
        );
        let csp = f.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("https: http:"));
        assert_eq!(
            a.serve(&Method::GET, "/../Cargo.toml", None, &HeaderMap::new())
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            a.serve(&Method::POST, "/", None, &HeaderMap::new())
                .status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
