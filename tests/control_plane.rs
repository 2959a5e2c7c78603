//! The control plane's authentication across real processes: `jobctl.v1`
//! and `store.admin.v1` over mutual TLS with the deployment CA, as
//! `mailctl up` sets them up and as an operator builds them with
//! `mailctl cert`; refusals with their codes and log lines; and
//! `--check-config` refusing a plaintext API on a network address.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{ServiceBuilder, bin, loopback, mailctl_up, python3, stop_mailctl_up, wait_for};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `mailctl ARGS` with the certificate of `who` (`NAME` in `pki`, or
/// none).
fn mailctl(pki: &Path, who: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(bin("mailctl"));
    c.args(args)
        .env_remove("TIERMAIL_GRPC_CA")
        .env_remove("TIERMAIL_GRPC_CERT")
        .env_remove("TIERMAIL_GRPC_KEY");
    if let Some(name) = who {
        c.env("TIERMAIL_GRPC_CA", pki.join("ca.pem"))
            .env("TIERMAIL_GRPC_CERT", pki.join(format!("{name}.pem")))
            .env("TIERMAIL_GRPC_KEY", pki.join(format!("{name}.key")));
    }
    c.output().expect("run mailctl")
}

fn succeeds(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails_with(out: Output, code: &str) -> String {
    let t = text(&out);
    assert!(!out.status.success(), "expected {code}: {t}");
    assert!(t.contains(code), "expected {code}: {t}");
    t
}

#[test]
fn mailctl_up_runs_the_control_plane_over_mutual_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("up");
    let log = dir.path().join("up.log");
    let (mut up, endpoints) = mailctl_up(&data, &log, Duration::from_secs(90));
    let pki = data.join("pki");
    let key = |k: &str| endpoints[k].as_str().unwrap_or_default().to_string();
    assert_eq!(key("control_ca"), pki.join("ca.pem").display().to_string());
    assert_eq!(
        key("operator_cert"),
        pki.join("mailctl.pem").display().to_string()
    );
    let jobctl = key("jobctl_grpc");
    let admin = key("store_admin_grpc");

    // Mail through the inbound relay reaches the store: the relay's
    // submit, lease and report all passed jobctl's mutual TLS.
    let smtp = key("smtp_inbound");
    let (host, port) = smtp.rsplit_once(':').expect("host:port");
    let sent = python3(&format!(
        "import smtplib\ns = smtplib.SMTP({host:?}, {port}, timeout=20)\n\
         s.sendmail('someone@outside.test', ['alice@example.test'], \
         'Subject: over the control plane\\r\\n\\r\\nHello.\\r\\n')\ns.quit()\n"
    ));
    assert!(sent.status.success(), "{}", text(&sent));
    wait_for(
        "alice's message in the store",
        Duration::from_secs(60),
        || {
            let out = mailctl(
                &pki,
                Some("mailctl"),
                &["store", "--admin", &admin, "mailboxes", "alice"],
            );
            let t = String::from_utf8_lossy(&out.stdout).into_owned();
            t.lines()
                .any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.first() == Some(&"INBOX") && f.get(1) == Some(&"1")
                })
                .then_some(())
        },
    );

    let stats = succeeds(mailctl(
        &pki,
        Some("mailctl"),
        &["queue", "--jobctl", &jobctl, "stats"],
    ));
    assert!(stats.contains("lmtp"), "{stats}");
    fails_with(
        mailctl(&pki, None, &["queue", "--jobctl", &jobctl, "stats"]),
        "needs a certificate from its CA",
    );
    // A relay's certificate may not steer the queue.
    let t = fails_with(
        mailctl(
            &pki,
            Some("mta-inbound"),
            &["queue", "--jobctl", &jobctl, "delete", "X"],
        ),
        "PermissionDenied",
    );
    assert!(t.contains("mta-inbound (relay) may not call Delete"), "{t}");
    fails_with(
        mailctl(
            &pki,
            Some("mta-inbound"),
            &["store", "--admin", &admin, "quota", "report"],
        ),
        "PermissionDenied",
    );
    let jobctl_log = std::fs::read_to_string(data.join("log/jobctl.log")).unwrap_or_default();
    assert!(
        jobctl_log.contains("gRPC call refused: not authorised")
            && jobctl_log.contains("mta-inbound (relay)"),
        "{jobctl_log}"
    );
    let status = stop_mailctl_up(&mut up);
    assert!(status.success());
}

