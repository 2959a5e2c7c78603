//! COMPRESS=DEFLATE (RFC 4978) through Python's imaplib with a zlib layer,
//! plain and inside STARTTLS; SETQUOTA (RFC 9208) for quota
//! administrators; the shared namespace (RFC 2342) over ACLs; THREAD
//! REFERENCES (RFC 5256) over real stored messages.

mod common;

use common::{ALICE, BOB, Raw, joined, python, start, start_with, strings};
use mail_directory::{Quota, UserSpec};

/// What every compressed session must have seen (see `compressed_session`
/// in tests/imap_client.py).
fn check_compressed_session(r: &serde_json::Value) {
    assert!(
        strings(&r["caps"]).contains(&"COMPRESS=DEFLATE".to_string()),
        "{r}"
    );
    let second = joined(&r["second"]);
    assert!(
        second.starts_with("NO") && second.contains("[COMPRESSIONACTIVE]"),
        "second COMPRESS: {second}"
    );
    assert!(joined(&r["append"]).contains("APPENDUID"), "{r}");
    assert_eq!(r["exists"], 1, "{r}");
    assert_eq!(r["fetched_ok"], true, "the literal came back intact: {r}");
    let (plain, wire) = (
        r["fetch_plain"].as_u64().expect("plain"),
        r["fetch_wire"].as_u64().expect("wire"),
    );
    assert!(plain > 80_000, "{r}");
    assert!(
        wire * 10 < plain,
        "the FETCH was not compressed: {wire} octets for {plain}"
    );
    assert_eq!(joined(&r["search"]), "1", "{r}");
    assert_eq!(r["idle_push"], "* 2 EXISTS", "{r}");
    assert!(
        strings(&r["idle_done"])
            .last()
            .is_some_and(|l| l.ends_with("OK IDLE terminated")),
        "{r}"
    );
    assert!(
        joined(&r["after_quiet"]).contains("Subject: during idle"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn compress_deflate_with_a_real_client() {
    let s = start(|_| {}).await;
    let r = python(&["compress", &s.port(), ALICE.0, ALICE.1]).await;
    check_compressed_session(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn compress_deflate_inside_starttls() {
    let s = start_with(true, |_| {}).await;
    let r = python(&["compress_tls", &s.port(), ALICE.0, ALICE.1]).await;
    check_compressed_session(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn compress_is_refused_where_it_must_be() {
    let s = start(|_| {}).await;
    let mut raw = Raw::connect(s.addr).await;
    let caps = raw.cmd("c1", "CAPABILITY").await.join("\n");
    assert!(!caps.contains("COMPRESS=DEFLATE"), "before login: {caps}");
    let r = raw.cmd("c2", "COMPRESS DEFLATE").await;
    assert!(r.last().is_some_and(|l| l.starts_with("c2 BAD")), "{r:?}");
    let r = raw
        .cmd("c3", &format!("LOGIN {} {}", ALICE.0, ALICE.1))
        .await;
    assert!(
        r.last().is_some_and(|l| l.contains("COMPRESS=DEFLATE")),
        "{r:?}"
    );
    let r = raw.cmd("c4", "COMPRESS LZMA").await;
    assert!(r.last().is_some_and(|l| l.starts_with("c4 BAD")), "{r:?}");
    // Still uncompressed after the refusals.
    let r = raw.cmd("c5", "NOOP").await;
    assert!(r.last().is_some_and(|l| l.starts_with("c5 OK")), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn setquota_is_for_quota_admins_only() {
    let s = start(|c| c.quota_admins = vec![BOB.0.to_string()]).await;
    let mut alice = Raw::login(s.addr, ALICE).await;
    let caps = alice.cmd("a1", "CAPABILITY").await.join("\n");
    assert!(!caps.contains("QUOTASET"), "{caps}");
    let r = alice.cmd("a2", "SETQUOTA \"\" (STORAGE 1024)").await;
    assert!(
        r.last().is_some_and(|l| l.starts_with("a2 NO [NOPERM]")),
        "{r:?}"
    );
    let r = alice.cmd("a3", "GETQUOTA \"user/bob\"").await;
    assert!(r.last().is_some_and(|l| l.starts_with("a3 NO")), "{r:?}");

    let mut bob = Raw::login(s.addr, BOB).await;
    let caps = bob.cmd("b1", "CAPABILITY").await.join("\n");
    assert!(caps.contains("QUOTASET"), "{caps}");
    let r = bob
        .cmd("b2", "SETQUOTA \"user/alice\" (STORAGE 100 MESSAGE 5)")
        .await;
    assert!(r.last().is_some_and(|l| l.starts_with("b2 OK")), "{r:?}");
    assert!(
        r[0].starts_with("* QUOTA user/alice (STORAGE 0 100 MESSAGE 0 5)"),
        "{r:?}"
    );
    let u = s
        .directory
        .user(ALICE.0)
        .await
        .expect("lookup")
        .expect("alice");
    assert_eq!(u.quota.bytes, Some(100 * 1024));
    assert_eq!(u.quota.messages, Some(5));
    // Alice's next session sees the new limits.
    let mut alice2 = Raw::login(s.addr, ALICE).await;
    let r = alice2.cmd("a4", "GETQUOTA \"\"").await;
    assert!(r[0].contains("(STORAGE 0 100 MESSAGE 0 5)"), "{r:?}");
    // Leaving a resource out removes its limit (RFC 9208 4.1.3).
    let r = bob.cmd("b3", "SETQUOTA \"user/alice\" (MESSAGE 7)").await;
    assert!(
        r[0].starts_with("* QUOTA user/alice (MESSAGE 0 7)"),
        "{r:?}"
    );
    for (tag, cmd, want) in [
        ("b4", "SETQUOTA \"user/alice\" (FILES 3)", "b4 NO"),
        (
            "b5",
            "SETQUOTA \"user/nobody\" (STORAGE 1)",
            "b5 NO [NONEXISTENT]",
        ),
        (
            "b6",
            "SETQUOTA \"elsewhere\" (STORAGE 1)",
            "b6 NO [NONEXISTENT]",
        ),
        ("b7", "SETQUOTA \"user/alice\" (STORAGE 0)", "b7 NO"),
    ] {
        let r = bob.cmd(tag, cmd).await;
        assert!(
            r.last().is_some_and(|l| l.starts_with(want)),
            "{cmd}: {r:?}"
        );
    }
    // An admin's own root is "" as for everyone.
    let r = bob.cmd("b8", "SETQUOTA \"\" (STORAGE 2048)").await;
    assert!(r.last().is_some_and(|l| l.starts_with("b8 OK")), "{r:?}");
    assert!(r[0].starts_with("* QUOTA \"\" (STORAGE 0 2048)"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_namespace_over_acls() {
    let s = start(|c| c.shared_owner = Some("shared".into())).await;
    s.directory
        .add_user(&UserSpec {
            uid: "shared".into(),
            address: "shared@example.test".into(),
            password: Some("shared-secret".into()),
            quota: Quota::default(),
            ..Default::default()
        })
        .await
        .expect("add shared");
    let mut owner = Raw::login(s.addr, ("shared", "shared-secret")).await;
    for (tag, cmd) in [
        ("s1", "CREATE Support"),
        ("s2", "CREATE Support/2026"),
        ("s3", "SETACL Support alice lrswi"),
        ("s4", "SETACL Support/2026 alice lr"),
        ("s5", "CREATE Private"),
    ] {
        let r = owner.cmd(tag, cmd).await;
        assert!(
            r.last()
                .is_some_and(|l| l.starts_with(&format!("{tag} OK"))),
            "{cmd}: {r:?}"
        );
    }
    owner.send(b"s6 APPEND Support {30}\r\n").await;
    assert!(owner.line().await.starts_with('+'));
    let r = {
        owner
            .send(b"Subject: ticket 1\r\n\r\nhelp me\r\n\r\n")
            .await;
        owner.until_tagged("s6").await
    };
    assert!(r.last().is_some_and(|l| l.starts_with("s6 OK")), "{r:?}");

    let mut alice = Raw::login(s.addr, ALICE).await;
    let r = alice.cmd("a1", "NAMESPACE").await;
    assert_eq!(
        r[0],
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared/\" \"/\"))"
    );
    let list = alice.cmd("a2", "LIST \"\" \"*\"").await.join("\n");
    assert!(
        list.contains("(\\Noselect \\HasChildren) \"/\" Shared\n"),
        "{list}"
    );
    assert!(list.contains("\"/\" Shared/Support\n"), "{list}");
    assert!(list.contains("\"/\" Shared/Support/2026"), "{list}");
    assert!(!list.contains("Private"), "no rights, not listed: {list}");
    assert!(!list.contains("Other Users/shared"), "{list}");
    let list = alice.cmd("a3", "LIST \"Shared/\" \"%\"").await.join("\n");
    assert!(list.contains("Shared/Support"), "{list}");
    let r = alice
        .cmd("a4", "STATUS Shared/Support (MESSAGES UIDNEXT)")
        .await;
    assert!(
        r[0].starts_with("* STATUS Shared/Support (MESSAGES 1 UIDNEXT 2)"),
        "{r:?}"
    );
    alice.send(b"a5 APPEND Shared/Support {27}\r\n").await;
    assert!(alice.line().await.starts_with('+'));
    alice.send(b"Subject: ticket 2\r\n\r\nmore\r\n\r\n").await;
    let r = alice.until_tagged("a5").await;
    assert!(
        r.last().is_some_and(|l| l.contains("OK [APPENDUID")),
        "{r:?}"
    );
    let r = alice.cmd("a6", "SELECT Shared/Support").await;
    assert!(r.iter().any(|l| l == "* 2 EXISTS"), "{r:?}");
    assert!(
        r.last().is_some_and(|l| l.contains("OK [READ-WRITE]")),
        "{r:?}"
    );
    let r = alice
        .cmd("a7", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await
        .join("\n");
    assert!(r.contains("ticket 1") && r.contains("ticket 2"), "{r}");
    // Read-only where the ACL says so, refused where it says nothing.
    let r = alice.cmd("a8", "SELECT Shared/Support/2026").await;
    assert!(
        r.last().is_some_and(|l| l.contains("OK [READ-ONLY]")),
        "{r:?}"
    );
    let r = alice.cmd("a9", "SELECT Shared/Private").await;
    assert!(r.last().is_some_and(|l| l.starts_with("a9 NO")), "{r:?}");
    let r = alice.cmd("a10", "CREATE Shared/Mine").await;
    assert!(
        r.last().is_some_and(|l| l.starts_with("a10 NO [NOPERM]")),
        "{r:?}"
    );

    // Bob has no rights at all: nothing listed, nothing opened.
    let mut bob = Raw::login(s.addr, BOB).await;
    let list = bob.cmd("b1", "LIST \"\" \"*\"").await.join("\n");
    assert!(!list.contains("Shared"), "{list}");
    let r = bob.cmd("b2", "STATUS Shared/Support (MESSAGES)").await;
    assert!(r.last().is_some_and(|l| l.starts_with("b2 NO")), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_shared_namespace_by_default() {
    let s = start(|_| {}).await;
    let mut alice = Raw::login(s.addr, ALICE).await;
    let r = alice.cmd("a1", "NAMESPACE").await;
    assert!(r[0].ends_with(" NIL"), "{r:?}");
    let r = alice.cmd("a2", "CREATE Shared").await;
    assert!(r.last().is_some_and(|l| l.starts_with("a2 OK")), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn thread_references_over_stored_messages() {
    let s = start(|_| {}).await;
    let msg = |id: &str, refs: &str, subject: &str, minute: u32| {
        let refs = if refs.is_empty() {
            String::new()
        } else {
            format!("References: {refs}\r\n")
        };
        format!(
            "From: a@example.org\r\nSubject: {subject}\r\nDate: Sat, 28 Nov 2026 10:{minute:02}:00 +0000\r\nMessage-ID: <{id}>\r\n{refs}\r\nbody\r\n"
        )
    };
    for m in [
        msg("root@x", "", "Plans", 0),
        msg("r1@x", "<root@x>", "Re: Plans", 1),
        msg("r2@x", "<root@x> <r1@x>", "Re: Plans", 2),
        msg("r3@x", "<root@x>", "Re: Plans", 3),
        // A reply whose parent is missing and a sibling: a dummy root.
        msg("o1@x", "<gone@x>", "Other", 4),
        msg("o2@x", "<gone@x>", "Other", 5),
        // No references, but the subject joins the first thread.
        msg("late@x", "", "Re: plans", 6),
    ] {
        let r = s.store.deliver(
            m.as_bytes(),
            &[mail_store::Recipient::new(ALICE.0)],
            &mail_store::DeliverOptions::default(),
        );
        assert!(r[0].is_ok(), "{r:?}");
    }
    let mut alice = Raw::login(s.addr, ALICE).await;
    alice.cmd("t1", "SELECT INBOX").await;
    let r = alice.cmd("t2", "THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(r[0], "* THREAD (1 (2 3)(4)(7))((5)(6))", "{r:?}");
    let r = alice
        .cmd("t3", "UID THREAD REFERENCES UTF-8 SUBJECT other")
        .await;
    assert_eq!(r[0], "* THREAD ((5)(6))", "{r:?}");
    let r = alice.cmd("t4", "THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert_eq!(r[0], "* THREAD (1 (2)(3)(4)(7))(5 6)", "{r:?}");
}

/// Reads compressed responses until a line starting with `tag`.
async fn inflate_until(raw: &mut Raw, z: &mut flate2::Decompress, tag: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut plain = Vec::with_capacity(1 << 16);
    loop {
        let text = String::from_utf8_lossy(&plain).to_string();
        if text.lines().any(|l| l.starts_with(tag)) {
            return text;
        }
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(common::WAIT, raw.stream.read(&mut buf))
            .await
            .expect("read timeout")
            .expect("read");
        assert!(n > 0, "closed; got {text}");
        z.decompress_vec(&buf[..n], &mut plain, flate2::FlushDecompress::Sync)
            .expect("server output inflates");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn compressed_input_pipelined_after_compress_and_garbage_closes() {
    use flate2::{Compress, Compression, Decompress, FlushCompress};
    let s = start(|_| {}).await;
    let mut raw = Raw::login(s.addr, ALICE).await;
    let mut zout = Compress::new(Compression::default(), false);
    let mut zin = Decompress::new(false);
    let mut wire = b"z1 COMPRESS DEFLATE\r\n".to_vec();
    let mut packed = Vec::with_capacity(256);
    zout.compress_vec(b"z2 NOOP\r\n", &mut packed, FlushCompress::Sync)
        .expect("compress");
    wire.extend_from_slice(&packed);
    raw.send(&wire).await;
    let ok = raw.line().await;
    assert!(ok.starts_with("z1 OK"), "{ok}");
    let text = inflate_until(&mut raw, &mut zin, "z2 ").await;
    assert!(text.contains("z2 OK"), "{text}");
    // A deflate stream that cannot be decoded ends the session.
    raw.send(b"\xff\xff\xff\xff\xff\xff not deflate").await;
    assert!(raw.closed().await);
}
