//! Inputs no well-behaved client sends, over a raw socket: each gets the
//! right reply and nothing is queued half-written (no queue file, no
//! temporary file left).

mod common;

use std::time::Duration;

use common::{Raw, Server, assert_reply, eventually, start};
use mail_smtp_proto::Body;

async fn data(raw: &mut Raw, content: &[u8]) -> common::WireReply {
    raw.cmd("DATA", 354).await;
    raw.send(content).await;
    raw.reply().await
}

async fn nothing_queued(server: &Server) {
    assert!(server.files().is_empty(), "{:?}", server.files());
    assert!(
        eventually(|| server.temp_files().is_empty()).await,
        "temporary files left: {:?}",
        server.temp_files()
    );
}

#[tokio::test]
async fn bare_lf_and_smuggling_are_refused() {
    let server = start(|_| {}).await;
    let mut raw = Raw::envelope(server.addr, "").await;
    let r = data(&mut raw, b"Subject: a\r\n\r\nline\nother\r\n.\r\n").await;
    assert_reply(&r, 554, "5.6.11");
    // SMTP smuggling: LF.LF (or LF.CRLF) does not end the message, and the
    // "smuggled" second message is part of the refused first one.
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    let r = data(
        &mut raw,
        b"Subject: a\r\n\r\nx\n.\nMAIL FROM:<admin@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nforged\r\n.\r\n",
    )
    .await;
    assert_reply(&r, 554, "5.6.11");
    raw.cmd("NOOP", 250).await;
    nothing_queued(&server).await;
}

#[tokio::test]
async fn missing_final_dot_queues_nothing() {
    let server = start(|cfg| cfg.memory_threshold = 16).await;
    let mut raw = Raw::envelope(server.addr, "").await;
    raw.cmd("DATA", 354).await;
    raw.send(b"Subject: cut\r\n\r\nthis message never ends, and spills to a file\r\n")
        .await;
    drop(raw);
    nothing_queued(&server).await;
    // The server is still fine.
    let mut raw = Raw::envelope(server.addr, "").await;
    let r = data(&mut raw, b"Subject: ok\r\n\r\n..dot\r\n.\r\n").await;
    assert_reply(&r, 250, "2.0.0");
    let entries = server.entries().await;
    assert!(String::from_utf8_lossy(&entries[0].1).ends_with("\r\n\r\n.dot\r\n"));
}

#[tokio::test]
async fn long_lines_and_nul_are_refused() {
    let server = start(|_| {}).await;
    let mut raw = Raw::envelope(server.addr, "").await;
    let mut msg = b"Subject: long\r\n\r\n".to_vec();
    msg.extend_from_slice(&[b'x'; 1001]);
    msg.extend_from_slice(b"\r\n.\r\n");
    assert_reply(&data(&mut raw, &msg).await, 554, "5.6.0");
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    assert_reply(
        &data(&mut raw, b"Subject: nul\r\n\r\na\0b\r\n.\r\n").await,
        554,
        "5.6.0",
    );
    // A command line over the limit (RFC 5321 4.5.3.1.4).
    let long = format!("NOOP {}", "y".repeat(3000));
    assert_reply(&raw.cmd(&long, 500).await, 500, "5.5.2");
    raw.cmd("NOOP", 250).await;
    nothing_queued(&server).await;

    let lenient = start(|cfg| cfg.accept_long_lines = true).await;
    let mut raw = Raw::envelope(lenient.addr, "").await;
    assert_reply(&data(&mut raw, &msg).await, 250, "2.0.0");
}

#[tokio::test]
async fn oversize_is_refused_with_552() {
    let server = start(|cfg| cfg.max_message_size = 2048).await;
    let mut raw = Raw::ready(server.addr).await;
    let r = raw.cmd("MAIL FROM:<bob@example.net> SIZE=5000", 552).await;
    assert_reply(&r, 552, "5.3.4");
    raw.cmd("MAIL FROM:<bob@example.net> SIZE=1000", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "z\r\n".repeat(1500));
    assert_reply(&data(&mut raw, big.as_bytes()).await, 552, "5.3.4");
    // BDAT: refused as soon as a chunk crosses the limit.
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.send(b"BDAT 1500\r\n").await;
    raw.send(&[b'a'; 1500]).await;
    assert_eq!(raw.reply().await.code, 250);
    // Refused at once, before the client sends the chunk's octets,
    // which are then read and dropped (QUITs, not commands).
    raw.send(b"BDAT 1500 LAST\r\n").await;
    assert_reply(&raw.reply().await, 552, "5.3.4");
    raw.send(&b"QUIT\r\n".repeat(250)).await;
    // The transaction is over: a further BDAT is out of sequence.
    raw.send(b"BDAT 3 LAST\r\nabc").await;
    assert_eq!(raw.reply().await.code, 503);
    raw.cmd("NOOP", 250).await;
    nothing_queued(&server).await;
}

