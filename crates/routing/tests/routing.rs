//! Routing against mail-directory's real file backend, with the shipped
//! routing files (`deploy/mta/*.toml`) filled the way `mailctl up` fills
//! them, plus small configurations for smarthosts, loops and errors.

use std::path::Path;
use std::sync::Arc;

use mail_directory::{
    AccountStatus, Delivery, Directory, DirectoryConfig, Domain, ExpansionConfig, GroupSpec,
    UserSpec,
};
use mail_routing::{
    ChannelKind, Destination, Entry, Error, INBOUND_DEFAULT, INBOUND_PLACEHOLDERS, NoDirectory,
    OUTBOUND_DEFAULT, OUTBOUND_PLACEHOLDERS, Route, RouteError, Router, RoutingDirectory, StepKind,
    fill, render_error, render_route,
};

const BASE: &str = "dc=example,dc=test";

struct Fixture {
    dir: Arc<dyn Directory>,
    data: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

async fn directory() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("directory.toml");
    let cfg: DirectoryConfig = toml::from_str(&format!(
        "backend = \"file\"\npath = {:?}\n[cache]\ncapacity = 0\n",
        data.display().to_string()
    ))
    .expect("directory config");
    let dir = mail_directory::open(&cfg).await.expect("file directory");
    dir.add_domain(&Domain {
        name: "example.test".into(),
        aliases: vec!["example.org".into()],
    })
    .await
    .expect("domain");
    let user = |uid: &str, host: Option<&str>| UserSpec {
        uid: uid.into(),
        address: format!("{uid}@example.test"),
        mail_host: host.map(Into::into),
        ..UserSpec::default()
    };
    let mut alice = user("alice", Some("store1.example.test"));
    alice.alternates = vec!["alice.smith@example.test".into()];
    dir.add_user(&alice).await.expect("alice");
    let mut bob = user("bob", Some("store2.example.test:2525"));
    bob.delivery = Delivery {
        forward_to: vec!["bob@elsewhere.test".into()],
        keep_local_copy: true,
        ..Delivery::default()
    };
    dir.add_user(&bob).await.expect("bob");
    dir.add_user(&user("carl", None)).await.expect("carl");
    let mut dora = user("dora", Some("store1.example.test"));
    dora.status = AccountStatus::Deleted;
    dir.add_user(&dora).await.expect("dora");
    let mut ina = user("ina", Some("store1.example.test"));
    ina.status = AccountStatus::Inactive;
    dir.add_user(&ina).await.expect("ina");
    let mut eve = user("eve", Some("store1.example.test"));
    eve.delivery.routing_address = Some("eve@elsewhere.test".into());
    dir.add_user(&eve).await.expect("eve");
    let mut mo = user("mo", Some("store1.example.test"));
    mo.delivery.routing_address = Some("mo@example.test".into());
    dir.add_user(&mo).await.expect("mo routes to itself");

    let dn = |uid: &str| format!("uid={uid},ou=people,{BASE}");
    let gdn = |cn: &str| format!("cn={cn},ou=groups,{BASE}");
    let group = |name: &str, members: Vec<String>| GroupSpec {
        name: name.into(),
        address: Some(format!("{name}@example.test")),
        members,
        ..GroupSpec::default()
    };
    dir.add_group(&group(
        "staff",
        vec![dn("alice"), dn("bob"), "partner@outside.test".into()],
    ))
    .await
    .expect("staff");
    dir.add_group(&group("ring-a", vec![gdn("ring-b"), dn("alice")]))
        .await
        .expect("ring-a");
    dir.add_group(&group("ring-b", vec![gdn("ring-a"), dn("bob")]))
        .await
        .expect("ring-b");
    Fixture {
        dir,
        data,
        _tmp: tmp,
    }
}

fn inbound() -> Router {
    let text = fill(
        INBOUND_DEFAULT,
        &[
            ("DOMAIN", "example.test"),
            ("LOCAL_HOST", "mx1.example.test"),
            ("LMTP_PORT", "2424"),
            ("POSTMASTER", "alice@example.test"),
        ],
    )
    .expect("every inbound placeholder filled");
    Router::from_text(Path::new("inbound.toml"), &text).expect("inbound default is valid")
}

