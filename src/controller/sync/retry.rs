//! Retry of failed operations (docs/controller-sync.md §1.5): how many attempts and
//! how long to wait between them. Pure; the caller re-runs compare + sync.
//!
//! Formula, chosen deliberately: the wait before retry `n` (0-based) is
//! `min(maxDuration, duration × factor^n)`, so with the defaults (5s, ×2, 3m) the
//! retries start after 5s, 10s, 20s, ... 3m. (Argo CD announces this formula but its
//! gate releases one step later; kcmp waits what it announces.)

use crate::controller::application::RetryStrategy;
use std::time::Duration;

/// A parsed retry policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt; `None` = unlimited (`limit: -1`).
    pub limit: Option<u32>,
    /// First wait.
    pub duration: Duration,
    /// Growth factor.
    pub factor: u32,
    /// Upper bound of one wait.
    pub max_duration: Duration,
}

impl Default for Retry {
    /// No retries, Argo CD's default backoff.
    fn default() -> Self {
        Retry { limit: Some(0), duration: Duration::from_secs(5), factor: 2, max_duration: Duration::from_secs(180) }
    }
}

/// Parses a duration as Argo CD writes them: bare seconds (`"10"`) or Go-style
/// `1h2m3s` / `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let bad = || format!("invalid duration '{text}': use seconds (\"30\") or units like 5s, 2m, 1h, 500ms");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
    }
    Ok(total)
}

impl Retry {
    /// The policy of `syncPolicy.retry`; errors name the bad field.
    pub fn from_strategy(strategy: &RetryStrategy) -> Result<Retry, String> {
        let mut r = Retry {
            limit: if strategy.limit < 0 { None } else { Some(u32::try_from(strategy.limit).unwrap_or(u32::MAX)) },
            ..Retry::default()
        };
        if let Some(b) = &strategy.backoff {
            if let Some(d) = &b.duration {
                r.duration = parse_duration(d).map_err(|e| format!("retry.backoff.duration: {e}"))?;
            }
            if let Some(f) = b.factor {
                r.factor = u32::try_from(f)
                    .ok()
                    .filter(|f| *f >= 1)
                    .ok_or_else(|| format!("retry.backoff.factor: {f} must be a positive integer"))?;
            }
            if let Some(m) = &b.max_duration {
                r.max_duration = parse_duration(m).map_err(|e| format!("retry.backoff.maxDuration: {e}"))?;
            }
        }
        Ok(r)
    }

    /// Whether another attempt is allowed after `retries_done` retries.
    pub fn allows(&self, retries_done: u32) -> bool {
        self.limit.is_none_or(|l| retries_done < l)
    }

    /// The wait before retry `n` (0-based), see the module doc.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = self.factor.checked_pow(n).unwrap_or(u32::MAX);
        self.duration.checked_mul(factor).unwrap_or(self.max_duration).min(self.max_duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::application::Backoff;

    #[test]
    fn durations_accept_seconds_and_go_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn default_backoff_doubles_up_to_three_minutes() {
        let r = Retry { limit: Some(10), ..Retry::default() };
        let waits: Vec<u64> = (0..7).map(|n| r.delay(n).as_secs()).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 180]);
        assert_eq!(r.delay(60), Duration::from_secs(180), "no overflow");
    }

    #[test]
    fn limits_count_retries_after_the_first_attempt() {
        let strategy = RetryStrategy {
            limit: 2,
            refresh: false,
            backoff: Some(Backoff { duration: Some("1s".into()), factor: Some(2), max_duration: None }),
        };
        let r = Retry::from_strategy(&strategy).expect("valid");
        assert!(r.allows(0) && r.allows(1) && !r.allows(2), "limit 2 = three attempts");
        assert_eq!(r.delay(1), Duration::from_secs(2));
        let unlimited = Retry::from_strategy(&RetryStrategy { limit: -1, ..Default::default() }).expect("valid");
        assert!(unlimited.allows(1000));
        let bad = RetryStrategy {
            limit: 1,
            refresh: false,
            backoff: Some(Backoff { duration: Some("soon".into()), factor: None, max_duration: None }),
        };
        assert!(Retry::from_strategy(&bad)
            .expect_err("bad")
            .starts_with("retry.backoff.duration: invalid duration 'soon'"));
    }
}
