//! The JMAP session object (RFC 8620 section 2) names the store's own
//! URLs; the browser must use the MEM's instead, so `apiUrl`,
//! `downloadUrl`, `uploadUrl` and `eventSourceUrl` are rebased onto the
//! MEM's public origin. URI templates (`{accountId}`, RFC 6570 level 1)
//! sit in the path and query and pass through unchanged.
//!
//! The MEM relays `/jmap/...` to the same path on the store. A store URL
//! outside `/jmap/` is mapped under `/jmap/_store/`, which the proxy maps
//! back, so the MEM works whatever paths a store chooses.

use serde_json::Value;

/// The prefix under which store paths outside `/jmap/` are relayed.
pub const STORE_PREFIX: &str = "/jmap/_store";

/// The session properties holding URLs (RFC 8620 section 2).
const URL_KEYS: [&str; 4] = ["apiUrl", "downloadUrl", "uploadUrl", "eventSourceUrl"];

/// Rebases the session object's URLs onto `origin`
/// (`https://mail.example.test`).
pub fn session(mut v: Value, origin: &str) -> Value {
    for key in URL_KEYS {
        if let Some(Value::String(u)) = v.get_mut(key) {
            *u = rebase(u, origin);
        }
    }
    v
}

/// `https://store:8443/jmap/api` -> `ORIGIN/jmap/api`.
pub fn rebase(url: &str, origin: &str) -> String {
    let path = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            match rest.find(['/', '?']) {
                Some(j) => &rest[j..],
                None => "/",
            }
        }
        None => url,
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    if path.starts_with("/jmap/") {
        format!("{origin}{path}")
    } else {
        format!("{origin}{STORE_PREFIX}{path}")
    }
}

/// The store path for a MEM path (the inverse of [`rebase`]).
pub fn store_path(mem_path_and_query: &str) -> &str {
    match mem_path_and_query.strip_prefix(STORE_PREFIX) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => mem_path_and_query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_are_rebased_and_templates_kept() {
        let s = json!({
            "apiUrl": "https://127.0.0.2:8443/jmap/api/",
            "downloadUrl": "https://store1:8443/jmap/download/{accountId}/{blobId}/{name}?accept={type}",
            "uploadUrl": "https://store1/upload/{accountId}/",
            "eventSourceUrl": "/jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}",
            "username": "alice@example.test",
            "state": "7"
        });
        let out = session(s, "https://mail.example.test");
        assert_eq!(out["apiUrl"], "https://mail.example.test/jmap/api/");
        assert_eq!(
            out["downloadUrl"],
            "https://mail.example.test/jmap/download/{accountId}/{blobId}/{name}?accept={type}"
        );
        assert_eq!(
            out["uploadUrl"],
            "https://mail.example.test/jmap/_store/upload/{accountId}/"
        );
        assert_eq!(
            out["eventSourceUrl"],
            "https://mail.example.test/jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}"
        );
        assert_eq!(out["username"], "alice@example.test");
        assert_eq!(store_path("/jmap/_store/upload/a/"), "/upload/a/");
        assert_eq!(store_path("/jmap/api"), "/jmap/api");
        assert_eq!(store_path("/jmap/_storex"), "/jmap/_storex");
    }
}