#[tokio::test]
async fn invalid_addresses_and_sequence_errors() {
    let server = start(|_| {}).await;
    let mut raw = Raw::connect(server.addr).await;
    // Before EHLO: no enhanced status codes (RFC 2034).
    let r = raw.cmd("MAIL FROM:<bob@example.net>", 503).await;
    assert!(!r.text().starts_with("5.5.1"), "{r:?}");
    raw.cmd("EHLO client.test", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 503).await;
    raw.cmd("DATA", 503).await;
    assert_reply(&raw.cmd("MAIL FROM:<a@@b.org>", 501).await, 501, "5.1.7");
    assert_reply(
        &raw.cmd("MAIL FROM:bob@example.net", 501).await,
        501,
        "5.1.7",
    );
    assert_reply(
        &raw.cmd("MAIL FROM:<bob@example.net> FOO=1", 555).await,
        555,
        "5.5.4",
    );
    assert_reply(
        &raw.cmd("MAIL FROM:<bob@example.net> BODY=BINARYMIME", 555)
            .await,
        555,
        "5.5.4",
    );
    assert_reply(
        &raw.cmd("MAIL FROM:<jörg@example.org>", 553).await,
        553,
        "5.6.7",
    );
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("MAIL FROM:<bob@example.net>", 503).await;
    assert_reply(&raw.cmd("RCPT TO:<no-at-sign>", 501).await, 501, "5.1.3");
    assert_reply(&raw.cmd("RCPT TO:<>", 501).await, 501, "5.1.3");
    assert_reply(
        &raw.cmd("RCPT TO:<nobody@example.org>", 550).await,
        550,
        "5.1.1",
    );
    assert_reply(&raw.cmd("RCPT TO:<x@remote.test>", 550).await, 550, "5.7.1");
    assert_reply(
        &raw.cmd("RCPT TO:<disabled@example.org>", 550).await,
        550,
        "5.2.1",
    );
    // Directory down: a temporary failure, never 5xx.
    assert_reply(
        &raw.cmd("RCPT TO:<flaky@example.org>", 451).await,
        451,
        "4.3.0",
    );
    // No valid recipient: DATA fails.
    assert_reply(&raw.cmd("DATA", 554).await, 554, "5.5.1");
    raw.cmd("RSET", 250).await;
    raw.cmd("VRFY alice", 252).await;
    raw.cmd("EXPN staff", 502).await;
    raw.cmd("STARTTLS", 502).await;
    raw.cmd("QUIT", 221).await;
    nothing_queued(&server).await;
}

#[tokio::test]
async fn eight_bit_without_8bitmime() {
    let msg = "Subject: caf\u{e9}\r\n\r\nna\u{ef}ve\r\n.\r\n";
    // Default: accepted and recorded as 8BITMIME.
    let server = start(|_| {}).await;
    let mut raw = Raw::envelope(server.addr, "").await;
    assert_reply(&data(&mut raw, msg.as_bytes()).await, 250, "2.0.0");
    assert_eq!(server.entries().await[0].0.body, Some(Body::EightBitMime));
    // Strict: refused with 554 5.6.1, unless declared.
    let strict =
        start(|cfg| cfg.eight_bit_without_8bitmime = mail_mta::EightBitPolicy::Reject).await;
    let mut raw = Raw::envelope(strict.addr, "").await;
    assert_reply(&data(&mut raw, msg.as_bytes()).await, 554, "5.6.1");
    nothing_queued(&strict).await;
    raw.cmd("MAIL FROM:<bob@example.net> BODY=8BITMIME", 250)
        .await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    assert_reply(&data(&mut raw, msg.as_bytes()).await, 250, "2.0.0");
}

