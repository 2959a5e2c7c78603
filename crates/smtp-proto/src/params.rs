//! ESMTP parameters of MAIL FROM and RCPT TO (RFC 5321 4.1.2
//! `Mail-parameters`, `Rcpt-parameters`).
//!
//! Known: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531),
//! RET and ENVID (RFC 3461 4.3, 4.4), AUTH (RFC 4954 5), NOTIFY and ORCPT
//! (RFC 3461 4.1, 4.2) and our own X-TRACEPARENT (a W3C `traceparent`
//! carried from the relay to the store so both ends share one trace) and
//! X-DELIVERY-ID (the relay's stable id of one queued message, by which
//! a store recognises a redelivery of what it has already stored).
//! Anything else is `555 5.5.4` (RFC 5321 4.1.1.11). Whether the server
//! announced the extension is the server's check, not the parser's.

use crate::error::Error;
use crate::xtext;

/// BODY= values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `7BIT` (RFC 6152 3).
    SevenBit,
    /// `8BITMIME` (RFC 6152 3).
    EightBitMime,
    /// `BINARYMIME` (RFC 3030 3), only with BDAT.
    BinaryMime,
}

/// RET= values (RFC 3461 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Return the full message in a DSN.
    Full,
    /// Return headers only.
    Headers,
}

/// NOTIFY= (RFC 3461 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// `SUCCESS`.
    pub success: bool,
    /// `FAILURE`.
    pub failure: bool,
    /// `DELAY`.
    pub delay: bool,
}

impl Notify {
    /// True for `NOTIFY=NEVER`.
    pub fn is_never(&self) -> bool {
        !self.success && !self.failure && !self.delay
    }
}

/// ORCPT= (RFC 3461 4.2): `addr-type ";" xtext`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orcpt {
    /// The address type, e.g. `rfc822` (case preserved).
    pub addr_type: String,
    /// The original recipient, xtext-decoded.
    pub address: String,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    /// Declared message size in octets (RFC 1870 3).
    pub size: Option<u64>,
    /// Declared body type.
    pub body: Option<Body>,
    /// SMTPUTF8 was given (RFC 6531 3.4).
    pub smtputf8: bool,
    /// DSN return type.
    pub ret: Option<Ret>,
    /// DSN envelope id, decoded.
    pub envid: Option<String>,
    /// AUTH= submitter, decoded; `Some("<>")` for unknown.
    pub auth: Option<String>,
    /// W3C trace context from `X-TRACEPARENT=`.
    pub traceparent: Option<String>,
    /// The relay's delivery id from `X-DELIVERY-ID=`, xtext-decoded.
    pub delivery_id: Option<String>,
}

/// Parameters of RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    /// DSN notification request.
    pub notify: Option<Notify>,
    /// DSN original recipient.
    pub orcpt: Option<Orcpt>,
}

/// RFC 3461 4.4: ENVID at most 100 characters.
const MAX_ENVID: usize = 100;
/// RFC 3461 4.2: ORCPT at most 500 characters.
const MAX_ORCPT: usize = 500;
/// Our limit for X-DELIVERY-ID (a relay name and a queue id).
pub const MAX_DELIVERY_ID: usize = 200;

