//! The counters reach the exporter: sessions, logins by result, commands
//! by keyword, octets retrieved, messages deleted. In its own test binary
//! because it installs the process-wide meter provider.

mod common;

use common::{MSG1, Raw, start};
use mail_core::telemetry::{Telemetry, TelemetryConfig};

/// The value of the first sample of `name` whose labels contain `label`.
fn sample(text: &str, name: &str, label: &str) -> Option<u64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .find(|l| l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

#[tokio::test]
async fn counters_follow_a_session() {
    let telemetry = Telemetry::init("pop3-test", &TelemetryConfig::default()).expect("telemetry");
    let server = start(|_| {}).await;
    let mut c = Raw::connect(server.addr).await;
    c.ok("USER alice").await;
    c.err("PASS wrong").await;
    c.ok("USER alice").await;
    c.ok("PASS secret").await;
    c.err("BOGUS").await;
    c.ok("RETR 1").await;
    let body = c.body().await;
    c.ok("DELE 1").await;
    c.ok("QUIT").await;
    assert!(c.closed().await);

    let text = telemetry.prometheus_text();
    let has = |name: &str, label: &str, want: u64| {
        assert_eq!(
            sample(&text, name, label),
            Some(want),
            "{name} {label} in\n{text}"
        );
    };
    has("pop3_sessions_total", "", 1);
    has("pop3_logins_total", "result=\"failed\"", 1);
    has("pop3_logins_total", "result=\"ok\"", 1);
    has("pop3_commands_total", "command=\"USER\"", 2);
    has("pop3_commands_total", "command=\"UNKNOWN\"", 1);
    has("pop3_commands_total", "command=\"RETR\"", 1);
    has("pop3_messages_deleted_total", "", 1);
    // Octets after stuffing, without the terminator line.
    let sent = (body.len() - 3) as u64;
    assert!(sent > MSG1.len() as u64);
    let bytes = text
        .lines()
        .find(|l| l.starts_with("pop3_bytes_retrieved"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(bytes, Some(sent as f64), "{text}");
    telemetry.shutdown();
}
