//! xtext (RFC 3461 4): the encoding of ENVID, ORCPT and AUTH= values.
//! `xchar` is any printable ASCII except `+` and `=`; other octets are
//! written `+XX` with two upper-case hex digits.

/// Decodes xtext. `None` when the text is not valid xtext (a bad `+XX`,
/// a character outside 33..=126, `=`) or does not decode to UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = hex_digit(hex[0])?;
                let lo = hex_digit(hex[1])?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'=' => return None,
            b @ 33..=126 => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// RFC 3461 4: "hexchar" uses upper-case hex digits; lower case is
/// tolerated (Postel), since it is unambiguous.
fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Encodes text as xtext.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for s in ["rfc822;a+b@x.org", "id=42 x", "plain", "é"] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s));
        }
        assert_eq!(encode("a+b=c"), "a+2Bb+3Dc");
    }

    #[test]
    fn invalid() {
        for bad in ["+", "+4", "+G0", "a=b", "a b", "+FF"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
