//! The store's side of the access tier: trusted-proxy logins
//! (AUTHENTICATE PLAIN with a proxy's identity acting for a user, from the
//! configured networks only), the client address in ID believed only from
//! a proxy, and users homed on another store refused, with an RFC 2221
//! referral when the client asked for one.

mod common;

use base64::Engine;
use common::{Raw, start_full};
use mail_core::trusted_proxy::{ProxyIdentityConfig, TrustedProxies, TrustedProxyConfig};
use mail_directory::UserSpec;

fn policy(dir: &std::path::Path, network: &str) -> mail_imap::LoginPolicy {
    let secret = dir.join("mmp.secret");
    std::fs::write(&secret, "pr0xy-secret\n").expect("secret");
    mail_imap::LoginPolicy {
        host: Some("store1.example.test".into()),
        proxies: TrustedProxies::load(&TrustedProxyConfig {
            identities: vec![ProxyIdentityConfig {
                name: "mmp".into(),
                secret_file: secret,
            }],
            networks: vec![network.parse().expect("network")],
        })
        .expect("load"),
        throttle: None,
        sessions_per_user: None,
    }
}

/// A pre-hashed password: SSHA is cheap, the default argon2 is slow in a
/// debug build.
fn ssha(pw: &str) -> String {
    mail_directory::password::hash(pw, mail_directory::password::Scheme::Ssha).expect("hash")
}

/// carol lives on store2; dave on this store (by name, any case).
fn users() -> Vec<UserSpec> {
    vec![
        UserSpec {
            uid: "carol".into(),
            address: "carol@example.test".into(),
            password: Some(ssha("carol-secret")),
            mail_host: Some("store2.example.test".into()),
            ..Default::default()
        },
        UserSpec {
            uid: "dave".into(),
            address: "dave@example.test".into(),
            password: Some(ssha("dave-secret")),
            mail_host: Some("STORE1.example.test".into()),
            ..Default::default()
        },
    ]
}

fn plain(authz: &str, authc: &str, pass: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{authz}\0{authc}\0{pass}"))
}

fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or_default()
}

