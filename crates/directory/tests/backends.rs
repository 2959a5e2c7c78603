//! One suite, run against both backends: the file backend on a temporary
//! file and the LDAP backend on a real `slapd` loaded with the shipped
//! schema and demo LDIF. Each check populates the same fixture through the
//! `Directory` admin calls, then asks the lookups the services ask.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_directory::{
    AccountStatus, Address, AuthResult, Delivery, Directory, DirectoryConfig, DirectoryError,
    Domain, ExpansionConfig, GroupChange, GroupSpec, PostingPolicy, Quota, Resolved, UserChange,
    UserSpec, Vacation, expand_group, may_post,
};
use mail_testkit::{Slapd, deploy_ldap_dir};

struct Fixture {
    dir: Arc<dyn Directory>,
    slapd: Option<Slapd>,
    _tmp: tempfile::TempDir,
}

fn config(text: &str) -> DirectoryConfig {
    toml::from_str(text).expect("test config parses")
}

fn ldap_config(slapd: &Slapd, extra: &str) -> DirectoryConfig {
    config(&format!(
        "backend = \"ldap\"\nurl = \"{}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nconnect_timeout = \"2s\"\ntimeout = \"2s\"\n{extra}\n[cache]\ncapacity = 0\n",
        slapd.url, slapd.base_dn, slapd.admin_dn, slapd.admin_password
    ))
}

fn start_slapd() -> Slapd {
    let d = deploy_ldap_dir();
    Slapd::start(&d, &d.join("demo.ldif")).expect("slapd starts")
}

async fn file_fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = config(&format!(
        "backend = \"file\"\npath = \"{}\"\n[cache]\ncapacity = 0\n",
        tmp.path().join("directory.toml").display()
    ));
    let dir = mail_directory::open(&cfg)
        .await
        .expect("file directory opens");
    populate(&*dir).await;
    Fixture {
        dir,
        slapd: None,
        _tmp: tmp,
    }
}

async fn ldap_fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let slapd = start_slapd();
    let dir = mail_directory::open(&ldap_config(&slapd, ""))
        .await
        .expect("ldap directory opens");
    populate(&*dir).await;
    Fixture {
        dir,
        slapd: Some(slapd),
        _tmp: tmp,
    }
}

const BASE: &str = "dc=example,dc=test";

fn addr(a: &str) -> Address {
    Address::parse(a).expect("test address parses")
}

