//! Inputs no well-behaved client sends, over a raw socket: unknown
//! commands, commands in the wrong state, bad message numbers, deleting
//! twice, over-long lines, SASL garbage, pipelined commands, timeouts,
//! shutdown, a failing commit, the exact bytes of multi-line responses.

mod common;

use std::time::Duration;

use common::{MSG1, MSG2, Raw, crlf, start, uid, unstuff};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn unknown_and_wrong_state_commands_get_clear_errors() {
    let server = start(|_| {}).await;
    let mut c = Raw::connect(server.addr).await;
    assert_eq!(c.err("FROB").await, "-ERR Unknown command FROB");
    assert_eq!(c.err("APOP alice 0123").await, "-ERR Unknown command APOP");
    assert_eq!(c.err("STAT").await, "-ERR STAT is not valid before login");
    assert_eq!(c.err("RETR 1").await, "-ERR RETR is not valid before login");
    assert_eq!(c.err("NOOP").await, "-ERR NOOP is not valid before login");
    assert_eq!(c.err("PASS secret").await, "-ERR Send USER first");
    assert_eq!(
        c.err("STLS").await,
        "-ERR STLS is not available on this server"
    );
    assert_eq!(c.err("").await, "-ERR Empty command");
    assert_eq!(
        c.err("STAT now").await,
        "-ERR This command takes no arguments"
    );
    c.send(b"\xff\xfe\r\n").await;
    assert_eq!(c.line().await, "-ERR Command is not valid UTF-8");
    c.ok("USER alice").await;
    c.ok("PASS secret").await;
    assert_eq!(c.err("USER alice").await, "-ERR Already logged in");
    assert_eq!(
        c.err("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await,
        "-ERR Already logged in"
    );
    assert_eq!(c.err("STLS").await, "-ERR STLS is only valid before login");
    c.ok("NOOP").await;
    assert!(c.ok("STAT").await.starts_with("+OK 3 "));
    c.ok("QUIT").await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn invalid_message_numbers() {
    let server = start(|_| {}).await;
    let mut c = Raw::login(server.addr, "alice", "secret").await;
    assert_eq!(c.err("RETR 0").await, "-ERR Invalid message number 0");
    assert_eq!(c.err("RETR 4").await, "-ERR No such message 4");
    assert_eq!(c.err("RETR abc").await, "-ERR Invalid message number abc");
    assert_eq!(c.err("RETR -1").await, "-ERR Invalid message number -1");
    assert_eq!(
        c.err("DELE 4294967296").await,
        "-ERR Invalid message number 4294967296"
    );
    assert_eq!(c.err("LIST 99").await, "-ERR No such message 99");
    assert_eq!(c.err("UIDL 0").await, "-ERR Invalid message number 0");
    assert_eq!(
        c.err("TOP 1").await,
        "-ERR TOP needs a message number and a line count"
    );
    assert_eq!(
        c.err("TOP 1 -1").await,
        "-ERR TOP line count must be a number"
    );
    assert_eq!(c.err("RETR").await, "-ERR RETR needs one message number");
    assert_eq!(
        c.err("RETR 1 2").await,
        "-ERR RETR needs one message number"
    );
    // The session is intact.
    assert_eq!(c.ok("LIST 1").await, format!("+OK 1 {}", MSG1.len()));
}

#[tokio::test]
async fn deleted_messages_are_hidden_and_cannot_be_deleted_twice() {
    let server = start(|_| {}).await;
    let mut c = Raw::login(server.addr, "alice", "secret").await;
    assert_eq!(c.ok("DELE 1").await, "+OK Message 1 deleted");
    assert_eq!(c.err("DELE 1").await, "-ERR Message 1 is already deleted");
    for cmd in ["RETR 1", "TOP 1 0", "LIST 1", "UIDL 1"] {
        assert_eq!(
            c.err(cmd).await,
            "-ERR Message 1 is already deleted",
            "{cmd}"
        );
    }
    assert_eq!(c.ok("UIDL").await, "+OK 2 unique-id listing follow");
    let listing = String::from_utf8(c.body().await).expect("utf8");
    assert_eq!(
        listing,
        format!("2 {}\r\n3 {}\r\n.\r\n", uid(102), uid(103)),
        "numbers stay stable after DELE"
    );
    assert!(c.ok("STAT").await.starts_with("+OK 2 "));
    c.ok("QUIT").await;
    assert!(c.closed().await);
    assert_eq!(server.store.uids("u-alice"), [uid(102), uid(103)]);
}

#[tokio::test]
async fn multi_line_responses_are_stuffed_crlf_and_terminated() {
    let server = start(|_| {}).await;
    let mut c = Raw::login(server.addr, "alice", "secret").await;
    assert_eq!(c.ok("RETR 1").await, format!("+OK {} octets", MSG1.len()));
    let body = c.body().await;
    assert!(
        body.windows(8).any(|w| w == b"\r\n..lead"),
        "leading dot stuffed: {body:?}"
    );
    assert!(
        body.windows(7).any(|w| w == b"\r\n...tw"),
        "two dots stuffed"
    );
    assert!(body.ends_with(b"\r\n..\r\nline 5\r\n.\r\n"));
    assert_eq!(unstuff(&body), MSG1);

    c.ok("RETR 2").await;
    let body = c.body().await;
    assert_eq!(unstuff(&body), crlf(MSG2), "bare LF sent as CRLF");
    assert!(!body.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));

    c.ok("TOP 2 0").await;
    assert_eq!(
        c.body().await,
        b"From: sender@example.net\r\nSubject: two\r\n\r\n.\r\n"
    );
    c.ok("TOP 1 3").await;
    assert_eq!(
        unstuff(&c.body().await),
        b"From: sender@example.net\r\nTo: alice@example.org\r\nSubject: one\r\n\r\nHello Alice.\r\n.leading dot\r\n..two dots\r\n"
    );
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = start(|_| {}).await;
    let mut c = Raw::connect(server.addr).await;
    c.send(b"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 2\r\nBOGUS\r\nTOP 1 0\r\nDELE 3\r\nQUIT\r\n")
        .await;
    assert_eq!(c.line().await, "+OK Send PASS");
    assert!(c.line().await.starts_with("+OK Logged in, 3 messages"));
    assert!(c.line().await.starts_with("+OK 3 "));
    assert_eq!(c.line().await, "+OK 3 messages follow");
    assert_eq!(c.body().await.iter().filter(|&&b| b == b'\n').count(), 4);
    assert_eq!(c.line().await, format!("+OK 2 {}", uid(102)));
    assert_eq!(c.line().await, "-ERR Unknown command BOGUS");
    assert_eq!(c.line().await, "+OK Top of message follows");
    c.body().await;
    assert_eq!(c.line().await, "+OK Message 3 deleted");
    assert!(c.line().await.starts_with("+OK Bye, 1 deleted"));
    assert!(c.closed().await);
    assert_eq!(server.store.uids("u-alice"), [uid(101), uid(102)]);
}

#[tokio::test]
async fn overlong_lines_are_refused_and_the_session_survives() {
    let server = start(|c| c.max_line = 300).await;
    let mut c = Raw::connect(server.addr).await;
    let long = format!("USER {}\r\n", "x".repeat(5000));
    c.send(long.as_bytes()).await;
    assert_eq!(c.line().await, "-ERR Line too long (limit 300 octets)");
    // Megabytes without a line end: one error, nothing buffered, then the
    // next line is served.
    let chunk = vec![b'y'; 64 * 1024];
    for _ in 0..32 {
        c.send(&chunk).await;
    }
    c.send(b"\r\nCAPA\r\n").await;
    assert_eq!(c.line().await, "-ERR Line too long (limit 300 octets)");
    assert_eq!(c.line().await, "+OK Capability list follows");
    c.body().await;
    // Inside AUTH, an over-long response ends the exchange.
    assert_eq!(c.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6");
    c.send(format!("{}\r\n", "A".repeat(400)).as_bytes()).await;
    assert_eq!(c.line().await, "-ERR Line too long (limit 300 octets)");
    assert_eq!(c.err("STAT").await, "-ERR STAT is not valid before login");
}

#[tokio::test]
async fn plaintext_logins_are_refused_without_tls_unless_configured() {
    let server = start(|c| c.plaintext_auth_without_tls = false).await;
    let mut c = Raw::connect(server.addr).await;
    c.ok("CAPA").await;
    let caps = String::from_utf8(c.body().await).expect("utf8");
    assert!(!caps.contains("USER") && !caps.contains("SASL"), "{caps}");
    let refused = "-ERR [AUTH] TLS is required to log in: use STLS first, or the POP3S port";
    assert_eq!(c.err("USER alice").await, refused);
    assert_eq!(c.err("PASS secret").await, refused);
    assert_eq!(c.err("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await, refused);
    assert_eq!(c.err("AUTH").await, refused);
    assert!(!server.store.is_locked("u-alice"));
}

#[tokio::test]
async fn sasl_garbage_and_cancellation() {
    let server = start(|_| {}).await;
    let mut c = Raw::connect(server.addr).await;
    assert_eq!(c.ok("AUTH").await, "+OK Supported mechanisms follow");
    assert_eq!(c.body().await, b"PLAIN\r\nLOGIN\r\n.\r\n");
    assert_eq!(
        c.err("AUTH CRAM-MD5").await,
        "-ERR Unsupported mechanism CRAM-MD5"
    );
    assert_eq!(
        c.err("AUTH PLAIN !!!").await,
        "-ERR Invalid base64 in SASL response"
    );
    assert_eq!(
        c.err("AUTH PLAIN =").await,
        "-ERR PLAIN response must be authzid NUL user NUL password"
    );
    // authzid bob, authcid alice: no acting on behalf of others.
    assert_eq!(
        c.err("AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==").await,
        "-ERR Authorization identity must be empty or the user itself"
    );
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(c.err("*").await, "-ERR Authentication cancelled");
    assert_eq!(c.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(
        c.err("not base64!").await,
        "-ERR Invalid base64 in SASL response"
    );
    // The exchange is over: the next line is a command again.
    assert_eq!(c.err("STAT").await, "-ERR STAT is not valid before login");
    assert_eq!(c.cmd("AUTH LOGIN YWxpY2U=").await, "+ UGFzc3dvcmQ6");
    assert!(c.ok("c2VjcmV0").await.starts_with("+OK Logged in"));
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let server = start(|c| c.max_errors = 3).await;
    let mut c = Raw::connect(server.addr).await;
    c.err("ONE").await;
    c.err("TWO").await;
    assert_eq!(c.err("THREE").await, "-ERR Unknown command THREE");
    assert_eq!(c.line().await, "-ERR Too many errors, closing connection");
    assert!(c.closed().await);
}

#[tokio::test]
async fn second_session_is_refused_while_the_lock_is_held() {
    let server = start(|_| {}).await;
    let mut first = Raw::login(server.addr, "alice", "secret").await;
    let mut second = Raw::connect(server.addr).await;
    second.ok("USER alice").await;
    assert_eq!(
        second.err("PASS secret").await,
        "-ERR [IN-USE] Maildrop is in use by another session, try again later"
    );
    // Another user is not affected.
    let mut bob = Raw::login(server.addr, "bob", "correct horse").await;
    bob.ok("QUIT").await;
    // The first session drops mid-transaction: lock released, nothing
    // deleted, and the second may now log in.
    first.ok("DELE 1").await;
    drop(first);
    assert!(common::eventually(|| !server.store.is_locked("u-alice")).await);
    second.ok("USER alice").await;
    second.ok("PASS secret").await;
    assert!(second.ok("STAT").await.starts_with("+OK 3 "));
    assert_eq!(server.store.uids("u-alice").len(), 3);
}

#[tokio::test]
async fn idle_timeout_closes_silently_and_deletes_nothing() {
    let server = start(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let mut c = Raw::login(server.addr, "alice", "secret").await;
    c.ok("DELE 1").await;
    // RFC 1939 3: no response, no UPDATE.
    assert!(c.closed().await);
    assert!(common::eventually(|| !server.store.is_locked("u-alice")).await);
    assert_eq!(server.store.uids("u-alice").len(), 3);
    assert!(server.store.commits().is_empty());
}

#[tokio::test]
async fn shutdown_tells_the_client_and_deletes_nothing() {
    let server = start(|_| {}).await;
    let mut c = Raw::login(server.addr, "alice", "secret").await;
    c.ok("DELE 1").await;
    server.shutdown.trigger();
    assert_eq!(
        c.line().await,
        "-ERR [SYS/TEMP] Server shutting down, nothing deleted"
    );
    assert!(c.closed().await);
    assert!(common::eventually(|| !server.store.is_locked("u-alice")).await);
    assert_eq!(server.store.uids("u-alice").len(), 3);
}

#[tokio::test]
async fn failed_commit_is_reported_and_releases_the_lock() {
    let server = start(|_| {}).await;
    *server.store.fail_commit.lock().expect("lock") = Some("u-alice".into());
    let mut c = Raw::login(server.addr, "alice", "secret").await;
    c.ok("DELE 2").await;
    assert_eq!(
        c.cmd("QUIT").await,
        "-ERR [SYS/TEMP] Some deleted messages were not removed"
    );
    assert!(c.closed().await);
    assert!(common::eventually(|| !server.store.is_locked("u-alice")).await);
}

#[tokio::test]
async fn login_delay_is_announced_and_enforced() {
    let server = start(|c| c.login_delay = Some(Duration::from_secs(60))).await;
    let mut c = Raw::connect(server.addr).await;
    c.ok("CAPA").await;
    let caps = String::from_utf8(c.body().await).expect("utf8");
    assert!(caps.contains("LOGIN-DELAY 60\r\n"), "{caps}");
    c.ok("USER alice").await;
    c.ok("PASS secret").await;
    c.ok("QUIT").await;
    let mut again = Raw::connect(server.addr).await;
    again.ok("USER alice").await;
    let r = again.err("PASS secret").await;
    assert!(r.starts_with("-ERR [LOGIN-DELAY] "), "{r}");
    // Other accounts are not held back; the refused one may retry later.
    again.ok("USER bob").await;
    again.ok("PASS correct horse").await;
}

#[tokio::test]
async fn empty_maildrop_and_quit_before_login() {
    let server = start(|_| {}).await;
    let mut c = Raw::login(server.addr, "carol", "pw").await;
    assert_eq!(c.ok("STAT").await, "+OK 0 0");
    assert_eq!(c.ok("LIST").await, "+OK 0 messages follow");
    assert_eq!(c.body().await, b".\r\n");
    assert_eq!(c.err("RETR 1").await, "-ERR No such message 1");
    assert_eq!(c.ok("QUIT").await, "+OK Bye, 0 deleted (maildrop empty)");

    let mut c = Raw::connect(server.addr).await;
    c.ok("USER alice").await;
    assert_eq!(c.ok("QUIT").await, "+OK Bye");
    assert!(c.closed().await);
    assert_eq!(server.store.commits(), [("u-carol".to_string(), vec![])]);
}

#[tokio::test]
async fn busy_server_answers_sys_temp() {
    let server = start(|c| c.listener.max_connections = 1).await;
    let _first = Raw::connect(server.addr).await;
    let mut second = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut reply = String::new();
    tokio::time::timeout(common::WAIT, second.read_to_string(&mut reply))
        .await
        .expect("timeout")
        .expect("read");
    assert_eq!(
        reply,
        "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
    );
}
