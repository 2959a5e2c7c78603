//! The foundation's contracts, checked on the real binaries: `--check-config`
//! names file and key, every service answers `/healthz` and exits 0 on
//! SIGTERM within its drain deadline, `mailctl up` leaves no child behind,
//! and spans reach a real OTLP/gRPC receiver.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    ServiceBuilder, bin, children_of, http_get, mailctl_up, process_gone, stop_mailctl_up,
};
use nix::sys::signal::Signal;

#[test]
fn check_config_names_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for service in common::SERVICES {
        let required = common::required_sections(service, common::loopback(1), dir.path());
        let bad = dir.path().join(format!("{service}-bad.toml"));
        std::fs::write(
            &bad,
            format!("{required}\n[service]\nadmin_listen = \"127.0.0.1:0\"\nbogus_key = 1\n"),
        )
        .expect("write");
        let out = Command::new(bin(service))
            .arg("--config")
            .arg(&bad)
            .arg("--check-config")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{service} accepted an unknown key");
        assert!(err.contains(&bad.display().to_string()), "{service}: {err}");
        assert!(
            err.contains("service") && err.contains("bogus_key"),
            "{service}: {err}"
        );

        let invalid = dir.path().join(format!("{service}-invalid.toml"));
        std::fs::write(
            &invalid,
            format!("{required}\n[service]\nadmin_listen = \"127.0.0.1:0\"\ndrain_timeout = \"0s\"\n[telemetry]\notlp_endpoint = \"collector:4317\"\n"),
        )
        .expect("write");
        let out = Command::new(bin(service))
            .arg("--config")
            .arg(&invalid)
            .arg("--check-config")
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{service} accepted a zero drain deadline"
        );
        // Every problem is reported, not just the first.
        assert!(
            err.contains(&format!("{}: service.drain_timeout:", invalid.display())),
            "{service}: {err}"
        );
        assert!(
            err.contains(&format!("{}: telemetry.otlp_endpoint:", invalid.display())),
            "{service}: {err}"
        );

        let missing = dir.path().join("does-not-exist.toml");
        let out = Command::new(bin(service))
            .arg("--config")
            .arg(&missing)
            .arg("--check-config")
            .output()
            .expect("run");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.toml"));

        let good = dir.path().join(format!("{service}-good.toml"));
        std::fs::write(
            &good,
            format!("{required}\n[service]\nadmin_listen = \"127.0.0.1:0\"\n"),
        )
        .expect("write");
        let out = Command::new(bin(service))
            .arg("--config")
            .arg(&good)
            .arg("--check-config")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{service}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_service_serves_health_and_drains_on_sigterm() {
    for (i, service) in common::SERVICES.iter().enumerate() {
        let mut svc = ServiceBuilder::new(service)
            .ip(common::loopback(10 + i as u8))
            .drain("2s")
            .start();
        let admin = svc.port("admin");
        let (status, body) = http_get(admin, "/healthz").expect("healthz");
        assert_eq!(status, 200, "{service}");
        assert!(body.contains(service), "{service}: {body}");
        let (status, body) = http_get(admin, "/readyz").expect("readyz");
        match status {
            200 => assert_eq!(body.trim(), "ready"),
            // A service whose protocol work is not built says so.
            503 => assert!(body.contains("not built yet"), "{service}: {body}"),
            other => panic!("{service}: /readyz answered {other}"),
        }
        let (status, metrics) = http_get(admin, "/metrics").expect("metrics");
        assert_eq!(status, 200);
        assert!(
            metrics.contains("admin_http_requests"),
            "{service}: {metrics}"
        );

        svc.signal(Signal::SIGTERM);
        let exit = svc.wait_exit(Duration::from_secs(5));
        assert!(
            exit.success(),
            "{service} exited with {exit}\n{}",
            svc.log_text()
        );
        assert!(
            svc.log_text().contains("draining"),
            "{service} did not log its drain"
        );
    }
}

