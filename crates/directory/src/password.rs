//! Password hashes in the forms OpenLDAP stores in `userPassword`, so an
//! entry moves between the file backend and a real directory unchanged:
//!
//! - `{ARGON2}$argon2id$…` (OpenLDAP's `argon2` module; what Tiermail
//!   writes for the file backend), also accepted without the prefix;
//! - `{SSHA}` salted SHA-1 and `{SHA}` (OpenLDAP's built-in schemes; what
//!   Tiermail writes to LDAP so that any slapd can check it on bind);
//! - `{CRYPT}` with SHA-512 (`$6$`) or SHA-256 (`$5$`) crypt.
//!
//! A value without a `{SCHEME}` would be compared as clear text by OpenLDAP;
//! Tiermail refuses it instead, so a clear-text password pasted into a file
//! by mistake never works.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};

use crate::error::DirectoryError;

/// Which scheme to hash new passwords with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `{ARGON2}` (argon2id, default parameters).
    Argon2,
    /// `{SSHA}` (salted SHA-1): weak, but every OpenLDAP checks it.
    Ssha,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], DirectoryError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| DirectoryError::Config(format!("no randomness for a salt: {e}")))?;
    Ok(b)
}

/// Hashes `password` with `scheme`, prefix included.
pub fn hash(password: &str, scheme: Scheme) -> Result<String, DirectoryError> {
    match scheme {
        Scheme::Argon2 => {
            let salt = SaltString::encode_b64(&random_bytes::<16>()?)
                .map_err(|e| DirectoryError::Config(format!("argon2 salt: {e}")))?;
            let h = Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| DirectoryError::Config(format!("argon2: {e}")))?;
            Ok(format!("{{ARGON2}}{h}"))
        }
        Scheme::Ssha => {
            let salt = random_bytes::<8>()?;
            let mut d = Sha1::new();
            d.update(password.as_bytes());
            d.update(salt);
            let mut raw = d.finalize().to_vec();
            raw.extend_from_slice(&salt);
            Ok(format!("{{SSHA}}{}", B64.encode(raw)))
        }
    }
}

/// Whether `value` already carries a `{SCHEME}` prefix (or is a bare
/// argon2 PHC string) and must be stored as it is.
pub fn is_hashed(value: &str) -> bool {
    value.starts_with("$argon2")
        || (value.starts_with('{')
            && value.find('}').is_some_and(|i| {
                i > 1
                    && value[1..i]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}

/// Hashes `value` with `scheme` unless it is already hashed.
pub fn hash_if_clear(value: &str, scheme: Scheme) -> Result<String, DirectoryError> {
    if is_hashed(value) {
        Ok(value.to_string())
    } else {
        hash(value, scheme)
    }
}

/// Checks `password` against a stored value; unknown schemes never match.
pub fn verify(password: &str, stored: &str) -> bool {
    let (scheme, rest) = match stored.strip_prefix('{').and_then(|s| s.split_once('}')) {
        Some((scheme, rest)) => (scheme.to_ascii_uppercase(), rest),
        None if stored.starts_with("$argon2") => ("ARGON2".to_string(), stored),
        None => return false,
    };
    match scheme.as_str() {
        "ARGON2" => match PasswordHash::new(rest) {
            Ok(h) => Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(_) => false,
        },
        "SSHA" => match B64.decode(rest.trim()) {
            Ok(raw) if raw.len() > 20 => {
                let (digest, salt) = raw.split_at(20);
                let mut d = Sha1::new();
                d.update(password.as_bytes());
                d.update(salt);
                constant_time_eq(&d.finalize(), digest)
            }
            _ => false,
        },
        "SHA" => match B64.decode(rest.trim()) {
            Ok(raw) => constant_time_eq(&Sha1::digest(password.as_bytes()), &raw),
            Err(_) => false,
        },
        "CRYPT" => {
            if rest.starts_with("$6$") {
                sha_crypt::sha512_check(password, rest).is_ok()
            } else if rest.starts_with("$5$") {
                sha_crypt::sha256_check(password, rest).is_ok()
            } else {
                false
            }
        }
        _ => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for scheme in [Scheme::Argon2, Scheme::Ssha] {
            let h = hash("s3cret", scheme).expect("hash");
            assert!(verify("s3cret", &h), "{h}");
            assert!(!verify("S3cret", &h), "{h}");
        }
    }

    #[test]
    fn openldap_forms() {
        // slappasswd -h {SSHA} -s secret, and {SHA} of "secret".
        assert!(verify("secret", "{SSHA}d7V9I/mTc+1dALGWT4pBTyoGN1OtH3DD"));
        assert!(verify("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
        assert!(!verify("wrong", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
        // crypt(3) SHA-512 of "secret" with salt "saltsalt"
        assert!(verify(
            "secret",
            "{CRYPT}$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
        ));
        assert!(!verify("secret", "secret"), "clear text is refused");
        assert!(!verify("secret", "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ=="));
    }
}
