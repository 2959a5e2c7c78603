//! SASL for `AUTH` (RFC 5034): PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login), each with or without an initial response.
//!
//! The session drives the exchange; this module only decodes client
//! responses and builds challenges. Both mechanisms send the password in
//! the clear, so the session offers them only under TLS unless configured
//! otherwise.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The mechanisms we offer, in CAPA order.
pub const MECHANISMS: &[Mechanism] = &[Mechanism::Plain, Mechanism::Login];

/// A supported SASL mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN`: one message `authzid NUL authcid NUL password`.
    Plain,
    /// `LOGIN`: user name, then password, each after a prompt.
    Login,
}

impl Mechanism {
    /// The mechanism named `name` (already upper-cased), if we offer it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// Why a SASL exchange failed; the text goes after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The client answered `*` (RFC 5034 4).
    #[error("Authentication cancelled")]
    Cancelled,
    /// The response is not valid base64.
    #[error("Invalid base64 in SASL response")]
    BadBase64,
    /// The decoded response does not fit the mechanism.
    #[error("{0}")]
    Malformed(&'static str),
}

/// The continuation line that asks for the next response: `+ ` and the
/// base64 challenge (empty for PLAIN).
pub fn challenge(prompt: &[u8]) -> Vec<u8> {
    let mut out = b"+ ".to_vec();
    out.extend_from_slice(STANDARD.encode(prompt).as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// The LOGIN mechanism's first prompt.
pub const LOGIN_USER_PROMPT: &[u8] = b"Username:";
/// The LOGIN mechanism's second prompt.
pub const LOGIN_PASSWORD_PROMPT: &[u8] = b"Password:";

/// Decodes a client response line. `initial` is true for the response on
/// the AUTH line itself, where `=` stands for an empty response.
pub fn decode_response(line: &[u8], initial: bool) -> Result<Vec<u8>, SaslError> {
    let line = line.trim_ascii();
    if line == b"*" {
        return Err(SaslError::Cancelled);
    }
    if initial && line == b"=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::BadBase64)
}

/// The three parts of a PLAIN message (RFC 4616 2).
#[derive(Clone, PartialEq, Eq)]
pub struct Plain {
    /// The authorization identity: empty, or whom to act as.
    pub authz: String,
    /// The authentication identity whose password this is.
    pub authc: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plain")
            .field("authz", &self.authz)
            .field("authc", &self.authc)
            .finish_non_exhaustive()
    }
}

/// Splits a PLAIN message into its three parts, whatever the
/// authorization identity (the trusted-proxy login acts for another user,
/// see `mail_core::trusted_proxy`).
pub fn split_plain(message: &[u8]) -> Result<Plain, SaslError> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(authz), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed(
            "PLAIN response must be authzid NUL user NUL password",
        ));
    };
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map_err(|_| SaslError::Malformed("PLAIN response is not UTF-8"))
    };
    let (authz, authc, password) = (text(authz)?, text(user)?, text(pass)?);
    if authc.is_empty() {
        return Err(SaslError::Malformed("PLAIN response has no user name"));
    }
    Ok(Plain {
        authz,
        authc,
        password,
    })
}

/// Splits a PLAIN message into (user, password). An authorisation
/// identity other than the user itself is refused: we do not support
/// acting on behalf of another account.
pub fn parse_plain(message: &[u8]) -> Result<(String, String), SaslError> {
    let p = split_plain(message)?;
    if !p.authz.is_empty() && p.authz != p.authc {
        return Err(SaslError::Malformed(
            "Authorization identity must be empty or the user itself",
        ));
    }
    Ok((p.authc, p.password))
}

/// A LOGIN step's decoded text.
pub fn login_text(decoded: Vec<u8>) -> Result<String, SaslError> {
    String::from_utf8(decoded).map_err(|_| SaslError::Malformed("LOGIN response is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip_and_refusals() {
        let ir = STANDARD.encode(b"\0alice\0s3cret pass");
        let msg = decode_response(ir.as_bytes(), true).expect("b64");
        assert_eq!(
            parse_plain(&msg),
            Ok(("alice".into(), "s3cret pass".into()))
        );
        assert!(parse_plain(b"alice\0alice\0pw").is_ok());
        assert!(parse_plain(b"bob\0alice\0pw").is_err());
        assert!(parse_plain(b"alice\0pw").is_err());
        assert!(parse_plain(b"\0\0pw").is_err());
        assert!(parse_plain(b"\0a\0b\0c").is_err());
        let p = split_plain(b"bob\0mmp\0s3cret").expect("proxied");
        assert_eq!(
            (p.authz.as_str(), p.authc.as_str(), p.password.as_str()),
            ("bob", "mmp", "s3cret")
        );
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn responses() {
        assert_eq!(decode_response(b"*", false), Err(SaslError::Cancelled));
        assert_eq!(decode_response(b"=", true), Ok(Vec::new()));
        assert_eq!(decode_response(b"=", false), Err(SaslError::BadBase64));
        assert_eq!(decode_response(b"!!", false), Err(SaslError::BadBase64));
        assert_eq!(decode_response(b"", false), Ok(Vec::new()));
        assert_eq!(challenge(LOGIN_USER_PROMPT), b"+ VXNlcm5hbWU6\r\n");
        assert_eq!(challenge(b""), b"+ \r\n");
    }
}