/// The same fixture on both backends, made with the admin calls.
async fn populate(d: &dyn Directory) {
    d.add_domain(&Domain {
        name: "suite.test".into(),
        aliases: vec!["suite-alias.test".into()],
    })
    .await
    .expect("add domain");
    d.add_domain(&Domain {
        name: "catchall.test".into(),
        aliases: vec![],
    })
    .await
    .expect("add catch-all domain");
    let user = |uid: &str, dept: &str| UserSpec {
        uid: uid.into(),
        address: format!("{uid}@suite.test"),
        display_name: Some(format!("{uid} Tester")),
        password: Some(format!("{uid}-pw")),
        mail_host: Some("store1.suite.test".into()),
        partition: Some("primary".into()),
        attributes: [("departmentNumber".to_string(), vec![dept.to_string()])].into(),
        ..UserSpec::default()
    };
    let mut ann = user("ann", "suite-sales");
    ann.alternates = vec!["ann.smith@suite.test".into()];
    ann.quota = Quota {
        bytes: Some(5_000_000),
        messages: Some(500),
    };
    ann.delivery = Delivery {
        forward_to: vec!["ann@elsewhere.test".into()],
        keep_local_copy: true,
        routing_address: None,
        vacation: Some(Vacation {
            text: "Away until Monday".into(),
            start: Some("20260101000000Z".into()),
            end: Some("20260201000000Z".into()),
        }),
    };
    d.add_user(&ann).await.expect("add ann");
    d.add_user(&user("ben", "suite-sales"))
        .await
        .expect("add ben");
    d.add_user(&user("cat", "suite-eng"))
        .await
        .expect("add cat");
    let mut ina = user("ina", "suite-eng");
    ina.status = AccountStatus::Inactive;
    d.add_user(&ina).await.expect("add ina");
    let mut del = user("del", "suite-sales");
    del.status = AccountStatus::Deleted;
    d.add_user(&del).await.expect("add del");
    let mut star = user("star", "none");
    star.address = "st*r@suite.test".into();
    d.add_user(&star)
        .await
        .expect("add user with * in the address");
    let mut bucket = user("bucket", "none");
    bucket.address = "bucket@catchall.test".into();
    bucket.alternates = vec!["@catchall.test".into()];
    d.add_user(&bucket).await.expect("add catch-all user");

    let dn = |uid: &str| format!("uid={uid},ou=people,{BASE}");
    let gdn = |cn: &str| format!("cn={cn},ou=groups,{BASE}");
    let group = |name: &str, members: Vec<String>| GroupSpec {
        name: name.into(),
        address: Some(format!("{name}@suite.test")),
        members,
        ..GroupSpec::default()
    };
    d.add_group(&group("team", vec![dn("ann"), dn("cat"), dn("del")]))
        .await
        .expect("static group");
    d.add_group(&group(
        "sellers",
        vec![format!(
            "ldap:///{BASE}??sub?(departmentNumber=suite-sales)"
        )],
    ))
    .await
    .expect("dynamic group");
    let mut all = group(
        "all",
        vec![
            gdn("team"),
            gdn("sellers"),
            "partner@outside.test".into(),
            "cat@suite.test".into(),
        ],
    );
    all.posting = PostingPolicy::Restricted;
    all.allowed_senders = vec!["boss@outside.test".into()];
    d.add_group(&all).await.expect("nested group");
    d.add_group(&group("loop-a", vec![gdn("loop-b"), dn("ann")]))
        .await
        .expect("loop a");
    d.add_group(&group("loop-b", vec![gdn("loop-a"), dn("ben")]))
        .await
        .expect("loop b");
    d.add_group(&group("deep1", vec![gdn("deep2")]))
        .await
        .expect("deep1");
    d.add_group(&group("deep2", vec![gdn("deep3")]))
        .await
        .expect("deep2");
    d.add_group(&group("deep3", vec![gdn("deep4")]))
        .await
        .expect("deep3");
    d.add_group(&group("deep4", vec![dn("ann")]))
        .await
        .expect("deep4");
}

async fn resolves_addresses(f: &Fixture) {
    let d = &*f.dir;
    let uid = |r: Resolved| r.user().map(|u| u.uid.clone());
    let r = |a: &'static str| async move { d.resolve(&addr(a)).await.expect(a) };
    assert_eq!(
        uid(r("ann@suite.test").await),
        Some("ann".into()),
        "primary"
    );
    assert_eq!(
        uid(r("ANN@Suite.Test").await),
        Some("ann".into()),
        "case-insensitive"
    );
    assert_eq!(
        uid(r("ann.smith@suite.test").await),
        Some("ann".into()),
        "alternate"
    );
    assert_eq!(
        uid(r("ann@suite-alias.test").await),
        Some("ann".into()),
        "domain alias"
    );
    assert_eq!(
        uid(r("ann.smith@suite-alias.test").await),
        Some("ann".into()),
        "alias + alternate"
    );
    assert_eq!(
        uid(r("ann+lists@suite.test").await),
        Some("ann".into()),
        "subaddress"
    );
    assert_eq!(
        uid(r("whoever@catchall.test").await),
        Some("bucket".into()),
        "catch-all"
    );
    assert_eq!(r("nobody@suite.test").await, Resolved::None, "unknown user");
    assert_eq!(
        r("ann@not-hosted.test").await,
        Resolved::None,
        "unhosted domain"
    );
    let g = r("team@suite.test").await;
    assert_eq!(
        g.group().map(|g| g.name.as_str()),
        Some("team"),
        "group address"
    );
}

