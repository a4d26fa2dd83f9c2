//! How much memory a run may take. The scene builder adds up what a build will allocate (the
//! grid, each body's particles, the colliders' paths) against this limit before allocating
//! it, so that a scene too large for the machine is an error naming the key that asks for the
//! memory, not an abort when an allocation fails.
//!
//! The limit is what [`set_limit`] set (the `rheo` command's `--max-memory`), else the memory
//! the operating system reports available (Linux: `MemAvailable` of `/proc/meminfo`), else
//! none.

use std::sync::atomic::{AtomicU64, Ordering};

/// The limit set by [`set_limit`], in bytes; 0 when none is set.
static SET_LIMIT: AtomicU64 = AtomicU64::new(0);

/// The memory a run may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Bytes.
    pub bytes: u64,
    /// Whether [`set_limit`] set it (otherwise it is the memory available).
    pub set: bool,
}

impl Limit {
    /// What the limit is, for messages: "the limit of 1.0 GB (--max-memory)", or "the 21.3 GB
    /// this machine has available (...)".
    pub fn describe(self) -> String {
        if self.set {
            format!("the limit of {} (--max-memory)", bytes(self.bytes as f64))
        } else {
            format!("the {} this machine has available (--max-memory sets another limit)", bytes(self.bytes as f64))
        }
    }
}

/// Sets the limit for this process (`None`: the memory available).
pub fn set_limit(limit: Option<u64>) {
    SET_LIMIT.store(limit.unwrap_or(0), Ordering::Relaxed);
}

/// The memory a run may take now, if known.
pub fn limit() -> Option<Limit> {
    match SET_LIMIT.load(Ordering::Relaxed) {
        0 => available().map(|bytes| Limit { bytes, set: false }),
        bytes => Some(Limit { bytes, set: true }),
    }
}

/// The memory available for new allocations without swapping, as the operating system
/// estimates it (Linux only).
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A byte count for people: "14.4 GB", "512 MB", "12 kB" (decimal units).
pub fn bytes(count: f64) -> String {
    match count {
        c if c >= 1e12 => format!("{:.1} TB", c / 1e12),
        c if c >= 1e9 => format!("{:.1} GB", c / 1e9),
        c if c >= 1e6 => format!("{:.0} MB", c / 1e6),
        c => format!("{:.0} kB", c / 1e3),
    }
}

/// What a build will allocate, added up item by item against a limit.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: Option<Limit>,
    /// Bytes taken so far.
    used: f64,
}

impl Budget {
    /// A budget under `limit` (none: anything fits).
    pub(crate) fn new(limit: Option<Limit>) -> Self {
        Budget { limit, used: 0.0 }
    }

    /// Takes `count` bytes for `what` (a phrase: "a grid of 9.0e8 nodes"); past the limit,
    /// the message of an error that says what needs how much.
    pub(crate) fn take(&mut self, count: f64, what: &str) -> Result<(), String> {
        let total = self.used + count;
        if let Some(limit) = self.limit
            && total > limit.bytes as f64
        {
            let all =
                if self.used > 0.05 * count { format!(" ({} with the rest)", bytes(total)) } else { String::new() };
            return Err(format!("{what}: {}{all}, more than {}", bytes(count), limit.describe()));
        }
        self.used = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_names_what_does_not_fit() {
        let limit = Some(Limit { bytes: 1_000_000_000, set: true });
        let mut budget = Budget::new(limit);
        assert_eq!(budget.take(6e8, "a grid"), Ok(()));
        assert_eq!(
            budget.take(5e8, "body 1's particles"),
            Err("body 1's particles: 500 MB (1.1 GB with the rest), more than the limit of 1.0 GB (--max-memory)"
                .into())
        );
        assert_eq!(budget.take(4e8, "body 2's particles"), Ok(()));
        assert_eq!(
            Budget::new(limit).take(2e9, "body 3's particles"),
            Err("body 3's particles: 2.0 GB, more than the limit of 1.0 GB (--max-memory)".into())
        );
        assert_eq!(Budget::new(None).take(1e30, "anything"), Ok(()));
        assert!(available().is_some_and(|b| b > 0), "Linux reports MemAvailable");
        assert_eq!(bytes(1.44e10), "14.4 GB");
        assert_eq!(bytes(2048.0), "2 kB");
    }
}
