//! The LMTP server driven by real clients: Python's smtplib.LMTP and
//! swaks. Per-recipient replies after DATA (RFC 2033 4.2), pipelining,
//! STARTTLS with a generated certificate, size limits, SMTPUTF8.

mod common;

use common::{python, run, start, start_with};
use serde_json::{Value, json};

fn codes(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|r| r[0].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_gets_one_reply_per_accepted_recipient_in_order() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let out = python(&[
        "mixed",
        &port,
        "alice@example.org",
        "nobody@example.org",
        "full@example.org",
        "moved@example.org",
        "bob+lists@example.org",
        "disabled@example.org",
        "gone@example.org",
        "flaky@example.org",
    ])
    .await;
    assert_eq!(out["lhlo"], 250);
    for f in [
        "pipelining",
        "enhancedstatuscodes",
        "8bitmime",
        "size",
        "chunking",
        "smtputf8",
    ] {
        assert!(
            out["features"]
                .as_array()
                .is_some_and(|a| a.contains(&json!(f))),
            "{f}: {out}"
        );
    }
    assert!(
        !out["features"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("starttls"))),
        "no cert, no STARTTLS"
    );
    assert_eq!(out["mail"][0], 250);
    assert_eq!(
        codes(&out["rcpt"]),
        [250, 550, 250, 451, 250, 550, 250, 451],
        "{out}"
    );
    assert!(
        out["rcpt"][1][1]
            .as_str()
            .is_some_and(|t| t.starts_with("5.1.1")),
        "{out}"
    );
    assert!(
        out["rcpt"][5][1]
            .as_str()
            .is_some_and(|t| t.starts_with("5.2.1")),
        "{out}"
    );
    // alice, full, bob+lists, gone: in RCPT order.
    assert_eq!(codes(&out["data"]), [250, 452, 250, 552], "{out}");
    assert!(
        out["data"][0][1]
            .as_str()
            .is_some_and(|t| t.contains("alice@example.org"))
    );
    assert!(
        out["data"][1][1]
            .as_str()
            .is_some_and(|t| t.starts_with("4.2.2"))
    );
    assert!(
        out["data"][3][1]
            .as_str()
            .is_some_and(|t| t.starts_with("5.2.2"))
    );
    assert_eq!(out["quit"][0], 221);

    let d = server.store.deliveries();
    assert_eq!(d.len(), 1, "delivered once for all recipients");
    let accounts: Vec<&str> = d[0].targets.iter().map(|t| t.account.as_str()).collect();
    assert_eq!(accounts, ["alice", "full", "bob", "gone"]);
    assert_eq!(
        d[0].targets[2].folder.as_deref(),
        Some("lists"),
        "detail names the folder"
    );
    assert_eq!(d[0].envelope.lhlo, "relay.test");
    assert_eq!(d[0].envelope.sender.to_string(), "<sender@example.net>");
    let body = String::from_utf8_lossy(&d[0].body);
    assert!(
        body.ends_with("Hello.\r\n.leading dot survives\r\n"),
        "dot-unstuffed: {body:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_transactions_on_one_connection() {
    let server = start(|_| {}).await;
    let out = python(&["twice", &server.addr.port().to_string()]).await;
    assert_eq!(codes(&out["first"]["data"]), [250]);
    assert_eq!(codes(&out["second"]["data"]), [250]);
    assert_eq!(server.store.deliveries().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_is_refused_after_the_dot_and_by_declared_size() {
    let server = start(|c| c.max_message_size = 64 * 1024).await;
    let port = server.addr.port().to_string();
    let out = python(&["big", &port, "200000"]).await;
    assert_eq!(codes(&out["data"]), [552], "{out}");
    assert!(
        out["data"][0][1]
            .as_str()
            .is_some_and(|t| t.starts_with("5.3.4"))
    );
    let out = python(&["big", &port, "200000", "SIZE=200000"]).await;
    assert_eq!(out["mail"][0], 552, "RFC 1870 6.1: refused at MAIL: {out}");
    assert!(server.store.deliveries().is_empty());
    // Under the limit but over the spool threshold: delivered from a file.
    let out = python(&["big", &port, "60000"]).await;
    assert_eq!(codes(&out["data"]), [250], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_message_is_spooled_to_a_file() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = dir.path().to_path_buf();
    let server = start(move |c| {
        c.spool_threshold = 4096;
        c.spool_dir = Some(spool);
    })
    .await;
    let out = python(&["big", &server.addr.port().to_string(), "100000"]).await;
    assert_eq!(codes(&out["data"]), [250], "{out}");
    let d = server.store.deliveries();
    assert!(d[0].spooled, "content went to a temporary file");
    assert!(d[0].body.len() > 100_000 - 100);
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "temporary file removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtputf8_recipient() {
    let server = start(|_| {}).await;
    let out = python(&["utf8", &server.addr.port().to_string()]).await;
    assert_eq!(codes(&out["rcpt"]), [250], "{out}");
    assert_eq!(codes(&out["data"]), [250], "{out}");
    let d = server.store.deliveries();
    assert!(d[0].envelope.params.smtputf8);
    assert_eq!(d[0].targets[0].recipient.user, "jörg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_generated_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let files =
        mail_core::tls::generate_self_signed(dir.path(), &["localhost".into(), "127.0.0.1".into()])
            .expect("certificate");
    let tls = mail_core::tls::server_config(&files).expect("server config");
    let cfg = common::config(|c| c.listener.tls = mail_core::listener::TlsMode::Starttls);
    let server = start_with(cfg, Some(tls)).await;
    let cert = files.cert.to_str().expect("path");
    let out = python(&["starttls", &server.addr.port().to_string(), cert]).await;
    assert!(
        out["features"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("starttls"))),
        "{out}"
    );
    assert_eq!(out["starttls"][0], 220, "{out}");
    assert!(
        out["cipher"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{out}"
    );
    assert_eq!(out["lhlo_after_tls"], 250);
    assert!(
        !out["features_after_tls"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("starttls"))),
        "STARTTLS not offered twice: {out}"
    );
    assert_eq!(codes(&out["data"]), [250], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_pipelined_after_starttls_is_discarded() {
    let dir = tempfile::tempdir().expect("dir");
    let files = mail_core::tls::generate_self_signed(dir.path(), &["localhost".into()])
        .expect("certificate");
    let tls = mail_core::tls::server_config(&files).expect("server config");
    let cfg = common::config(|c| c.listener.tls = mail_core::listener::TlsMode::Starttls);
    let server = start_with(cfg, Some(tls)).await;
    let cert = files.cert.to_str().expect("path");
    let out = python(&["starttls_injection", &server.addr.port().to_string(), cert]).await;
    assert_eq!(out["starttls"][0], 220, "{out}");
    // The first reply inside TLS answers NOOP, not the injected HELP (214).
    assert_eq!(out["after_tls"], json!([250, "2.0.0 OK"]), "{out}");
    assert_eq!(out["lhlo_after_tls"], 250, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_with_pipelining_and_several_recipients() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let out = run(
        "swaks",
        &[
            "--protocol",
            "LMTP",
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--pipeline",
            "--helo",
            "swaks.test",
            "--from",
            "sender@example.net",
            "--to",
            "alice@example.org,bob@example.org",
            "--header",
            "Subject: swaks test",
            "--body",
            "Hello from swaks",
            "--timeout",
            "15",
        ],
    )
    .await;
    assert!(out.contains("LHLO swaks.test"), "{out}");
    assert!(out.contains("<alice@example.org> delivered"), "{out}");
    assert!(out.contains("<bob@example.org> delivered"), "{out}");
    let d = server.store.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].targets.len(), 2);
    assert!(String::from_utf8_lossy(&d[0].body).contains("Hello from swaks"));
}
