//! `mailctl user|group|domain` against a real slapd (and the file
//! backend): what mailctl writes is what `ldapsearch` shows.

use std::path::Path;
use std::process::{Command, Output};

use mail_testkit::{Slapd, deploy_ldap_dir};

fn mailctl(config: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mailctl"))
        .args(args)
        .arg("--directory")
        .arg(config)
        .output()
        .expect("mailctl runs");
    eprintln!(
        "mailctl {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(config: &Path, args: &[&str]) -> String {
    let out = mailctl(config, args);
    assert!(out.status.success(), "mailctl {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ldap_config(dir: &Path, slapd: &Slapd) -> std::path::PathBuf {
    let path = dir.join("directory.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nbackend = \"ldap\"\nurl = \"{}\"\nbase_dn = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{}\"\nconnect_timeout = \"2s\"\ntimeout = \"2s\"\n",
            slapd.url, slapd.base_dn, slapd.admin_dn, slapd.admin_password
        ),
    )
    .expect("write config");
    path
}

#[test]
fn mailctl_user_add_creates_an_ldap_entry() {
    let d = deploy_ldap_dir();
    let mut slapd = Slapd::start(&d, &d.join("demo.ldif")).expect("slapd starts");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = ldap_config(tmp.path(), &slapd);

    ok(
        &cfg,
        &[
            "user",
            "add",
            "dave",
            "--address",
            "dave@example.test",
            "--name",
            "Dave Grohl",
            "--password",
            "dave-pw",
            "--alias",
            "d.grohl@example.test",
            "--mail-host",
            "store3.example.test",
            "--partition",
            "primary",
            "--quota-bytes",
            "1000000",
            "--attr",
            "departmentNumber=sales",
        ],
    );
    let ldif = slapd
        .ldapsearch(
            "(uid=dave)",
            &[
                "mail",
                "mailLocalAddress",
                "mailHost",
                "tiermailQuotaBytes",
                "userPassword",
            ],
        )
        .expect("ldapsearch");
    assert!(
        ldif.contains("dn: uid=dave,ou=people,dc=example,dc=test"),
        "{ldif}"
    );
    assert!(ldif.contains("mail: dave@example.test"), "{ldif}");
    assert!(
        ldif.contains("mailLocalAddress: d.grohl@example.test"),
        "{ldif}"
    );
    assert!(ldif.contains("mailHost: store3.example.test"), "{ldif}");
    assert!(ldif.contains("tiermailQuotaBytes: 1000000"), "{ldif}");
    assert!(
        !ldif.contains("dave-pw"),
        "the password is stored hashed: {ldif}"
    );
    // slapd itself accepts the password mailctl hashed.
    let who = Command::new("ldapwhoami")
        .args([
            "-x",
            "-H",
            &slapd.url,
            "-D",
            "uid=dave,ou=people,dc=example,dc=test",
            "-w",
            "dave-pw",
        ])
        .output()
        .expect("ldapwhoami");
    assert!(
        who.status.success(),
        "{}",
        String::from_utf8_lossy(&who.stderr)
    );

    let shown = ok(&cfg, &["user", "show", "d.grohl@example.org"]);
    assert!(
        shown.contains("uid:            dave") && shown.contains("store3.example.test"),
        "{shown}"
    );
    ok(
        &cfg,
        &[
            "user",
            "modify",
            "dave",
            "--status",
            "inactive",
            "--mail-host",
            "store4.example.test",
        ],
    );
    let ldif = slapd
        .ldapsearch("(uid=dave)", &["mailHost", "tiermailAccountStatus"])
        .expect("ldapsearch");
    assert!(
        ldif.contains("mailHost: store4.example.test")
            && ldif.contains("tiermailAccountStatus: inactive"),
        "{ldif}"
    );
    assert!(ok(&cfg, &["user", "list"]).contains("dave@example.test"));

    ok(
        &cfg,
        &["domain", "add", "new.test", "--alias", "new-alias.test"],
    );
    assert!(ok(&cfg, &["domain", "list"]).contains("new.test  (aliases: new-alias.test)"));
    ok(
        &cfg,
        &[
            "group",
            "add",
            "crew",
            "--address",
            "crew@example.test",
            "--member",
            "uid=dave,ou=people,dc=example,dc=test",
            "--member",
            "cn=staff,ou=groups,dc=example,dc=test",
        ],
    );
    let members = ok(
        &cfg,
        &["group", "members", "crew", "--add", "friend@outside.test"],
    );
    for r in [
        "dave@example.test",
        "alice@example.test",
        "bob@example.test",
        "friend@outside.test",
    ] {
        assert!(members.contains(&format!("expands to: {r}")), "{members}");
    }
    assert!(
        slapd
            .ldapsearch("(cn=crew)", &["member"])
            .expect("ldapsearch")
            .contains("member: uid=dave")
    );
    ok(&cfg, &["group", "delete", "crew"]);
    assert!(
        !slapd
            .ldapsearch("(cn=crew)", &["cn"])
            .expect("ldapsearch")
            .contains("cn=crew")
    );

    ok(&cfg, &["user", "delete", "dave"]);
    assert!(
        slapd
            .ldapsearch("(uid=dave)", &["tiermailAccountStatus"])
            .expect("ldapsearch")
            .contains("deleted")
    );
    ok(&cfg, &["user", "delete", "dave", "--purge"]);
    assert!(
        !slapd
            .ldapsearch("(uid=dave)", &["uid"])
            .expect("ldapsearch")
            .contains("uid=dave")
    );

    // Bad input and a dead server are reported, not panicked on.
    let out = mailctl(
        &cfg,
        &["user", "add", "eve", "--address", "eve)(uid=*@example.test"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid address"));
    slapd.stop();
    let out = mailctl(&cfg, &["user", "show", "alice"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unreachable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mailctl_works_on_the_file_backend() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("dir.toml");
    std::fs::write(&cfg, "backend = \"file\"\npath = \"users.toml\"\n").expect("write config");
    ok(&cfg, &["domain", "add", "example.test"]);
    ok(
        &cfg,
        &[
            "user",
            "add",
            "zoe",
            "--address",
            "zoe@example.test",
            "--password",
            "zoe-pw",
        ],
    );
    let data = std::fs::read_to_string(tmp.path().join("users.toml")).expect("data file");
    assert!(
        data.contains("uid = \"zoe\"") && data.contains("{ARGON2}$argon2id$"),
        "{data}"
    );
    assert!(!data.contains("zoe-pw"));
    assert!(ok(&cfg, &["user", "show", "zoe@example.test"]).contains("zoe@example.test"));
    ok(
        &cfg,
        &[
            "group",
            "add",
            "all",
            "--address",
            "all@example.test",
            "--member",
            "zoe@example.test",
        ],
    );
    assert!(ok(&cfg, &["group", "members", "all"]).contains("expands to: zoe@example.test"));
    let out = mailctl(
        &cfg,
        &["user", "add", "zoe", "--address", "zoe2@example.test"],
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("already exists")
    );
}
