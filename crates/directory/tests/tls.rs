//! LDAPS and StartTLS against a real `slapd` with a generated certificate:
//! lookups and user binds work over both, and a client that does not trust
//! the server's certificate gets a temporary error instead of talking in
//! the clear or bouncing mail.

use mail_directory::{Address, AuthResult, DirectoryConfig, Resolved};
use mail_testkit::{Slapd, TlsFiles, deploy_ldap_dir};

struct TlsSlapd {
    slapd: Slapd,
    ca: std::path::PathBuf,
    _certs: tempfile::TempDir,
}

fn start() -> TlsSlapd {
    let certs = tempfile::tempdir().expect("tempdir");
    let files = mail_core::tls::generate_self_signed(
        certs.path(),
        &["127.0.0.1".to_string(), "localhost".to_string()],
    )
    .expect("certificate");
    let d = deploy_ldap_dir();
    let slapd = Slapd::start_with_tls(
        &d,
        &d.join("demo.ldif"),
        Some(&TlsFiles {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
    )
    .expect("slapd with TLS starts");
    TlsSlapd {
        slapd,
        ca: files.cert,
        _certs: certs,
    }
}

fn config(slapd: &Slapd, url: &str, extra: &str) -> DirectoryConfig {
    toml::from_str(&format!(
        "backend = \"ldap\"\nurl = \"{url}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nconnect_timeout = \"3s\"\ntimeout = \"3s\"\n{extra}\n[cache]\ncapacity = 0\n",
        slapd.base_dn, slapd.admin_dn, slapd.admin_password
    ))
    .expect("config parses")
}

/// A demo user the LDIF creates, and its password.
const DEMO: (&str, &str) = ("alice@example.test", "secret");

async fn lookups_and_binds_work(cfg: &DirectoryConfig) {
    let dir = mail_directory::open(cfg).await.expect("directory opens");
    let addr = Address::parse(DEMO.0).expect("address");
    let uid = match dir.resolve(&addr).await.expect("lookup over TLS") {
        Resolved::User(u) => u.uid,
        other => panic!("{} should be a user, got {other:?}", DEMO.0),
    };
    assert!(
        matches!(
            dir.authenticate(&uid, DEMO.1).await.expect("bind over TLS"),
            AuthResult::Authenticated(_)
        ),
        "the right password binds over TLS"
    );
    assert!(matches!(
        dir.authenticate(&uid, "wrong")
            .await
            .expect("bind over TLS"),
        AuthResult::Failed
    ));
}

#[tokio::test]
async fn ldaps_lookups_and_binds() {
    let t = start();
    let url = t.slapd.ldaps_url.clone().expect("ldaps url");
    let cfg = config(&t.slapd, &url, &format!("tls_ca = \"{}\"", t.ca.display()));
    lookups_and_binds_work(&cfg).await;
}

#[tokio::test]
async fn starttls_lookups_and_binds() {
    let t = start();
    let cfg = config(
        &t.slapd,
        &t.slapd.url,
        &format!("starttls = true\ntls_ca = \"{}\"", t.ca.display()),
    );
    lookups_and_binds_work(&cfg).await;
}

#[tokio::test]
async fn untrusted_certificate_is_a_temporary_failure() {
    let t = start();
    for cfg in [
        config(&t.slapd, t.slapd.ldaps_url.as_deref().expect("ldaps"), ""),
        config(&t.slapd, &t.slapd.url, "starttls = true"),
    ] {
        let dir = mail_directory::open(&cfg).await.expect("opens lazily");
        let err = dir
            .resolve(&Address::parse(DEMO.0).expect("address"))
            .await
            .expect_err("an untrusted certificate must not be accepted");
        assert!(
            err.is_temporary(),
            "TLS failure must be temporary (4xx), got {err}"
        );
    }
}
