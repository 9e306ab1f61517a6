//! Time as an argument: code that checks time takes a `Clock`, which tests can pin.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The source of "now".
#[derive(Clone)]
pub enum Clock {
    System,
    /// A pinned time in milliseconds since the epoch, which tests can move.
    Fixed(Arc<AtomicI64>),
}

impl Clock {
    pub fn fixed(at: OffsetDateTime) -> Self {
        Self::Fixed(Arc::new(AtomicI64::new(
            (at.unix_timestamp_nanos() / 1_000_000) as i64,
        )))
    }

    pub fn now(&self) -> OffsetDateTime {
        match self {
            Self::System => OffsetDateTime::now_utc(),
            Self::Fixed(ms) => OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(ms.load(Ordering::Relaxed)) * 1_000_000,
            )
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }

    /// Moves a fixed clock forward; no effect on the system clock.
    pub fn advance(&self, by: time::Duration) {
        if let Self::Fixed(ms) = self {
            ms.fetch_add(by.whole_milliseconds() as i64, Ordering::Relaxed);
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`: fixed width, so stored timestamps sort as text.
/// Whole days from `today` to the date a stored value starts with (`YYYY-MM-DD…`: a date, or
/// a timestamp); negative once past. `None` when it is not a date.
pub fn days_until(date: &str, today: time::Date) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date.get(..10)?, &fmt).ok()?;
    Some((d - today).whole_days())
}

pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses an RFC 3339 date-time (any offset) into the stored fixed-width form.
pub fn normalize_timestamp(s: &str) -> Option<String> {
    OffsetDateTime::parse(s, &Rfc3339).ok().map(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_utc() {
        assert_eq!(
            normalize_timestamp("2011-05-13T04:42:34+02:00").unwrap(),
            "2011-05-13T02:42:34.000Z"
        );
        assert!(normalize_timestamp("yesterday").is_none());
        let c = Clock::fixed(time::macros::datetime!(2026-01-02 03:04:05.678 UTC));
        assert_eq!(timestamp(c.now()), "2026-01-02T03:04:05.678Z");
        c.advance(time::Duration::seconds(1));
        assert_eq!(timestamp(c.now()), "2026-01-02T03:04:06.678Z");
    }
}