async fn user_details(f: &Fixture) {
    let d = &*f.dir;
    let u = d.user("ann").await.expect("lookup").expect("ann exists");
    assert_eq!(u.uid, "ann");
    assert_eq!(u.address.to_string(), "ann@suite.test");
    assert_eq!(u.display_name, "ann Tester");
    assert_eq!(u.mail_host.as_deref(), Some("store1.suite.test"));
    assert_eq!(u.partition.as_deref(), Some("primary"));
    assert_eq!(
        u.quota,
        Quota {
            bytes: Some(5_000_000),
            messages: Some(500)
        }
    );
    assert_eq!(u.delivery.forward_to, ["ann@elsewhere.test"]);
    assert!(u.delivery.keep_local_copy);
    let v = u.delivery.vacation.as_ref().expect("vacation");
    assert_eq!(v.text, "Away until Monday");
    assert!(v.active_at(1_768_000_000), "mid-January 2026");
    assert!(!v.active_at(1_800_000_000), "after the end");
    assert_eq!(u.status, AccountStatus::Active);
    assert_eq!(u.dn.to_lowercase(), format!("uid=ann,ou=people,{BASE}"));
    let ina = d.user("ina").await.expect("lookup").expect("ina exists");
    assert_eq!(ina.status, AccountStatus::Inactive);
    let del = d.user("del").await.expect("lookup").expect("del exists");
    assert_eq!(del.status, AccountStatus::Deleted);
    assert_ne!(ina.status.smtp_reply(), del.status.smtp_reply());
    assert_ne!(ina.status.imap_reply(), del.status.imap_reply());
    assert!(d.user("nobody").await.expect("lookup").is_none());
}

async fn domains(f: &Fixture) {
    let d = &*f.dir;
    let dom = d
        .domain("suite.test")
        .await
        .expect("lookup")
        .expect("hosted");
    assert_eq!(dom.aliases, ["suite-alias.test"]);
    let via_alias = d
        .domain("SUITE-ALIAS.test")
        .await
        .expect("lookup")
        .expect("alias");
    assert_eq!(via_alias.name, "suite.test");
    assert!(d.domain("not-hosted.test").await.expect("lookup").is_none());
    let names: Vec<String> = d
        .list_domains()
        .await
        .expect("list")
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert!(
        names.contains(&"suite.test".to_string()) && names.contains(&"catchall.test".to_string()),
        "{names:?}"
    );
    let err = d
        .add_domain(&Domain {
            name: "other.test".into(),
            aliases: vec!["suite-alias.test".into()],
        })
        .await
        .expect_err("alias taken");
    assert!(matches!(err, DirectoryError::AlreadyExists(_)), "{err}");
}

async fn authentication(f: &Fixture) {
    let d = &*f.dir;
    match d.authenticate("ann", "ann-pw").await.expect("auth") {
        AuthResult::Authenticated(u) => assert_eq!(u.uid, "ann"),
        other => panic!("right password: {other:?}"),
    }
    assert!(
        matches!(
            d.authenticate("ann@suite.test", "ann-pw")
                .await
                .expect("auth"),
            AuthResult::Authenticated(_)
        ),
        "login by address"
    );
    assert_eq!(
        d.authenticate("ann", "wrong").await.expect("auth"),
        AuthResult::Failed
    );
    assert_eq!(
        d.authenticate("ann", "").await.expect("auth"),
        AuthResult::Failed,
        "empty password"
    );
    assert_eq!(
        d.authenticate("nobody", "ann-pw").await.expect("auth"),
        AuthResult::Failed
    );
    assert!(matches!(
        d.authenticate("ina", "ina-pw").await.expect("auth"),
        AuthResult::Inactive(_)
    ));
    assert_eq!(
        d.authenticate("ina", "wrong").await.expect("auth"),
        AuthResult::Failed,
        "no status leak"
    );
    assert_eq!(
        d.authenticate("del", "del-pw").await.expect("auth"),
        AuthResult::Deleted
    );
    // A changed password works at once and the old one stops working.
    d.modify_user(
        "ben",
        &UserChange {
            password: Some("new-pw".into()),
            ..UserChange::default()
        },
    )
    .await
    .expect("change password");
    assert!(matches!(
        d.authenticate("ben", "new-pw").await.expect("auth"),
        AuthResult::Authenticated(_)
    ));
    assert_eq!(
        d.authenticate("ben", "ben-pw").await.expect("auth"),
        AuthResult::Failed
    );
}

