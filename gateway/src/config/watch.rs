//! Hot reload: poll the config file and publish each new valid configuration.
//!
//! Mirrors the reference gateway, which re-reads its config when the file's modification time
//! changes. Here a tokio task polls every `interval`: it stats the file, reads and hashes it
//! when the (mtime, length) pair changed or the mtime is recent enough that a same-second,
//! same-length edit could hide behind it, and parses it when the content hash changed. A valid
//! result that differs from the current configuration goes out through a
//! `tokio::sync::watch` channel as a new `Arc<GatewayConfig>`.
//!
//! Invariants: an invalid or unreadable file never replaces the current configuration; each
//! distinct bad content is logged once (at error level), not on every poll; the task ends when
//! the [`ConfigWatcher`] is dropped or every receiver is gone. No lock is held across an await.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::document::{parse_bytes, read_file};
use super::error::ConfigError;
use super::model::GatewayConfig;

/// How recent an mtime must be for the content to be re-read even when (mtime, length) did not
/// change (file systems with coarse timestamps can hide a quick second edit).
const RACY_WINDOW: Duration = Duration::from_secs(3);

/// Default poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A running config watcher; dropping it stops the polling task.
#[derive(Debug)]
pub struct ConfigWatcher {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl ConfigWatcher {
    /// Loads `path` (failing if it is missing or invalid), then polls it every `interval` on a
    /// tokio task. Returns the watcher and a receiver holding the current configuration.
    /// Must be called from within a tokio runtime.
    pub fn start(
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> Result<(ConfigWatcher, watch::Receiver<Arc<GatewayConfig>>), ConfigError> {
        let path = path.into();
        let meta = std::fs::metadata(&path).ok();
        let bytes = read_file(&path)?;
        let loaded = parse_bytes(&path, &bytes)?;
        let (tx, rx) = watch::channel(Arc::new(loaded.config));
        let state = PollState {
            path: path.clone(),
            stamp: meta.map(|m| (m.modified().ok(), m.len())),
            hash: content_hash(&bytes),
            unreadable_logged: false,
        };
        let interval = interval.max(Duration::from_millis(10));
        let task = tokio::spawn(state.run(tx, interval));
        Ok((ConfigWatcher { path, task }, rx))
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops polling (also done on drop).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Stamp = (Option<SystemTime>, u64);

struct PollState {
    path: PathBuf,
    stamp: Option<Stamp>,
    hash: u64,
    unreadable_logged: bool,
}

impl PollState {
    async fn run(mut self, tx: watch::Sender<Arc<GatewayConfig>>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        ticker.tick().await; // the first tick is immediate
        loop {
            ticker.tick().await;
            if tx.is_closed() {
                return;
            }
            self.poll(&tx).await;
        }
    }

    async fn poll(&mut self, tx: &watch::Sender<Arc<GatewayConfig>>) {
        let meta = match tokio::fs::metadata(&self.path).await {
            Ok(m) => m,
            Err(e) => return self.unreadable(&e),
        };
        let stamp = (meta.modified().ok(), meta.len());
        let recent = stamp.0.is_none_or(|m| {
            SystemTime::now()
                .duration_since(m)
                .map_or(true, |age| age < RACY_WINDOW)
        });
        if self.stamp == Some(stamp) && !recent {
            return;
        }
        self.stamp = Some(stamp);
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(b) => b,
            Err(e) => return self.unreadable(&e),
        };
        self.unreadable_logged = false;
        let hash = content_hash(&bytes);
        if hash == self.hash {
            return;
        }
        self.hash = hash;
        match parse_bytes(&self.path, &bytes) {
            Ok(loaded) => {
                let new = loaded.config;
                let changed = tx.send_if_modified(|cur| {
                    if **cur == new {
                        false
                    } else {
                        *cur = Arc::new(new);
                        true
                    }
                });
                if changed {
                    tracing::info!(path = %self.path.display(), "configuration reloaded");
                }
            }
            Err(e) => {
                tracing::error!("{e}\nkeeping the current configuration until the file is fixed");
            }
        }
    }

    fn unreadable(&mut self, e: &std::io::Error) {
        if !self.unreadable_logged {
            self.unreadable_logged = true;
            tracing::warn!(
                path = %self.path.display(),
                "cannot read the config file ({e}); keeping the current configuration"
            );
        }
        // Re-read once it is back, even if it comes back with the same stamp.
        self.stamp = None;
    }
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}