fn outbound() -> Router {
    let text = fill(
        OUTBOUND_DEFAULT,
        &[
            ("DOMAIN", "example.test"),
            ("LOCAL_HOST", "smtp.example.test"),
            ("INBOUND_RELAY", "mx1.example.test:2525"),
        ],
    )
    .expect("every outbound placeholder filled");
    Router::from_text(Path::new("outbound.toml"), &text).expect("outbound default is valid")
}

async fn ok<D: RoutingDirectory + ?Sized>(router: &Router, dir: &D, address: &str) -> Route {
    match router.route(dir, address).await {
        Ok(r) => r,
        Err(e) => panic!("{address} should route:\n{}", render_error(&e)),
    }
}

async fn fails<D: RoutingDirectory + ?Sized>(
    router: &Router,
    dir: &D,
    address: &str,
) -> RouteError {
    match router.route(dir, address).await {
        Ok(r) => panic!("{address} should fail:\n{}", render_route(&r)),
        Err(e) => e,
    }
}

fn host(host: &str, port: u16) -> Destination {
    Destination::Host {
        host: host.into(),
        port,
    }
}

#[tokio::test]
async fn hosted_users_go_to_their_store_over_lmtp() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "alice@example.test").await;
    assert_eq!(route.channel, "lmtp");
    assert_eq!(route.kind, ChannelKind::Lmtp);
    assert_eq!(route.final_address, "alice@example.test");
    assert_eq!(route.destination, host("store1.example.test", 2424));
    assert!(matches!(&route.entry, Entry::User(u) if u.uid == "alice"));
    assert!(route.hosted);

    // Domains are case-insensitive; the local part keeps its case until
    // the directory gives the primary address.
    let route = ok(&r, &*f.dir, "<ALICE@Example.TEST>").await;
    assert_eq!(route.final_address, "alice@example.test");
    assert_eq!(route.steps[0].kind, StepKind::Input);
    assert!(
        route.steps[0].text.contains("lower-cased"),
        "{:?}",
        route.steps[0]
    );

    // Alternate address, domain alias, subaddress kept for the store.
    for (given, expect) in [
        ("alice.smith@example.test", "alice@example.test"),
        ("alice@example.org", "alice@example.test"),
        ("Alice+News@example.test", "alice+News@example.test"),
    ] {
        let route = ok(&r, &*f.dir, given).await;
        assert_eq!(route.final_address, expect, "{given}");
        assert_eq!(route.channel, "lmtp", "{given}");
    }

    // A mailHost with its own port keeps it.
    let route = ok(&r, &*f.dir, "bob@example.test").await;
    assert_eq!(route.destination, host("store2.example.test", 2525));
}

#[tokio::test]
async fn local_host_and_aliases_are_rewritten_and_routed_again() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "alice@MX1.example.test").await;
    assert_eq!(route.final_address, "alice@example.test");
    assert_eq!(
        route.chain,
        ["alice@mx1.example.test", "alice@example.test"]
    );
    assert!(route.hosted, "rewritten into a hosted domain");
    assert_eq!(route.channel, "lmtp");
    let rewrites: Vec<_> = route
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Rewrite)
        .collect();
    assert_eq!(rewrites.len(), 1, "{:#?}", route.steps);
    assert!(
        rewrites[0]
            .text
            .contains("alice@mx1.example.test -> alice@example.test")
    );

    let route = ok(&r, &*f.dir, "postmaster@example.test").await;
    assert_eq!(route.final_address, "alice@example.test");
    assert!(
        route
            .steps
            .iter()
            .any(|s| s.kind == StepKind::Lookup && s.text.starts_with("mapping aliases:")),
        "{:#?}",
        route.steps
    );
}

/// RFC 5321 4.1.1.3 / 4.5.1: `RCPT TO:<Postmaster>` has no domain and must
/// still be accepted: it is this host's postmaster, postmaster@$L.
#[tokio::test]
async fn bare_postmaster_is_this_hosts_postmaster() {
    let f = directory().await;
    let r = inbound();
    for input in ["postmaster", "<Postmaster>", "POSTMASTER"] {
        let route = ok(&r, &*f.dir, input).await;
        assert_eq!(route.final_address, "alice@example.test", "{input}");
        assert!(route.hosted, "{input}");
        assert_eq!(route.channel, "lmtp", "{input}");
        assert!(
            route.steps[0].text.contains("RFC 5321 4.1.1.3"),
            "{:#?}",
            route.steps
        );
    }
    // Any other local part without a domain is still an error.
    fails(&r, &*f.dir, "abuse").await;
}