/// A CA of one's own, certificates for a relay and two operators (one of
/// them not allowed), and one from another CA.
fn operator_pki(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    let run = |args: &[&str]| {
        succeeds(
            Command::new(bin("mailctl"))
                .args(args)
                .output()
                .expect("mailctl"),
        )
    };
    let ca = pki.display().to_string();
    let out = run(&["cert", "init", "--ca-dir", &ca]);
    assert!(out.contains("CA created"), "{out}");
    let again = Command::new(bin("mailctl"))
        .args(["cert", "init", "--ca-dir", &ca])
        .output()
        .expect("mailctl");
    fails_with(again, "a CA exists already");
    for (name, role, host) in [
        ("jobctl", "jobctl", Some("127.0.0.31")),
        ("store", "store", Some("127.0.0.31")),
        ("relay-1", "relay", None),
        ("alice", "operator", None),
        ("bob", "operator", None),
    ] {
        let mut args = vec!["cert", "issue", name, "--role", role, "--ca-dir", &ca];
        if let Some(h) = host {
            args.extend(["--host", h]);
        }
        run(&args);
    }
    let other = dir.join("other-ca").display().to_string();
    run(&["cert", "init", "--ca-dir", &other]);
    run(&[
        "cert", "issue", "eve", "--role", "operator", "--ca-dir", &other, "--out", &ca,
    ]);
    let shown = run(&[
        "cert",
        "show",
        &pki.join("jobctl.pem").display().to_string(),
    ]);
    assert!(
        shown.contains("identity:  jobctl")
            && shown.contains("role:      jobctl")
            && shown.contains("127.0.0.31"),
        "{shown}"
    );
    pki
}

fn tls_section(section: &str, pki: &Path, name: &str, allow: &str) -> String {
    format!(
        "[{section}.tls]\nca = {:?}\ncert = {:?}\nkey = {:?}\n[{section}.tls.allow]\n{allow}\n",
        pki.join("ca.pem").display().to_string(),
        pki.join(format!("{name}.pem")).display().to_string(),
        pki.join(format!("{name}.key")).display().to_string(),
    )
}

#[test]
fn only_allowed_certificates_of_the_right_role_get_in_and_refusals_are_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = operator_pki(dir.path());
    let jobctl = ServiceBuilder::new("jobctl")
        .ip(loopback(31))
        .no_defaults()
        .config(&format!(
            "[jobctl]\nlisten = \"127.0.0.31:0\"\nstate_dir = {:?}\n{}",
            dir.path().join("state").display().to_string(),
            tls_section(
                "jobctl",
                &pki,
                "jobctl",
                "relay = [\"relay-1\"]\noperator = [\"alice\"]"
            ),
        ))
        .start();
    let addr = jobctl.port("grpc").to_string();
    let queue = |who: Option<&str>| mailctl(&pki, who, &["queue", "--jobctl", &addr, "list"]);
    assert!(succeeds(queue(Some("alice"))).contains("0 message(s)"));
    let t = fails_with(queue(Some("bob")), "PermissionDenied");
    assert!(t.contains("bob (operator) may not call List"), "{t}");
    fails_with(queue(Some("relay-1")), "PermissionDenied");
    fails_with(queue(Some("eve")), "needs a certificate from its CA");
    // TLS without a certificate: the plain address with only the CA.
    let anonymous = Command::new(bin("mailctl"))
        .args(["queue", "--jobctl", &format!("https://{addr}"), "list"])
        .env_remove("TIERMAIL_GRPC_CERT")
        .output()
        .expect("mailctl");
    fails_with(anonymous, "https needs a client certificate");
    fails_with(queue(None), "needs a certificate from its CA");

    let log = jobctl.log_text();
    for line in [
        "listening (mutual TLS)",
        "gRPC call refused: not authorised",
        "bob (operator)",
        "TLS handshake refused",
    ] {
        assert!(log.contains(line), "{line:?} not in the log:\n{log}");
    }

    // The store's admin API: operators only.
    let directory = dir.path().join("directory.toml");
    mail_directory::file::FileDirectory::create(&directory, &Default::default()).expect("dir");
    let store = ServiceBuilder::new("mailstore")
        .ip(loopback(31))
        .no_defaults()
        .config_top("host = \"localhost\"\n")
        .config(&format!(
            "[store]\nsystem_path = {:?}\n[store.partitions]\nprimary = {:?}\n[directory]\nbackend = \"file\"\npath = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.31:0\"\n[admin]\nlisten = \"127.0.0.31:0\"\n{}",
            dir.path().join("system").display().to_string(),
            dir.path().join("primary").display().to_string(),
            directory.display().to_string(),
            tls_section("admin", &pki, "store", "operator = [\"alice\"]"),
        ))
        .start();
    let admin = store.port("admin_grpc").to_string();
    let report =
        |who: Option<&str>| mailctl(&pki, who, &["store", "--admin", &admin, "quota", "report"]);
    succeeds(report(Some("alice")));
    fails_with(report(Some("bob")), "PermissionDenied");
    fails_with(report(Some("relay-1")), "PermissionDenied");
    fails_with(report(None), "needs a certificate from its CA");
    assert!(
        store.log_text().contains("gRPC call refused"),
        "{}",
        store.log_text()
    );
}

