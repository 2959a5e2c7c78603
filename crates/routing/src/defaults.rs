//! The shipped routing files (`deploy/mta/*.toml`), which are also the
//! embedded defaults of `mailctl up`.
//!
//! They contain `{{NAME}}` placeholders for what differs per installation;
//! [`fill`] replaces them and refuses to leave one unfilled, and
//! [`crate::RoutingConfig::parse`] refuses a file that still has one.

use crate::error::Error;

/// The inbound relay's routing file (`deploy/mta/inbound.toml`).
/// Placeholders: [`INBOUND_PLACEHOLDERS`].
pub const INBOUND_DEFAULT: &str = include_str!("../../../deploy/mta/inbound.toml");

/// The outbound relay's routing file (`deploy/mta/outbound.toml`).
/// Placeholders: [`OUTBOUND_PLACEHOLDERS`].
pub const OUTBOUND_DEFAULT: &str = include_str!("../../../deploy/mta/outbound.toml");

/// What [`INBOUND_DEFAULT`] needs: `DOMAIN` (the primary hosted domain),
/// `LOCAL_HOST` (this relay's host name), `LMTP_PORT` (the stores' LMTP
/// port) and `POSTMASTER` (the address that receives `postmaster@DOMAIN`
/// and `abuse@DOMAIN`).
pub const INBOUND_PLACEHOLDERS: &[&str] = &["DOMAIN", "LOCAL_HOST", "LMTP_PORT", "POSTMASTER"];

/// What [`OUTBOUND_DEFAULT`] needs: `DOMAIN`, `LOCAL_HOST` and
/// `INBOUND_RELAY` (`host:port` of the inbound relay's SMTP listener).
pub const OUTBOUND_PLACEHOLDERS: &[&str] = &["DOMAIN", "LOCAL_HOST", "INBOUND_RELAY"];

/// Replaces every `{{NAME}}` in `text` with its value from `values`.
/// Fails on a placeholder left without a value.
pub fn fill(text: &str, values: &[(&str, &str)]) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| Error::Placeholder(name.to_string()))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_placeholder_or_fails() {
        assert_eq!(
            fill("a {{X}} b {{Y}}{{X}}", &[("X", "1"), ("Y", "2")]).expect("filled"),
            "a 1 b 21"
        );
        assert!(matches!(
            fill("{{X}} {{Z}}", &[("X", "1")]),
            Err(Error::Placeholder(n)) if n == "Z"
        ));
    }
}
