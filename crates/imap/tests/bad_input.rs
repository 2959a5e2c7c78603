//! Bad input from issue 5: each gets BAD or NO with a clear text and the
//! session survives where RFC 3501 says it should.

mod common;

use common::{ALICE, Raw, start};

fn tagged<'a>(lines: &'a [String], tag: &str) -> &'a str {
    lines
        .last()
        .filter(|l| l.starts_with(&format!("{tag} ")))
        .map_or("", |s| s.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_in_the_wrong_state() {
    let s = start(|_| {}).await;
    let mut c = Raw::connect(s.addr).await;
    let r = c.cmd("a1", "SELECT INBOX").await;
    assert!(
        tagged(&r, "a1").starts_with("a1 BAD") && r[0].contains("login"),
        "{r:?}"
    );
    let r = c.cmd("a2", "FETCH 1 FLAGS").await;
    assert!(tagged(&r, "a2").starts_with("a2 BAD"), "{r:?}");
    let r = c.cmd("a3", &format!("LOGIN {} {}", ALICE.0, ALICE.1)).await;
    assert!(tagged(&r, "a3").starts_with("a3 OK"), "{r:?}");
    let r = c.cmd("a4", "FETCH 1 FLAGS").await;
    assert!(
        tagged(&r, "a4").contains("BAD") && tagged(&r, "a4").contains("selected"),
        "{r:?}"
    );
    let r = c.cmd("a5", "LOGIN x y").await;
    assert!(tagged(&r, "a5").starts_with("a5 BAD"), "{r:?}");
    let r = c.cmd("a6", "NOOP").await;
    assert!(tagged(&r, "a6").starts_with("a6 OK"));
}

#[tokio::test(flavor = "multi_thread")]
async fn literals_nesting_names_and_garbage() {
    let s = start(|c| c.max_message_size = 1024 * 1024).await;
    let mut c = Raw::login(s.addr, ALICE).await;
    // A 100 MB literal announcement is refused before any byte is sent.
    c.send(b"b1 APPEND INBOX {104857600}\r\n").await;
    let line = c.line().await;
    assert!(line.starts_with("b1 BAD [TOOBIG]"), "{line}");
    // Unbalanced literal: the client announced 3 bytes and sent more.
    c.send(b"b2 LOGIN {3}\r\n").await;
    assert!(c.line().await.starts_with('+'));
    c.send(b"alice secret\r\n").await;
    let r = c.until_tagged("b2").await;
    assert!(tagged(&r, "b2").starts_with("b2 BAD"), "{r:?}");
    // Deep nesting is BAD, not a crash.
    let deep = format!("SEARCH {}ALL{}", "(".repeat(5000), ")".repeat(5000));
    let r = c.cmd("b3", &deep).await;
    assert!(
        tagged(&r, "b3").contains("BAD") && tagged(&r, "b3").contains("nested"),
        "{r:?}"
    );
    // Invalid modified UTF-7 and UTF-8 mailbox names in well-formed
    // commands: no such mailbox can exist, so NO (RFC 3501 5.1.3, RFC
    // 5530 CANNOT), and they do not count as bad commands.
    let r = c.cmd("b4", "CREATE &Jjo").await;
    assert!(
        tagged(&r, "b4").starts_with("b4 NO [CANNOT]") && tagged(&r, "b4").contains("mailbox name"),
        "{r:?}"
    );
    c.send("b5 CREATE \"caf\u{e9}\"\r\n".as_bytes()).await;
    let r = c.until_tagged("b5").await;
    assert!(tagged(&r, "b5").starts_with("b5 NO [CANNOT]"), "{r:?}");
    // `1:*` on an empty mailbox.
    let r = c.cmd("b6", "SELECT INBOX").await;
    assert!(tagged(&r, "b6").starts_with("b6 OK [READ-WRITE]"), "{r:?}");
    let r = c.cmd("b7", "FETCH 1:* FLAGS").await;
    assert!(tagged(&r, "b7").starts_with("b7 BAD"), "{r:?}");
    let r = c.cmd("b8", "UID FETCH 1:* FLAGS").await;
    assert!(tagged(&r, "b8").starts_with("b8 OK"), "{r:?}");
    let r = c.cmd("b9", "SEARCH ALL").await;
    assert_eq!(r[0], "* SEARCH");
    // Pipelined garbage: each line answered, in order, then a good command.
    c.send(b"* junk\r\n\r\nc1 FROB\r\nc2 FETCH 0 FLAGS\r\nc3 STORE 1 FLAGS\r\nc4 NOOP\r\n")
        .await;
    let r = c.until_tagged("c4").await;
    let bads = r.iter().filter(|l| l.contains(" BAD ")).count();
    assert_eq!(bads, 5, "{r:?}");
    assert!(tagged(&r, "c4").starts_with("c4 OK"), "{r:?}");
    // A non-synchronizing literal that is too large cannot be skipped: BYE.
    c.send(b"d1 APPEND INBOX {104857600+}\r\n").await;
    let line = c.line().await;
    assert!(line.starts_with("d1 BAD [TOOBIG]"), "{line}");
    assert!(c.line().await.starts_with("* BYE"));
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_bad_commands_end_the_session() {
    let s = start(|c| c.max_bad_commands = 3).await;
    let mut c = Raw::connect(s.addr).await;
    c.send(b"x1 FROB\r\nx2 FROB\r\nx3 FROB\r\n").await;
    let mut bye = false;
    for _ in 0..4 {
        if c.line().await.starts_with("* BYE") {
            bye = true;
            break;
        }
    }
    assert!(bye);
    assert!(c.closed().await);
}