#[tokio::test]
async fn a_trusted_proxy_logs_in_for_a_user_of_this_store() {
    let s = start_full(false, |_| {}, |d| policy(d, "127.0.0.0/8"), users()).await;
    let mut c = Raw::connect(s.addr).await;
    let caps = c.cmd("c0", "CAPABILITY").await;
    assert!(caps[0].contains(" LOGIN-REFERRALS"), "{caps:?}");
    let id = c
        .cmd(
            "p1",
            "ID (\"x-originating-ip\" \"192.0.2.7\" \"x-originating-port\" \"4711\" \"x-session-id\" \"abc\")",
        )
        .await;
    assert_eq!(last(&id), "p1 OK ID completed");
    let r = c
        .cmd(
            "p2",
            &format!(
                "AUTHENTICATE PLAIN {}",
                plain("dave", "mmp", "pr0xy-secret")
            ),
        )
        .await;
    assert!(last(&r).starts_with("p2 OK [CAPABILITY IMAP4rev1"), "{r:?}");
    let r = c.cmd("p3", "SELECT INBOX").await;
    assert!(last(&r).starts_with("p3 OK"), "{r:?}");

    // Wrong secret, no user, unknown user, a user of another store: one
    // answer, after the delay.
    for ir in [
        plain("dave", "mmp", "wrong"),
        plain("", "mmp", "pr0xy-secret"),
        plain("nobody", "mmp", "pr0xy-secret"),
    ] {
        let mut c = Raw::connect(s.addr).await;
        let r = c.cmd("a", &format!("AUTHENTICATE PLAIN {ir}")).await;
        assert_eq!(
            last(&r),
            "a NO [AUTHENTICATIONFAILED] Authentication failed"
        );
    }
    // A proxy's name is not a user name, even with the right secret.
    let mut c = Raw::connect(s.addr).await;
    let r = c.cmd("l", "LOGIN mmp pr0xy-secret").await;
    assert_eq!(
        last(&r),
        "l NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    // Acting for someone else without being a proxy.
    let r = c
        .cmd(
            "x",
            &format!(
                "AUTHENTICATE PLAIN {}",
                plain("bob", "alice", "alice-secret")
            ),
        )
        .await;
    assert_eq!(
        last(&r),
        "x NO [AUTHORIZATIONFAILED] Cannot act as another user"
    );
}

#[tokio::test]
async fn the_proxy_credential_from_an_untrusted_address_is_refused() {
    let s = start_full(false, |_| {}, |d| policy(d, "10.0.0.0/8"), users()).await;
    let mut c = Raw::connect(s.addr).await;
    let r = c
        .cmd(
            "a",
            &format!(
                "AUTHENTICATE PLAIN {}",
                plain("dave", "mmp", "pr0xy-secret")
            ),
        )
        .await;
    assert_eq!(
        last(&r),
        "a NO [AUTHENTICATIONFAILED] Authentication failed"
    );
}

#[tokio::test]
async fn users_homed_elsewhere_are_refused_with_a_referral_when_asked_for() {
    let s = start_full(false, |_| {}, |d| policy(d, "127.0.0.0/8"), users()).await;
    // No referral asked for: a plain NO.
    let mut c = Raw::connect(s.addr).await;
    let r = c.cmd("a", "LOGIN carol carol-secret").await;
    assert_eq!(last(&r), "a NO This account is served by another server");
    // The same through the proxy.
    let r = c
        .cmd(
            "b",
            &format!(
                "AUTHENTICATE PLAIN {}",
                plain("carol", "mmp", "pr0xy-secret")
            ),
        )
        .await;
    assert_eq!(last(&r), "b NO This account is served by another server");
    // With referrals asked for in ID: RFC 2221's NO [REFERRAL ...].
    let r = c.cmd("c", "ID (\"x-login-referrals\" \"yes\")").await;
    assert_eq!(last(&r), "c OK ID completed");
    let r = c.cmd("d", "LOGIN carol@example.test carol-secret").await;
    assert_eq!(
        last(&r),
        "d NO [REFERRAL imap://carol%40example.test;AUTH=*@store2.example.test/] This account is served by another server"
    );
    // A wrong password never reveals where the account lives.
    let r = c.cmd("e", "LOGIN carol wrong").await;
    assert_eq!(
        last(&r),
        "e NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    // Nothing was created for carol on this store.
    let store = s.store.clone();
    let boxes = tokio::task::spawn_blocking(move || store.list("carol"))
        .await
        .expect("join");
    assert!(
        boxes.as_ref().map(|b| b.is_empty()).unwrap_or(true),
        "{boxes:?}"
    );
    // Users homed here (in any case) and users without mailHost log in.
    let mut c = Raw::connect(s.addr).await;
    let r = c.cmd("f", "LOGIN dave dave-secret").await;
    assert!(last(&r).starts_with("f OK"), "{r:?}");
    let mut c = Raw::connect(s.addr).await;
    let r = c.cmd("g", "LOGIN alice alice-secret").await;
    assert!(last(&r).starts_with("g OK"), "{r:?}");
}

#[tokio::test]
async fn a_throttle_slows_failed_logins_and_locks_a_name_out() {
    let throttle = std::sync::Arc::new(mail_core::login_throttle::LoginThrottle::new(
        "test",
        &mail_core::login_throttle::LoginThrottleConfig {
            failure_delay: std::time::Duration::from_millis(100),
            max_delay: std::time::Duration::from_millis(400),
            ip_lockout_after: 0,
            user_lockout_after: 3,
            ..Default::default()
        },
    ));
    let s = start_full(
        false,
        |_| {},
        move |d| mail_imap::LoginPolicy {
            throttle: Some(throttle),
            ..policy(d, "127.0.0.0/8")
        },
        users(),
    )
    .await;
    let failed = |tag: &str| format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed");
    let mut c = Raw::connect(s.addr).await;
    let t0 = std::time::Instant::now();
    assert_eq!(last(&c.cmd("a", "LOGIN alice nope").await), failed("a"));
    let first = t0.elapsed();
    let t1 = std::time::Instant::now();
    assert_eq!(last(&c.cmd("b", "LOGIN alice nope").await), failed("b"));
    let second = t1.elapsed();
    assert!(first >= std::time::Duration::from_millis(100), "{first:?}");
    assert!(
        second >= std::time::Duration::from_millis(200),
        "grows: {second:?}"
    );
    // The third failure (another connection) locks the name out: the
    // right password is refused alike; other users are not affected.
    let mut c = Raw::connect(s.addr).await;
    assert_eq!(last(&c.cmd("c", "LOGIN alice nope").await), failed("c"));
    assert_eq!(
        last(&c.cmd("d", "LOGIN alice alice-secret").await),
        failed("d")
    );
    let mut c = Raw::connect(s.addr).await;
    let r = c.cmd("e", "LOGIN bob bob-secret").await;
    assert!(last(&r).starts_with("e OK"), "{r:?}");
}

/// Sessions per user (issue 14 item 7): logins direct and through the
/// proxy count alike; one beyond the limit gets `NO [LIMIT]` (RFC 5530 3)
/// and the connection stays usable; a session that ends gives its place
/// back.
#[tokio::test]
async fn sessions_per_user_are_limited_across_direct_and_proxied_logins() {
    let limit = mail_core::conn_limit::ConnLimit::new(2);
    let s = start_full(
        false,
        |_| {},
        move |d| mail_imap::LoginPolicy {
            sessions_per_user: Some(limit),
            ..policy(d, "127.0.0.0/8")
        },
        users(),
    )
    .await;
    let mut first = Raw::connect(s.addr).await;
    let r = first.cmd("a", "LOGIN alice alice-secret").await;
    assert!(last(&r).starts_with("a OK"), "{r:?}");
    let mut second = Raw::connect(s.addr).await;
    let r = second
        .cmd(
            "b",
            &format!(
                "AUTHENTICATE PLAIN {}",
                plain("alice", "mmp", "pr0xy-secret")
            ),
        )
        .await;
    assert!(last(&r).starts_with("b OK"), "{r:?}");

    let mut third = Raw::connect(s.addr).await;
    let r = third.cmd("c", "LOGIN alice alice-secret").await;
    assert_eq!(
        last(&r),
        "c NO [LIMIT] Too many sessions for this user; close one and try again"
    );
    // Not logged in, not closed: another user can log in on it.
    let r = third.cmd("d", "LOGIN bob bob-secret").await;
    assert!(last(&r).starts_with("d OK"), "{r:?}");

    let r = first.cmd("e", "LOGOUT").await;
    assert!(last(&r).starts_with("e OK"), "{r:?}");
    drop(first);
    let mut fourth = Raw::connect(s.addr).await;
    // The ended session's place comes back once the server has closed
    // it; retry for a moment rather than sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = fourth.cmd("f", "LOGIN alice alice-secret").await;
        if last(&r).starts_with("f OK") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "place never given back: {r:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
