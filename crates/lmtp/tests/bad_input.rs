//! Inputs no well-behaved client sends, over a raw socket: each gets the
//! right reply and the session survives where the protocol allows.

mod common;

use common::{Raw, eventually, start};

const MAIL: &str = "MAIL FROM:<sender@example.net>";

/// LHLO, MAIL, one RCPT per address, DATA with 354.
async fn open_data(raw: &mut Raw, rcpts: &[&str]) {
    raw.cmd(MAIL, 250).await;
    for r in rcpts {
        raw.cmd(&format!("RCPT TO:<{r}>"), 250).await;
    }
    raw.cmd("DATA", 354).await;
}

#[tokio::test]
async fn bare_lf_is_refused_for_every_recipient_and_session_survives() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    open_data(&mut raw, &["alice@example.org", "bob@example.org"]).await;
    // An SMTP smuggling attempt: LF.LF must not end the message.
    raw.send(b"Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@x.org>\r\n.\r\n")
        .await;
    for _ in 0..2 {
        let r = raw.reply().await;
        assert_eq!(r.code, 554, "{r:?}");
        assert!(r.text().starts_with("5.6.11"), "{r:?}");
    }
    raw.cmd("NOOP", 250).await;
    // Back in Ready: a new transaction works.
    open_data(&mut raw, &["alice@example.org"]).await;
    raw.send(b"Subject: ok\r\n\r\nfine\r\n.\r\n").await;
    assert_eq!(raw.reply().await.code, 250);
    let d = server.store.deliveries();
    assert_eq!(d.len(), 1, "only the clean message was delivered");
    assert!(!String::from_utf8_lossy(&d[0].body).contains("evil"));
}

#[tokio::test]
async fn nul_in_content_and_in_commands() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    open_data(&mut raw, &["alice@example.org"]).await;
    raw.send(b"Subject: x\r\n\r\nnul\0here\r\n.\r\n").await;
    let r = raw.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("5.6.0")),
        (554, true),
        "{r:?}"
    );
    raw.send(b"NO\0OP\r\n").await;
    let r = raw.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("5.5.2")),
        (500, true),
        "{r:?}"
    );
    raw.cmd("NOOP", 250).await;
}

#[tokio::test]
async fn missing_final_dot_then_close_delivers_nothing() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    open_data(&mut raw, &["alice@example.org"]).await;
    raw.send(b"Subject: cut\r\n\r\nno end marker\r\n.").await;
    drop(raw);
    // The server is still serving others, and nothing was delivered.
    let mut other = Raw::ready(server.addr).await;
    other.cmd("NOOP", 250).await;
    assert!(server.store.deliveries().is_empty());
}

#[tokio::test]
async fn long_lines() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    // A command line over 512 octets (RFC 5321 4.5.3.1.4).
    let r = raw.cmd(&format!("NOOP {}", "x".repeat(600)), 500).await;
    assert!(r.text().starts_with("5.5.2"), "{r:?}");
    // A line far over every limit, arriving in pieces.
    raw.send(&vec![b'y'; 5000]).await;
    raw.send(b"\r\n").await;
    assert_eq!(raw.reply().await.code, 500);
    raw.cmd("NOOP", 250).await;
    // A content line over 998 octets (RFC 5321 4.5.3.1.6).
    open_data(&mut raw, &["alice@example.org"]).await;
    let mut msg = b"Subject: long\r\n\r\n".to_vec();
    msg.extend_from_slice(&[b'z'; 1001]);
    msg.extend_from_slice(b"\r\n.\r\n");
    raw.send(&msg).await;
    let r = raw.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("5.6.0")),
        (554, true),
        "{r:?}"
    );
    raw.cmd("NOOP", 250).await;
    assert!(server.store.deliveries().is_empty());
}

#[tokio::test]
async fn long_lines_accepted_when_configured() {
    let server = start(|c| c.accept_long_lines = true).await;
    let mut raw = Raw::ready(server.addr).await;
    open_data(&mut raw, &["alice@example.org"]).await;
    let mut msg = vec![b'z'; 1500];
    msg.extend_from_slice(b"\r\n.\r\n");
    raw.send(&msg).await;
    assert_eq!(raw.reply().await.code, 250);
}