#[tokio::test]
async fn improper_pipelining_is_dropped() {
    let server = start(|_| {}).await;
    // Content sent before the 354.
    let mut raw = Raw::envelope(server.addr, "").await;
    raw.send(b"DATA\r\nSubject: early\r\n\r\nhi\r\n.\r\n").await;
    assert_reply(&raw.reply().await, 554, "5.5.0");
    assert!(raw.closed().await);
    // Commands pipelined behind EHLO, before its reply.
    let mut raw = Raw::connect(server.addr).await;
    raw.send(b"EHLO client.test\r\nMAIL FROM:<bob@example.net>\r\n")
        .await;
    assert_eq!(raw.reply().await.code, 554);
    assert!(raw.closed().await);
    // Pipelining after HELO (not announced).
    let mut raw = Raw::connect(server.addr).await;
    raw.cmd("HELO client.test", 250).await;
    raw.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.org>\r\n")
        .await;
    assert_eq!(raw.reply().await.code, 554);
    assert!(raw.closed().await);
    nothing_queued(&server).await;
    // Proper pipelining after EHLO works (RFC 2920).
    let mut raw = Raw::ready(server.addr).await;
    raw.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        .await;
    let codes: Vec<u16> = [
        raw.reply().await,
        raw.reply().await,
        raw.reply().await,
        raw.reply().await,
    ]
    .iter()
    .map(|r| r.code)
    .collect();
    assert_eq!(codes, [250, 550, 250, 354]);
    raw.send(b"Subject: ok\r\n\r\nhi\r\n.\r\nQUIT\r\n").await;
    assert_eq!(raw.reply().await.code, 250);
    assert_eq!(raw.reply().await.code, 221);
    assert_eq!(server.files().len(), 1);
}