#[tokio::test]
async fn groups_stop_at_the_group_and_expand_through_the_directory() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "Staff@example.test").await;
    assert_eq!(route.channel, "reprocess");
    assert_eq!(route.destination, Destination::Local);
    let Entry::Group(g) = &route.entry else {
        panic!("a group: {:?}", route.entry)
    };
    assert_eq!(g.name, "staff");
    let expansion = mail_routing::expand(&*f.dir, g, &ExpansionConfig::default())
        .await
        .expect("expands");
    assert_eq!(
        expansion.recipients,
        [
            "alice@example.test",
            "bob@example.test",
            "partner@outside.test"
        ]
    );

    // A group that contains itself through another is cut where the loop
    // closes; everyone on it still gets the message once.
    let route = ok(&r, &*f.dir, "ring-a@example.test").await;
    let Entry::Group(g) = &route.entry else {
        panic!("a group")
    };
    let expansion = mail_routing::expand(&*f.dir, g, &ExpansionConfig::default())
        .await
        .expect("expands");
    assert_eq!(
        expansion.recipients,
        ["bob@example.test", "alice@example.test"]
    );
    assert_eq!(expansion.loops.len(), 1, "{expansion:?}");
}

#[tokio::test]
async fn forwarding_and_status_are_reported_for_the_relay() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "bob@example.test").await;
    let Entry::User(u) = &route.entry else {
        panic!("a user")
    };
    assert_eq!(u.forward_to, ["bob@elsewhere.test"]);
    assert!(u.keep_local_copy);
    assert!(
        route
            .steps
            .iter()
            .any(|s| s.kind == StepKind::Note && s.text.contains("forwards to bob@elsewhere.test")),
        "{:#?}",
        route.steps
    );
    let route = ok(&r, &*f.dir, "ina@example.test").await;
    assert!(
        route
            .steps
            .iter()
            .any(|s| s.text.contains("is inactive") && s.text.contains("450 4.2.1")),
        "{:#?}",
        route.steps
    );
}

#[tokio::test]
async fn unknown_deleted_and_storeless_users_are_refused() {
    let f = directory().await;
    let r = inbound();
    for addr in [
        "nobody@example.test",
        "dora@example.test",
        "nobody@example.org",
    ] {
        let e = fails(&r, &*f.dir, addr).await;
        assert!(
            matches!(&e.error, Error::Refused { code: 550, status, .. } if status == "5.1.1"),
            "{addr}: {e}"
        );
        assert_eq!(e.error.smtp_reply().0, 550);
        assert!(!e.error.is_temporary());
    }
    let e = fails(&r, &*f.dir, "carl@example.test").await;
    let (code, status, text) = e.error.smtp_reply();
    assert_eq!((code, status.as_str()), (450, "4.3.5"), "{text}");
    assert!(e.error.is_temporary());
    assert!(
        e.steps
            .iter()
            .any(|s| s.kind == StepKind::Skip && s.text.contains("carl has no mailHost")),
        "{:#?}",
        e.steps
    );
}

#[tokio::test]
async fn external_domains_go_to_tcp_local_by_mx() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "someone@Example.NET").await;
    assert_eq!(route.channel, "tcp_local");
    assert_eq!(
        route.destination,
        Destination::Mx {
            domain: "example.net".into(),
            port: 25
        }
    );
    assert_eq!(route.entry, Entry::None);
    assert!(!route.hosted, "relayed");
    // IDN: the MX lookup and the envelope use A-labels.
    let route = ok(&r, &*f.dir, "jörg@bücher.example").await;
    assert_eq!(route.final_address, "jörg@xn--bcher-kva.example");
    assert_eq!(
        route.destination,
        Destination::Mx {
            domain: "xn--bcher-kva.example".into(),
            port: 25
        }
    );
    assert!(route.steps[0].text.contains("IDN domain bücher.example"));
}

