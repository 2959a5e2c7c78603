//! The POP3 server driven by real clients: Python's poplib (USER/PASS,
//! STAT, LIST, UIDL, RETR, TOP, DELE, RSET, QUIT, CAPA, STLS, AUTH, the
//! maildrop lock, a dropped connection) and curl's pop3:// (list,
//! retrieve, delete, over STLS).

mod common;

use common::{MSG1, MSG2, crlf, msg3, python, run, run_status, start, start_with, uid};
use serde_json::{Value, json};

fn sizes() -> [usize; 3] {
    [MSG1.len(), crlf(MSG2).len(), crlf(&msg3()).len()]
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn is_err(v: &Value, needle: &str) -> bool {
    v[0] == "err" && v[1].as_str().is_some_and(|t| t.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_reads_lists_tops_deletes_and_quits() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let out = python(&["basic", &port]).await;
    let [s1, s2, s3] = sizes();

    assert!(
        out["welcome"]
            .as_str()
            .is_some_and(|w| w.starts_with("+OK store.test") && !w.contains('<')),
        "{out}"
    );
    assert!(is_err(&out["apop"], "APOP not supported"), "{out}");
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "SASL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "EXPIRE",
        "IMPLEMENTATION",
    ] {
        assert!(out["capa"].get(cap).is_some(), "{cap} missing: {out}");
    }
    assert_eq!(out["capa"]["SASL"], json!(["PLAIN", "LOGIN"]));
    assert_eq!(out["capa"]["EXPIRE"], json!(["NEVER"]));
    assert!(out["capa"].get("STLS").is_none(), "no certificate, no STLS");
    assert!(
        out["capa_after"].get("USER").is_none() && out["capa_after"].get("SASL").is_none(),
        "no login methods after login: {out}"
    );

    assert_eq!(out["stat"], json!([3, s1 + s2 + s3]));
    assert_eq!(
        strs(&out["list"][1]),
        [format!("1 {s1}"), format!("2 {s2}"), format!("3 {s3}")]
    );
    assert_eq!(out["list_2"], format!("+OK 2 {s2}"));
    assert_eq!(
        strs(&out["uidl"]),
        [
            format!("1 {}", uid(101)),
            format!("2 {}", uid(102)),
            format!("3 {}", uid(103))
        ]
    );
    assert_eq!(out["uidl_3"], format!("+OK 3 {}", uid(103)));

    // poplib counts the octets it received (unstuffed, CRLF): the same
    // numbers LIST announced, for in-memory and streamed messages alike.
    for (n, size) in [("1", s1), ("2", s2), ("3", s3)] {
        assert_eq!(out["retr"][n]["octets"], size, "message {n}: {out}");
        assert_eq!(out["retr"][n]["resp"], format!("+OK {size} octets"));
    }
    assert_eq!(out["retr"]["3"]["lines"], 4003);
    assert_eq!(
        strs(&out["retr_1_lines"]),
        [
            "From: sender@example.net",
            "To: alice@example.org",
            "Subject: one",
            "",
            "Hello Alice.",
            ".leading dot",
            "..two dots",
            ".",
            "line 5"
        ]
    );
    assert_eq!(
        strs(&out["retr_2_lines"]),
        [
            "From: sender@example.net",
            "Subject: two",
            "",
            "first body line",
            "second body line",
            ".third"
        ]
    );
    assert_eq!(
        strs(&out["top_1_0"]),
        [
            "From: sender@example.net",
            "To: alice@example.org",
            "Subject: one",
            ""
        ]
    );
    assert_eq!(
        strs(&out["top_2_1"]),
        [
            "From: sender@example.net",
            "Subject: two",
            "",
            "first body line"
        ]
    );

    assert!(out["noop"].as_str().is_some_and(|r| r.starts_with("+OK")));
    assert!(is_err(&out["dele_1_again"], "already deleted"), "{out}");
    assert!(is_err(&out["retr_deleted"], "already deleted"), "{out}");
    assert!(is_err(&out["list_deleted"], "already deleted"), "{out}");
    assert_eq!(out["stat_after_dele"], json!([2, s2 + s3]));
    assert_eq!(out["stat_after_rset"], json!([3, s1 + s2 + s3]));
    assert!(is_err(&out["retr_99"], "No such message 99"), "{out}");
    assert!(
        out["quit"]
            .as_str()
            .is_some_and(|q| q.starts_with("+OK") && q.contains("1 deleted")),
        "{out}"
    );

    // RSET undid DELE 1; only DELE 2 reached the store, at QUIT.
    assert_eq!(server.store.uids("u-alice"), [uid(101), uid(103)]);
    assert_eq!(
        server.store.commits(),
        [("u-alice".to_string(), vec![uid(102)])]
    );
    assert!(!server.store.is_locked("u-alice"), "lock released at QUIT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_stls_then_login_and_plaintext_refused_before() {
    let (_dir, cert, tls) = common::tls();
    let cfg = common::config(|c| c.plaintext_auth_without_tls = false);
    let server = start_with(cfg, Some(tls)).await;
    let port = server.addr.port().to_string();
    let out = python(&["stls", &port, cert.to_str().expect("path")]).await;

    assert!(out["capa_plain"].get("STLS").is_some(), "{out}");
    assert!(
        out["capa_plain"].get("USER").is_none() && out["capa_plain"].get("SASL").is_none(),
        "no plaintext login methods before TLS: {out}"
    );
    assert!(is_err(&out["user_plain"], "[AUTH]"), "{out}");
    assert!(is_err(&out["user_plain"], "STLS"), "{out}");
    assert!(out["stls"].as_str().is_some_and(|r| r.starts_with("+OK")));
    assert!(
        out["tls_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{out}"
    );
    assert!(out["capa_tls"].get("STLS").is_none(), "{out}");
    assert!(out["capa_tls"].get("USER").is_some(), "{out}");
    assert_eq!(out["capa_tls"]["SASL"], json!(["PLAIN", "LOGIN"]));
    assert!(is_err(&out["stls_again"], "already active"), "{out}");
    assert!(out["pass"].as_str().is_some_and(|r| r.starts_with("+OK")));
    assert_eq!(out["stat"][0], 3);
    assert_eq!(out["retr_1_first"], "From: sender@example.net");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_over_implicit_tls() {
    let (_dir, cert, tls) = common::tls();
    let cfg = common::config(|c| {
        c.plaintext_auth_without_tls = false;
        c.listener.tls = mail_core::listener::TlsMode::Implicit;
    });
    let server = start_with(cfg, Some(tls)).await;
    let port = server.addr.port().to_string();
    let out = python(&["pop3s", &port, cert.to_str().expect("path")]).await;
    assert!(out["capa"].get("STLS").is_none(), "{out}");
    assert!(out["capa"].get("USER").is_some(), "{out}");
    assert!(
        out["pass"].as_str().is_some_and(|r| r.starts_with("+OK")),
        "{out}"
    );
    assert_eq!(out["stat"][0], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_pipelined_behind_stls_is_discarded() {
    let (_dir, cert, tls) = common::tls();
    let server = start_with(common::config(|_| {}), Some(tls)).await;
    let port = server.addr.port().to_string();
    let out = python(&["stls_injection", &port, cert.to_str().expect("path")]).await;
    assert!(out["stls"].as_str().is_some_and(|r| r.starts_with("+OK")));
    assert!(is_err(&out["pass_first"], "Send USER first"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poplib_auth_plain_and_login() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let out = python(&["auth", &port]).await;
    assert!(is_err(&out["plain_bad"], "[AUTH]"), "{out}");
    // "+ VXNlcm5hbWU6" is base64 for "Username:".
    assert_eq!(out["login_1"], json!(["ok", "+ VXNlcm5hbWU6"]));
    assert_eq!(out["login_2"], json!(["ok", "+ UGFzc3dvcmQ6"]));
    assert!(is_err(&out["login_cancel"], "cancelled"), "{out}");
    assert_eq!(out["plain_cont"], json!(["ok", "+ "]));
    assert!(
        out["plain_ok"][1]
            .as_str()
            .is_some_and(|r| r.starts_with("+OK")),
        "{out}"
    );
    assert_eq!(out["stat"][0], 3);
    assert!(is_err(&out["auth_again"], "Already logged in"), "{out}");
    assert!(
        out["plain_ir"][1]
            .as_str()
            .is_some_and(|r| r.starts_with("+OK")),
        "{out}"
    );
    assert_eq!(out["stat_bob"][0], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_delayed_look_alike_and_end_the_session() {
    let server = start(|c| c.auth_failure_delay = std::time::Duration::from_millis(300)).await;
    let port = server.addr.port().to_string();
    let out = python(&["login_failures", &port]).await;
    // Unknown user and wrong password: the same reply.
    assert_eq!(out["nobody"], out["alice"], "{out}");
    assert!(
        is_err(&out["nobody"], "[AUTH] Authentication failed"),
        "{out}"
    );
    for t in out["timings"].as_array().expect("timings") {
        assert!(t.as_f64().is_some_and(|t| t >= 0.3), "not delayed: {out}");
    }
    assert!(is_err(&out["disabled"], "[SYS/PERM]"), "{out}");
    assert!(is_err(&out["closed"], "Too many failed logins"), "{out}");
    assert!(is_err(&out["flaky"], "[SYS/TEMP]"), "{out}");
    assert!(is_err(&out["broken"], "[SYS/TEMP]"), "{out}");
    assert!(server.store.commits().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_session_gets_in_use_until_the_first_quits() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let out = python(&["lock", &port]).await;
    assert!(out["first"].as_str().is_some_and(|r| r.starts_with("+OK")));
    assert!(is_err(&out["second"], "[IN-USE]"), "{out}");
    assert!(
        out["second_retry"][1]
            .as_str()
            .is_some_and(|r| r.starts_with("+OK")),
        "{out}"
    );
    // The first session's DELE was committed at its QUIT.
    assert_eq!(out["second_stat"][0], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_deletes_nothing_and_releases_the_lock() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let out = python(&["drop", &port]).await;
    assert_eq!(out["dele"].as_array().map(Vec::len), Some(2));
    assert!(
        common::eventually(|| !server.store.is_locked("u-alice")).await,
        "lock not released after the connection dropped"
    );
    assert_eq!(server.store.uids("u-alice").len(), 3);
    assert!(server.store.commits().is_empty());
}

fn curl_url(port: &str, path: &str) -> String {
    format!("pop3://127.0.0.1:{port}/{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_lists_retrieves_and_deletes() {
    let server = start(|_| {}).await;
    let port = server.addr.port().to_string();
    let [s1, s2, s3] = sizes();

    let list = run("curl", &["-sS", "-u", "alice:secret", &curl_url(&port, "")]).await;
    assert_eq!(list, format!("1 {s1}\r\n2 {s2}\r\n3 {s3}\r\n"));

    let (ok, body, stderr) = run_status(
        "curl",
        &["-sS", "-u", "alice:secret", &curl_url(&port, "1")],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(body, MSG1, "curl unstuffs what we stuffed");
    let (ok, body, stderr) = run_status(
        "curl",
        &["-sS", "-u", "alice:secret", &curl_url(&port, "2")],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(body, crlf(MSG2), "bare LF sent as CRLF");
    let (ok, body, _) = run_status(
        "curl",
        &["-sS", "-u", "alice:secret", &curl_url(&port, "3")],
    )
    .await;
    assert!(ok);
    assert_eq!(body.len(), s3);

    // SASL with the initial response on the AUTH line.
    let uidl = run(
        "curl",
        &[
            "-sS",
            "--sasl-ir",
            "-u",
            "bob:correct horse",
            "-X",
            "UIDL",
            &curl_url(&port, ""),
        ],
    )
    .await;
    assert_eq!(uidl, format!("1 {}\r\n", uid(7)));

    // Bad password: curl fails, nothing is shown.
    let (ok, _, _) = run_status("curl", &["-sS", "-u", "alice:nope", &curl_url(&port, "")]).await;
    assert!(!ok);

    // DELE through curl, committed at its QUIT (UPDATE state).
    let before = server.store.commits().len();
    run(
        "curl",
        &[
            "-sS",
            "-u",
            "alice:secret",
            "-X",
            "DELE",
            "-I",
            &curl_url(&port, "1"),
        ],
    )
    .await;
    assert!(
        common::eventually(|| server.store.commits().len() > before).await,
        "no commit: {:?}",
        server.store.commits()
    );
    assert_eq!(
        server.store.commits().last(),
        Some(&("u-alice".to_string(), vec![uid(101)]))
    );
    assert_eq!(server.store.uids("u-alice"), [uid(102), uid(103)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_stls() {
    let (_dir, cert, tls) = common::tls();
    let cfg = common::config(|c| c.plaintext_auth_without_tls = false);
    let server = start_with(cfg, Some(tls)).await;
    let port = server.addr.port().to_string();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("pop3://localhost:{port}/1");
    let (ok, body, stderr) = run_status(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            cert.to_str().expect("path"),
            "--resolve",
            &resolve,
            "-u",
            "alice:secret",
            &url,
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(body, MSG1);

    // Without TLS the server offers no way to log in: curl gives up.
    let (ok, _, _) = run_status(
        "curl",
        &["-sS", "-u", "alice:secret", &url, "--resolve", &resolve],
    )
    .await;
    assert!(!ok, "plaintext login must be refused");
}