#[tokio::test]
async fn oversize_content_without_declared_size() {
    let server = start(|c| c.max_message_size = 2048).await;
    let mut raw = Raw::ready(server.addr).await;
    open_data(&mut raw, &["alice@example.org", "bob@example.org"]).await;
    let mut msg = Vec::new();
    for _ in 0..100 {
        msg.extend_from_slice(&[b'a'; 78]);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b".\r\n");
    raw.send(&msg).await;
    for _ in 0..2 {
        let r = raw.reply().await;
        assert_eq!(
            (r.code, r.text().starts_with("5.3.4")),
            (552, true),
            "{r:?}"
        );
    }
    raw.cmd("NOOP", 250).await;
}

#[tokio::test]
async fn commands_out_of_order() {
    let server = start(|_| {}).await;
    let mut raw = Raw::connect(server.addr).await;
    let r = raw.cmd(MAIL, 503).await;
    assert!(r.text().starts_with("5.5.1"), "LHLO first: {r:?}");
    raw.cmd("EHLO client.test", 500).await;
    raw.cmd("HELO client.test", 500).await;
    raw.cmd("LHLO client.test", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 503).await;
    raw.cmd("DATA", 503).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd(MAIL, 503).await;
    raw.cmd("DATA", 503).await; // RFC 2033 4.2
    raw.cmd("RCPT TO:<nobody@example.org>", 550).await;
    raw.cmd("DATA", 503).await; // RFC 2033 4.2
    raw.cmd("RSET", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 503).await;
    raw.cmd("STARTTLS", 502).await;
    raw.cmd("AUTH PLAIN", 502).await;
    raw.cmd("VRFY alice", 252).await;
    raw.cmd("HELP", 214).await;
    raw.cmd("QUIT", 221).await;
    assert!(raw.closed().await);
}

#[tokio::test]
async fn syntax_errors_get_their_codes() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    let r = raw.cmd("FOO bar", 500).await;
    assert!(r.text().starts_with("5.5.1"), "{r:?}");
    let r = raw.cmd("MAIL FROM:<not an address>", 501).await;
    assert!(r.text().starts_with("5.1.7"), "{r:?}");
    raw.cmd(MAIL, 250).await;
    let r = raw.cmd("RCPT TO:<\"unbalanced@example.org>", 501).await;
    assert!(r.text().starts_with("5.1.3"), "{r:?}");
    let r = raw.cmd("RCPT TO:<alice@example.org> FOO=1", 555).await;
    assert!(r.text().starts_with("5.5.4"), "{r:?}");
    let r = raw.cmd("RCPT TO:<jörg@example.org>", 553).await;
    assert!(r.text().starts_with("5.6.7"), "UTF-8 needs SMTPUTF8: {r:?}");
    raw.send(b"RCPT TO:<\xff@example.org>\r\n").await;
    assert_eq!(raw.reply().await.code, 500);
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
}

#[tokio::test]
async fn too_many_recipients() {
    let server = start(|c| c.max_recipients = 2).await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("RCPT TO:<bob@example.org>", 250).await;
    let r = raw.cmd("RCPT TO:<full@example.org>", 452).await;
    assert!(r.text().starts_with("4.5.3"), "{r:?}");
    raw.cmd("DATA", 354).await;
    raw.send(b"Subject: two\r\n\r\n.\r\n").await;
    assert_eq!(raw.reply().await.code, 250);
    assert_eq!(raw.reply().await.code, 250);
    raw.cmd("NOOP", 250).await;
}

#[tokio::test]
async fn garbage_ends_the_session_after_too_many_errors() {
    let server = start(|c| c.max_errors = 5).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\x02\x00\r\n\xff\xfe\r\n")
        .await;
    let mut codes = Vec::new();
    while let Some(r) = raw.try_reply().await {
        codes.push(r.code);
    }
    assert_eq!(codes, [500, 500, 500, 500, 500, 421], "then closed");
}

#[tokio::test]
async fn pipelined_transaction_in_two_writes() {
    let server = start(|_| {}).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.send(
        b"LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n",
    )
    .await;
    let codes: Vec<u16> = [(); 6].iter().map(|_| 0).collect();
    let mut got = Vec::new();
    for _ in codes {
        got.push(raw.reply().await.code);
    }
    assert_eq!(got, [250, 250, 250, 550, 250, 354]);
    raw.send(b"Subject: p\r\n\r\npipelined\r\n.\r\nNOOP\r\nQUIT\r\n")
        .await;
    let mut got = Vec::new();
    while let Some(r) = raw.try_reply().await {
        got.push(r.code);
    }
    assert_eq!(got, [250, 250, 250, 221], "two recipients, NOOP, QUIT");
    assert_eq!(server.store.deliveries().len(), 1);
}

