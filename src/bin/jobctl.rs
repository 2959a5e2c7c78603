//! `jobctl`: the job controller (gRPC `jobctl.v1`).

use mail_core::config::ServiceConfig;
use mail_core::service::{self, ServiceSettings, Started};
use mail_core::telemetry::TelemetryConfig;
use mail_core::{Validate, Validator};
use mail_jobctl::{JobController, JobctlConfig};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    service: ServiceConfig,
    #[serde(default)]
    telemetry: TelemetryConfig,
    jobctl: JobctlConfig,
}

impl Validate for Config {
    fn validate(&self, v: &mut Validator) {
        v.nested("service", &self.service);
        v.nested("telemetry", &self.telemetry);
        v.nested("jobctl", &self.jobctl);
    }
}

impl ServiceSettings for Config {
    fn service(&self) -> &ServiceConfig {
        &self.service
    }
    fn telemetry(&self) -> &TelemetryConfig {
        &self.telemetry
    }
}

fn main() -> std::process::ExitCode {
    service::main::<Config, _, _>("jobctl", |cfg, ctx| async move {
        let listen = cfg.jobctl.listen;
        let tls = cfg.jobctl.tls.clone();
        let jobctl = JobController::open(cfg.jobctl, ctx.shutdown.clone())?;
        let addr = jobctl.serve(listen, tls.as_ref(), &ctx.shutdown).await?;
        ctx.publish_port("grpc", addr);
        Ok(Started::Ready)
    })
}
