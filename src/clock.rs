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

/// The host's IANA time zone, the one its local times (and so its schedules) are in:
/// `TZ` when set to a zone name, else the system's zone (`/etc/localtime`), else
/// `UTC`. Recorded in the ledger's `policy` rows so that schedules are evaluated in
/// it wherever the ledger is read.
pub fn host_time_zone() -> String {
    let valid = |z: &str| z.parse::<chrono_tz::Tz>().is_ok();
    if let Ok(tz) = std::env::var("TZ") {
        let tz = tz.trim_start_matches(':');
        if valid(tz) {
            return tz.to_string();
        }
    }
    match iana_time_zone::get_timezone() {
        Ok(z) if valid(&z) => z,
        _ => "UTC".into(),
    }
}