async fn filter_injection(f: &Fixture) {
    let d = &*f.dir;
    // `*` is legal in an address: it must match only itself.
    assert_eq!(
        d.resolve(&addr("st*r@suite.test"))
            .await
            .expect("lookup")
            .user()
            .map(|u| u.uid.clone()),
        Some("star".into())
    );
    assert_eq!(
        d.resolve(&addr("*@suite.test")).await.expect("lookup"),
        Resolved::None
    );
    assert_eq!(
        d.resolve(&addr("a*@suite.test")).await.expect("lookup"),
        Resolved::None
    );
    for login in ["*", "a*", "ann)(uid=*", "*)(|(uid=*", "ann\\2a", "ann\0"] {
        assert_eq!(
            d.authenticate(login, "ann-pw").await.expect("auth"),
            AuthResult::Failed,
            "{login:?}"
        );
        assert!(d.user(login).await.expect("lookup").is_none(), "{login:?}");
    }
    for name in ["*", "te*", "team)(cn=*"] {
        assert!(d.group(name).await.expect("lookup").is_none(), "{name:?}");
    }
    for name in ["*", "suite.test)(cn=*", "*.test"] {
        assert!(d.domain(name).await.expect("lookup").is_none(), "{name:?}");
    }
    for bad in [
        "ann)(mail=*@suite.test",
        "ann@suite.test)(mail=*",
        "(ann)@suite.test",
        "ann\\@suite.test",
        "ann",
    ] {
        let err = Address::parse(bad).expect_err(bad);
        assert!(!err.is_temporary(), "malformed input is permanent: {err}");
    }
    let err = d
        .add_user(&UserSpec {
            uid: "evil)(uid=*".into(),
            address: "evil@suite.test".into(),
            ..UserSpec::default()
        })
        .await
        .expect_err("bad uid");
    assert!(matches!(err, DirectoryError::InvalidInput { .. }), "{err}");
}

async fn group_expansion(f: &Fixture) {
    let d = &*f.dir;
    let limits = ExpansionConfig::default();
    let team = d.group("team").await.expect("lookup").expect("team");
    let mut got = expand_group(d, &team, &limits)
        .await
        .expect("expand team")
        .recipients;
    got.sort();
    assert_eq!(
        got,
        ["ann@suite.test", "cat@suite.test"],
        "deleted members are skipped"
    );

    let sellers = d.group("sellers").await.expect("lookup").expect("sellers");
    let mut got = expand_group(d, &sellers, &limits)
        .await
        .expect("expand dynamic")
        .recipients;
    got.sort();
    assert_eq!(
        got,
        ["ann@suite.test", "ben@suite.test"],
        "dynamic members (del is deleted)"
    );

    let all = match d.resolve(&addr("all@suite.test")).await.expect("lookup") {
        Resolved::Group(g) => *g,
        other => panic!("all@ is a group: {other:?}"),
    };
    let mut got = expand_group(d, &all, &limits)
        .await
        .expect("expand nested")
        .recipients;
    got.sort();
    assert_eq!(
        got,
        [
            "ann@suite.test",
            "ben@suite.test",
            "cat@suite.test",
            "partner@outside.test"
        ],
        "nested, each once"
    );
    assert!(may_post(&all, &addr("boss@outside.test"), None));
    assert!(!may_post(&all, &addr("ann@suite.test"), None), "restricted");
    let mut open_team = team.clone();
    open_team.posting = PostingPolicy::Members;
    let e = expand_group(d, &team, &limits).await.expect("expand");
    assert!(may_post(&open_team, &addr("cat@suite.test"), Some(&e)));
    assert!(!may_post(&open_team, &addr("ben@suite.test"), Some(&e)));
}