#[tokio::test]
async fn routing_addresses_are_followed_and_loops_stopped() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "eve@example.test").await;
    assert_eq!(route.final_address, "eve@elsewhere.test");
    assert_eq!(route.channel, "tcp_local");
    assert!(route.hosted, "a hosted user's mail, though it leaves by MX");
    // A routing address naming the user itself changes nothing: the rule
    // is skipped, not reported as a loop.
    let route = ok(&r, &*f.dir, "mo@example.test").await;
    assert_eq!(route.channel, "lmtp");
    assert!(
        route
            .steps
            .iter()
            .any(|s| s.kind == StepKind::Skip && s.text.contains("unchanged")),
        "{:#?}",
        route.steps
    );
    // A routing address pointing back through another user is a loop.
    f.dir
        .modify_user(
            "mo",
            &mail_directory::UserChange {
                routing_address: Some("alice.smith@example.test".into()),
                ..Default::default()
            },
        )
        .await
        .expect("mo now routes to alice");
    f.dir
        .modify_user(
            "alice",
            &mail_directory::UserChange {
                routing_address: Some("MO@example.test".into()),
                ..Default::default()
            },
        )
        .await
        .expect("alice routes back to mo");
    let e = fails(&r, &*f.dir, "mo@example.test").await;
    assert!(
        matches!(&e.error, Error::Loop { chain } if chain.len() == 3),
        "{}",
        render_error(&e)
    );
    assert_eq!(e.error.smtp_reply().1, "5.4.6");
}

#[tokio::test]
async fn outbound_sends_hosted_domains_to_the_inbound_relay() {
    let f = directory().await;
    let r = outbound();
    let route = ok(&r, &*f.dir, "carl@example.org").await;
    assert_eq!(route.channel, "tcp_intranet");
    assert_eq!(route.kind, ChannelKind::SmtpRelay);
    assert_eq!(route.final_address, "carl@example.test");
    assert_eq!(route.destination, host("mx1.example.test", 2525));
    let route = ok(&r, &*f.dir, "friend@example.net").await;
    assert_eq!(route.channel, "tcp_local");
    let route = ok(&r, &*f.dir, "bob@smtp.example.test").await;
    assert_eq!(route.channel, "tcp_intranet");
    assert_eq!(route.final_address, "bob@example.test");
    // Without a directory nothing is hosted: everything leaves by MX.
    let route = ok(&r, &NoDirectory, "carl@example.test").await;
    assert_eq!(route.channel, "tcp_local");
}

const SMALL: &str = r#"
[routing]
local_host = "relay.example.test"

[[channel]]
name = "tcp_local"
kind = "smtp_mx"
hosts = ["tcp-daemon"]
port = 2525

[[channel]]
name = "tcp_smarthost"
kind = "smtp_relay"
hosts = ["Smarthost-Daemon", "provider-daemon"]
relay = "smart.provider.test:587"
tls = "required"
tls_verify = true

[[channel]]
name = "lmtp"
kind = "lmtp"
hosts = ["lmtp-daemon"]
relay = "[::1]"

[[channel]]
name = "tcp_submit"
kind = "submit"

[mapping.routes]
"*.corp.test" = "provider-daemon"
"partner.test" = "SMARTHOST-daemon"

[[rewrite]]
name = "ping-pong a"
domain = "a.test"
address = "$U@b.test"

[[rewrite]]
name = "ping-pong b"
domain = "b.test"
address = "$U@a.test"

[[rewrite]]
name = "ever deeper"
domain = "*.deep.test"
address = "$U@x.$D"

[[rewrite]]
domain = "deep.test"
address = "$U@x.deep.test"

[[rewrite]]
name = "mapped routes"
domain = "$*"
route = "${map:routes:$D}"

[[rewrite]]
name = "local store"
domain = "store.test"
address = "$0U@$D"
route = "lmtp-daemon"

[[rewrite]]
name = "subdomains to the MX of the parent"
domain = "*.example.test"
address = "$U.$H@example.test"
route = "tcp-daemon"
destination = "mx.example.test"

[[rewrite]]
domain = "$*"
route = "tcp-daemon"
"#;

fn small() -> Router {
    Router::from_text(Path::new("small.toml"), SMALL).expect("small config is valid")
}

