//! Opening hours → one regular week: google-maps-scraper's `open_hours` (`{"Monday": ["8 AM–6 PM"]}`,
//! "Open 24 hours", "Closed", split shifts, 12- or 24-hour clocks) and OSM `opening_hours` (parsed
//! with `opening-hours-syntax`). Only hours that describe the same week every week become a table:
//! anything seasonal, dated, "sunset", "unknown" or commented is left out with the reason, never
//! guessed. Public-holiday rules (`PH off`) do not change a regular week and are ignored.

use opening_hours_syntax::rules::day::{DaySelector, WeekDayRange};
use opening_hours_syntax::rules::time::Time;
use opening_hours_syntax::rules::{RuleKind, RuleOperator};
use serde::Serialize;
use serde_yaml_ng::Value;

/// Minutes from the day's midnight; past 1440 when a shift ends after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub open: u16,
    pub close: u16,
}

/// Monday first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Week {
    pub days: [Vec<Span>; 7],
}

pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const DAY: u16 = 24 * 60;

impl Week {
    /// Open around the clock every day.
    pub fn always_open(&self) -> bool {
        self.days.iter().all(|d| {
            d == &[Span {
                open: 0,
                close: DAY,
            }]
        })
    }

    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// Rows for a table, one per day, in the words and clock of the page's language.
    pub fn rows(&self, locale: &super::facts::Locale) -> Vec<DayRow> {
        let clock12 = locale.clock12;
        let all_day = [Span {
            open: 0,
            close: DAY,
        }];
        DAYS.iter()
            .zip(&self.days)
            .map(|(day, spans)| DayRow {
                day: locale.t(&day.to_lowercase(), day),
                text: if spans.is_empty() {
                    locale.t("closed", "Closed")
                } else if spans == &all_day {
                    locale.t("open_24_hours", "Open 24 hours")
                } else {
                    spans
                        .iter()
                        .map(|s| {
                            format!(
                                "{}\u{2013}{}",
                                clock(s.open, clock12),
                                clock(s.close, clock12)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                closed: spans.is_empty(),
            })
            .collect()
    }

    /// schema.org `openingHoursSpecification`: days with the same hours share an entry.
    pub fn json_ld(&self) -> Vec<serde_json::Value> {
        let mut out: Vec<(Vec<&str>, String, String)> = Vec::new();
        for (day, spans) in DAYS.iter().zip(&self.days) {
            for s in spans {
                let opens = hhmm(s.open);
                // A day open around the clock closes at 23:59 in schema.org's examples.
                let closes = if s.close == DAY && s.open == 0 {
                    "23:59".to_string()
                } else {
                    hhmm(s.close % DAY)
                };
                match out.iter_mut().find(|(_, o, c)| *o == opens && *c == closes) {
                    Some((days, _, _)) => days.push(day),
                    None => out.push((vec![day], opens, closes)),
                }
            }
        }
        out.into_iter()
            .map(|(days, opens, closes)| {
                serde_json::json!({
                    "@type": "OpeningHoursSpecification",
                    "dayOfWeek": days,
                    "opens": opens,
                    "closes": closes,
                })
            })
            .collect()
    }
}

/// A day of the hours table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayRow {
    pub day: String,
    pub text: String,
    pub closed: bool,
}

fn hhmm(m: u16) -> String {
    format!("{:02}:{:02}", m / 60 % 24, m % 60)
}

fn clock(m: u16, clock12: bool) -> String {
    let (h, min) = (m / 60 % 24, m % 60);
    if !clock12 {
        return format!("{h:02}:{min:02}");
    }
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    if min == 0 {
        format!("{h12}\u{a0}{ampm}")
    } else {
        format!("{h12}:{min:02}\u{a0}{ampm}")
    }
}

/// The week in a google-maps-scraper `open_hours` value, or why it cannot be read.
pub fn from_google(value: &Value) -> Result<Week, String> {
    let map = value
        .as_mapping()
        .ok_or("open_hours is not a day → hours mapping")?;
    let mut week = Week::default();
    let mut seen = [false; 7];
    for (k, v) in map {
        let name = k.as_str().ok_or("open_hours has a day that is not text")?;
        let day =
            weekday(name).ok_or_else(|| format!("open_hours: unknown day {}", short(name)))?;
        let texts: Vec<&str> = match v {
            Value::String(s) => vec![s.as_str()],
            Value::Sequence(seq) => seq
                .iter()
                .map(|x| x.as_str().ok_or("open_hours: hours that are not text"))
                .collect::<Result<_, _>>()?,
            _ => return Err(format!("open_hours: {name} has no hours")),
        };
        if texts.is_empty() {
            return Err(format!("open_hours: {} has no hours", short(name)));
        }
        let mut closed = false;
        for text in &texts {
            let spans = google_day(text).map_err(|e| format!("open_hours {name}: {e}"))?;
            closed |= spans.is_empty();
            week.days[day].extend(spans);
        }
        if closed && !week.days[day].is_empty() {
            return Err(format!(
                "open_hours: {} is both closed and open",
                short(name)
            ));
        }
        seen[day] = true;
    }
    if !seen.iter().all(|s| *s) {
        // A missing day is unknown, not closed: a table would say "Closed" for it.
        return Err("open_hours does not give every day of the week".into());
    }
    tidy(&mut week)?;
    Ok(week)
}

/// Sorts each day's shifts; shifts that overlap are a contradiction, not hours.
fn tidy(week: &mut Week) -> Result<(), String> {
    for (d, spans) in week.days.iter_mut().enumerate() {
        spans.sort();
        spans.dedup();
        if spans.windows(2).any(|w| w[1].open < w[0].close) {
            return Err(format!("{}: shifts overlap", DAYS[d]));
        }
    }
    Ok(())
}

/// A value from data, quoted and cut short for a message.
fn short(text: &str) -> String {
    let cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// A day name in English, German, French, Spanish, Italian, Portuguese or Greek.
fn weekday(name: &str) -> Option<usize> {
    const NAMES: [&[&str]; 7] = [
        &[
            "monday",
            "montag",
            "lundi",
            "lunes",
            "lunedì",
            "segunda-feira",
            "δευτέρα",
        ],
        &[
            "tuesday",
            "dienstag",
            "mardi",
            "martes",
            "martedì",
            "terça-feira",
            "τρίτη",
        ],
        &[
            "wednesday",
            "mittwoch",
            "mercredi",
            "miércoles",
            "mercoledì",
            "quarta-feira",
            "τετάρτη",
        ],
        &[
            "thursday",
            "donnerstag",
            "jeudi",
            "jueves",
            "giovedì",
            "quinta-feira",
            "πέμπτη",
        ],
        &[
            "friday",
            "freitag",
            "vendredi",
            "viernes",
            "venerdì",
            "sexta-feira",
            "παρασκευή",
        ],
        &[
            "saturday",
            "samstag",
            "samedi",
            "sábado",
            "sabato",
            "σάββατο",
        ],
        &[
            "sunday",
            "sonntag",
            "dimanche",
            "domingo",
            "domenica",
            "κυριακή",
        ],
    ];
    let n = name.trim().to_lowercase();
    NAMES.iter().position(|names| names.contains(&n.as_str()))
}

/// One day's text: "Closed", "Open 24 hours", or shifts such as "11 AM–2:30 PM, 5–10 PM".
fn google_day(text: &str) -> Result<Vec<Span>, String> {
    // Newer exports put a narrow no-break space before AM/PM.
    let t: String = text
        .chars()
        .map(|c| match c {
            '\u{202f}' | '\u{a0}' | '\u{2009}' => ' ',
            '\u{2013}' | '\u{2014}' | '\u{2012}' => '-',
            c => c,
        })
        .collect();
    let lower = t.trim().to_lowercase();
    match lower.as_str() {
        "closed" | "geschlossen" | "fermé" | "cerrado" | "chiuso" | "fechado" | "κλειστά" => {
            return Ok(Vec::new())
        }
        "open 24 hours"
        | "24 stunden geöffnet"
        | "ouvert 24h/24"
        | "abierto 24 horas"
        | "aperto 24 ore"
        | "aberto 24 horas"
        | "ανοιχτά 24 ώρες" => {
            return Ok(vec![Span {
                open: 0,
                close: DAY,
            }])
        }
        _ => {}
    }
    let unreadable = || format!("cannot read {}", short(text));
    lower
        .split(',')
        .map(|shift| {
            let (a, b) = shift.split_once('-').ok_or_else(unreadable)?;
            let (end, end_mer) = time_of_day(b).ok_or_else(unreadable)?;
            let (start, start_mer) = time_of_day(a).ok_or_else(unreadable)?;
            // "9-5": no AM/PM, no minutes, and the close before the open: a guess either way.
            if start_mer.is_none()
                && end_mer.is_none()
                && !a.contains(':')
                && !b.contains(':')
                && end <= start
            {
                return Err(format!("{} is ambiguous (AM or PM?)", short(text)));
            }
            let open = match (start_mer, end_mer) {
                (Some(m), _) => apply(start, m),
                // "5-10 PM": the start shares the end's half of the day, unless that puts it after
                // the end ("11-2 PM" is 11 AM).
                (None, Some(m)) => {
                    let same = apply(start, m);
                    if same < apply(end, m) {
                        same
                    } else {
                        apply(start, !m)
                    }
                }
                (None, None) => start,
            };
            let mut close = match end_mer {
                Some(m) => apply(end, m),
                None => end,
            };
            if close <= open {
                close += DAY;
            }
            if open >= DAY || close > 2 * DAY {
                return Err(unreadable());
            }
            Ok(Span { open, close })
        })
        .collect()
}

/// "8", "8:30", "08:30", "8 am", "12 pm" → minutes as written (hours 1–12 when a meridiem
/// follows) and the meridiem (true = PM).
fn time_of_day(s: &str) -> Option<(u16, Option<bool>)> {
    let s = s.trim();
    let (num, mer) = if let Some(n) = s.strip_suffix("am") {
        (n.trim(), Some(false))
    } else if let Some(n) = s.strip_suffix("pm") {
        (n.trim(), Some(true))
    } else {
        (s, None)
    };
    let (h, m) = match num.split_once([':', '.']) {
        Some((h, m)) => (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?),
        None => (num.parse::<u16>().ok()?, 0),
    };
    if m >= 60 || (mer.is_some() && !(1..=12).contains(&h)) || h > 24 {
        return None;
    }
    Some((h * 60 + m, mer))
}

/// 12-hour time (minutes, hour 1–12) → minutes from midnight.
fn apply(minutes: u16, pm: bool) -> u16 {
    let (h, m) = (minutes / 60 % 12, minutes % 60);
    (h + if pm { 12 } else { 0 }) * 60 + m
}

/// The week in an OSM `opening_hours` value, or why it cannot be read as one.
pub fn from_osm(text: &str) -> Result<Week, String> {
    let expr = opening_hours_syntax::parse(text.trim()).map_err(|e| {
        let e = e.to_string();
        format!(
            "opening_hours {} does not parse: {}",
            short(text),
            e.lines().next().unwrap_or("")
        )
    })?;
    let complex = |why: &str| Err(format!("opening_hours {}: {why}; left out", short(text)));
    let mut week = Week::default();
    for rule in &expr.rules {
        if rule.operator == RuleOperator::Fallback {
            return complex("has a fallback rule (||)");
        }
        if !rule.comment.is_empty() {
            return complex("has a comment");
        }
        let DaySelector {
            year,
            monthday,
            week: weeks,
            weekday,
        } = &rule.day_selector;
        if !year.is_empty() || !monthday.is_empty() || !weeks.is_empty() {
            return complex("depends on the date or season");
        }
        let mut days = [weekday.is_empty(); 7];
        let mut holiday_only = !weekday.is_empty();
        for w in weekday {
            match w {
                WeekDayRange::Holiday { .. } => {}
                WeekDayRange::Fixed {
                    range,
                    offset,
                    nth_from_start,
                    nth_from_end,
                } => {
                    holiday_only = false;
                    if *offset != 0
                        || nth_from_start.iter().any(|x| !x)
                        || nth_from_end.iter().any(|x| !x)
                    {
                        return complex("depends on the week of the month");
                    }
                    let (a, b) = (
                        range.start().num_days_from_monday() as usize,
                        range.end().num_days_from_monday() as usize,
                    );
                    let mut d = a;
                    loop {
                        days[d] = true;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
            }
        }
        if holiday_only {
            continue;
        }
        let mut spans = Vec::new();
        for span in &rule.time_selector.spans {
            let (Time::Fixed(a), Time::Fixed(b)) = (&span.range.start, &span.range.end) else {
                return complex("uses sunrise or sunset");
            };
            if span.open_end || span.repeats.is_some() {
                return complex("has an open end or repeats");
            }
            let (open, close) = (a.mins_from_midnight(), b.mins_from_midnight());
            if open >= DAY {
                return complex("a shift starts after midnight");
            }
            if close > open + DAY {
                return complex("a shift is longer than a day");
            }
            spans.push(Span {
                open,
                close: if close <= open { close + DAY } else { close },
            });
        }
        let whole_day = Span {
            open: 0,
            close: DAY,
        };
        if spans.is_empty() {
            spans.push(whole_day);
        }
        let all_day = spans == [whole_day];
        // Days with no times are open all day by the letter of the syntax (the parser gives
        // them 00:00-24:00), but "Fr, Sa 11:30-23:00" reads "Fr" so (the comma and space start a
        // new rule): only "24/7" or an explicit 00:00-24:00 says a day is open around the clock.
        let explicit = text.contains("00:00-24:00") || text.contains("00:00-00:00");
        if all_day && !weekday.is_empty() && rule.kind == RuleKind::Open && !explicit {
            return complex("names days without times");
        }
        for (d, on) in days.iter().enumerate() {
            if !on {
                continue;
            }
            match (rule.kind, rule.operator) {
                (RuleKind::Unknown, _) => return complex("says unknown"),
                (RuleKind::Closed, _) if !all_day => return complex("closes part of a day"),
                (RuleKind::Closed, _) => week.days[d].clear(),
                (RuleKind::Open, RuleOperator::Normal) => week.days[d] = spans.clone(),
                (RuleKind::Open, _) => week.days[d].extend(spans.iter().copied()),
            }
        }
    }
    if let Err(e) = tidy(&mut week) {
        return complex(&e);
    }
    if week.is_empty() {
        return complex("opens on no regular day");
    }
    Ok(week)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(yaml: &str) -> Result<Week, String> {
        from_google(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    fn all(days: &[&str]) -> String {
        DAYS.iter()
            .zip(days)
            .map(|(d, h)| format!("{d}: [{}]\n", serde_json::to_string(h).unwrap()))
            .collect()
    }

    #[test]
    fn google_hours_in_their_forms() {
        let w = g(&all(&[
            "8 AM–6 PM",
            "11\u{202f}AM–2:30\u{202f}PM, 5–10\u{202f}PM",
            "11 AM–2 AM",
            "Open 24 hours",
            "Closed",
            "12–3 PM",
            "6 AM–12 AM",
        ]))
        .unwrap();
        let strings = Default::default();
        let en12 = super::super::facts::Locale {
            strings: &strings,
            clock12: true,
            english: true,
        };
        let rows = w.rows(&en12);
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "8\u{a0}AM\u{2013}6\u{a0}PM",
                "11\u{a0}AM\u{2013}2:30\u{a0}PM, 5\u{a0}PM\u{2013}10\u{a0}PM",
                "11\u{a0}AM\u{2013}2\u{a0}AM",
                "Open 24 hours",
                "Closed",
                "12\u{a0}PM\u{2013}3\u{a0}PM",
                "6\u{a0}AM\u{2013}12\u{a0}AM",
            ]
        );
        assert_eq!(
            w.days[2],
            [Span {
                open: 660,
                close: 1440 + 120
            }]
        );
        let en24 = super::super::facts::Locale {
            strings: &strings,
            clock12: false,
            english: true,
        };
        assert_eq!(w.rows(&en24)[0].text, "08:00\u{2013}18:00");
        let ld = serde_json::to_string(&w.json_ld()).unwrap();
        assert!(
            ld.contains(r#""dayOfWeek":["Wednesday"],"opens":"11:00","closes":"02:00""#),
            "{ld}"
        );
        assert!(
            ld.contains(r#""dayOfWeek":["Thursday"],"opens":"00:00","closes":"23:59""#),
            "{ld}"
        );
        assert!(!ld.contains("Friday"), "a closed day has no entry: {ld}");
    }

    #[test]
    fn google_hours_in_24_hour_form_and_other_languages() {
        let w = g("Montag: [\"08:00–18:00\"]\nDienstag: [\"08:00–18:00\"]\nMittwoch: [Geschlossen]\nDonnerstag: [\"08:00–12:00\", \"13:00–18:00\"]\nFreitag: [\"08:00–18:00\"]\nSamstag: [Geschlossen]\nSonntag: [Geschlossen]\n").unwrap();
        assert_eq!(w.days[3].len(), 2);
        assert!(w.days[5].is_empty());
    }

    #[test]
    fn unreadable_or_incomplete_google_hours_are_refused() {
        assert!(g("Monday: [\"8 AM–6 PM\"]\n")
            .unwrap_err()
            .contains("every day"));
        let e = g(&all(&["by appointment", "", "", "", "", "", ""])).unwrap_err();
        assert!(e.contains("by appointment"), "{e}");
        assert!(g(&all(&["25 AM–6 PM"; 7])).is_err());
        assert!(g("[1, 2]").is_err());
    }

    #[test]
    fn osm_hours_make_a_week_when_they_are_regular() {
        let w = from_osm("Mo-Th 12:00-16:00,17:00-21:30; Fr,Sa 12:00-16:00,17:00-22:00; Su 12:30-16:00,17:00-21:30; PH off").unwrap();
        assert_eq!(w.days[0].len(), 2);
        assert_eq!(
            w.days[6][0],
            Span {
                open: 750,
                close: 960
            }
        );
        assert!(from_osm("24/7").unwrap().always_open());
        let w = from_osm("Mo-Fr 09:00-17:00; We off").unwrap();
        assert!(w.days[2].is_empty() && w.days[5].is_empty() && !w.days[4].is_empty());
        let w = from_osm("Fr-Mo 18:00-02:00").unwrap();
        assert_eq!(
            w.days[6],
            [Span {
                open: 1080,
                close: 1560
            }]
        );
        assert!(w.days[2].is_empty());
    }

    #[test]
    fn what_is_not_stated_is_not_guessed() {
        // "Fr, Sa 11:30-23:00" is two rules, the first naming a day without times: not 24 hours.
        let e = from_osm("Fr, Sa 11:30-23:00; Mo-Th, Su 11:30-22:00").unwrap_err();
        assert!(e.contains("days without times"), "{e}");
        assert!(from_osm("We-Sa").is_err());
        assert!(from_osm("Mo-Fr 00:00-48:00")
            .unwrap_err()
            .contains("longer than a day"));
        assert!(
            from_osm("Mo-Fr 00:00-24:00").unwrap().days[0]
                == [Span {
                    open: 0,
                    close: DAY
                }]
        );
        // An empty day is unknown, "9-5" could be either half of the day, shifts must not overlap.
        let mut days = all(&["9 AM–5 PM"; 7]);
        days = days.replacen("Monday: [\"9 AM–5 PM\"]", "Monday: []", 1);
        assert!(g(&days).unwrap_err().contains("no hours"), "{days}");
        assert!(g(&all(&["9-5"; 7])).unwrap_err().contains("ambiguous"));
        assert!(g(&all(&["9:00-17:00"; 7])).is_ok());
        assert!(g(&all(&["10 AM–2 PM, 1 PM–5 PM"; 7]))
            .unwrap_err()
            .contains("overlap"));
        let both = all(&["Closed"; 7]).replacen("[\"Closed\"]", "[\"Closed\", \"9 AM–5 PM\"]", 1);
        assert!(
            g(&both).unwrap_err().contains("both closed and open"),
            "{both}"
        );
        // A hostile value is not echoed whole.
        let long = format!("Mo-Fr {}", "x".repeat(10_000));
        assert!(from_osm(&long).unwrap_err().len() < 400);
    }

    #[test]
    fn irregular_osm_hours_are_left_out_with_the_reason() {
        for (text, why) in [
            ("Jun-Aug Mo-Fr 10:00-20:00", "season"),
            ("Mo-Fr 10:00-18:00 \"call ahead\"", "comment"),
            ("Mo-Fr sunrise-sunset", "sunset"),
            ("Mo-Fr 10:00-18:00 || \"by appointment\"", "fallback"),
            ("Mo[1] 10:00-12:00", "week of the month"),
            ("not hours at all", "does not parse"),
        ] {
            let e = from_osm(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
