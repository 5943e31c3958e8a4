//! The kernel clock. Everything time-based (code expiry, sessions, later auto-close and
//! auto-receive) reads `Clock::now_ms`, never the system clock directly, so tests can move time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time plus an offset. The offset can only be moved when the clock was built with
/// `Clock::movable()` — the one test-only switch (`pifa serve --test-clock`, or the e2e harness),
/// documented in ARCHITECTURE.md; a production server's clock cannot be moved.
#[derive(Clone, Debug)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    movable: bool,
}

impl Clock {
    pub fn system() -> Clock {
        Clock {
            offset_ms: Arc::new(AtomicI64::new(0)),
            movable: false,
        }
    }

    pub fn movable() -> Clock {
        Clock {
            offset_ms: Arc::new(AtomicI64::new(0)),
            movable: true,
        }
    }

    pub fn is_movable(&self) -> bool {
        self.movable
    }

    /// Milliseconds since the Unix epoch, UTC.
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        wall.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward by `ms`; refused (returns false) on a production clock.
    pub fn advance_ms(&self, ms: i64) -> bool {
        if !self.movable {
            return false;
        }
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        true
    }
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2026-11-22T03:14:16.123Z`) for API responses.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The shop's time zone (N): Asia/Shanghai, UTC+8 all year (China has kept no daylight saving
/// time since 1991), so a fixed offset is exact. Business days, order dates and "N days" use it.
pub const SHOP_UTC_OFFSET_MS: i64 = 8 * 3_600_000;

/// The shop's calendar date of an instant: (year, month, day).
pub fn shop_date(ms: i64) -> (i64, i64, i64) {
    civil_from_days((ms + SHOP_UTC_OFFSET_MS).div_euclid(86_400_000))
}

/// `20261130`, as order numbers carry it.
pub fn shop_date_compact(ms: i64) -> String {
    let (y, m, d) = shop_date(ms);
    format!("{y:04}{m:02}{d:02}")
}

/// `2026-11-30`.
pub fn shop_date_iso(ms: i64) -> String {
    let (y, m, d) = shop_date(ms);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The instant a shop date (`2026-11-30`) begins, or `None` when the text is no real date.
pub fn parse_shop_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let days = days_from_civil(y, m, d);
    // Round-tripping rejects 2026-02-30 and the like.
    (civil_from_days(days) == (y, m, d)).then(|| days * 86_400_000 - SHOP_UTC_OFFSET_MS)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since the Unix epoch of a proleptic Gregorian date (the inverse of `civil_from_days`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_317_256_123), "2026-11-22T03:14:16.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for days in [-800_000, -1, 0, 11_016, 20_779, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn shop_dates_follow_shanghai() {
        // 2026-11-29 16:30 UTC is already the 30th in Shanghai.
        let ms = 1_795_969_800_000;
        assert_eq!(shop_date_compact(ms), "20261130");
        assert_eq!(shop_date_iso(ms), "2026-11-30");
        let start = parse_shop_date("2026-11-30").expect("a real date");
        assert_eq!(shop_date_iso(start), "2026-11-30");
        assert_eq!(shop_date_iso(start - 1), "2026-11-29");
        assert_eq!(parse_shop_date("2026-02-30"), None);
        assert_eq!(parse_shop_date("2026-1-3"), None);
    }

    #[test]
    fn only_a_movable_clock_moves() {
        let prod = Clock::system();
        assert!(!prod.advance_ms(60_000));
        let test = Clock::movable();
        let before = test.now_ms();
        assert!(test.advance_ms(600_000));
        assert!(test.now_ms() - before >= 600_000);
    }
}
