//! A job's retry schedule, queue lifetime and delay notice.
//!
//! They are channel keywords in the relay's routing file; the relay copies
//! them into every job it submits (`Job.policy`), and jobctl stores them
//! with the job, so a restart or a routing change does not alter what was
//! promised to a message already queued. A job without a policy (from an
//! older relay, or built by hand) gets the classic defaults below, the same
//! as a channel that sets none.

use std::time::Duration;

use mail_proto::jobctl::v1::Job;

/// The schedule one job follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Waits between attempts; the last repeats. Never empty.
    pub retry: Vec<Duration>,
    /// How long the job may stay queued before its recipients bounce.
    pub max_lifetime: Duration,
    /// When the sender gets one delay notice; `None` for never.
    pub delay_notice_after: Option<Duration>,
}

/// The default waits: quick at first, then every four hours.
pub const DEFAULT_RETRY_SECS: [u64; 7] = [60, 300, 900, 1800, 3600, 7200, 14400];
/// Five days, the classic queue lifetime.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 24 * 3600);
/// Four hours, when most MTAs send their first "still trying" notice.
pub const DEFAULT_DELAY_NOTICE: Duration = Duration::from_secs(4 * 3600);

impl Default for Retry {
    fn default() -> Self {
        Self {
            retry: DEFAULT_RETRY_SECS
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_lifetime: DEFAULT_LIFETIME,
            delay_notice_after: Some(DEFAULT_DELAY_NOTICE),
        }
    }
}

impl Retry {
    /// The schedule `job` carries, each missing or zero part replaced by
    /// its default (a zero wait would spin a worker on a failing host).
    pub fn of(job: &Job) -> Self {
        let d = Self::default();
        let Some(p) = &job.policy else {
            return d;
        };
        let retry: Vec<Duration> = p
            .retry_seconds
            .iter()
            .map(|s| Duration::from_secs(u64::from((*s).max(1))))
            .collect();
        let max_lifetime = match p.max_lifetime_seconds {
            0 => d.max_lifetime,
            s => Duration::from_secs(s),
        };
        let delay_notice_after = if p.no_delay_notice {
            None
        } else {
            match p.delay_notice_seconds {
                0 => d.delay_notice_after,
                s => Some(Duration::from_secs(s)),
            }
        };
        Self {
            retry: if retry.is_empty() { d.retry } else { retry },
            max_lifetime,
            delay_notice_after,
        }
    }

    /// The wait before the retry that follows `attempts` failed attempts.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) as usize - 1).min(self.retry.len().saturating_sub(1));
        self.retry
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_proto::jobctl::v1::RetryPolicy;

    fn with(p: RetryPolicy) -> Job {
        Job {
            policy: Some(p),
            ..Default::default()
        }
    }

    #[test]
    fn backoff_repeats_the_last_interval() {
        let r = Retry::of(&with(RetryPolicy {
            retry_seconds: vec![1, 10],
            ..Default::default()
        }));
        assert_eq!(r.backoff(1), Duration::from_secs(1));
        assert_eq!(r.backoff(2), Duration::from_secs(10));
        assert_eq!(r.backoff(9), Duration::from_secs(10));
    }

    #[test]
    fn a_job_without_policy_gets_the_defaults() {
        assert_eq!(Retry::of(&Job::default()), Retry::default());
    }

    #[test]
    fn zero_waits_and_missing_parts_fall_back() {
        let r = Retry::of(&with(RetryPolicy {
            retry_seconds: vec![0, 5],
            ..Default::default()
        }));
        assert_eq!(
            r.retry,
            vec![Duration::from_secs(1), Duration::from_secs(5)]
        );
        assert_eq!(r.max_lifetime, DEFAULT_LIFETIME);
        assert_eq!(r.delay_notice_after, Some(DEFAULT_DELAY_NOTICE));
    }

    #[test]
    fn delay_notices_can_be_off() {
        let r = Retry::of(&with(RetryPolicy {
            retry_seconds: vec![30],
            max_lifetime_seconds: 3600,
            delay_notice_seconds: 600,
            no_delay_notice: true,
        }));
        assert_eq!(
            r,
            Retry {
                retry: vec![Duration::from_secs(30)],
                max_lifetime: Duration::from_secs(3600),
                delay_notice_after: None,
            }
        );
    }
}
