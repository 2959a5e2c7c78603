//! The first hour of a new user (issue 11): the README's first command run
//! exactly as the README writes it, then the "try it" commands that
//! `mailctl up` prints, run with the real `swaks` and `curl`; and the
//! package-install branch of `scripts/test`, which otherwise runs only on
//! fresh machines.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{children_of, process_gone, stop_mailctl_up, wait_for};

fn package_root() -> PathBuf {
    // Read at run time: cargo may reuse this binary from another checkout.
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
}

/// The README's command that runs the system, as written there.
fn readme_up_command() -> Vec<String> {
    let readme = std::fs::read_to_string(package_root().join("README.md")).expect("README.md");
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("cargo run --bin mailctl -- up"))
        .expect("the README shows `cargo run --bin mailctl -- up ...`");
    line.split_whitespace().map(str::to_string).collect()
}

/// Starts the README's command with its `--data-dir` pointed at `data`.
fn start_readme_up(data: &Path, log: &Path) -> Child {
    let mut argv = readme_up_command();
    let at = argv
        .iter()
        .position(|a| a == "--data-dir")
        .expect("the README's command names --data-dir");
    argv[at + 1] = data.display().to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    assert_eq!(argv[0], "cargo");
    let out = std::fs::File::create(log).expect("log");
    Command::new(cargo)
        .args(&argv[1..])
        .current_dir(package_root())
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("cargo run")
}

/// The command lines of the printed "Try it" block.
fn try_it_commands(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|l| !l.starts_with("Try it"))
        .skip(1)
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn sh(command: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .expect("sh")
}

#[test]
fn readme_command_then_the_printed_try_it_commands_deliver_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("tiermail");
    let log = dir.path().join("up.log");
    let mut up = start_readme_up(&data, &log);
    let show = || std::fs::read_to_string(&log).unwrap_or_default();
    // The first run on a fresh target directory builds the services.
    wait_for("mailctl up's table", Duration::from_secs(1800), || {
        if let Ok(Some(s)) = up.try_wait() {
            panic!("mailctl up exited: {s}\n{}", show());
        }
        show().contains("Ctrl-C stops everything").then_some(())
    });
    let printed = show();
    assert!(!printed.contains("not ready"), "{printed}");
    let commands = try_it_commands(&printed);
    let find = |prefix: &str| {
        commands
            .iter()
            .find(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` command in the try-it block:\n{printed}"))
            .clone()
    };
    let (send, imap, pop3) = (find("swaks "), find("curl "), {
        commands
            .iter()
            .find(|c| c.contains("pop3://"))
            .unwrap_or_else(|| panic!("no pop3:// command:\n{printed}"))
            .clone()
    });
    assert!(imap.contains("imap://"), "{imap}");

    let sent = sh(&send);
    let said = String::from_utf8_lossy(&sent.stdout);
    assert!(
        sent.status.success() && said.contains("<~  250 "),
        "{send}\n{said}{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // Delivery runs through both relays and jobctl: poll until it is there.
    let message = wait_for("the message over IMAP", Duration::from_secs(60), || {
        let out = sh(&imap);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains("Subject: first message")).then_some(text)
    });
    assert!(message.contains("Hello from Tiermail."), "{message}");
    let popped = sh(&pop3);
    let text = String::from_utf8_lossy(&popped.stdout);
    assert!(
        popped.status.success() && text.contains("Subject: first message"),
        "{pop3}\n{text}{}",
        String::from_utf8_lossy(&popped.stderr)
    );
    // Every other printed read command works as printed: the MMP's IMAP
    // and the MEM's JMAP session.
    let mut others = 0;
    for c in commands.iter().filter(|c| c.starts_with("curl ")) {
        if *c == imap || *c == pop3 {
            continue;
        }
        let out = sh(c);
        let text = String::from_utf8_lossy(&out.stdout);
        let want = if c.contains("/jmap/session") {
            "urn:ietf:params:jmap:mail"
        } else {
            "Subject: first message"
        };
        assert!(
            out.status.success() && text.contains(want),
            "{c}\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        others += 1;
    }
    assert_eq!(others, 2, "the MMP and MEM commands:\n{printed}");

    let children = children_of(up.id());
    let status = stop_mailctl_up(&mut up);
    assert!(
        status.success(),
        "mailctl up exited with {status}\n{}",
        show()
    );
    for pid in children {
        assert!(process_gone(pid), "child {pid} outlived mailctl up");
    }
}

/// The install branch of `scripts/test` with a package reported missing.
/// `shellcheck` is forced because no test uses it while tests run. Needs
/// root or password-less sudo, as the test command itself does.
#[test]
fn scripts_test_installs_a_package_reported_missing() {
    let out = Command::new(package_root().join("scripts/test"))
        .env("SCRIPTS_TEST_FORCE_INSTALL", "shellcheck")
        .env("SCRIPTS_TEST_INSTALL_ONLY", "1")
        .stdin(Stdio::null())
        .output()
        .expect("scripts/test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    let installing = text
        .lines()
        .find(|l| l.starts_with("scripts/test: installing "))
        .unwrap_or_else(|| panic!("the install branch did not run:\n{text}"));
    assert!(
        installing.split_whitespace().any(|p| p == "shellcheck"),
        "{text}"
    );
    assert!(text.contains("scripts/test: packages ready"), "{text}");
    let version = Command::new("shellcheck").arg("--version").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "shellcheck does not run after its reinstall"
    );
}
