//! The `Id` data type (RFC 8620 1.2): 1-255 octets of the URL-safe base64
//! alphabet.

/// True when `s` is a valid Id.
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