#[tokio::test]
async fn smarthost_and_channel_selection_by_host_name() {
    let r = small();
    let route = ok(&r, &NoDirectory, "x@partner.test").await;
    assert_eq!(route.channel, "tcp_smarthost");
    assert_eq!(route.routing_host, "smarthost-daemon");
    assert_eq!(route.destination, host("smart.provider.test", 587));
    let route = ok(&r, &NoDirectory, "x@eng.corp.test").await;
    assert_eq!(route.channel, "tcp_smarthost", "second host name");
    assert_eq!(
        r.channel_for_host("PROVIDER-daemon")
            .map(|c| c.name.as_str()),
        Some("tcp_smarthost")
    );
    let route = ok(&r, &NoDirectory, "Ann+x@store.test").await;
    assert_eq!(route.channel, "lmtp");
    assert_eq!(route.final_address, "Ann@store.test");
    assert_eq!(route.destination, host("::1", 24));
    let route = ok(&r, &NoDirectory, "ann@a.b.example.test").await;
    assert_eq!(route.final_address, "ann.a.b@example.test");
    assert_eq!(
        route.destination,
        Destination::Mx {
            domain: "mx.example.test".into(),
            port: 2525
        }
    );
    let c = r.channel("tcp_smarthost").expect("channel");
    assert_eq!(c.tls_policy(), mail_routing::TlsPolicy::Required);
    assert_eq!(c.max_workers, 20, "default");
}

#[tokio::test]
async fn rewrite_loops_and_chains_are_stopped() {
    let r = small();
    let e = fails(&r, &NoDirectory, "u@a.test").await;
    assert!(
        matches!(&e.error, Error::Loop { chain } if chain == &["u@a.test", "u@b.test", "u@a.test"]),
        "{e}"
    );
    let e = fails(&r, &NoDirectory, "u@deep.test").await;
    assert!(
        matches!(&e.error, Error::TooManyRewrites { limit: 10, chain } if chain.len() == 11),
        "{e}"
    );
    let text = render_error(&e);
    assert!(text.contains("554 5.4.6"), "{text}");
}

#[tokio::test]
async fn bad_addresses_get_clear_errors() {
    let r = small();
    for (addr, code, status) in [
        ("no-at-sign", 501, "5.1.3"),
        ("a@exa_mple.test", 501, "5.1.3"),
        ("a@[192.0.2.1]", 501, "5.1.3"),
        ("<>", 501, "5.1.3"),
        ("@relay.test:u@x.test", 550, "5.7.1"),
        ("u%x.test@relay.test", 550, "5.7.1"),
        ("x.test!u@relay.test", 550, "5.7.1"),
    ] {
        let e = fails(&r, &NoDirectory, addr).await;
        let (c, s, _) = e.error.smtp_reply();
        assert_eq!((c, s.as_str()), (code, status), "{addr}: {e}");
        assert!(e.steps.is_empty());
    }
}

#[tokio::test]
async fn directory_failures_are_temporary() {
    let f = directory().await;
    let r = inbound();
    // The file backend rereads a changed file; a broken one cannot answer.
    std::fs::write(&f.data, "this is = = not toml").expect("break the file");
    let e = fails(&r, &*f.dir, "alice@example.test").await;
    assert!(matches!(e.error, Error::Directory(_)), "{e}");
    assert!(e.error.is_temporary());
    assert_eq!(e.error.smtp_reply().0, 451);
}

