//! rustls configuration for servers and clients, from PEM files, plus a
//! self-signed certificate generator for development and `mailctl up`.
//!
//! Mail servers speak TLS on every hop (STARTTLS on 25/587/143/110, implicit
//! TLS on 465/993/995), so this is shared by every protocol crate.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::config::{Validate, Validator};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating a development certificate failed.
    #[error("generating certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A certificate cannot be made as asked (a bad name, an existing CA).
    #[error("{0}")]
    Invalid(String),
    /// Writing a generated certificate failed.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Where a server finds its certificate chain and private key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Validate for TlsFiles {
    fn validate(&self, v: &mut Validator) {
        v.file_exists("cert", &self.cert);
        v.file_exists("key", &self.key);
    }
}

fn pem_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Reads every certificate in a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no certificate found"));
    }
    Ok(certs)
}

/// Reads the first private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from PEM files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// A client configuration trusting the public web roots plus, when given,
/// the certificates in `extra_ca` (a private CA or a development
/// certificate).
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        for cert in load_certs(path)? {
            roots.add(cert)?;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Writes a self-signed certificate and key for `names` into `dir` as
/// `cert.pem` and `key.pem`, and returns their paths. For development and
/// `mailctl up` only: clients must be told to trust `cert.pem`.
pub fn generate_self_signed(dir: &Path, names: &[String]) -> Result<TlsFiles, TlsError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().map_or("localhost", String::as_str),
    );
    params.distinguished_name.push(
        rcgen::DnType::OrganizationName,
        "Tiermail development certificate",
    );
    let cert = params.self_signed(&key)?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    write_private(&files.cert, cert.pem().as_bytes(), 0o644)?;
    write_private(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(files)
}

pub(crate) fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let werr = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, bytes).map_err(werr)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(werr)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_loads_as_server_and_is_trusted_by_client() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = generate_self_signed(dir.path(), &["mail.test".into(), "127.0.0.1".into()])
            .expect("generate");
        server_config(&files).expect("server config");
        client_config(Some(&files.cert)).expect("client config");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = load_certs(Path::new("/nonexistent/cert.pem")).expect_err("missing");
        assert!(
            err.to_string().starts_with("/nonexistent/cert.pem"),
            "{err}"
        );
    }
}
