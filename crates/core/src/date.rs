//! The one RFC 5322 date formatter (section 3.3), for every header the
//! system writes itself: `Received:` trace fields, DSN and notice `Date:`,
//! `Arrival-Date:` and `Last-Attempt-Date:` (RFC 3464). Always UTC with
//! `+0000`: the servers run in containers and on hosts whose local zone
//! says nothing to the reader.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! let t = UNIX_EPOCH + Duration::from_secs(1_795_888_360);
//! assert_eq!(mail_core::date::rfc5322(t), "Sat, 28 Nov 2026 17:52:40 +0000");
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sat, 28 Nov 2026 17:52:40 +0000`. Times before 1970 (a clock gone
/// wrong) are written as the epoch rather than failing a delivery.
pub fn rfc5322(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WEEKDAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn epoch_leap_day_century_and_today() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc5322(at(0)), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322(at(4_133_980_799)),
            "Fri, 31 Dec 2100 23:59:59 +0000"
        );
        assert_eq!(
            rfc5322(at(1_795_888_360)),
            "Sat, 28 Nov 2026 17:52:40 +0000"
        );
        assert_eq!(
            rfc5322(UNIX_EPOCH - Duration::from_secs(5)),
            "Thu, 1 Jan 1970 00:00:00 +0000"
        );
    }
}
