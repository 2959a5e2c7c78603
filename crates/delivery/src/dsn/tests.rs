use std::time::{Duration, UNIX_EPOCH};

use mail_queue::{ClientRecord, Envelope, QueuedRecipient};
use mail_smtp_proto::{Notify, Orcpt};

use super::*;

fn env(sender: &str) -> Envelope {
    Envelope {
        id: "0192F3A4B5C6D00001A1B2C3".parse().expect("id"),
        channel: "tcp_local".into(),
        host: "example.net".into(),
        received_at: UNIX_EPOCH + Duration::from_secs(1_764_345_600),
        client: ClientRecord::default(),
        sender: sender.into(),
        body: None,
        smtputf8: false,
        ret: None,
        envid: Some("ENV1".into()),
        mail_auth: None,
        traceparent: None,
        message_id: Some("<m1@example.org>".into()),
        size: 0,
        recipients: vec![QueuedRecipient {
            orcpt: Some(Orcpt {
                addr_type: "rfc822".into(),
                address: "Bob@example.net".into(),
            }),
            ..QueuedRecipient::new("bob@example.net")
        }],
    }
}

const MSG: &[u8] = b"From: a@example.org\r\nSubject: hi\r\n\r\nsecret body\r\n";

#[test]
fn failure_report_fields() {
    let e = env("alice@example.org");
    let r = DsnRecipient {
        remote_mta: Some("mx.example.net".into()),
        ..DsnRecipient::of(
            &e.recipients[0],
            Action::Failed,
            "5.1.1",
            Some("550 5.1.1 no such user".into()),
        )
    };
    let d = build(&DsnRequest {
        reporting_mta: "relay.example.org",
        envelope: &e,
        original: MSG,
        return_full: false,
        recipients: vec![r],
        will_retry_until: None,
        now: UNIX_EPOCH + Duration::from_secs(1_764_349_200),
    })
    .expect("a dsn");
    let text = String::from_utf8(d.message).expect("utf8");
    assert_eq!(d.recipient, "alice@example.org");
    for needle in [
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: message/delivery-status",
        "Reporting-MTA: dns; relay.example.org",
        "Original-Envelope-Id: ENV1",
        "Arrival-Date: Fri, 28 Nov 2025 16:00:00 +0000",
        "Final-Recipient: rfc822; bob@example.net",
        "Original-Recipient: rfc822; Bob@example.net",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.example.net",
        "Diagnostic-Code: smtp; 550 5.1.1 no such user",
        "Content-Type: text/rfc822-headers",
        "Subject: hi\r\n",
        "Auto-Submitted: auto-replied",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(
        !text.contains("secret body"),
        "RET=HDRS returns headers only"
    );
    assert!(text.ends_with("--\r\n"));
    assert!(
        !text.contains("\n\n") && !text.replace("\r\n", "").contains('\n'),
        "CRLF only"
    );
}

#[test]
fn full_return_and_delay() {
    let e = env("alice@example.org");
    let r = DsnRecipient::of(
        &e.recipients[0],
        Action::Delayed,
        "4.4.1",
        Some("451 4.4.1 down".into()),
    );
    let d = build(&DsnRequest {
        reporting_mta: "relay.example.org",
        envelope: &e,
        original: MSG,
        return_full: true,
        recipients: vec![r],
        will_retry_until: Some(UNIX_EPOCH + Duration::from_secs(1_764_432_000)),
        now: UNIX_EPOCH + Duration::from_secs(1_764_349_200),
    })
    .expect("a dsn");
    let text = String::from_utf8(d.message).expect("utf8");
    assert!(text.contains("Action: delayed"));
    assert!(text.contains("Will-Retry-Until: Sat, 29 Nov 2025 16:00:00 +0000"));
    assert!(text.contains("Content-Type: message/rfc822"));
    assert!(text.contains("secret body"));
}

#[test]
fn never_bounce_a_bounce_and_notify() {
    let e = env("");
    let r = DsnRecipient::of(&e.recipients[0], Action::Failed, "5.1.1", None);
    assert!(
        build(&DsnRequest {
            reporting_mta: "r",
            envelope: &e,
            original: MSG,
            return_full: false,
            recipients: vec![r],
            will_retry_until: None,
            now: UNIX_EPOCH,
        })
        .is_none()
    );
    let mut q = QueuedRecipient::new("x@y");
    assert!(
        wanted(&q, Action::Failed) && wanted(&q, Action::Delayed) && !wanted(&q, Action::Delivered)
    );
    q.notify = Some(Notify::default());
    assert!(!wanted(&q, Action::Failed) && !wanted(&q, Action::Delayed));
    q.notify = Some(Notify {
        success: true,
        failure: false,
        delay: false,
    });
    assert!(wanted(&q, Action::Delivered) && !wanted(&q, Action::Failed));
}
