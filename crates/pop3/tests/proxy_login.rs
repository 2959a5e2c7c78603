//! Trusted-proxy logins (`mail_core::trusted_proxy`): XCLIENT and AUTH
//! PLAIN with a proxy's identity acting for a user, accepted only from the
//! configured networks with the right secret; a proxy's name never works
//! as a user name; an account homed on another store gets a plain -ERR.

mod common;

use base64::Engine;
use common::{Raw, start_proxied};
use mail_core::trusted_proxy::{ProxyIdentityConfig, TrustedProxies, TrustedProxyConfig};

fn proxies(dir: &std::path::Path, network: &str) -> TrustedProxies {
    let secret = dir.join("mmp.secret");
    std::fs::write(&secret, "pr0xy-secret\n").expect("secret");
    TrustedProxies::load(&TrustedProxyConfig {
        identities: vec![ProxyIdentityConfig {
            name: "mmp".into(),
            secret_file: secret,
        }],
        networks: vec![network.parse().expect("network")],
    })
    .expect("load")
}

fn plain(authz: &str, authc: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{authz}\0{authc}\0{pass}"))
}

#[tokio::test]
async fn a_trusted_proxy_logs_in_for_a_user_and_passes_the_client_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_proxied(proxies(dir.path(), "127.0.0.0/8")).await;
    let mut c = Raw::connect(s.addr).await;
    assert_eq!(
        c.cmd("XCLIENT ADDR=192.0.2.7 PORT=4711 SESSION=abc").await,
        "+OK Client address noted"
    );
    assert_eq!(
        c.cmd(&format!(
            "AUTH PLAIN {}",
            plain("alice", "mmp", "pr0xy-secret")
        ))
        .await,
        "+OK Logged in, 3 messages (204243 octets)"
    );
    c.ok("STAT").await;
    assert!(c.ok("QUIT").await.starts_with("+OK Bye"));

    // Wrong secret, no user to act for, unknown user: all one answer.
    for ir in [
        plain("alice", "mmp", "wrong"),
        plain("", "mmp", "pr0xy-secret"),
        plain("nobody", "mmp", "pr0xy-secret"),
    ] {
        let mut c = Raw::connect(s.addr).await;
        assert_eq!(
            c.cmd(&format!("AUTH PLAIN {ir}")).await,
            "-ERR [AUTH] Authentication failed"
        );
    }
    // The proxy's name is not a user name, even with its secret.
    let mut c = Raw::connect(s.addr).await;
    c.ok("USER mmp").await;
    assert_eq!(
        c.cmd("PASS pr0xy-secret").await,
        "-ERR [AUTH] Authentication failed"
    );
    // XCLIENT needs an address; after login it is out of place.
    assert_eq!(
        c.cmd("XCLIENT PORT=1").await,
        "-ERR XCLIENT needs ADDR=<IP address>"
    );
}

#[tokio::test]
async fn the_proxy_credential_from_an_untrusted_address_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_proxied(proxies(dir.path(), "10.0.0.0/8")).await;
    let mut c = Raw::connect(s.addr).await;
    assert_eq!(
        c.cmd("XCLIENT ADDR=192.0.2.7").await,
        "-ERR XCLIENT is not allowed from your address"
    );
    assert_eq!(
        c.cmd(&format!(
            "AUTH PLAIN {}",
            plain("alice", "mmp", "pr0xy-secret")
        ))
        .await,
        "-ERR [AUTH] Authentication failed"
    );
    // Acting for another user without being a proxy is refused outright.
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain("bob", "alice", "secret")))
            .await,
        "-ERR Authorization identity must be empty or the user itself"
    );
}

#[tokio::test]
async fn an_account_homed_elsewhere_gets_a_plain_err_direct_or_proxied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_proxied(proxies(dir.path(), "127.0.0.1/32")).await;
    let mut c = Raw::connect(s.addr).await;
    c.ok("USER elsewhere").await;
    assert_eq!(
        c.cmd("PASS pw").await,
        "-ERR This account is served by another server"
    );
    assert_eq!(
        c.cmd(&format!(
            "AUTH PLAIN {}",
            plain("elsewhere", "mmp", "pr0xy-secret")
        ))
        .await,
        "-ERR This account is served by another server"
    );
    // Nothing was opened: the session is still before login.
    c.ok("USER alice").await;
    c.ok("PASS secret").await;
}

#[tokio::test]
async fn a_throttle_locks_a_name_out_across_connections() {
    let throttle = std::sync::Arc::new(mail_core::login_throttle::LoginThrottle::new(
        "test",
        &mail_core::login_throttle::LoginThrottleConfig {
            failure_delay: std::time::Duration::from_millis(50),
            max_delay: std::time::Duration::from_millis(200),
            ip_lockout_after: 0,
            user_lockout_after: 2,
            ..Default::default()
        },
    ));
    let s = common::start_throttled(throttle).await;
    for _ in 0..2 {
        let mut c = Raw::connect(s.addr).await;
        c.ok("USER alice").await;
        assert_eq!(
            c.cmd("PASS wrong").await,
            "-ERR [AUTH] Authentication failed"
        );
    }
    let mut c = Raw::connect(s.addr).await;
    c.ok("USER alice").await;
    assert_eq!(
        c.cmd("PASS secret").await,
        "-ERR [AUTH] Authentication failed",
        "locked out: the right password is refused alike"
    );
    c.ok("USER bob").await;
    assert!(
        c.cmd("PASS correct horse")
            .await
            .starts_with("+OK Logged in")
    );
}

/// Sessions per user (issue 14 item 7), counted with the store's IMAP in
/// one table: while the user's IMAP sessions fill it, a POP3 login gets
/// `-ERR [IN-USE]` (RFC 2449 8.1.1) and stays in AUTHORIZATION; once one
/// ends, the login succeeds.
#[tokio::test]
async fn sessions_per_user_are_shared_with_imap() {
    let limit = mail_core::conn_limit::ConnLimit::new(1);
    let imap_session = limit.acquire("u-alice".to_string()).expect("slot");
    let s = common::start_limited(limit.clone()).await;
    let mut c = Raw::connect(s.addr).await;
    c.ok("USER alice").await;
    assert_eq!(
        c.cmd("PASS secret").await,
        "-ERR [IN-USE] Too many sessions for this user, close one and try again"
    );
    // Still in AUTHORIZATION: another account logs in on the same
    // connection.
    c.ok("USER bob").await;
    assert!(
        c.cmd("PASS correct horse")
            .await
            .starts_with("+OK Logged in")
    );
    drop(imap_session);
    let mut c = Raw::connect(s.addr).await;
    c.ok("USER alice").await;
    assert!(c.cmd("PASS secret").await.starts_with("+OK Logged in"));
    assert_eq!(limit.held(&"u-alice".to_string()), 1);
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}