#[tokio::test]
async fn content_sent_with_the_data_command_is_not_lost() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.send(b"DATA\r\nSubject: eager\r\n\r\nbody\r\n.\r\n")
        .await;
    assert_eq!(raw.reply().await.code, 354);
    assert_eq!(raw.reply().await.code, 250);
    let d = server.store.deliveries();
    assert_eq!(d[0].body, b"Subject: eager\r\n\r\nbody\r\n");
}

#[tokio::test]
async fn bdat_chunks() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("RCPT TO:<full@example.org>", 250).await;
    raw.send(b"BDAT 18\r\nSubject: c\r\n\r\n.dot").await;
    let r = raw.reply().await;
    assert_eq!(r.code, 250, "{r:?}");
    raw.cmd("DATA", 503).await;
    raw.send(b"BDAT 7 LAST\r\n body\r\nNOOP\r\n").await;
    assert_eq!(raw.reply().await.code, 250);
    assert_eq!(raw.reply().await.code, 452);
    assert_eq!(raw.reply().await.code, 250, "NOOP after the chunk");
    let d = server.store.deliveries();
    assert_eq!(
        d[0].body, b"Subject: c\r\n\r\n.dot body\r\n",
        "no dot-unstuffing in BDAT"
    );
    // A refused BDAT still consumes its octets.
    raw.send(b"BDAT 6 LAST\r\nQUIT\r\n").await;
    assert_eq!(raw.reply().await.code, 503);
    raw.cmd("NOOP", 250).await;
}

#[tokio::test]
async fn command_timeout_closes_with_421() {
    let server = start(|c| c.command_timeout = std::time::Duration::from_millis(300)).await;
    let mut raw = Raw::ready(server.addr).await;
    let r = raw.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("4.4.2")),
        (421, true),
        "{r:?}"
    );
    assert!(raw.closed().await);
}

#[tokio::test]
async fn shutdown_says_421_to_idle_sessions() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    server.shutdown.trigger();
    let r = raw.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("4.3.2")),
        (421, true),
        "{r:?}"
    );
    let drained = server.shutdown.drain(common::WAIT).await;
    assert_eq!(drained, 0);
}

#[tokio::test]
async fn traceparent_reaches_the_store() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    raw.cmd(&format!("{MAIL} X-TRACEPARENT={tp}"), 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("DATA", 354).await;
    raw.send(b"Subject: t\r\n\r\n.\r\n").await;
    assert_eq!(raw.reply().await.code, 250);
    let store = server.store.clone();
    assert!(eventually(|| !store.deliveries().is_empty()).await);
    assert_eq!(
        store.deliveries()[0].envelope.traceparent.as_deref(),
        Some(tp)
    );
    raw.cmd(&format!("{MAIL} X-TRACEPARENT=00-bad"), 501).await;
}

#[tokio::test]
async fn delivery_id_is_announced_and_reaches_the_store() {
    let server = start(|_| {}).await;
    let mut raw = Raw::connect(server.addr).await;
    let lhlo = raw.cmd("LHLO relay.test", 250).await;
    assert!(lhlo.lines.iter().any(|l| l == "X-DELIVERY-ID"), "{lhlo:?}");
    raw.cmd(
        &format!("{MAIL} X-DELIVERY-ID=mta-inbound:0123ABCD+2B1"),
        250,
    )
    .await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("DATA", 354).await;
    raw.send(b"Subject: t\r\n\r\n.\r\n").await;
    assert_eq!(raw.reply().await.code, 250);
    let store = server.store.clone();
    assert!(eventually(|| !store.deliveries().is_empty()).await);
    assert_eq!(
        store.deliveries()[0].envelope.delivery_id.as_deref(),
        Some("mta-inbound:0123ABCD+1")
    );
    raw.cmd(&format!("{MAIL} X-DELIVERY-ID=+zz"), 501).await;
}

#[tokio::test]
async fn data_timeout_mid_message_closes_with_421_and_delivers_nothing() {
    let server = start(|c| c.data_timeout = std::time::Duration::from_millis(300)).await;
    let mut raw = Raw::ready(server.addr).await;
    open_data(&mut raw, &["alice@example.org"]).await;
    raw.send(b"Subject: stalled\r\n\r\nhalf a mess").await;
    let r = raw.reply().await;
    assert_eq!(
        (r.code, r.text().starts_with("4.4.2")),
        (421, true),
        "{r:?}"
    );
    assert!(raw.closed().await);
    assert!(server.store.deliveries().is_empty());
}