/// Splits ` KEY=value KEY2` into (keyword, value) pairs. RFC 5321 4.1.2:
/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`,
/// `esmtp-value = 1*(%d33-60 / %d62-126)` (plus UTF-8 under SMTPUTF8,
/// RFC 6531 3.3, which the caller has already checked for).
fn split(rest: &str) -> Result<Vec<(&str, Option<&str>)>, Error> {
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(Error::Arguments("expected a space after the path"));
    }
    let mut out = Vec::new();
    for word in rest.split(' ').filter(|w| !w.is_empty()) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        let key_ok = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !key_ok {
            return Err(Error::Arguments("bad parameter keyword"));
        }
        if let Some(v) = value
            && (v.is_empty()
                || v.chars()
                    .any(|c| c == '=' || c.is_ascii_control() || c == ' '))
        {
            return Err(Error::Arguments("bad parameter value"));
        }
        out.push((key, value));
    }
    Ok(out)
}

fn set<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::DuplicateParameter(name));
    }
    *slot = Some(value);
    Ok(())
}

fn need<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, Error> {
    value.ok_or(Error::InvalidParameter(name))
}

impl MailParams {
    /// Parses what follows the reverse path.
    pub(crate) fn parse(rest: &str) -> Result<Self, Error> {
        let mut p = MailParams::default();
        for (key, value) in split(rest)? {
            match key.to_ascii_uppercase().as_str() {
                // RFC 1870 3: size-value = 1*20DIGIT
                "SIZE" => {
                    let v = need(value, "SIZE")?;
                    let ok =
                        !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
                    let n = v.parse::<u64>().ok().filter(|_| ok);
                    set(
                        &mut p.size,
                        n.ok_or(Error::InvalidParameter("SIZE"))?,
                        "SIZE",
                    )?;
                }
                "BODY" => {
                    let body = match need(value, "BODY")?.to_ascii_uppercase().as_str() {
                        "7BIT" => Body::SevenBit,
                        "8BITMIME" => Body::EightBitMime,
                        "BINARYMIME" => Body::BinaryMime,
                        _ => return Err(Error::InvalidParameter("BODY")),
                    };
                    set(&mut p.body, body, "BODY")?;
                }
                // RFC 6531 3.4: no value.
                "SMTPUTF8" => {
                    if value.is_some() {
                        return Err(Error::InvalidParameter("SMTPUTF8"));
                    }
                    if p.smtputf8 {
                        return Err(Error::DuplicateParameter("SMTPUTF8"));
                    }
                    p.smtputf8 = true;
                }
                "RET" => {
                    let ret = match need(value, "RET")?.to_ascii_uppercase().as_str() {
                        "FULL" => Ret::Full,
                        "HDRS" => Ret::Headers,
                        _ => return Err(Error::InvalidParameter("RET")),
                    };
                    set(&mut p.ret, ret, "RET")?;
                }
                "ENVID" => {
                    let v = need(value, "ENVID")?;
                    let id = xtext::decode(v)
                        .filter(|id| id.len() <= MAX_ENVID && id.is_ascii())
                        .ok_or(Error::InvalidParameter("ENVID"))?;
                    set(&mut p.envid, id, "ENVID")?;
                }
                // RFC 4954 5: AUTH=<> or AUTH=xtext(mailbox)
                "AUTH" => {
                    let v = need(value, "AUTH")?;
                    let who = if v == "<>" {
                        v.to_string()
                    } else {
                        xtext::decode(v).ok_or(Error::InvalidParameter("AUTH"))?
                    };
                    set(&mut p.auth, who, "AUTH")?;
                }
                "X-TRACEPARENT" => {
                    let v = need(value, "X-TRACEPARENT")?;
                    if !is_traceparent(v) {
                        return Err(Error::InvalidParameter("X-TRACEPARENT"));
                    }
                    set(&mut p.traceparent, v.to_ascii_lowercase(), "X-TRACEPARENT")?;
                }
                // xtext (RFC 3461 4) of printable ASCII.
                "X-DELIVERY-ID" => {
                    let v = need(value, "X-DELIVERY-ID")?;
                    let id = xtext::decode(v)
                        .filter(|id| {
                            !id.is_empty()
                                && id.len() <= MAX_DELIVERY_ID
                                && id.bytes().all(|b| b.is_ascii_graphic())
                        })
                        .ok_or(Error::InvalidParameter("X-DELIVERY-ID"))?;
                    set(&mut p.delivery_id, id, "X-DELIVERY-ID")?;
                }
                _ => return Err(Error::unsupported(key)),
            }
        }
        Ok(p)
    }
}

/// W3C Trace Context `traceparent`: `2hex-32hex-16hex-2hex`, version
/// `ff` invalid, all-zero trace or span id invalid.
pub fn is_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let [version, trace, span, flags] = parts.as_slice() else {
        return false;
    };
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    hex(version, 2)
        && !version.eq_ignore_ascii_case("ff")
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(span, 16)
        && span.bytes().any(|b| b != b'0')
        && hex(flags, 2)
}

impl RcptParams {
    /// Parses what follows the forward path.
    pub(crate) fn parse(rest: &str) -> Result<Self, Error> {
        let mut p = RcptParams::default();
        for (key, value) in split(rest)? {
            match key.to_ascii_uppercase().as_str() {
                "NOTIFY" => {
                    let notify = parse_notify(need(value, "NOTIFY")?)?;
                    set(&mut p.notify, notify, "NOTIFY")?;
                }
                "ORCPT" => {
                    let v = need(value, "ORCPT")?;
                    let (addr_type, encoded) =
                        v.split_once(';').ok_or(Error::InvalidParameter("ORCPT"))?;
                    let type_ok = !addr_type.is_empty()
                        && addr_type
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-');
                    let address = xtext::decode(encoded)
                        .filter(|a| type_ok && !a.is_empty() && v.len() <= MAX_ORCPT)
                        .ok_or(Error::InvalidParameter("ORCPT"))?;
                    let orcpt = Orcpt {
                        addr_type: addr_type.to_string(),
                        address,
                    };
                    set(&mut p.orcpt, orcpt, "ORCPT")?;
                }
                _ => return Err(Error::unsupported(key)),
            }
        }
        Ok(p)
    }
}

/// RFC 3461 4.1: `NEVER` alone, or a comma list of SUCCESS, FAILURE, DELAY.
fn parse_notify(v: &str) -> Result<Notify, Error> {
    if v.eq_ignore_ascii_case("NEVER") {
        return Ok(Notify::default());
    }
    let mut n = Notify::default();
    for item in v.split(',') {
        let flag = match item.to_ascii_uppercase().as_str() {
            "SUCCESS" => &mut n.success,
            "FAILURE" => &mut n.failure,
            "DELAY" => &mut n.delay,
            _ => return Err(Error::InvalidParameter("NOTIFY")),
        };
        if *flag {
            return Err(Error::InvalidParameter("NOTIFY"));
        }
        *flag = true;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_params() {
        let p = MailParams::parse(
            " SIZE=123 body=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B1 AUTH=a+2Bb@x.org",
        )
        .expect("params");
        assert_eq!(p.size, Some(123));
        assert_eq!(p.body, Some(Body::EightBitMime));
        assert!(p.smtputf8);
        assert_eq!(p.ret, Some(Ret::Headers));
        assert_eq!(p.envid.as_deref(), Some("QQ+1"));
        assert_eq!(p.auth.as_deref(), Some("a+b@x.org"));
    }

    #[test]
    fn mail_param_errors() {
        assert_eq!(
            MailParams::parse(" SIZE=12x"),
            Err(Error::InvalidParameter("SIZE"))
        );
        assert_eq!(
            MailParams::parse(" SIZE=99999999999999999999999"),
            Err(Error::InvalidParameter("SIZE"))
        );
        assert_eq!(
            MailParams::parse(" SIZE=1 SIZE=2"),
            Err(Error::DuplicateParameter("SIZE"))
        );
        assert_eq!(
            MailParams::parse(" FOO=bar"),
            Err(Error::UnsupportedParameter("FOO".into()))
        );
        assert_eq!(
            MailParams::parse(" BODY=9BIT"),
            Err(Error::InvalidParameter("BODY"))
        );
        assert_eq!(
            MailParams::parse(" SMTPUTF8=yes"),
            Err(Error::InvalidParameter("SMTPUTF8"))
        );
        assert_eq!(
            MailParams::parse(" ENVID=a=b"),
            Err(Error::Arguments("bad parameter value"))
        );
        assert!(
            MailParams::parse("SIZE=1").is_err(),
            "needs a space after the path"
        );
        assert!(MailParams::parse(" =1").is_err());
    }

    #[test]
    fn delivery_id() {
        let p = MailParams::parse(" X-DELIVERY-ID=mta-1:0123+2BAB").expect("id");
        assert_eq!(p.delivery_id.as_deref(), Some("mta-1:0123+AB"));
        for bad in [
            " X-DELIVERY-ID",
            " X-DELIVERY-ID=+20x",
            " X-DELIVERY-ID=a X-DELIVERY-ID=b",
        ] {
            assert!(MailParams::parse(bad).is_err(), "{bad}");
        }
        let long = format!(" X-DELIVERY-ID={}", "a".repeat(MAX_DELIVERY_ID + 1));
        assert!(MailParams::parse(&long).is_err());
    }

    #[test]
    fn traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = MailParams::parse(&format!(" X-TRACEPARENT={tp}")).expect("tp");
        assert_eq!(p.traceparent.as_deref(), Some(tp));
        assert!(!is_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent(
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent("00-4bf92f35-00f067aa0ba902b7-01"));
    }

    #[test]
    fn rcpt_params() {
        let p = RcptParams::parse(" NOTIFY=SUCCESS,DELAY ORCPT=rfc822;bob+2Bx@example.org")
            .expect("params");
        let n = p.notify.expect("notify");
        assert!(n.success && n.delay && !n.failure);
        let o = p.orcpt.expect("orcpt");
        assert_eq!(
            (o.addr_type.as_str(), o.address.as_str()),
            ("rfc822", "bob+x@example.org")
        );
        assert!(
            RcptParams::parse(" NOTIFY=NEVER")
                .expect("never")
                .notify
                .is_some_and(|n| n.is_never())
        );
        assert!(RcptParams::parse(" NOTIFY=NEVER,SUCCESS").is_err());
        assert!(RcptParams::parse(" NOTIFY=SUCCESS,SUCCESS").is_err());
        assert!(RcptParams::parse(" ORCPT=bob@example.org").is_err());
        assert!(RcptParams::parse(" SIZE=1").is_err());
    }
}
