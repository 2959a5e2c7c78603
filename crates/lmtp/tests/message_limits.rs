//! The limits LMTP shares with SMTP through `mail_queue::intake`, over a
//! raw socket with exact reply codes: a BDAT chunk over the size limit is
//! refused before it is read (RFC 3030 2, RFC 1870), and a message's
//! content must arrive within `message_timeout` however it is trickled.

mod common;

use std::time::{Duration, Instant};

use common::{Raw, WireReply, start};

const MAIL: &str = "MAIL FROM:<sender@example.net>";

fn assert_reply(r: &WireReply, code: u16, status: &str) {
    assert_eq!(
        (r.code, r.text().starts_with(status)),
        (code, true),
        "expected {code} {status}, got {r:?}"
    );
}

#[tokio::test]
async fn bdat_over_the_size_limit_is_refused_before_its_octets() {
    let server = start(|c| c.max_message_size = 2048).await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("RCPT TO:<bob@example.org>", 250).await;
    raw.send(b"BDAT 1500\r\n").await;
    raw.send(&[b'a'; 1500]).await;
    assert_reply(&raw.reply().await, 250, "2.0.0");

    // BDAT LAST would make 3000 octets: refused at once, before a single
    // octet of the chunk is sent, once per accepted recipient (RFC 2033).
    raw.send(b"BDAT 1500 LAST\r\n").await;
    assert_reply(&raw.reply().await, 552, "5.3.4");
    assert_reply(&raw.reply().await, 552, "5.3.4");
    // The chunk's octets are read and dropped, not taken for commands:
    // they spell QUITs, which would end the session with 221.
    raw.send(&b"QUIT\r\n".repeat(250)).await;
    raw.cmd("RSET", 250).await;
    // The transaction is over: a further BDAT is out of sequence.
    raw.send(b"BDAT 3 LAST\r\nabc").await;
    assert_eq!(raw.reply().await.code, 503);
    assert!(server.store.deliveries().is_empty());

    // A first, non-final chunk over the limit: one 552, then the session
    // goes on and a message within the limit is delivered.
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("RCPT TO:<bob@example.org>", 250).await;
    raw.send(b"BDAT 4096\r\n").await;
    assert_reply(&raw.reply().await, 552, "5.3.4");
    raw.send(&[b'z'; 4096]).await;
    raw.cmd("NOOP", 250).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.send(b"BDAT 19 LAST\r\nSubject: ok\r\n\r\nok\r\n").await;
    assert_reply(&raw.reply().await, 250, "2.");
    let d = server.store.deliveries();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].body, b"Subject: ok\r\n\r\nok\r\n");
}

/// Sends `piece` every 100 ms for about `spell`, each well within the data
/// timeout; stops early if the server closed the connection.
async fn trickle(raw: &mut Raw, piece: &[u8], spell: Duration) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < spell {
        tick.tick().await;
        if !raw.try_send(piece).await {
            return;
        }
    }
}

#[tokio::test]
async fn trickled_data_hits_the_message_timeout_with_421() {
    let server = start(|c| {
        c.data_timeout = Duration::from_secs(10);
        c.message_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    raw.cmd("DATA", 354).await;
    let started = Instant::now();
    trickle(&mut raw, b"x\r\n", Duration::from_millis(1000)).await;
    assert_reply(&raw.reply().await, 421, "4.4.2");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the message timeout, not the 10 s data timeout: {:?}",
        started.elapsed()
    );
    assert!(raw.closed().await);
    assert!(server.store.deliveries().is_empty());
}

#[tokio::test]
async fn the_message_timeout_spans_every_bdat_chunk() {
    let server = start(|c| {
        c.data_timeout = Duration::from_secs(10);
        c.message_timeout = Duration::from_millis(1500);
    })
    .await;
    let mut raw = Raw::ready(server.addr).await;
    raw.cmd(MAIL, 250).await;
    raw.cmd("RCPT TO:<alice@example.org>", 250).await;
    let started = Instant::now();
    // Small chunks, each answered at once, for most of the deadline.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < Duration::from_millis(1000) {
        tick.tick().await;
        raw.send(b"BDAT 3\r\nabc").await;
        assert_reply(&raw.reply().await, 250, "2.0.0");
    }
    // Then a chunk that stalls: the deadline set by the first chunk ends
    // it, long before the data timeout.
    raw.send(b"BDAT 100 LAST\r\nhalf").await;
    assert_reply(&raw.reply().await, 421, "4.4.2");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the message timeout, not the 10 s data timeout: {:?}",
        started.elapsed()
    );
    assert!(raw.closed().await);
    assert!(server.store.deliveries().is_empty());
}

#[tokio::test]
async fn rset_noop_vrfy_help_starttls_answers() {
    let server = start(|_| {}).await;
    let mut raw = Raw::ready(server.addr).await;
    assert_reply(&raw.cmd("NOOP", 250).await, 250, "2.0.0");
    assert_reply(&raw.cmd("RSET", 250).await, 250, "2.0.0");
    assert_reply(&raw.cmd("VRFY alice", 252).await, 252, "2.5.0");
    let help = raw.cmd("HELP", 214).await;
    assert!(
        help.text().starts_with("2.0.0 LMTP (RFC 2033): LHLO"),
        "{help:?}"
    );
    // No certificate on this listener: STARTTLS is not offered.
    assert_reply(&raw.cmd("STARTTLS", 502).await, 502, "5.5.1");
}
