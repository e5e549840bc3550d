//! Parsing the values of the flags that are not HTTP's (those are beside
//! [`crate::fetch::options::HttpArgs`]): durations, rates, regular expressions. Each
//! bounds its number at parse time and says what it expects.

use std::time::Duration;

/// The longest duration any flag accepts: far beyond any real run, and small enough that
/// adding it to the current time can never overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The slowest and fastest rates `--rate` and `--rate-per-host` accept, in requests per
/// second (one request every 1000 s, a million a second).
pub(crate) const RATE_RANGE: (f64, f64) = (0.001, 1_000_000.0);

/// Parses `60`, `0.5` (seconds) or humantime `1m30s`, `250ms`; zero and more than
/// [`MAX_DURATION`] are refused.
///
/// # Errors
/// A message for clap.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let too_long = || "must be at most 365 days".to_string();
    let d = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_nan() || secs < 0.0 => {
            return Err("seconds must be a positive number".to_string());
        }
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| too_long())?,
        Err(_) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("not a duration ({e}); try 60, 0.5 or 1m30s"))?,
    };
    if d.is_zero() {
        return Err("must be greater than 0".to_string());
    }
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

/// Parses a rate in requests per second, within [`RATE_RANGE`].
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    let (lo, hi) = RATE_RANGE;
    match s.trim().parse::<f64>() {
        Ok(r) if (lo..=hi).contains(&r) => Ok(r),
        _ => Err(format!(
            "must be a number of requests per second from {lo} to {hi}"
        )),
    }
}

/// Parses a regular expression (`--include`, `--exclude`), at most 10 KB long.
///
/// # Errors
/// A message for clap.
pub(crate) fn parse_regex(s: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(s)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(msg) => {
                format!(
                    "not a regular expression: {}",
                    msg.lines().last().unwrap_or("")
                )
            }
            other => other.to_string(),
        })
}