async fn group_loop_and_depth(f: &Fixture) {
    let d = &*f.dir;
    let limits = ExpansionConfig::default();
    let a = d.group("loop-a").await.expect("lookup").expect("loop-a");
    let e = expand_group(d, &a, &limits)
        .await
        .expect("a loop is not an error");
    let mut got = e.recipients.clone();
    got.sort();
    assert_eq!(got, ["ann@suite.test", "ben@suite.test"]);
    assert_eq!(e.loops.len(), 1, "{e:?}");
    assert!(e.loops[0].to_lowercase().starts_with("cn=loop-a,"), "{e:?}");

    let deep = d.group("deep1").await.expect("lookup").expect("deep1");
    let ok = expand_group(d, &deep, &limits)
        .await
        .expect("within the limit");
    assert_eq!(ok.recipients, ["ann@suite.test"]);
    let tight = ExpansionConfig {
        max_depth: 2,
        ..ExpansionConfig::default()
    };
    let err = expand_group(d, &deep, &tight).await.expect_err("too deep");
    assert!(
        matches!(err, DirectoryError::ExpansionTooDeep { limit: 2, .. }),
        "{err}"
    );
    assert!(!err.is_temporary());
}

async fn administration(f: &Fixture) {
    let d = &*f.dir;
    let err = d
        .add_user(&UserSpec {
            uid: "ann".into(),
            address: "ann2@suite.test".into(),
            ..UserSpec::default()
        })
        .await
        .expect_err("uid taken");
    assert!(matches!(err, DirectoryError::AlreadyExists(_)), "{err}");
    let err = d
        .add_user(&UserSpec {
            uid: "ann2".into(),
            address: "ann.smith@suite.test".into(),
            ..UserSpec::default()
        })
        .await
        .expect_err("address taken");
    assert!(matches!(err, DirectoryError::AlreadyExists(_)), "{err}");
    let err = d
        .add_user(&UserSpec {
            uid: "ann2".into(),
            address: "ann2@not-hosted.test".into(),
            ..UserSpec::default()
        })
        .await
        .expect_err("domain not hosted");
    assert!(matches!(err, DirectoryError::InvalidInput { .. }), "{err}");

    let u = d
        .modify_user(
            "cat",
            &UserChange {
                mail_host: Some("store2.suite.test".into()),
                partition: Some(String::new()),
                quota_bytes: Some(42),
                status: Some(AccountStatus::Inactive),
                alternates: Some(vec!["kitty@suite.test".into()]),
                vacation: Some(Some(Vacation {
                    text: "gone".into(),
                    start: None,
                    end: None,
                })),
                ..UserChange::default()
            },
        )
        .await
        .expect("modify");
    assert_eq!(u.mail_host.as_deref(), Some("store2.suite.test"));
    let again = d.user("cat").await.expect("lookup").expect("cat");
    assert_eq!(again, u, "what modify returns is what lookups see");
    assert_eq!(again.partition, None);
    assert_eq!(again.quota.bytes, Some(42));
    assert_eq!(again.status, AccountStatus::Inactive);
    assert_eq!(
        d.resolve(&addr("kitty@suite.test"))
            .await
            .expect("lookup")
            .user()
            .map(|u| u.uid.clone()),
        Some("cat".into())
    );

    let g = d
        .modify_group(
            "team",
            &GroupChange {
                add: vec!["friend@outside.test".into()],
                remove: vec![format!("uid=cat,ou=people,{BASE}")],
                posting: Some(PostingPolicy::Members),
                ..GroupChange::default()
            },
        )
        .await
        .expect("modify group");
    assert_eq!(g.member_addresses, ["friend@outside.test"]);
    let mut again = d.group("team").await.expect("lookup").expect("team");
    let mut g = g;
    again.members.sort();
    g.members.sort();
    assert_eq!(again, g, "LDAP keeps no value order; compare as sets");
    assert!(!g.members.iter().any(|m| m.starts_with("uid=cat,")));

    let users: Vec<String> = d
        .list_users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.uid)
        .collect();
    for uid in ["ann", "ben", "cat", "ina", "del", "star", "bucket"] {
        assert!(users.contains(&uid.to_string()), "{uid} in {users:?}");
    }
    let groups: Vec<String> = d
        .list_groups()
        .await
        .expect("list")
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert!(groups.contains(&"loop-a".to_string()), "{groups:?}");

    d.delete_user("ben").await.expect("delete");
    assert!(d.user("ben").await.expect("lookup").is_none());
    assert_eq!(
        d.resolve(&addr("ben@suite.test")).await.expect("lookup"),
        Resolved::None
    );
    assert!(matches!(
        d.delete_user("ben").await,
        Err(DirectoryError::NotFound(_))
    ));
    d.delete_group("deep4").await.expect("delete group");
    assert!(d.group("deep4").await.expect("lookup").is_none());
}

macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod file {
            $(
                #[tokio::test]
                async fn $check() {
                    let f = super::file_fixture().await;
                    super::$check(&f).await;
                }
            )*
        }
        mod ldap {
            $(
                #[tokio::test]
                async fn $check() {
                    let f = super::ldap_fixture().await;
                    super::$check(&f).await;
                    drop(f.slapd);
                }
            )*
        }
    };
}

/// A list reached by more than one address: set at creation, replaced
/// later, and never allowed to take an address someone else has.
async fn group_alternates(f: &Fixture) {
    let d = &*f.dir;
    let g = d
        .add_group(&GroupSpec {
            name: "crew".into(),
            address: Some("crew@suite.test".into()),
            alternates: vec!["Personnel@suite.test".into()],
            members: vec!["ann@suite.test".into()],
            ..GroupSpec::default()
        })
        .await
        .expect("group with an alternate address");
    assert_eq!(g.alternates, vec!["personnel@suite.test".to_string()]);
    let name = |r: Resolved| r.group().map(|g| g.name.clone());
    assert_eq!(
        name(
            d.resolve(&addr("personnel@suite.test"))
                .await
                .expect("lookup")
        ),
        Some("crew".into())
    );
    assert_eq!(
        name(
            d.resolve(&addr("personnel@suite-alias.test"))
                .await
                .expect("lookup")
        ),
        Some("crew".into()),
        "alternate through a domain alias"
    );
    let taken = d
        .modify_group(
            "crew",
            &GroupChange {
                alternates: Some(vec!["ann.smith@suite.test".into()]),
                ..GroupChange::default()
            },
        )
        .await;
    assert!(
        matches!(taken, Err(DirectoryError::AlreadyExists(_))),
        "a user's alternate address cannot be given to a group: {taken:?}"
    );
    d.modify_group(
        "crew",
        &GroupChange {
            alternates: Some(vec!["hr@suite.test".into()]),
            ..GroupChange::default()
        },
    )
    .await
    .expect("replace alternates");
    assert_eq!(
        d.resolve(&addr("personnel@suite.test"))
            .await
            .expect("lookup"),
        Resolved::None,
        "the replaced alternate no longer reaches the list"
    );
    assert_eq!(
        name(d.resolve(&addr("hr@suite.test")).await.expect("lookup")),
        Some("crew".into())
    );
    assert_eq!(
        d.group("crew").await.expect("lookup").map(|g| g.alternates),
        Some(vec!["hr@suite.test".to_string()]),
        "the change is stored"
    );
}

on_both_backends!(
    resolves_addresses,
    group_alternates,
    user_details,
    domains,
    authentication,
    filter_injection,
    group_expansion,
    group_loop_and_depth,
    administration,
);

