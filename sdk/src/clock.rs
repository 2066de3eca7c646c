//! Time, as the host sees it.

/// A point in time, since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds.
    pub seconds: u64,
    /// Nanoseconds within the second.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// A timestamp of whole seconds.
    pub fn from_secs(seconds: u64) -> Self {
        Self {
            seconds,
            nanoseconds: 0,
        }
    }

    /// RFC 3339 in UTC with second precision (`2024-01-02T03:04:05Z`), as
    /// Vault prints times.
    pub fn to_rfc3339(self) -> String {
        let days = self.seconds / 86_400;
        let secs = self.seconds % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Where "now" comes from: the host's clock in wasm, a settable one in tests.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The host's clock, through the WIT `clock` import of the engine's
/// contract (wasm only).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostClock;

impl Clock for HostClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// A clock that says what it is told, for tests.
#[derive(Debug, Clone, Default)]
pub struct FixedClock(pub std::cell::Cell<Timestamp>);

impl FixedClock {
    /// A clock stopped at `t`.
    pub fn new(t: Timestamp) -> Self {
        Self(std::cell::Cell::new(t))
    }

    /// Moves it to `t`.
    pub fn set(&self, t: Timestamp) {
        self.0.set(t);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0.get()
    }
}

/// The current time: the host's clock in wasm, the system clock natively.
/// Handlers should prefer [`crate::Ctx::now`], which tests can control.
pub fn now() -> Timestamp {
    #[cfg(target_arch = "wasm32")]
    {
        crate::imports::bound()
            .map(|imports| imports.now())
            .unwrap_or_default()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            seconds: d.as_secs(),
            nanoseconds: d.subsec_nanos(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(Timestamp::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_secs(1_700_000_000).to_rfc3339(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            Timestamp::from_secs(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }
}