/// `--check-config` of a configuration: exit code and output.
fn check(binary: &str, dir: &Path, config: &str) -> (i32, String) {
    let path = dir.join(format!("{binary}-check.toml"));
    std::fs::write(
        &path,
        format!("{config}\n[service]\nadmin_listen = \"127.0.0.1:0\"\n"),
    )
    .expect("write");
    let out = Command::new(bin(binary))
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .output()
        .expect("run");
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn check_config_refuses_a_plaintext_api_on_a_network_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = operator_pki(dir.path());
    let state = dir.path().join("state").display().to_string();
    let jobctl = |extra: &str| {
        check(
            "jobctl",
            dir.path(),
            &format!("[jobctl]\nlisten = \"0.0.0.0:7000\"\nstate_dir = {state:?}\n{extra}"),
        )
    };
    let (code, out) = jobctl("");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("jobctl.listen: 0.0.0.0:7000 is not a loopback address: configure tls"),
        "{out}"
    );
    let (code, out) = jobctl("insecure_plaintext = true\n");
    assert_eq!(code, 0, "{out}");
    let (code, out) = jobctl(&tls_section(
        "jobctl",
        &pki,
        "jobctl",
        "relay = [\"relay-1\"]",
    ));
    assert_eq!(code, 0, "{out}");
    // A role this API does not serve, a bad name, and nobody allowed.
    let (code, out) = jobctl(&tls_section("jobctl", &pki, "jobctl", "store = [\"x y\"]"));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("jobctl.tls.allow.store: this API serves only relay, operator"),
        "{out}"
    );
    assert!(out.contains("\"x y\" is not a certificate name"), "{out}");
    assert!(out.contains("jobctl.tls.allow: nobody may call"), "{out}");

    let directory = dir.path().join("directory.toml");
    mail_directory::file::FileDirectory::create(&directory, &Default::default()).expect("dir");
    let store = |admin: &str| {
        check(
            "mailstore",
            dir.path(),
            &format!(
                "host = \"localhost\"\n[store]\nsystem_path = \"/tmp/x\"\n[store.partitions]\nprimary = \"/tmp/y\"\n[directory]\nbackend = \"file\"\npath = {:?}\n[lmtp.listener]\nlisten = \"127.0.0.1:0\"\n{admin}",
                directory.display().to_string()
            ),
        )
    };
    let (code, out) = store("[admin]\nlisten = \"10.0.0.5:7025\"\n");
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("admin.listen: 10.0.0.5:7025 is not a loopback address"),
        "{out}"
    );
    let (code, out) = store(&format!(
        "[admin]\nlisten = \"0.0.0.0:7025\"\n{}",
        tls_section(
            "admin",
            &pki,
            "store",
            "operator = [\"alice\"]\nrelay = [\"relay-1\"]"
        )
    ));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("admin.tls.allow.relay: this API serves only operator"),
        "{out}"
    );
}
