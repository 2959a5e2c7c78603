//! Dialling a control-plane API: plaintext `http://`, or mutual TLS with a
//! certificate from the deployment CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::GrpcError;

/// A client's certificate for an API that requires mutual TLS.
///
/// ```toml
/// [delivery.jobctl_tls]
/// ca = "/etc/tiermail/pki/ca.pem"
/// cert = "/etc/tiermail/pki/mta-inbound.pem"
/// key = "/etc/tiermail/pki/mta-inbound.key"
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// The deployment CA certificate (PEM) the server's certificate must
    /// chain to.
    pub ca: PathBuf,
    /// This client's certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The name the server's certificate must carry; default: the host of
    /// the address dialled.
    #[serde(default)]
    pub server_name: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, GrpcError> {
    std::fs::read(path).map_err(|source| GrpcError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// An endpoint for `address` (`host:port` or an `http://`/`https://`
/// URL), with mutual TLS when `tls` is given (the scheme then becomes
/// `https`). Connect timeout 5 s; no request timeout, since a Lease may
/// wait (callers set deadlines where they need them).
pub fn endpoint(address: &str, tls: Option<&ClientTls>) -> Result<Endpoint, GrpcError> {
    let rest = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .unwrap_or(address)
        .trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(GrpcError::Address(address.to_string()));
    }
    let Some(tls) = tls else {
        if address.starts_with("https://") {
            return Err(GrpcError::Address(format!(
                "{address}: https needs a client certificate (the API requires mutual TLS)"
            )));
        }
        let e = Endpoint::from_shared(format!("http://{rest}"))?;
        return Ok(e.connect_timeout(Duration::from_secs(5)));
    };
    let e = Endpoint::from_shared(format!("https://{rest}"))?;
    let host = e.uri().host().unwrap_or_default().to_string();
    // An IPv6 literal comes back bracketed.
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&tls.ca)?))
        .identity(Identity::from_pem(read(&tls.cert)?, read(&tls.key)?))
        .domain_name(tls.server_name.clone().unwrap_or(host));
    Ok(e.tls_config(config)?
        .connect_timeout(Duration::from_secs(5)))
}
