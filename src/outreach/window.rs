//! The send window: the hours and days messages may go out, in the lead's local time. DST gaps
//! and folds are handled by taking the earliest valid instant of a local time.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::config::{weekday, SendWindow};

/// The lead's time zone (its `timezone` field, when valid), else the window's.
pub fn zone(lead_tz: Option<&str>, window: &SendWindow) -> Tz {
    lead_tz
        .and_then(|t| t.parse().ok())
        .or_else(|| window.timezone.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

/// `None` when `now` is inside the window; else the next moment the window opens.
pub fn next_open(now: DateTime<Utc>, tz: Tz, w: &SendWindow) -> Option<DateTime<Utc>> {
    let days: Vec<Weekday> = w.days.iter().filter_map(|d| weekday(d)).collect();
    let local = now.with_timezone(&tz);
    if days.contains(&local.weekday()) && local.hour() >= w.start_hour && local.hour() < w.end_hour
    {
        return None;
    }
    let start = NaiveTime::from_hms_opt(w.start_hour.min(23), 0, 0)?;
    for offset in 0..8 {
        let date = local.date_naive() + Duration::days(offset);
        if !days.contains(&date.weekday()) {
            continue;
        }
        let Some(open) = tz.from_local_datetime(&date.and_time(start)).earliest() else {
            // The opening hour does not exist that day (a DST gap): an hour later does.
            let later = date.and_time(start) + Duration::hours(1);
            if let Some(t) = tz.from_local_datetime(&later).earliest() {
                if t > local {
                    return Some(t.with_timezone(&Utc));
                }
            }
            continue;
        };
        if open > local {
            return Some(open.with_timezone(&Utc));
        }
    }
    // No day in the window at all: try again in a day (config check forbids this).
    Some(now + Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_window_is_in_local_time() {
        let w = SendWindow::default(); // 9-17, Mon-Fri, America/Chicago
        let tz = zone(None, &w);
        // Tuesday 2026-11-24 10:00 in Chicago is 16:00 UTC: open.
        assert_eq!(next_open(at("2026-11-24T16:00:00Z"), tz, &w), None);
        // Tuesday 20:00 Chicago → Wednesday 09:00 Chicago (15:00 UTC).
        assert_eq!(
            next_open(at("2026-11-25T02:00:00Z"), tz, &w),
            Some(at("2026-11-25T15:00:00Z"))
        );
        // Friday 18:00 Chicago → Monday 09:00.
        assert_eq!(
            next_open(at("2026-11-28T00:00:00Z"), tz, &w),
            Some(at("2026-11-30T15:00:00Z"))
        );
        // A lead in Berlin.
        let berlin = zone(Some("Europe/Berlin"), &w);
        assert_eq!(
            next_open(at("2026-11-24T16:00:00Z"), berlin, &w),
            Some(at("2026-11-25T08:00:00Z"))
        );
    }

    #[test]
    fn a_dst_gap_at_opening_time_is_skipped_past() {
        // Europe/Berlin springs forward at 02:00 on 2027-03-28 (a Sunday): 02:00-03:00 does not exist.
        let w = SendWindow {
            timezone: "Europe/Berlin".into(),
            start_hour: 2,
            end_hour: 5,
            days: vec!["sun".into()],
        };
        let tz = zone(None, &w);
        let next = next_open(at("2027-03-27T12:00:00Z"), tz, &w).unwrap();
        assert_eq!(next, at("2027-03-28T01:00:00Z")); // 03:00 CEST
    }
}
