//! Email/get, /changes, /query, /queryChanges, /set, /import, /parse
//! (RFC 8621 4), one file each, plus the conversion of a parsed message
//! into Email properties ([`body`]).

pub mod body;
pub mod changes;
pub mod get;
pub mod import;
pub mod query;
pub mod set;

use mail_store::Flags;
use serde_json::{Map, Value};

/// The Email id of a content digest.
pub fn email_id(digest: &str) -> String {
    format!("e{digest}")
}

/// The content digest of an Email id.
pub fn parse_email_id(id: &str) -> Option<&str> {
    id.strip_prefix('e')
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The blob id of a whole message.
pub fn blob_id(digest: &str) -> String {
    format!("b{digest}")
}

/// IMAP system flags and their JMAP keywords (RFC 8621 4.1.1).
const SYSTEM: [(&str, &str); 4] = [
    ("\\Seen", "$seen"),
    ("\\Flagged", "$flagged"),
    ("\\Answered", "$answered"),
    ("\\Draft", "$draft"),
];

/// The `keywords` of a message (lower case; `\Deleted` is not a keyword).
pub fn keywords(flags: &Flags) -> Map<String, Value> {
    let mut m = Map::new();
    for f in flags.iter() {
        if let Some((_, k)) = SYSTEM.iter().find(|(s, _)| s.eq_ignore_ascii_case(f)) {
            m.insert((*k).to_string(), Value::Bool(true));
        } else if !f.starts_with('\\') {
            m.insert(f.to_ascii_lowercase(), Value::Bool(true));
        }
    }
    m
}

/// The IMAP flag of a JMAP keyword.
pub fn flag_of(keyword: &str) -> String {
    let k = keyword.to_ascii_lowercase();
    SYSTEM
        .iter()
        .find(|(_, kw)| *kw == k)
        .map_or(k, |(f, _)| (*f).to_string())
}

/// True for a valid keyword (RFC 8621 4.1.1: IMAP atom characters).
pub fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 255
        && k.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && !b"(){]%*\"\\".contains(&b))
}

/// Flags from a `keywords` object; `Err` names the bad keyword.
pub fn flags_from_keywords(v: &Value) -> Result<Flags, String> {
    let Value::Object(m) = v else {
        return Err("keywords must be an object".into());
    };
    let mut f = Flags::new();
    for (k, val) in m {
        if val != &Value::Bool(true) || !valid_keyword(k) {
            return Err(format!("invalid keyword {k:?}"));
        }
        f.insert(&flag_of(k));
    }
    Ok(f)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (RFC 8620 1.4 UTCDate).
pub fn utc_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Unix seconds of an RFC 3339 date-time (`Z` or an offset).
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let oh: i64 = o.get(1..3)?.parse().ok()?;
            let om: i64 = o.get(4..6)?.parse().ok()?;
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy.rem_euclid(400);
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for t in [0i64, 951_868_800, 1_767_225_600, 1_700_000_123] {
            assert_eq!(parse_date(&utc_date(t)), Some(t));
        }
        assert_eq!(utc_date(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(parse_date("2000-03-01T02:00:00+02:00"), Some(951_868_800));
        assert_eq!(parse_date("2000-03-01"), None);
    }

    #[test]
    fn keyword_mapping() {
        let f: Flags = ["\\Seen", "\\Deleted", "Work"].into_iter().collect();
        let k = keywords(&f);
        assert_eq!(k.len(), 2);
        assert!(k.contains_key("$seen") && k.contains_key("work"));
        assert_eq!(flag_of("$Flagged"), "\\Flagged");
        assert!(!valid_keyword("a b") && !valid_keyword("a(b") && valid_keyword("$junk"));
    }
}
