//! Times are stored as signed unix milliseconds (`BIGINT`), the one format both backends share.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch, negative before it, saturating at the `i64` range.
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The inverse of [`to_millis`]; a value the platform cannot represent becomes the epoch.
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    let offset = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    t.unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_millisecond_precision() {
        for ms in [0, 1, -1, 1_700_000_000_123, -86_400_000] {
            assert_eq!(to_millis(from_millis(ms)), ms);
        }
        let t = UNIX_EPOCH + Duration::new(5, 999_999_999);
        assert_eq!(to_millis(t), 5_999);
    }
}
