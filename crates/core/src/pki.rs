//! The deployment CA of the control plane: `mailctl up` creates one and
//! issues every service and `mailctl` a certificate; `mailctl cert issue`
//! issues more (an operator, a new relay). See [`crate::grpc`] for how a
//! server reads them.
//!
//! A certificate's subject is `CN=<name>, OU=<role>, O=Tiermail control
//! plane`; its subject alternative names are the name (when it is a DNS
//! name) and any extra host names or IP addresses a server is reached by.
//! Every certificate may authenticate a client; those of serving roles
//! ([`Role::serves`]) also a server. Keys are ECDSA P-256, written with
//! mode 0600; the CA key never leaves its directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::grpc::Role;
use crate::tls::{TlsError, write_private};

/// The CA certificate's file in a CA directory.
pub const CA_CERT: &str = "ca.pem";
/// The CA key's file in a CA directory.
pub const CA_KEY: &str = "ca.key";
/// How long a CA certificate is valid, in days.
pub const CA_DAYS: i64 = 3650;
/// How long an issued certificate is valid by default, in days.
pub const DEFAULT_DAYS: i64 = 825;

const ORGANIZATION: &str = "Tiermail control plane";

/// A certificate and its key on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    // A little slack for clocks that disagree by a few minutes.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

/// Creates a new CA in `dir` (`ca.pem`, `ca.key`); refuses to replace one.
pub fn create_ca(dir: &Path) -> Result<PathBuf, TlsError> {
    let cert_path = dir.join(CA_CERT);
    if cert_path.exists() || dir.join(CA_KEY).exists() {
        return Err(TlsError::Invalid(format!(
            "{}: a CA exists already (certificates it issued would stop working)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Tiermail control-plane CA");
    dn.push(DnType::OrganizationName, ORGANIZATION);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, CA_DAYS);
    let cert = params.self_signed(&key)?;
    write_private(&dir.join(CA_KEY), key.serialize_pem().as_bytes(), 0o600)?;
    write_private(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(cert_path)
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Issues `name` a certificate for `role`, valid `days`, signed by the CA
/// in `ca_dir`, written to `out_dir` as `NAME.pem` and `NAME.key`.
/// `hosts` are extra subject alternative names (DNS names or IP
/// addresses) a server is reached by.
pub fn issue(
    ca_dir: &Path,
    name: &str,
    role: Role,
    hosts: &[String],
    days: i64,
    out_dir: &Path,
) -> Result<Issued, TlsError> {
    if !crate::grpc::valid_cert_name(name) {
        return Err(TlsError::Invalid(format!(
            "{name:?}: a certificate name uses letters, digits, '.', '_' and '-' (at most 64)"
        )));
    }
    if days < 1 {
        return Err(TlsError::Invalid(
            "a certificate must be valid for at least a day".into(),
        ));
    }
    let ca_key = KeyPair::from_pem(&read(&ca_dir.join(CA_KEY))?)?;
    let issuer = Issuer::from_ca_cert_pem(&read(&ca_dir.join(CA_CERT))?, ca_key)?;
    let mut sans: Vec<String> = Vec::new();
    if name.contains(|c: char| c.is_ascii_alphabetic()) {
        sans.push(name.to_string());
    }
    for h in hosts {
        if !sans.contains(h) {
            sans.push(h.clone());
        }
    }
    let mut params = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationalUnitName, role.as_str());
    dn.push(DnType::OrganizationName, ORGANIZATION);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if role.serves() {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::create_dir_all(out_dir).map_err(|source| TlsError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let issued = Issued {
        cert: out_dir.join(format!("{name}.pem")),
        key: out_dir.join(format!("{name}.key")),
    };
    write_private(&issued.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_private(&issued.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(issued)
}

/// What a certificate file says, for `mailctl cert show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The identity (common name).
    pub name: String,
    /// The role, when the certificate names one.
    pub role: Option<Role>,
    /// Subject alternative names.
    pub hosts: Vec<String>,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// End of validity, RFC 2822 style.
    pub not_after: String,
}

/// Reads the first certificate of a PEM file.
pub fn describe(path: &Path) -> Result<Description, TlsError> {
    let der = crate::tls::load_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::Invalid(format!("{}: no certificate", path.display())))?;
    let bad = |e: String| TlsError::Pem {
        path: path.to_path_buf(),
        message: e,
    };
    let id = crate::grpc::Identity::from_der(&der).map_err(bad)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| bad(e.to_string()))?;
    let hosts = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|g| match g {
                    x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                        16 => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(ip);
                            std::net::Ipv6Addr::from(b).to_string()
                        }
                        _ => format!("{ip:?}"),
                    },
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Description {
        name: id.name,
        role: id.role,
        hosts,
        issuer: cert.issuer().to_string(),
        not_after: cert.validity().not_after.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_certificate_names_its_identity_role_and_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca");
        create_ca(&ca).expect("ca");
        assert!(create_ca(&ca).is_err(), "a CA is never replaced");
        let out = dir.path().join("out");
        let issued = issue(
            &ca,
            "jobctl",
            Role::Jobctl,
            &["127.0.0.1".into(), "localhost".into()],
            30,
            &out,
        )
        .expect("issue");
        let d = describe(&issued.cert).expect("describe");
        assert_eq!(d.name, "jobctl");
        assert_eq!(d.role, Some(Role::Jobctl));
        assert_eq!(d.hosts, ["jobctl", "127.0.0.1", "localhost"]);
        assert!(
            d.issuer.contains("Tiermail control-plane CA"),
            "{}",
            d.issuer
        );
        crate::tls::load_key(&issued.key).expect("key");
        assert!(issue(&ca, "../evil", Role::Operator, &[], 30, &out).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&issued.key)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
