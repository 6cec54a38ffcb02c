//! The one place attestd asks what time it is, so that tests can inject time.

use chrono::{DateTime, Local, SecondsFormat, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// The same instant in the host's local time zone (schedules are local).
    fn local_now(&self) -> DateTime<Local> {
        self.now().with_timezone(&Local)
    }
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock's time, for the few places that run only for real (delivery
/// retries, probes, the end of a bundle's period): everything judged or stored takes
/// its time from a `Clock` so tests can inject it.
pub fn now() -> DateTime<Utc> {
    SystemClock.now()
}

/// UTC RFC 3339 with seconds, the format of every stored timestamp.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