/// The shipped demo LDIF answers as documented, through the read-only
/// service account it defines.
#[tokio::test]
async fn ldap_demo_organisation_via_service_account() {
    let slapd = start_slapd();
    let cfg = config(&format!(
        "backend = \"ldap\"\nurl = \"{}\"\nbase_dn = \"{BASE}\"\nbind_dn = \"cn=tiermail,ou=services,{BASE}\"\nbind_password = \"tiermail\"\n",
        slapd.url
    ));
    let d = mail_directory::open(&cfg).await.expect("open");
    let alice = d
        .resolve(&addr("a.liddell@example.org"))
        .await
        .expect("lookup");
    assert_eq!(
        alice.user().map(|u| u.uid.as_str()),
        Some("alice"),
        "alias domain + alternate"
    );
    assert_eq!(
        alice.user().and_then(|u| u.mail_host.as_deref()),
        Some("store1.example.test")
    );
    assert_eq!(
        d.resolve(&addr("anyone@example.test"))
            .await
            .expect("lookup")
            .user()
            .map(|u| u.uid.clone()),
        Some("carol".into()),
        "carol holds the catch-all"
    );
    assert!(matches!(
        d.authenticate("alice", "secret").await.expect("auth"),
        AuthResult::Authenticated(_)
    ));
    assert!(
        matches!(
            d.authenticate("carol", "carol-password")
                .await
                .expect("auth"),
            AuthResult::Authenticated(_)
        ),
        "{{CRYPT}} hash"
    );
    let everyone = d
        .group("everyone")
        .await
        .expect("lookup")
        .expect("everyone");
    let mut got = expand_group(&*d, &everyone, &ExpansionConfig::default())
        .await
        .expect("expand")
        .recipients;
    got.sort();
    assert_eq!(
        got,
        [
            "alice@example.test",
            "bob@example.test",
            "carol@example.test",
            "partner@elsewhere.test"
        ]
    );
    // The service account may read but not write.
    let err = d
        .add_domain(&Domain {
            name: "sneaky.test".into(),
            aliases: vec![],
        })
        .await
        .expect_err("read-only account");
    assert!(
        matches!(err, DirectoryError::Server { code: 50, .. }),
        "insufficientAccessRights: {err}"
    );
}

/// LDAP down: every lookup is a temporary failure, never "no such user".
#[tokio::test]
async fn ldap_down_is_a_temporary_failure() {
    let mut slapd = start_slapd();
    let d = mail_directory::open(&ldap_config(&slapd, ""))
        .await
        .expect("open");
    assert!(
        d.resolve(&addr("alice@example.test"))
            .await
            .expect("up")
            .user()
            .is_some()
    );
    slapd.stop();
    let started = Instant::now();
    let err = d
        .resolve(&addr("alice@example.test"))
        .await
        .expect_err("down");
    assert!(err.is_temporary(), "{err}");
    assert_eq!(err.smtp_reply().0 / 100, 4, "{err}");
    let err = d.authenticate("alice", "secret").await.expect_err("down");
    assert!(err.is_temporary(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Nothing listening at all (never connected).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let cfg = config(&format!(
        "backend = \"ldap\"\nurl = \"ldap://127.0.0.1:{port}/\"\nbase_dn = \"{BASE}\"\nconnect_timeout = \"1s\"\n"
    ));
    let d = mail_directory::open(&cfg).await.expect("open is lazy");
    let err = d.user("alice").await.expect_err("unreachable");
    assert!(matches!(err, DirectoryError::Unavailable { .. }), "{err}");
    assert!(err.is_temporary());
}

/// A server that accepts but never answers: the timeout fires and the
/// failure is temporary.
#[tokio::test]
async fn ldap_slow_is_a_timeout() {
    let slapd = start_slapd();
    let d = mail_directory::open(&ldap_config(&slapd, ""))
        .await
        .expect("open");
    assert!(d.user("alice").await.expect("up").is_some());
    slapd.pause().expect("SIGSTOP slapd");
    let cfg = match ldap_config(&slapd, "") {
        DirectoryConfig::Ldap(mut l) => {
            l.timeout = Duration::from_millis(500);
            l.connect_timeout = Duration::from_millis(500);
            DirectoryConfig::Ldap(l)
        }
        other => other,
    };
    let slow = mail_directory::open(&cfg).await.expect("open");
    let started = Instant::now();
    let err = slow.user("alice").await.expect_err("paused server");
    assert!(matches!(err, DirectoryError::Timeout { .. }), "{err}");
    assert!(err.is_temporary());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The pooled connection of the first handle times out as well.
    let err = tokio::time::timeout(Duration::from_secs(10), d.user("bob"))
        .await
        .expect("bounded by the 2s timeout")
        .expect_err("paused");
    assert!(err.is_temporary(), "{err}");
    slapd.resume().expect("SIGCONT");
    // And recovers once the server answers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match d.user("bob").await {
            Ok(Some(_)) => break,
            other if Instant::now() > deadline => panic!("did not recover: {other:?}"),
            _ => tokio::task::yield_now().await,
        }
    }
}
