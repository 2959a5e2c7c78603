//! The life of a service process, shared by every binary so that each `main`
//! stays a few lines: parse `--config`/`--check-config`, load and validate
//! the configuration (exit 2 naming file and key on error), start telemetry
//! and the admin endpoint, let the service bind its listeners, publish the
//! bound ports, wait for SIGTERM/SIGINT, drain with a deadline, exit 0.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use serde::de::DeserializeOwned;

use crate::admin::{self, Readiness};
use crate::config::{self, ServiceConfig, Validate};
use crate::shutdown::{self, Shutdown};
use crate::telemetry::{Telemetry, TelemetryConfig};

/// Command-line arguments every service binary takes.
#[derive(Debug, Parser)]
pub struct Args {
    /// The service's TOML configuration file.
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// Validate the configuration, report every problem, and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// What a service configuration must expose to the runtime.
pub trait ServiceSettings: DeserializeOwned + Validate + Send + 'static {
    /// The `[service]` section.
    fn service(&self) -> &ServiceConfig;
    /// The `[telemetry]` section.
    fn telemetry(&self) -> &TelemetryConfig;
}

/// Handed to a service while it starts.
#[derive(Clone, Debug)]
pub struct Context {
    /// The instance name (from config, or the binary name).
    pub name: String,
    /// The configuration file, for messages and relative paths.
    pub config_path: PathBuf,
    /// Shutdown for the whole process; spawn sessions through it.
    pub shutdown: Shutdown,
    /// Readiness shown on `/readyz`.
    pub ready: Readiness,
    ports: Arc<Mutex<BTreeMap<String, SocketAddr>>>,
}

impl Context {
    /// Records a bound address under `name` for the ports file.
    pub fn publish_port(&self, name: &str, addr: SocketAddr) {
        if let Ok(mut p) = self.ports.lock() {
            p.insert(name.to_string(), addr);
        }
    }

    fn ports_json(&self) -> String {
        let map: BTreeMap<String, String> = self
            .ports
            .lock()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
            .unwrap_or_default();
        serde_json::to_string_pretty(&map).unwrap_or_else(|_| "{}".into())
    }
}

/// What the service's start function reports.
#[derive(Debug)]
pub enum Started {
    /// Listening and able to take traffic.
    Ready,
    /// Running, but `/readyz` must say why it takes no traffic.
    NotReady(String),
}

