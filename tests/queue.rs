//! `mailctl queue` against a running `jobctl`, and the queue surviving a
//! SIGKILL of the job controller.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ServiceBuilder, bin, loopback};
use mail_proto::jobctl::v1::job_controller_client::JobControllerClient;
use mail_proto::jobctl::v1::{Job, Recipient, SubmitRequest};
use nix::sys::signal::Signal;

fn start_jobctl(state: &std::path::Path) -> common::Service {
    ServiceBuilder::new("jobctl")
        .ip(loopback(30))
        .no_defaults()
        .config(&format!(
            "[jobctl]\nlisten = \"127.0.0.30:0\"\nstate_dir = {:?}\n",
            state.display().to_string()
        ))
        .start()
}

fn mailctl(jobctl: std::net::SocketAddr, args: &[&str]) -> String {
    let out = Command::new(bin("mailctl"))
        .arg("queue")
        .arg("--jobctl")
        .arg(jobctl.to_string())
        .args(args)
        .output()
        .expect("run mailctl");
    assert!(
        out.status.success(),
        "mailctl queue {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn submit(addr: std::net::SocketAddr, ids: &[&str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut c = JobControllerClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        for id in ids {
            c.submit(SubmitRequest {
                job: Some(Job {
                    queue_id: (*id).into(),
                    relay: "mta-inbound-1".into(),
                    channel: "tcp_local".into(),
                    host: "example.net".into(),
                    sender: "alice@example.test".into(),
                    recipients: vec![Recipient {
                        address: "bob@example.net".into(),
                        ..Default::default()
                    }],
                    size: 4096,
                    ..Default::default()
                }),
            })
            .await
            .expect("submit");
        }
    });
}

#[test]
fn mailctl_queue_steers_a_running_jobctl_and_the_queue_survives_sigkill() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut jobctl = start_jobctl(state.path());
    let grpc = jobctl.port("grpc");
    let ids: Vec<String> = (0..20).map(|i| format!("Q{i:03}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    submit(grpc, &refs);

    let list = mailctl(grpc, &["list"]);
    assert!(list.contains("20 message(s)"), "{list}");
    assert!(
        list.contains("Q007") && list.contains("bob@example.net"),
        "{list}"
    );
    assert!(mailctl(grpc, &["hold", "Q003"]).contains("held"));
    let held = mailctl(grpc, &["list", "--state", "held"]);
    assert!(
        held.contains("Q003") && held.contains("1 message(s)"),
        "{held}"
    );
    assert!(mailctl(grpc, &["delete", "Q004"]).contains("deleted"));
    let show = mailctl(grpc, &["show", "Q005"]);
    assert!(show.contains("sender:      alice@example.test"), "{show}");
    let stats = mailctl(grpc, &["stats"]);
    assert!(stats.contains("tcp_local"), "{stats}");

    // A missing job is a clear error, not a crash.
    let out = Command::new(bin("mailctl"))
        .args(["queue", "--jobctl", &grpc.to_string(), "show", "NOPE"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no job NOPE"));

    jobctl.signal(Signal::SIGKILL);
    jobctl.wait_exit(Duration::from_secs(5));
    drop(jobctl);
    let jobctl = start_jobctl(state.path());
    let grpc = jobctl.port("grpc");
    let list = mailctl(grpc, &["list"]);
    assert!(
        list.contains("19 message(s)"),
        "nothing acknowledged is lost: {list}"
    );
    let held = mailctl(grpc, &["list", "--state", "held"]);
    assert!(held.contains("Q003"), "the hold survived: {held}");
    assert!(mailctl(grpc, &["release", "Q003"]).contains("released"));
    let held = mailctl(grpc, &["list", "--state", "held"]);
    assert!(held.contains("0 message(s)"), "{held}");
}