#[tokio::test]
async fn route_test_output_shows_every_step() {
    let f = directory().await;
    let r = inbound();
    let route = ok(&r, &*f.dir, "alice@mx1.example.test").await;
    let text = render_route(&route);
    for needle in [
        "route alice@mx1.example.test",
        "input",
        "rule 0 \"local host\"",
        "rewrite",
        "skipped",
        "directory: alice@example.test is user alice",
        "directory: user alice has mailHost store1.example.test",
        "channel     lmtp (kind lmtp) is selected by its host name lmtp-daemon",
        "destination store1.example.test:2424",
        "result",
        "  channel      lmtp (lmtp)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let e = fails(&r, &*f.dir, "nobody@example.test").await;
    let text = render_error(&e);
    assert!(text.contains("550 5.1.1 no such user here"), "{text}");
    assert!(
        text.contains("directory: example.test is a hosted domain"),
        "{text}"
    );
}

#[test]
fn shipped_defaults_list_their_placeholders() {
    let inbound_values: Vec<(&str, &str)> =
        INBOUND_PLACEHOLDERS.iter().map(|p| (*p, "1")).collect();
    let outbound_values: Vec<(&str, &str)> = OUTBOUND_PLACEHOLDERS
        .iter()
        .map(|p| (*p, "x.test"))
        .collect();
    fill(INBOUND_DEFAULT, &inbound_values).expect("inbound needs only the listed placeholders");
    fill(OUTBOUND_DEFAULT, &outbound_values).expect("outbound needs only the listed placeholders");
    let names =
        |r: &Router| -> Vec<String> { r.channels().iter().map(|c| c.name.clone()).collect() };
    assert_eq!(
        names(&inbound()),
        [
            "lmtp",
            "lmtp_guaranteed",
            "tcp_local",
            "reprocess",
            "bounce"
        ]
    );
    assert_eq!(
        names(&outbound()),
        ["tcp_submit", "tcp_intranet", "tcp_local", "bounce"]
    );
    let guaranteed = inbound();
    let g = guaranteed
        .channel("lmtp_guaranteed")
        .expect("guaranteed channel");
    assert!(g.guaranteed && g.kind == ChannelKind::Lmtp);
    let e = Router::from_text(Path::new("inbound.toml"), INBOUND_DEFAULT)
        .expect_err("an unfilled default is refused");
    let text = e.to_string();
    assert!(
        text.contains("inbound.toml") && text.contains("unfilled placeholder {{"),
        "{text}"
    );
}

fn config_error(text: &str) -> String {
    match Router::from_text(Path::new("bad.toml"), text) {
        Ok(_) => panic!("should be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn config_errors_name_the_key() {
    let mut wrong = Vec::new();
    let channel =
        "[[channel]]\nname = \"tcp_local\"\nkind = \"smtp_mx\"\nhosts = [\"tcp-daemon\"]\n";
    for (text, expect) in [
        (
            format!("{channel}colour = \"blue\"\n"),
            "bad.toml: channel[0].colour: unknown field `colour`",
        ),
        (
            format!("{channel}retry = [\"5 fortnights\"]\n"),
            "bad.toml: channel[0].retry",
        ),
        (
            format!("{channel}max_message_size = \"12 parsecs\"\n"),
            "bad.toml: channel[0].max_message_size",
        ),
        (
            format!("{channel}kind2 = 1\n"),
            "unknown field `kind2`",
        ),
        (
            format!("{channel}\n[[rewrite]]\ndomain = \"$*\"\nroute = \"tcp-deamon\"\n"),
            "bad.toml: rewrite[0].route: \"tcp-deamon\" is no channel's host (known: tcp-daemon)",
        ),
        (
            format!("{channel}\n[[rewrite]]\ndomain = \"$*\"\naddress = \"${{map:nope:$U}}\"\n"),
            "bad.toml: rewrite[0].address: mapping table \"nope\" is not defined",
        ),
        (
            format!("{channel}\n[[rewrite]]\ndomain = \"$*\"\naddress = \"$Q@$D\"\nroute = \"tcp-daemon\"\n"),
            "bad.toml: rewrite[0].address: $Q is not a substitution",
        ),
        (
            format!("{channel}\n[[rewrite]]\ndomain = \"*\"\nroute = \"tcp-daemon\"\n"),
            "bad.toml: rewrite[0].domain: use \"$*\"",
        ),
        (
            format!("{channel}\n[[rewrite]]\ndomain = \"$*\"\n"),
            "bad.toml: rewrite[0]: a rule needs route",
        ),
        (
            format!("{channel}\n[[rewrite]]\ndomain = \"$*\"\nerror = \"2.0.0 fine\"\n"),
            "bad.toml: rewrite[0].error",
        ),
        (
            format!("{channel}{channel}"),
            "bad.toml: channel[1].name: channel \"tcp_local\" is already defined as channel[0]",
        ),
        (
            "[[channel]]\nname = \"s\"\nkind = \"smtp_relay\"\nhosts = [\"s\"]\n".to_string(),
            "bad.toml: channel[0].relay: an smtp_relay channel needs its relay host",
        ),
        (
            "[[channel]]\nname = \"l\"\nkind = \"lmtp\"\nhosts = [\"l\"]\n[[rewrite]]\ndomain = \"$*\"\nroute = \"l\"\n".to_string(),
            "bad.toml: rewrite[0].destination: channel \"l\" (lmtp) has no relay",
        ),
        (
            "[[channel]]\nname = \"x\"\nkind = \"smtp_mx\"\nhosts = [\"x\"]\nmin_workers = 5\nmax_workers = 2\ntls = \"none\"\ntls_verify = true\n".to_string(),
            "bad.toml: channel[0].min_workers: must not exceed max_workers",
        ),
        (
            "[mapping.t]\n\"*@x\" = \"$1\"\n".to_string(),
            "bad.toml: mapping.t: entry \"*@x\": value uses $1",
        ),
        (
            "[routing]\nmax_rewrites = 0\n".to_string(),
            "bad.toml: routing.max_rewrites",
        ),
    ] {
        let e = config_error(&text);
        if !e.contains(expect) {
            wrong.push(format!("expected {expect:?} in:\n{e}\nfor:\n{text}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n---\n"));
    // Every problem is reported at once, each with its key.
    let e = config_error(
        "[[channel]]\nname = \"x\"\nkind = \"smtp_mx\"\nhosts = [\"x\"]\nmin_workers = 5\nmax_workers = 2\ntls = \"none\"\ntls_verify = true\n",
    );
    assert!(e.contains("channel[0].tls_verify"), "{e}");
    assert!(e.contains("channel[0].max_per_destination"), "{e}");
}

#[tokio::test]
async fn load_reads_a_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("routing.toml");
    std::fs::write(&path, SMALL).expect("write");
    let r = Router::load(&path).expect("loads");
    let route = ok(&r, &NoDirectory, "u@example.net").await;
    assert_eq!(route.channel, "tcp_local");
    let text = mail_routing::render(&r.route(&NoDirectory, "u@example.net").await);
    assert!(text.contains("channel      tcp_local (smtp_mx)"), "{text}");
    let text = mail_routing::render(&r.route(&NoDirectory, "u@a.test").await);
    assert!(text.contains("smtp reply   554 5.4.6"), "{text}");
    let missing = Router::load(&tmp.path().join("missing.toml")).expect_err("no file");
    assert!(
        missing.to_string().contains("missing.toml: cannot read"),
        "{missing}"
    );
}

/// The complete example in docs/routing.md is a valid file and does what
/// the text says.
#[tokio::test]
async fn documented_example_works() {
    let doc = std::fs::read_to_string(
        Path::new(
            &std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR, set by cargo test"),
        )
        .join("../../docs/routing.md"),
    )
    .expect("docs/routing.md");
    let examples: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.contains("[[rewrite]]\nname"))
        .collect();
    assert_eq!(examples.len(), 1, "one complete example");
    let r = Router::from_text(Path::new("docs/routing.md"), examples[0]).expect("valid");
    let route = ok(&r, &NoDirectory, "x@mail.partner.example").await;
    assert_eq!(route.channel, "tcp_smarthost");
    let e = fails(&r, &NoDirectory, "ann@eng.example.com").await;
    assert!(
        e.steps
            .iter()
            .any(|s| s.text.contains("ann@eng.example.com -> ann@example.com")),
        "{}",
        render_error(&e)
    );
    assert_eq!(e.error.smtp_reply().1, "5.1.1");
    let route = ok(&r, &NoDirectory, "x@example.net").await;
    assert_eq!(route.channel, "tcp_local");
}

/// A relay spawns routing on tokio: the future must be `Send` with the
/// directory trait object the services share.
#[allow(dead_code)]
fn route_future_is_send<'a>(
    r: &'a Router,
    d: &'a (dyn Directory + 'static),
) -> impl std::future::Future<Output = Result<Route, RouteError>> + Send + 'a {
    r.route(d, "alice@example.test")
}

/// `mailctl up` may name the relay after the domain itself: the "local
/// host" rule then rewrites an address to itself, which must not count as
/// a loop.
#[tokio::test]
async fn local_host_equal_to_the_domain_is_harmless() {
    let f = directory().await;
    let text = fill(
        INBOUND_DEFAULT,
        &[
            ("DOMAIN", "example.test"),
            ("LOCAL_HOST", "example.test"),
            ("LMTP_PORT", "24"),
            ("POSTMASTER", "alice@example.test"),
        ],
    )
    .expect("filled");
    let r = Router::from_text(Path::new("inbound.toml"), &text).expect("valid");
    let route = ok(&r, &*f.dir, "alice@example.test").await;
    assert_eq!(route.channel, "lmtp");
    assert_eq!(route.destination, host("store1.example.test", 24));
    let route = ok(&r, &*f.dir, "postmaster@example.test").await;
    assert_eq!(route.final_address, "alice@example.test");
}
