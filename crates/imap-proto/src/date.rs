//! IMAP dates: `date` in SEARCH (`1-Feb-1994`) and `date-time` in APPEND
//! and INTERNALDATE (`"17-Jul-1996 02:44:25 -0700"`), with conversion to
//! and from Unix time so the server never needs a calendar library.

use crate::cursor::{Cursor, Result};
use crate::error::ErrorKind;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year, e.g. 1994.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
}

/// A date, time and zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// The date.
    pub date: Date,
    /// Seconds since midnight, local time.
    pub seconds: u32,
    /// Offset from UTC in minutes (east positive).
    pub zone_minutes: i32,
}

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Date {
        year: (if m <= 2 { y + 1 } else { y }) as i32,
        month: m,
        day: d,
    }
}

impl Date {
    /// Midnight UTC of this date as Unix time.
    pub fn unix_midnight(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
    }

    pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<Self> {
        let quoted = c.eat(b'"');
        let d = Self::parse_text(c)?;
        if quoted {
            c.expect(b'"', "unterminated quoted date")?;
        }
        Ok(d)
    }

    fn parse_text(c: &mut Cursor<'_>) -> Result<Self> {
        let bad = ErrorKind::Syntax("invalid date (expected d-Mon-yyyy)");
        let day = c.number().map_err(|_| bad.clone())?;
        c.expect(b'-', "invalid date (expected d-Mon-yyyy)")?;
        let mon = c.rest().get(..3).ok_or(bad.clone())?;
        let month = MONTHS
            .iter()
            .position(|m| m.as_bytes().eq_ignore_ascii_case(mon))
            .ok_or(bad.clone())? as u32
            + 1;
        for _ in 0..3 {
            c.eat(c.peek().unwrap_or(0));
        }
        c.expect(b'-', "invalid date (expected d-Mon-yyyy)")?;
        let year = c.number().map_err(|_| bad.clone())?;
        if !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
            return Err(bad);
        }
        Ok(Date {
            year: year as i32,
            month,
            day,
        })
    }
}

impl DateTime {
    /// Unix time of this instant.
    pub fn unix(&self) -> i64 {
        self.date.unix_midnight() + i64::from(self.seconds) - i64::from(self.zone_minutes) * 60
    }

    /// The instant `unix` shown in UTC.
    pub fn from_unix(unix: i64) -> Self {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400) as u32;
        DateTime {
            date: civil_from_days(days),
            seconds: secs,
            zone_minutes: 0,
        }
    }

    /// RFC 3501 `date-time` including the quotes.
    pub fn to_imap(&self) -> String {
        let z = self.zone_minutes;
        let sign = if z < 0 { '-' } else { '+' };
        format!(
            "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
            self.date.day,
            MONTHS[(self.date.month.clamp(1, 12) - 1) as usize],
            self.date.year,
            self.seconds / 3600,
            self.seconds / 60 % 60,
            self.seconds % 60,
            sign,
            z.abs() / 60,
            z.abs() % 60
        )
    }

    /// `"dd-Mon-yyyy hh:mm:ss +zzzz"` (a leading space for a one-digit day
    /// is accepted, as RFC 3501 `date-day-fixed` allows).
    pub(crate) fn parse(c: &mut Cursor<'_>) -> Result<Self> {
        let bad =
            || ErrorKind::Syntax("invalid date-time (expected \"dd-Mon-yyyy hh:mm:ss +zzzz\")");
        c.expect(b'"', "invalid date-time (expected a quoted string)")?;
        c.eat(b' ');
        let date = Date::parse_text(c)?;
        c.sp()?;
        let two = |c: &mut Cursor<'_>, max: u32| -> Result<u32> {
            let r = c.rest();
            if r.len() < 2 || !r[0].is_ascii_digit() || !r[1].is_ascii_digit() {
                return Err(bad());
            }
            let v = u32::from(r[0] - b'0') * 10 + u32::from(r[1] - b'0');
            c.eat(r[0]);
            c.eat(r[1]);
            if v > max { Err(bad()) } else { Ok(v) }
        };
        let h = two(c, 23)?;
        c.expect(b':', "invalid time")?;
        let m = two(c, 59)?;
        c.expect(b':', "invalid time")?;
        let s = two(c, 60)?;
        c.sp()?;
        let sign = if c.eat(b'-') {
            -1
        } else {
            c.expect(b'+', "invalid zone")?;
            1
        };
        let zh = two(c, 99)?;
        let zm = two(c, 59)?;
        c.expect(b'"', "invalid date-time")?;
        Ok(DateTime {
            date,
            seconds: h * 3600 + m * 60 + s.min(59),
            zone_minutes: sign * (zh as i32 * 60 + zm as i32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_round_trip() {
        let t = DateTime::from_unix(837_596_665);
        assert_eq!(t.to_imap(), "\"17-Jul-1996 09:44:25 +0000\"");
        assert_eq!(t.unix(), 837_596_665);
        assert_eq!(
            DateTime::from_unix(0).date,
            Date {
                year: 1970,
                month: 1,
                day: 1
            }
        );
    }
}