/// Runs a service binary from start to exit. `start` binds listeners and
/// spawns work through `ctx.shutdown`, then returns.
pub fn main<C, F, Fut>(binary: &'static str, start: F) -> ExitCode
where
    C: ServiceSettings,
    F: FnOnce(C, Context) -> Fut,
    Fut: Future<Output = anyhow::Result<Started>>,
{
    let args = Args::parse();
    let cfg: C = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{binary}: configuration error\n{e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("{}: configuration OK", args.config.display());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(binary)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{binary}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(binary, args.config, cfg, start));
    // Background tasks that ignored shutdown must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

async fn run<C, F, Fut>(binary: &'static str, path: PathBuf, cfg: C, start: F) -> ExitCode
where
    C: ServiceSettings,
    F: FnOnce(C, Context) -> Fut,
    Fut: Future<Output = anyhow::Result<Started>>,
{
    let name = cfg
        .service()
        .name
        .clone()
        .unwrap_or_else(|| binary.to_string());
    let telemetry = match Telemetry::init(&name, cfg.telemetry()) {
        Ok(t) => Arc::new(Mutex::new(Some(t))),
        Err(e) => {
            eprintln!("{binary}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let svc = cfg.service().clone();
    let ctx = Context {
        name: name.clone(),
        config_path: path,
        shutdown: Shutdown::new(),
        ready: Readiness::default(),
        ports: Arc::default(),
    };
    let span = tracing::info_span!("service", service = %name);
    let _enter = span.enter();

    let metrics_src = telemetry.clone();
    let metrics: admin::MetricsFn = Arc::new(move || {
        metrics_src
            .lock()
            .ok()
            .and_then(|t| t.as_ref().map(Telemetry::prometheus_text))
            .unwrap_or_default()
    });
    let code = match admin::serve(
        svc.admin_listen,
        &name,
        ctx.ready.clone(),
        metrics,
        ctx.shutdown.clone(),
    )
    .await
    {
        Err(e) => {
            tracing::error!(error = %e, "cannot start the admin endpoint");
            ExitCode::FAILURE
        }
        Ok(admin_addr) => {
            ctx.publish_port("admin", admin_addr);
            serve(&svc, ctx.clone(), cfg, start).await
        }
    };
    drop(_enter);
    if let Some(t) = telemetry.lock().ok().and_then(|mut t| t.take()) {
        // The exporter flush blocks; keep it off the async worker.
        let _ = tokio::task::spawn_blocking(move || t.shutdown()).await;
    }
    code
}

async fn serve<C, F, Fut>(svc: &ServiceConfig, ctx: Context, cfg: C, start: F) -> ExitCode
where
    C: ServiceSettings,
    F: FnOnce(C, Context) -> Fut,
    Fut: Future<Output = anyhow::Result<Started>>,
{
    let started = {
        let span = tracing::info_span!("startup");
        let _e = span.enter();
        tracing::info!(config = %ctx.config_path.display(), "starting");
        drop(_e);
        tracing::Instrument::instrument(start(cfg, ctx.clone()), span).await
    };
    match started {
        Ok(Started::Ready) => ctx.ready.set_ready(),
        Ok(Started::NotReady(why)) => {
            tracing::warn!(reason = %why, "running but not ready");
            ctx.ready.set_not_ready(why);
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start failed");
            ctx.shutdown.drain(svc.drain_timeout).await;
            return ExitCode::FAILURE;
        }
    }
    if let Some(file) = &svc.ports_file
        && let Err(e) = write_atomically(file, ctx.ports_json().as_bytes())
    {
        tracing::error!(file = %file.display(), error = %e, "cannot write the ports file");
        ctx.shutdown.drain(svc.drain_timeout).await;
        return ExitCode::FAILURE;
    }
    tracing::info!(ports = %ctx.ports_json().replace(['\n', ' '], ""), "running");

    let why = tokio::select! {
        s = shutdown::signal() => match s {
            Ok(sig) => sig.to_string(),
            Err(e) => format!("signal handler failed: {e}"),
        },
        _ = ctx.shutdown.triggered() => "requested by the service".to_string(),
    };
    tracing::info!(reason = %why, deadline = ?svc.drain_timeout, "draining");
    ctx.ready.set_not_ready("draining");
    let left = ctx.shutdown.drain(svc.drain_timeout).await;
    if left > 0 {
        tracing::warn!(
            sessions = left,
            "drain deadline passed; closing what is left"
        );
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// reader never sees a partial file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The configuration of a service that has only the shared sections, for
/// binaries whose protocol work is not built yet.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// The `[service]` section.
    pub service: ServiceConfig,
    /// The `[telemetry]` section.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

impl Validate for BasicConfig {
    fn validate(&self, v: &mut crate::config::Validator) {
        v.nested("service", &self.service);
        v.nested("telemetry", &self.telemetry);
    }
}

impl ServiceSettings for BasicConfig {
    fn service(&self) -> &ServiceConfig {
        &self.service
    }
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

/// Runs a binary whose protocol work is not built yet: it serves
/// `/healthz` and `/metrics` so deployments can be wired up, but `/readyz`
/// answers 503 with `what` so no load balancer sends it traffic, and the
/// log says so at start.
pub fn main_not_built(binary: &'static str, what: &'static str) -> ExitCode {
    main::<BasicConfig, _, _>(binary, move |_cfg, _ctx| async move {
        tracing::error!("{what} is not built yet; serving health and metrics only");
        Ok(Started::NotReady(format!("{what} is not built yet")))
    })
}