#[test]
fn mailctl_up_writes_endpoints_and_leaves_no_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("mailctl.log");
    let (mut up, endpoints) = mailctl_up(&data, &log, Duration::from_secs(60));
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(endpoints["domain"], "example.test");
    assert!(endpoints["users"].is_array(), "{endpoints}");
    for (key, value) in endpoints.as_object().expect("object") {
        if ["domain", "users", "tls_ca", "directory"].contains(&key.as_str()) {
            continue;
        }
        // The control plane's CA and the operator's certificate (files).
        if ["control_ca", "operator_cert", "operator_key"].contains(&key.as_str()) {
            let path = value.as_str().unwrap_or_default();
            assert!(
                std::path::Path::new(path).is_file(),
                "{key}: {path} is not a file"
            );
            continue;
        }
        let addr: std::net::SocketAddr = value
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{key} is not host:port: {value}"));
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("{key} at {addr} does not accept: {e}"));
    }

    // One child per service it started; each started service wrote its
    // ports file (services not built yet are not started at all).
    let started = std::fs::read_dir(data.join("run"))
        .expect("run dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ports.json"))
        .count();
    assert!(started >= 4, "only {started} services started");
    let children = children_of(up.id());
    assert_eq!(
        children.len(),
        started,
        "children: {children:?}\n{}",
        show_log()
    );
    let table = show_log();
    assert!(
        !table.contains("not ready"),
        "a service in the table is not ready:\n{table}"
    );

    let status = stop_mailctl_up(&mut up);
    assert!(
        status.success(),
        "mailctl up exited with {status}\n{}",
        show_log()
    );
    for pid in children {
        assert!(
            process_gone(pid),
            "child {pid} outlived mailctl up\n{}",
            show_log()
        );
    }
}

mod otlp {
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
        MetricsService, MetricsServiceServer,
    };
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    /// What the receiver saw: (service.name, span name) pairs and metric
    /// names.
    #[derive(Default, Clone)]
    pub struct Seen {
        pub spans: Arc<Mutex<Vec<(String, String)>>>,
        pub metrics: Arc<Mutex<Vec<(String, String)>>>,
    }

    fn service_name(
        resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
    ) -> String {
        resource
            .into_iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    #[tonic::async_trait]
    impl TraceService for Seen {
        async fn export(
            &self,
            req: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut spans = self.spans.lock().expect("lock");
            for rs in req.into_inner().resource_spans {
                let svc = service_name(rs.resource.as_ref());
                for ss in rs.scope_spans {
                    for span in ss.spans {
                        spans.push((svc.clone(), span.name));
                    }
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    #[tonic::async_trait]
    impl MetricsService for Seen {
        async fn export(
            &self,
            req: tonic::Request<ExportMetricsServiceRequest>,
        ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
            let mut metrics = self.metrics.lock().expect("lock");
            for rm in req.into_inner().resource_metrics {
                let svc = service_name(rm.resource.as_ref());
                for sm in rm.scope_metrics {
                    for m in sm.metrics {
                        metrics.push((svc.clone(), m.name));
                    }
                }
            }
            Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    pub async fn start() -> (std::net::SocketAddr, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Seen::default();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(seen.clone()))
            .add_service(MetricsServiceServer::new(seen.clone()))
            .serve_with_incoming(tokio_stream_from(listener));
        tokio::spawn(server);
        (addr, seen)
    }

    fn tokio_stream_from(
        listener: tokio::net::TcpListener,
    ) -> impl futures_core::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
        tokio_stream::wrappers::TcpListenerStream::new(listener)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_a_real_otlp_receiver() {
    let (addr, seen) = otlp::start().await;
    let mut svc = tokio::task::spawn_blocking(move || {
        ServiceBuilder::new("jobctl")
            .config(&format!("[telemetry]\notlp_endpoint = \"http://{addr}\"\n"))
            .start()
    })
    .await
    .expect("start");
    let admin = svc.port("admin");
    tokio::task::spawn_blocking(move || http_get(admin, "/healthz").expect("healthz"))
        .await
        .expect("join");
    svc.signal(Signal::SIGTERM);
    let svc = tokio::task::spawn_blocking(move || {
        let status = svc.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "exit {status}\n{}", svc.log_text());
        svc
    })
    .await
    .expect("join");
    // The exporter flushes on shutdown, so everything has arrived by now.
    let spans = seen.spans.lock().expect("lock").clone();
    assert!(
        spans
            .iter()
            .any(|(s, n)| s == "jobctl" && n == "http.request"),
        "spans seen: {spans:?}\n{}",
        svc.log_text()
    );
    assert!(
        spans.iter().any(|(s, n)| s == "jobctl" && n == "startup"),
        "{spans:?}"
    );
    let metrics = seen.metrics.lock().expect("lock").clone();
    assert!(
        metrics
            .iter()
            .any(|(s, n)| s == "jobctl" && n == "admin_http_requests"),
        "metrics seen: {metrics:?}"
    );
}
