//! The server driven by real clients: Python's imaplib (tests/imap_client.py)
//! and curl, against a real store in a temporary directory.

mod common;

use std::time::{Duration, Instant};

use common::{ALICE, joined, python, run, start, start_with, strings};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread")]
async fn imaplib_exercises_every_common_command() {
    let s = start(|_| {}).await;
    let r = python(&["basic", &s.port(), ALICE.0, ALICE.1]).await;
    let caps = strings(&r["caps_after"]);
    for c in [
        "IMAP4REV1",
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "CONDSTORE",
        "QUOTA",
        "ACL",
        "LIST-EXTENDED",
        "SPECIAL-USE",
    ] {
        assert!(caps.contains(&c.to_string()), "{c} missing in {caps:?}");
    }
    assert_eq!(r["create_again"], "NO");
    let list = joined(&r["list"]);
    for name in ["INBOX", "Work", "Work/Projects", "Entw&APw-rfe"] {
        assert!(
            list.contains(&format!("\"/\" {name}")),
            "{name} not in {list}"
        );
    }
    assert!(list.contains("(\\HasChildren) \"/\" Work"), "{list}");
    assert!(!joined(&r["list_percent"]).contains("Work/Projects"));
    assert!(joined(&r["lsub"]).contains("Work"));
    assert!(
        joined(&r["append"]).contains("APPENDUID"),
        "{}",
        r["append"]
    );
    assert_eq!(r["select_exists"], 4);
    let flags = joined(&r["fetch_flags"]);
    assert!(
        flags.contains("UID 1 FLAGS (\\Flagged \\Recent)") || flags.contains("FLAGS (\\Flagged"),
        "{flags}"
    );
    let env = joined(&r["fetch_envelope"]);
    assert!(env.contains("\"Hello IMAP\""), "{env}");
    assert!(
        env.contains("((\"Carol\" NIL \"carol\" \"example.org\"))"),
        "{env}"
    );
    assert!(env.contains("BODYSTRUCTURE ((\"TEXT\" \"PLAIN\""), "{env}");
    assert!(env.contains("\"MIXED\""), "{env}");
    let body = joined(&r["fetch_body"]);
    assert!(body.contains("first part"), "{body}");
    assert!(body.contains("Subject: Hello IMAP"), "{body}");
    assert!(
        body.contains("hello world"),
        "BINARY decodes base64: {body}"
    );
    assert!(body.contains("BODY[]<0> {10}"), "{body}");
    assert!(
        joined(&r["flags_after_body"]).contains("\\Seen"),
        "BODY[] sets \\Seen: {}",
        r["flags_after_body"]
    );
    assert!(joined(&r["store"]).contains("$Important"));
    assert_eq!(joined(&r["search_flagged"]), "1");
    assert_eq!(joined(&r["search_text"]), "2 3 4");
    assert_eq!(joined(&r["search_from"]), "1");
    assert_eq!(joined(&r["search_complex"]), "2 4");
    assert!(joined(&r["copy"]).contains("COPYUID"), "{}", r["copy"]);
    assert_eq!(r["copy_missing"], "NO");
    assert!(joined(&r["copy_missing_text"]).contains("TRYCREATE"));
    // The untagged OK [COPYUID validity 4 uid] before the EXPUNGE (RFC 6851 4.3).
    assert!(joined(&r["move"]).contains(" 4 "), "{}", r["move"]);
    assert_eq!(joined(&r["expunge"]), "3", "message 3 was \\Deleted");
    assert_eq!(joined(&r["after_expunge"]), "1 (UID 1)\n2 (UID 2)");
    let status = joined(&r["status"]);
    assert!(
        status.contains("MESSAGES 2") && status.contains("SIZE"),
        "{status}"
    );
    assert!(joined(&r["namespace"]).contains("Other Users/"));
    let quota = joined(&r["quotaroot"]);
    assert!(
        quota.contains("STORAGE") && quota.contains("MESSAGE"),
        "{quota}"
    );
    assert!(joined(&r["myrights"]).contains("lrswipkxtea"), "{r}");
    assert!(joined(&r["list_after_rename"]).contains("Work/Done"));
    assert_eq!(r["readonly_store"], "NO");
    assert!(
        joined(&r["sort"]).starts_with("2 1") || !joined(&r["sort"]).is_empty(),
        "{}",
        r["sort"]
    );
    assert!(joined(&r["thread"]).contains('('), "{}", r["thread"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_expunges_and_mail_reach_other_sessions() {
    let s = start(|_| {}).await;
    let r = python(&["cross", &s.port(), ALICE.0, ALICE.1]).await;
    let modseq = |s: &str| -> u64 {
        let i = s.find("MODSEQ (").expect("MODSEQ in response") + 8;
        s[i..]
            .split(')')
            .next()
            .expect("number")
            .parse()
            .expect("modseq")
    };
    let before = r["before"].as_str().expect("before");
    let pushed = joined(&r["pushed"]);
    assert!(
        pushed.contains("\\Flagged"),
        "flag change not pushed: {pushed}"
    );
    assert!(
        modseq(&pushed) > modseq(before),
        "modseq did not rise: {before} -> {pushed}"
    );
    assert_eq!(joined(&r["expunged"]), "2");
    assert_eq!(joined(&r["exists"]), "3");
    assert_eq!(strings(&r["after"]).len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idling_client_learns_of_a_delivery_within_a_second() {
    let s = start(|_| {}).await;
    s.deliver(ALICE.0, "first", "one");
    let script = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"),
    )
    .join("tests/imap_client.py");
    let mut child = tokio::process::Command::new("python3")
        .args([
            script.to_str().expect("path"),
            "idle",
            &s.port(),
            ALICE.0,
            ALICE.1,
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(common::WAIT, out.next_line())
        .await
        .expect("timeout")
        .expect("read");
    assert_eq!(first.as_deref(), Some("IDLING"));
    let store = s.store.clone();
    let delivered_at = Instant::now();
    tokio::task::spawn_blocking(move || {
        let r = store.deliver(
            b"Subject: second\r\n\r\ntwo\r\n",
            &[mail_store::Recipient::new("alice")],
            &mail_store::DeliverOptions::default(),
        );
        assert!(r[0].is_ok());
    })
    .await
    .expect("deliver");
    let line = tokio::time::timeout(common::WAIT, out.next_line())
        .await
        .expect("timeout")
        .expect("read")
        .expect("line");
    let latency = delivered_at.elapsed();
    let r: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(
        r["pushed"].as_str().map(str::trim_end),
        Some("* 2 EXISTS"),
        "{r}"
    );
    assert!(
        latency < Duration::from_secs(1),
        "IDLE push took {latency:?}"
    );
    assert!(joined(&r["done"]).contains("OK IDLE terminated"), "{r}");
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_delayed_and_look_the_same() {
    let s = start(|c| c.auth_failure_delay = Duration::from_millis(300)).await;
    let r = python(&["login_fail", &s.port(), ALICE.0, ALICE.1]).await;
    let results = strings(&r["results"]);
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0], results[1],
        "unknown user and wrong password must look alike"
    );
    assert!(results[0].contains("AUTHENTICATIONFAILED"), "{results:?}");
    assert!(
        r["elapsed"].as_f64().expect("elapsed") >= 0.6,
        "not delayed: {r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_then_authenticate_plain() {
    let s = start_with(true, |_| {}).await;
    let r = python(&["starttls", &s.port(), ALICE.0, ALICE.1]).await;
    let plain = strings(&r["caps_plain"]);
    assert!(
        plain.contains(&"STARTTLS".to_string()) && plain.contains(&"LOGINDISABLED".to_string()),
        "{plain:?}"
    );
    assert!(
        r["plain_login"]
            .as_str()
            .expect("str")
            .contains("PRIVACYREQUIRED"),
        "{r}"
    );
    let tls = strings(&r["caps_tls"]);
    assert!(
        tls.contains(&"AUTH=PLAIN".to_string()) && !tls.contains(&"STARTTLS".to_string()),
        "{tls:?}"
    );
    assert_eq!(r["state"], "AUTH");
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_lists_and_fetches() {
    let s = start(|_| {}).await;
    s.deliver(ALICE.0, "curl-one", "hello from curl");
    let user = format!("{}:{}", ALICE.0, ALICE.1);
    let base = format!("imap://127.0.0.1:{}", s.port());
    let list = run(
        "curl",
        &["-s", "--max-time", "20", "-u", &user, &format!("{base}/")],
    )
    .await;
    assert!(list.contains("INBOX"), "{list}");
    let msg = run(
        "curl",
        &[
            "-s",
            "--max-time",
            "20",
            "-u",
            &user,
            &format!("{base}/INBOX;UID=1"),
        ],
    )
    .await;
    assert!(
        msg.contains("Subject: curl-one") && msg.contains("hello from curl"),
        "{msg}"
    );
    let search = run(
        "curl",
        &[
            "-s",
            "--max-time",
            "20",
            "-u",
            &user,
            &format!("{base}/INBOX?SUBJECT%20curl-one"),
        ],
    )
    .await;
    assert!(search.contains("SEARCH 1"), "{search}");
}
