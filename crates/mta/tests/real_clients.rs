//! The SMTP server driven by real clients: swaks (plain, pipelined, TLS,
//! AUTH) and Python's smtplib (DSN parameters, submission with STARTTLS
//! and AUTH, SMTPUTF8). Each accepted message must be exactly one durable
//! queue file per channel with the right envelope.

mod common;

use common::{Options, config, python, start, start_with, swaks};
use mail_core::listener::TlsMode;
use mail_queue::RcptState;
use mail_smtp_proto::Body;
use serde_json::{Value, json};

fn codes(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|r| r[0].as_i64()).collect())
        .unwrap_or_default()
}

fn has(v: &Value, f: &str) -> bool {
    v.as_array().is_some_and(|a| a.contains(&json!(f)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_message_becomes_one_durable_queue_file() {
    let server = start(|_| {}).await;
    let (ok, out) = swaks(
        &server,
        &[
            "--from",
            "bob@example.net",
            "--to",
            "alice@example.org",
            "--header",
            "Message-Id: <swaks-1@example.net>",
            "--body",
            "Hello from swaks",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    let files = server.files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].parent().is_some_and(|p| p.ends_with("lmtp")));
    assert!(server.temp_files().is_empty());
    let entries = server.entries().await;
    let (env, data) = &entries[0];
    assert_eq!(env.channel, "lmtp");
    assert_eq!(env.host, "store1");
    assert_eq!(env.sender, "bob@example.net");
    assert_eq!(env.client.helo, "client.test");
    assert_eq!(env.client.ip.to_string(), "127.0.0.1");
    assert!(!env.client.tls && env.client.auth.is_none());
    assert_eq!(env.message_id.as_deref(), Some("<swaks-1@example.net>"));
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(env.recipients[0].address, "alice@example.org");
    assert_eq!(env.recipients[0].state, RcptState::Pending);
    assert_eq!(env.size, data.len() as u64);
    let text = String::from_utf8_lossy(data);
    let id = env.id.to_string();
    assert!(
        text.starts_with(&format!(
            "Received: from client.test ([127.0.0.1])\r\n\tby mx.test (Tiermail) with ESMTP id {id}\r\n\tfor <alice@example.org>;"
        )),
        "{text}"
    );
    assert!(text.contains("\r\nX-Filter: clean\r\n"), "{text}");
    assert!(text.contains("Hello from swaks"), "{text}");
    assert!(out.contains(&id), "queue id in the reply: {out}");
    // The notifier heard about it after the 250.
    assert!(common::eventually(|| server.notes().len() == 1).await);
    assert_eq!(server.notes()[0].id, env.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_pipelining_splits_recipients_by_channel() {
    let server = start(|_| {}).await;
    let (ok, out) = swaks(
        &server,
        &[
            "--pipeline",
            "--from",
            "bob@example.net",
            "--to",
            "alice@example.org,carol@example.org,nobody@example.org,bob@example.org",
        ],
    )
    .await;
    // swaks reports the refused recipient but the message goes through.
    assert!(out.contains("550 5.1.1"), "{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    let _ = ok;
    let entries = server.entries().await;
    assert_eq!(entries.len(), 2, "store1 and store2");
    let mut hosts: Vec<(String, Vec<String>)> = entries
        .iter()
        .map(|(e, _)| {
            (
                e.host.clone(),
                e.recipients.iter().map(|r| r.address.clone()).collect(),
            )
        })
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        [
            (
                "store1".to_string(),
                vec![
                    "alice@example.org".to_string(),
                    "bob@example.org".to_string()
                ]
            ),
            ("store2".to_string(), vec!["carol@example.org".to_string()]),
        ]
    );
    // Same bytes in both files, different queue ids.
    assert_ne!(entries[0].0.id, entries[1].0.id);
    let body = |d: &[u8]| {
        let t = String::from_utf8_lossy(d).to_string();
        t[t.find("X-Filter").expect("header")..].to_string()
    };
    assert_eq!(body(&entries[0].1), body(&entries[1].1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_relaying_is_denied_unless_trusted() {
    let server = start(|_| {}).await;
    let (ok, out) = swaks(
        &server,
        &["--from", "bob@example.net", "--to", "x@remote.test"],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("550 5.7.1 <x@remote.test> Relaying denied"),
        "{out}"
    );
    assert!(server.files().is_empty());

    let trusted = start_with(
        config(|_| {}),
        Options {
            trusted: vec!["127.0.0.0/8".parse().expect("net")],
            ..Options::default()
        },
    )
    .await;
    let (ok, out) = swaks(
        &trusted,
        &["--from", "bob@example.net", "--to", "x@remote.test"],
    )
    .await;
    assert!(ok, "{out}");
    let entries = trusted.entries().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].0.channel.as_str(), entries[0].0.host.as_str()),
        ("tcp_local", "remote.test")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_tls_and_auth() {
    let server = start_with(
        config(|_| {}),
        Options {
            tls: Some(TlsMode::Starttls),
            submission: true,
            ..Options::default()
        },
    )
    .await;
    for mech in ["PLAIN", "LOGIN"] {
        let (ok, out) = swaks(
            &server,
            &[
                "--tls",
                "--auth",
                mech,
                "--auth-user",
                "alice@example.org",
                "--auth-password",
                "secret",
                "--from",
                "alice@example.org",
                "--to",
                "someone@remote.test",
            ],
        )
        .await;
        assert!(ok, "{mech}: {out}");
        assert!(out.contains("235 2.7.0"), "{out}");
    }
    let (ok, out) = swaks(
        &server,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            "nope",
            "--from",
            "alice@example.org",
            "--to",
            "someone@remote.test",
        ],
    )
    .await;
    assert!(!ok && out.contains("535 5.7.8"), "{out}");
    let entries = server.entries().await;
    assert_eq!(entries.len(), 2);
    for (e, data) in &entries {
        assert!(e.client.tls);
        assert_eq!(e.client.auth.as_deref(), Some("alice@example.org"));
        assert_eq!(e.channel, "tcp_local");
        assert!(
            String::from_utf8_lossy(data).contains("with ESMTPSA id"),
            "RFC 3848 protocol"
        );
    }
    // Without TLS AUTH is neither offered nor accepted.
    let (ok, out) = swaks(
        &server,
        &[
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            "secret",
            "--from",
            "alice@example.org",
            "--to",
            "someone@remote.test",
        ],
    )
    .await;
    assert!(!ok, "{out}");
    assert_eq!(server.entries().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_dsn_parameters_reach_the_envelope() {
    let server = start(|_| {}).await;
    let out = python(&["dsn", &server.port()]).await;
    assert_eq!(out["ehlo"], 250);
    for f in [
        "pipelining",
        "size",
        "8bitmime",
        "smtputf8",
        "enhancedstatuscodes",
        "dsn",
        "chunking",
    ] {
        assert!(has(&out["features"], f), "{f}: {out}");
    }
    assert!(!has(&out["features"], "starttls"), "no certificate");
    assert!(!has(&out["features"], "auth"), "no AUTH in clear");
    assert_eq!(codes(&out["rcpt"]), [250, 250, 550], "{out}");
    assert_eq!(out["data"][0], 250, "{out}");
    let entries = server.entries().await;
    assert_eq!(entries.len(), 2);
    for (e, _) in &entries {
        assert_eq!(e.ret, Some(mail_smtp_proto::Ret::Headers));
        assert_eq!(e.envid.as_deref(), Some("env+1"));
        assert_eq!(e.message_id.as_deref(), Some("<python-1@example.net>"));
        let r = &e.recipients[0];
        assert_eq!(r.notify_keywords(), ["SUCCESS", "FAILURE"]);
        assert_eq!(r.orcpt_text(), "rfc822;orig+x@example.org");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_submission_checks_auth_and_sender() {
    let server = start_with(
        config(|_| {}),
        Options {
            tls: Some(TlsMode::Starttls),
            submission: true,
            ..Options::default()
        },
    )
    .await;
    let ca = server.ca.clone().expect("ca");
    let ca = ca.to_str().expect("path");
    for mech in ["PLAIN", "LOGIN"] {
        let out = python(&["submission", &server.port(), ca, mech]).await;
        assert!(has(&out["features"], "starttls"), "{out}");
        assert!(!has(&out["features"], "auth"), "{out}");
        assert_eq!(out["starttls"][0], 220);
        assert!(has(&out["features_after_tls"], "auth"), "{out}");
        assert_eq!(out["auth_line"], " PLAIN LOGIN");
        assert_eq!(out["unauthenticated"]["mail"][0], 530, "{out}");
        assert_eq!(out["bad_login"], 535, "{out}");
        assert_eq!(out["login"][0], 235, "{out}");
        assert_eq!(out["foreign_sender"]["mail"][0], 553, "{out}");
        assert!(
            out["foreign_sender"]["mail"][1]
                .as_str()
                .is_some_and(|t| t.starts_with("5.7.1")),
            "{out}"
        );
        assert_eq!(out["own_sender"]["mail"][0], 250, "{out}");
        assert_eq!(codes(&out["own_sender"]["rcpt"]), [250, 250], "{out}");
        assert_eq!(out["own_sender"]["data"][0], 250, "{out}");
    }
    // Two messages, each split into tcp_local and lmtp.
    assert_eq!(server.entries().await.len(), 4);
    let plain = start(|_| {}).await;
    let out = python(&["noauth", &plain.port()]).await;
    assert_eq!(out["auth"][0], 538, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtplib_smtputf8() {
    let server = start(|_| {}).await;
    let out = python(&["utf8", &server.port()]).await;
    assert_eq!(out["mail"][0], 250, "{out}");
    assert_eq!(codes(&out["rcpt"]), [250], "{out}");
    assert_eq!(out["data"][0], 250, "{out}");
    let entries = server.entries().await;
    let (e, data) = &entries[0];
    assert!(e.smtputf8);
    assert_eq!(e.body, Some(Body::EightBitMime));
    assert_eq!(e.sender, "jörg@example.org");
    assert_eq!(e.recipients[0].address, "jörg@example.org");
    assert!(String::from_utf8_lossy(data).contains("with UTF8SMTP id"));
    assert!(String::from_utf8_lossy(data).contains("Hallo Jörg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_implicit_tls_submission() {
    let server = start_with(
        config(|_| {}),
        Options {
            tls: Some(TlsMode::Implicit),
            submission: true,
            ..Options::default()
        },
    )
    .await;
    let (ok, out) = swaks(
        &server,
        &[
            "--tls-on-connect",
            "--auth",
            "LOGIN",
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            "secret",
            "--from",
            "alice@example.org",
            "--to",
            "bob@example.org",
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("AUTH PLAIN LOGIN"), "{out}");
    // Directory down during AUTH: 454, never 535.
    let (ok, out) = swaks(
        &server,
        &[
            "--tls-on-connect",
            "--auth",
            "PLAIN",
            "--auth-user",
            "down",
            "--auth-password",
            "x",
            "--from",
            "alice@example.org",
            "--to",
            "bob@example.org",
        ],
    )
    .await;
    assert!(!ok && out.contains("454 4.7.0"), "{out}");
    let entries = server.entries().await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0].0.client.tls);
}
