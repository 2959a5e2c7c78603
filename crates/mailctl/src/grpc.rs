//! How `mailctl queue` and `mailctl store` reach a control-plane API: the
//! address, and the operator's certificate from the deployment CA when
//! the API requires mutual TLS (every deployment except a plaintext one
//! on loopback). `mailctl up` prints the three variables to set.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use mail_core::grpc::ClientTls;
use tonic::transport::Channel;

/// The operator's certificate, shared by the commands that call an API.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// The deployment CA certificate (PEM).
    #[arg(long, env = "TIERMAIL_GRPC_CA", value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
    /// Your certificate (PEM), issued for the operator role.
    #[arg(long, env = "TIERMAIL_GRPC_CERT", value_name = "FILE", global = true)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "TIERMAIL_GRPC_KEY", value_name = "FILE", global = true)]
    pub key: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the host
    /// of the address).
    #[arg(
        long,
        env = "TIERMAIL_GRPC_SERVER_NAME",
        value_name = "NAME",
        global = true
    )]
    pub server_name: Option<String>,
}

impl TlsArgs {
    /// The client certificate, when one is configured.
    pub fn client_tls(&self) -> anyhow::Result<Option<ClientTls>> {
        match (&self.ca, &self.cert, &self.key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => Ok(Some(ClientTls {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                server_name: self.server_name.clone(),
            })),
            _ => bail!(
                "--ca, --cert and --key (TIERMAIL_GRPC_CA, TIERMAIL_GRPC_CERT, \
                 TIERMAIL_GRPC_KEY) go together"
            ),
        }
    }
}

/// Connects to `address` (`host:port` or a URL), presenting the
/// certificate when `tls` gives one; `what` names the API in errors.
pub async fn connect(address: &str, tls: &TlsArgs, what: &str) -> anyhow::Result<Channel> {
    let client = tls.client_tls()?;
    let endpoint = mail_core::grpc::endpoint(address, client.as_ref())
        .with_context(|| format!("{what} at {address}"))?
        .timeout(Duration::from_secs(300));
    endpoint.connect().await.with_context(|| {
        format!(
            "cannot reach {what} at {address}{}",
            if client.is_some() {
                ""
            } else {
                " (no client certificate given: --ca/--cert/--key)"
            }
        )
    })
}

/// A readable error from a gRPC status (refusals name the certificate).
/// A call that never reached the API (the connection or its TLS
/// handshake refused) gets a hint at the usual cause.
pub fn status(what: &str, s: tonic::Status) -> anyhow::Error {
    use tonic::Code;
    let unreached = match s.code() {
        Code::Unknown | Code::Unavailable | Code::Cancelled => true,
        // A plaintext client talking to a TLS port.
        Code::Internal => s.message().starts_with("h2 protocol error"),
        _ => false,
    };
    let hint = if unreached {
        "; the server closed the connection: an API with mutual TLS needs a certificate \
         from its CA (--ca/--cert/--key, TIERMAIL_GRPC_*)"
    } else {
        ""
    };
    anyhow::anyhow!("{what}: {} ({:?}){hint}", s.message(), s.code())
}
