//! `INFO errorstats` and `total_error_replies`: error replies counted by their code (the
//! first word of the message, within its first 32 bytes, else `ERR`), as Redis 7.0 counts them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Error replies by code, and their total.
#[derive(Debug, Default)]
pub struct ErrorStats {
    codes: Mutex<BTreeMap<Vec<u8>, u64>>,
    total: AtomicU64,
}

impl ErrorStats {
    /// Counts one error reply (`msg` without the leading `-`).
    pub fn record(&self, msg: &[u8]) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let head = &msg[..msg.len().min(32)];
        let code = match head.iter().position(|&c| c == b' ') {
            Some(i) if i > 0 => &msg[..i],
            _ => b"ERR",
        };
        let mut codes = self.codes.lock();
        match codes.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                codes.insert(code.to_vec(), 1);
            }
        }
    }

    /// `total_error_replies`.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// (code, count) in code order.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.codes
            .lock()
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), *v))
            .collect()
    }

    /// `CONFIG RESETSTAT`.
    pub fn reset(&self) {
        self.codes.lock().clear();
        self.total.store(0, Ordering::Relaxed);
    }
}
