//! Small pieces every format shares: times on a clock, durations, escaping.

use chaosday_domain::incident::Status;
use chaosday_domain::report::{Audience, IncidentFigures, Report, human_duration};
use chaosday_domain::scoring::ScoringRules;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The time zone a report shows times in.
#[derive(Debug, Clone)]
pub struct Clock {
    tz: TimeZone,
}

impl Clock {
    /// This host's time zone (`TZ`, else the system's).
    pub fn system() -> Self {
        Clock {
            tz: TimeZone::system(),
        }
    }

    /// UTC (a monkey's report: its log does not say the monkey's time zone).
    pub fn utc() -> Self {
        Clock { tz: TimeZone::UTC }
    }

    fn zoned(&self, ms: i64) -> Option<jiff::Zoned> {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned(self.tz.clone()))
    }

    /// `09:01:30`.
    pub fn time(&self, ms: i64) -> String {
        self.zoned(ms)
            .map_or_else(|| ms.to_string(), |z| z.strftime("%H:%M:%S").to_string())
    }

    /// `09:01`.
    pub fn short(&self, ms: i64) -> String {
        self.zoned(ms)
            .map_or_else(|| ms.to_string(), |z| z.strftime("%H:%M").to_string())
    }

    /// `2027-03-12 09:01:30`.
    pub fn date_time(&self, ms: i64) -> String {
        self.zoned(ms).map_or_else(
            || ms.to_string(),
            |z| z.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        )
    }

    /// The zone's name and offset at `ms`: `UTC`, `Europe/Paris (+01:00)`.
    pub fn zone(&self, ms: i64) -> String {
        let name = self.tz.iana_name().unwrap_or("local time");
        match self.zoned(ms) {
            Some(z) if name != "UTC" => format!("{name}, UTC{}", z.strftime("%:z")),
            _ => name.to_owned(),
        }
    }

    /// The zone's offset from UTC at `ms`, in ms (to align chart ticks on local time).
    pub fn offset_ms(&self, ms: i64) -> i64 {
        Timestamp::from_millisecond(ms)
            .map(|t| i64::from(self.tz.to_offset(t).seconds()) * 1000)
            .unwrap_or(0)
    }
}

/// RFC 3339, UTC: `2027-03-12T08:01:30Z` (milliseconds only when there are some).
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// A duration for people, or a dash.
pub fn duration(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".to_owned(), human_duration)
}

/// Points with their sign when negative: `-30`, `0`, `168`.
pub fn points(p: i64) -> String {
    p.to_string()
}

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = write_html(&mut out, s);
    out
}

fn write_html(mut out: impl std::fmt::Write, s: &str) -> std::fmt::Result {
    for c in s.chars() {
        match c {
            '&' => out.write_str("&amp;")?,
            '<' => out.write_str("&lt;")?,
            '>' => out.write_str("&gt;")?,
            '"' => out.write_str("&quot;")?,
            '\'' => out.write_str("&#39;")?,
            c if c.is_control() && c != '\n' && c != '\t' => out.write_char('\u{FFFD}')?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

/// The report page's escaper (`escape = "report"` in `askama.toml`): [`html`], so that the
/// page's text is escaped as its charts' are.
#[derive(Debug, Clone, Copy)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: std::fmt::Write>(&self, dest: W, string: &str) -> std::fmt::Result {
        write_html(dest, string)
    }
}

/// Escapes text for Markdown: every mark that could start markup is backslash-escaped (an
/// underscore inside a word, such as `http_error`, and a `#` after the first character need
/// not be), and line breaks become spaces (so a table cell stays one cell).
pub fn md(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut leading = true;
    for (i, &c) in chars.iter().enumerate() {
        let in_word = i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric());
        match c {
            '_' if in_word => out.push(c),
            '#' | '-' | '+' | '=' if !leading => out.push(c),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '~' | '-' | '+'
            | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
        leading = leading && c == ' ';
    }
    out
}

/// How the game stands, for people.
pub fn status(s: Status) -> &'static str {
    match s {
        Status::NotStarted => "not started",
        Status::Running => "running",
        Status::Paused => "paused",
        Status::Ended => "ended",
    }
}

/// Where an incident is, for people: its outcome once closed (the words of every screen).
pub fn state(i: &IncidentFigures) -> &'static str {
    chaosday_domain::incident::describe(i.state, i.detected_ms.is_some())
}

/// Who the report was made for, for people.
pub fn audience(a: &Audience) -> String {
    match a {
        Audience::Spectator => "a spectator (only what is public)".into(),
        Audience::Team { team } => format!("team {team}"),
        Audience::GameMaster => "the game master (everything)".into(),
    }
}

/// The scoring rules in one line.
pub fn rules(r: &ScoringRules) -> String {
    let over = |d: std::time::Duration| human_duration(u64::try_from(d.as_millis()).unwrap_or(0));
    format!(
        "detection {}→{} points over {}; diagnosis {} points, −{} per wrong try, {} tries; resolution {}→{} points over {}; false alarm −{}; every amount × the scenario's difficulty, hints at their price",
        r.detect.max,
        r.detect.min,
        over(r.detect.over),
        r.diagnose.correct,
        r.diagnose.wrong,
        r.diagnose.max_tries,
        r.resolve.max,
        r.resolve.min,
        over(r.resolve.over),
        r.false_alarm
    )
}

/// The game's span in one line: `2027-03-12 09:00:00 → 10:50:00 (UTC) · 1h 40m of play,
/// 5m 00s paused`; a running game ends `now`.
pub fn span(report: &Report, clock: &Clock) -> String {
    let Some(start) = report.started_ms else {
        return "not started yet".into();
    };
    let end = report.ended_ms.unwrap_or(report.as_of_ms);
    let paused = u64::try_from(end - start)
        .unwrap_or(0)
        .saturating_sub(report.running_ms);
    let now = if report.ended_ms.is_some() {
        ""
    } else {
        ", now"
    };
    let mut out = format!(
        "{} → {}{now} ({}) · {} of play",
        clock.date_time(start),
        clock.time(end),
        clock.zone(start),
        human_duration(report.running_ms)
    );
    if paused > 0 {
        out.push_str(&format!(", {} paused", human_duration(paused)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_every_format() {
        assert_eq!(
            html(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(md("a|b *c* <i>\n_d_"), r"a\|b \*c\* \<i\> \_d\_");
        assert_eq!(md("#1 http_error -3"), r"\#1 http_error -3");
        assert_eq!(md("- item"), r"\- item");
    }

    #[test]
    fn times_are_shown_on_the_clock_and_written_in_utc() {
        let clock = Clock::utc();
        let ms = 1_804_842_090_000; // 2027-03-12T09:01:30Z
        assert_eq!(clock.time(ms), "09:01:30");
        assert_eq!(clock.date_time(ms), "2027-03-12 09:01:30");
        assert_eq!(rfc3339(ms), "2027-03-12T09:01:30Z");
        assert_eq!(rfc3339(ms + 250), "2027-03-12T09:01:30.25Z");
        assert_eq!(clock.offset_ms(ms), 0);
    }
}