#[tokio::test]
async fn slow_clients_time_out_and_queue_nothing() {
    let server = start(|cfg| {
        cfg.command_timeout = Duration::from_secs(1);
        cfg.data_timeout = Duration::from_secs(1);
    })
    .await;
    // Idle between commands (RFC 5321 4.5.3.2.7).
    let mut raw = Raw::ready(server.addr).await;
    assert_reply(&raw.reply().await, 421, "4.4.2");
    assert!(raw.closed().await);
    // Stalled inside DATA.
    let mut raw = Raw::envelope(server.addr, "").await;
    raw.cmd("DATA", 354).await;
    raw.send(b"Subject: stall\r\n\r\nhalf").await;
    assert_reply(&raw.reply().await, 421, "4.4.2");
    nothing_queued(&server).await;
    // Trickling, each piece well within the data timeout, still hits the
    // message timeout.
    let server = start(|cfg| {
        cfg.data_timeout = Duration::from_secs(10);
        cfg.message_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut raw = Raw::envelope(server.addr, "").await;
    raw.cmd("DATA", 354).await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1000) {
        if !raw.try_send(b"x\r\n").await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_reply(&raw.reply().await, 421, "4.4.2");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "message timeout, not the data timeout"
    );
    nothing_queued(&server).await;
}

#[tokio::test]
async fn limits_per_transaction_and_session() {
    let server = start(|cfg| {
        cfg.max_recipients = 2;
        cfg.max_errors = 4;
    })
    .await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("RCPT TO:<ALICE@example.org>", 250).await; // duplicate, kept once
    raw.cmd("RCPT TO:<bob@example.org>", 250).await;
    assert_reply(
        &raw.cmd("RCPT TO:<carol@example.org>", 452).await,
        452,
        "4.5.3",
    );
    assert_reply(
        &data(&mut raw, b"Subject: two\r\n\r\n.\r\n").await,
        250,
        "2.0.0",
    );
    assert_eq!(server.entries().await[0].0.recipients.len(), 2);
    // Address harvesting: refused recipients count as errors.
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    for u in ["a", "b", "c"] {
        raw.cmd(&format!("RCPT TO:<{u}@example.org>"), 550).await;
    }
    raw.send(b"RCPT TO:<d@example.org>\r\n").await;
    assert_eq!(raw.reply().await.code, 550);
    assert_reply(&raw.reply().await, 421, "4.7.0");
    assert!(raw.closed().await);
}

#[tokio::test]
async fn rate_limits_per_client_address() {
    let server = start(|cfg| {
        cfg.connections_per_minute = 3;
        cfg.messages_per_minute = 1;
        cfg.max_connections_per_ip = 2;
    })
    .await;
    let mut first = Raw::envelope(server.addr, "").await;
    assert_reply(
        &data(&mut first, b"Subject: 1\r\n\r\n.\r\n").await,
        250,
        "2.0.0",
    );
    assert_reply(
        &first.cmd("MAIL FROM:<bob@example.net>", 451).await,
        451,
        "4.7.1",
    );
    let _second = Raw::connect(server.addr).await;
    // Third concurrent connection.
    let mut third = Raw::open(server.addr).await;
    assert_reply(&third.reply().await, 421, "4.7.0");
    assert!(third.closed().await);
    first.cmd("QUIT", 221).await;
    assert!(first.closed().await);
    // A third admitted connection once the first is gone (refusals for
    // concurrency do not count against the rate); the server notices the
    // close asynchronously, so poll.
    let mut admitted = None;
    for _ in 0..100 {
        let mut c = Raw::open(server.addr).await;
        let r = c.reply().await;
        if r.code == 220 {
            admitted = Some(c);
            break;
        }
        assert!(r.text().contains("Too many connections"), "{r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted.is_some(), "first connection never released");
    let mut fifth = Raw::open(server.addr).await;
    let r = fifth.reply().await;
    assert_reply(&r, 421, "4.7.0");
    assert!(r.text().contains("rate"), "{r:?}");
    // Exempt networks skip the limits.
    let exempt = start(|cfg| {
        cfg.connections_per_minute = 1;
        cfg.rate_limit_exempt = vec!["127.0.0.0/8".parse().expect("net")];
    })
    .await;
    for _ in 0..3 {
        Raw::connect(exempt.addr).await;
    }
}

#[tokio::test]
async fn content_filter_verdicts_and_bdat() {
    let server = start(|_| {}).await;
    let mut raw = Raw::envelope(server.addr, "").await;
    assert_reply(
        &data(&mut raw, b"Subject: x\r\n\r\nEICAR-VIRUS\r\n.\r\n").await,
        554,
        "5.7.0",
    );
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    assert_reply(
        &data(&mut raw, b"Subject: x\r\n\r\nTEMPFAIL-ME\r\n.\r\n").await,
        451,
        "4.7.0",
    );
    nothing_queued(&server).await;
    // BDAT (RFC 3030): chunks, no dot-stuffing; bare LF still refused.
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<dave@example.org>", 250).await;
    raw.send(b"BDAT 15\r\nSubject: b\r\n\r\n.").await;
    assert_eq!(raw.reply().await.code, 250);
    raw.send(b"BDAT 5 LAST\r\nx\r\n\r\n").await;
    assert_reply(&raw.reply().await, 250, "2.0.0");
    raw.cmd("MAIL FROM:<bob@example.net>", 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.send(b"BDAT 5 LAST\r\na\nb\r\n").await;
    assert_reply(&raw.reply().await, 554, "5.6.11");
    // BDAT without a transaction: the chunk is read and discarded.
    raw.send(b"BDAT 6 LAST\r\nQUIT\r\n").await;
    assert_eq!(raw.reply().await.code, 503);
    raw.cmd("NOOP", 250).await;
    let entries = server.entries().await;
    assert_eq!(entries.len(), 1);
    let (e, d) = &entries[0];
    assert!(String::from_utf8_lossy(d).ends_with("Subject: b\r\n\r\n.x\r\n\r\n"));
    // Routing rewrote dave: the original recipient is kept as ORCPT.
    assert_eq!(e.recipients[0].address, "dave.jones@example.org");
    assert_eq!(e.recipients[0].orcpt_text(), "rfc822;dave@example.org");
}

#[tokio::test]
async fn shutdown_tells_idle_clients_and_drains() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    server.shutdown.trigger();
    assert_reply(&raw.reply().await, 421, "4.3.2");
    assert!(raw.closed().await);
    assert_eq!(server.shutdown.drain(Duration::from_secs(5)).await, 0);
}
