//! RDB persistence state and its operations: `SAVE`, `BGSAVE` on a thread of its own, the
//! `save <seconds> <changes>` rules (checked by the server's periodic task), the save at
//! shutdown, loading at start, and the `INFO persistence` figures.
//!
//! Changes are counted by the engine ([`crate::engine::Engine::dirty`], never reset); a save
//! records the count it started at, so `rdb_changes_since_last_save` is the difference, and
//! changes made while a background save runs still count after it (as Redis's
//! `dirty - dirty_before_bgsave`). After a failed background save, rules are retried only
//! after 5 seconds (Redis's `CONFIG_BGSAVE_RETRY_DELAY`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;

use super::Shared;
use crate::log::{log, Level};
use crate::persist::snapshot::{self, LoadError, LoadStats, Progress, SaveOptions, SaveStats};

/// `redis-ver` written in RDB files: the Redis version whose behaviour is mirrored.
pub const RDB_REDIS_VER: &str = "7.0.15";
const SHUTDOWN_DEFAULT: u8 = 0;
const SHUTDOWN_SAVE: u8 = 1;
const SHUTDOWN_NOSAVE: u8 = 2;
/// Seconds to wait after a failed background save before the rules may start another.
const RETRY_DELAY_SECS: u64 = 5;

/// Persistence state, in [`Shared`].
#[derive(Debug)]
pub struct Persistence {
    lastsave: AtomicU64,
    dirty_at_save: AtomicU64,
    last_ok: AtomicBool,
    last_bgsave_secs: AtomicI64,
    last_try: AtomicU64,
    saves: AtomicU64,
    scheduled: AtomicBool,
    pub(crate) running: AtomicBool,
    bg: Mutex<Option<(Instant, JoinHandle<()>)>>,
    progress: Arc<Progress>,
    pub(crate) loading: AtomicBool,
    load_loaded: AtomicU64,
    load_expired: AtomicU64,
    shutdown_saved: AtomicBool,
    shutdown_mode: AtomicU8,
    deny_writes: AtomicBool,
    /// Held by whichever save is writing, so two saves never overlap.
    pub(crate) save_lock: Mutex<()>,
}

impl Persistence {
    pub(crate) fn new(start_unix: u64) -> Self {
        Persistence {
            lastsave: AtomicU64::new(start_unix),
            dirty_at_save: AtomicU64::new(0),
            last_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            last_try: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            running: AtomicBool::new(false),
            bg: Mutex::new(None),
            progress: Arc::new(Progress::default()),
            loading: AtomicBool::new(false),
            load_loaded: AtomicU64::new(0),
            load_expired: AtomicU64::new(0),
            shutdown_saved: AtomicBool::new(false),
            shutdown_mode: AtomicU8::new(SHUTDOWN_DEFAULT),
            deny_writes: AtomicBool::new(false),
            save_lock: Mutex::new(()),
        }
    }
}

/// A save failed (the reason is logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the RDB save failed: {0}")]
pub struct SaveFailed(pub String);

/// Why `BGSAVE` did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BgsaveError {
    /// One is running (and SCHEDULE was not given).
    InProgress,
    /// The thread could not be started.
    Spawn,
}

/// The `INFO persistence` figures.
#[derive(Debug, Clone, Default)]
pub struct PersistInfo {
    /// `loading`.
    pub loading: bool,
    /// `rdb_changes_since_last_save`.
    pub changes: u64,
    /// `rdb_bgsave_in_progress`.
    pub bgsave_in_progress: bool,
    /// `rdb_last_save_time`.
    pub last_save_time: u64,
    /// `rdb_last_bgsave_status` is `ok`.
    pub last_ok: bool,
    /// `rdb_last_bgsave_time_sec`.
    pub last_bgsave_secs: i64,
    /// `rdb_current_bgsave_time_sec`.
    pub current_bgsave_secs: i64,
    /// `rdb_saves`.
    pub saves: u64,
    /// `current_save_keys_processed`.
    pub keys_processed: u64,
    /// `current_save_keys_total`.
    pub keys_total: u64,
    /// `rdb_last_load_keys_loaded`.
    pub load_loaded: u64,
    /// `rdb_last_load_keys_expired`.
    pub load_expired: u64,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses `save` text ("900 1 300 10") into (seconds, changes) rules.
pub fn save_rules(text: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

impl Shared {
    /// `dir/dbfilename`.
    pub fn rdb_path(&self) -> PathBuf {
        let c = self.config.read();
        PathBuf::from(c.dir()).join(c.dbfilename())
    }

    fn save_options(&self) -> SaveOptions {
        let c = self.config.read();
        SaveOptions {
            path: PathBuf::from(c.dir()).join(c.dbfilename()),
            compress: c.rdbcompression(),
            checksum: c.rdbchecksum(),
            redis_ver: RDB_REDIS_VER.to_string(),
            aof_base: false,
        }
    }

    fn record_save(&self, dirty_at_start: u64, result: &std::io::Result<SaveStats>, bg: bool) {
        let p = &self.persist;
        p.last_try.store(unix_secs(), Ordering::Relaxed);
        match result {
            Ok(s) => {
                p.dirty_at_save.store(dirty_at_start, Ordering::Relaxed);
                p.lastsave.store(unix_secs(), Ordering::Relaxed);
                p.saves.fetch_add(1, Ordering::Relaxed);
                p.last_ok.store(true, Ordering::Relaxed);
                self.refresh_write_denial();
                log(
                    Level::Notice,
                    &format!(
                        "{} saved on disk: {} keys, {} bytes in {:.3} s (longest lock hold {} us)",
                        if bg { "Background RDB" } else { "DB" },
                        s.keys,
                        s.bytes,
                        s.elapsed.as_secs_f64(),
                        s.max_shard_hold.as_micros()
                    ),
                );
            }
            Err(e) => {
                p.last_ok.store(false, Ordering::Relaxed);
                self.refresh_write_denial();
                log(
                    Level::Warning,
                    &format!("Failed saving the DB to {}: {e}", self.rdb_path().display()),
                );
            }
        }
    }

    /// `SAVE`: writes a snapshot from the calling thread. Err if a background save runs or
    /// the save failed (logged).
    pub fn save_now(&self) -> Result<SaveStats, SaveFailed> {
        if self.persist.running.load(Ordering::Acquire) {
            return Err(SaveFailed("a background save is in progress".into()));
        }
        let _one_at_a_time = self.persist.save_lock.lock();
        let dirty = self.engine.dirty();
        let r = snapshot::save(&self.engine, &self.save_options(), &Progress::default());
        self.record_save(dirty, &r, false);
        r.map_err(|e| SaveFailed(e.to_string()))
    }

    /// `BGSAVE`: starts a snapshot on a thread of its own. With `schedule`, a save already
    /// running makes this one start when it ends (`Ok(false)`).
    pub fn bgsave(&self, schedule: bool) -> Result<bool, BgsaveError> {
        let Some(me) = self.me.upgrade() else {
            return Err(BgsaveError::Spawn);
        };
        let mut bg = self.persist.bg.lock();
        if self.persist.running.load(Ordering::Acquire) {
            if schedule {
                self.persist.scheduled.store(true, Ordering::Relaxed);
                return Ok(false);
            }
            return Err(BgsaveError::InProgress);
        }
        if let Some((_, h)) = bg.take() {
            let _ = h.join();
        }
        self.persist.running.store(true, Ordering::Release);
        self.persist.scheduled.store(false, Ordering::Relaxed);
        let opts = self.save_options();
        let dirty = self.engine.dirty();
        let progress = self.persist.progress.clone();
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("cachesrv-bgsave".into())
            .spawn(move || {
                let guard = me.persist.save_lock.lock();
                let dirty = dirty.max(me.engine.dirty());
                let r = snapshot::save(&me.engine, &opts, &progress);
                drop(guard);
                me.record_save(dirty, &r, true);
                me.persist.last_bgsave_secs.store(
                    started.elapsed().as_secs_f64().round() as i64,
                    Ordering::Relaxed,
                );
                me.persist.running.store(false, Ordering::Release);
            });
        match spawned {
            Ok(h) => {
                log(
                    Level::Notice,
                    "Background saving started by a thread (no fork)",
                );
                *bg = Some((started, h));
                Ok(true)
            }
            Err(e) => {
                self.persist.running.store(false, Ordering::Release);
                log(Level::Warning, &format!("Can't save in background: {e}"));
                Err(BgsaveError::Spawn)
            }
        }
    }

    /// Waits for a running background save to end.
    pub fn wait_bgsave(&self) {
        let h = self.persist.bg.lock().take();
        if let Some((_, h)) = h {
            let _ = h.join();
        }
    }

    /// Called by the periodic task: starts a scheduled background save, or one the `save`
    /// rules ask for.
    pub fn persist_cron(&self) {
        let p = &self.persist;
        if p.running.load(Ordering::Acquire) || self.is_shutting_down() {
            return;
        }
        if p.scheduled.load(Ordering::Relaxed) {
            let _ = self.bgsave(false);
            return;
        }
        let rules = save_rules(&self.config.read().save());
        if rules.is_empty() {
            return;
        }
        let changes = self.changes_since_save();
        let now = unix_secs();
        let elapsed = now.saturating_sub(p.lastsave.load(Ordering::Relaxed));
        let may_retry = p.last_ok.load(Ordering::Relaxed)
            || now.saturating_sub(p.last_try.load(Ordering::Relaxed)) >= RETRY_DELAY_SECS;
        if !may_retry {
            return;
        }
        if let Some((secs, n)) = rules
            .iter()
            .find(|(secs, n)| changes >= *n && elapsed > *secs)
        {
            log(
                Level::Notice,
                &format!("{n} changes in {secs} seconds. Saving..."),
            );
            let _ = self.bgsave(false);
        }
    }

    /// After `FLUSHALL`: when `save` rules exist, waits for a running background save and
    /// saves the (now empty) keyspace, as Redis does.
    pub fn save_after_flushall(&self) {
        if save_rules(&self.config.read().save()).is_empty() {
            return;
        }
        self.wait_bgsave();
        let _ = self.save_now();
    }

    /// True when write commands must be refused with `MISCONF`: the last save failed, `save`
    /// rules exist and `stop-writes-on-bgsave-error` is on (Redis's
    /// `writeCommandsDeniedByDiskError`). Read on the command path: one atomic load.
    pub fn writes_denied(&self) -> bool {
        self.persist.deny_writes.load(Ordering::Relaxed)
    }

    /// Recomputes [`Shared::writes_denied`] (after a save, and after `CONFIG SET`).
    pub fn refresh_write_denial(&self) {
        let deny = !self.persist.last_ok.load(Ordering::Relaxed) && {
            let c = self.config.read();
            c.get("stop-writes-on-bgsave-error").as_deref() == Some("yes")
                && !save_rules(&c.save()).is_empty()
        };
        self.persist.deny_writes.store(deny, Ordering::Relaxed);
    }

    /// Changes since the last successful save.
    pub fn changes_since_save(&self) -> u64 {
        self.engine
            .dirty()
            .saturating_sub(self.persist.dirty_at_save.load(Ordering::Relaxed))
    }

    /// `LASTSAVE`: Unix time of the last successful save (the start time before any).
    pub fn lastsave(&self) -> u64 {
        self.persist.lastsave.load(Ordering::Relaxed)
    }

    /// Records what a `SHUTDOWN` asked for: `SAVE` (save even without rules), `NOSAVE` (never
    /// save), or neither (save when `save` rules exist). SIGTERM/SIGINT keep the default.
    pub fn set_shutdown_mode(&self, save: bool, nosave: bool) {
        let mode = if nosave {
            SHUTDOWN_NOSAVE
        } else if save {
            SHUTDOWN_SAVE
        } else {
            SHUTDOWN_DEFAULT
        };
        self.persist.shutdown_mode.store(mode, Ordering::Release);
    }

    /// The save a shutdown makes, per [`Shared::set_shutdown_mode`]. Waits for a running
    /// background save first. Called by `SHUTDOWN` (which reports a failure and keeps the
    /// server up) and again once the server has stopped serving, where it saves only if keys
    /// changed since (the writes other clients made in between are not lost).
    pub fn shutdown_save(&self) -> Result<(), SaveFailed> {
        let mode = self.persist.shutdown_mode.load(Ordering::Acquire);
        let wanted = mode == SHUTDOWN_SAVE
            || (mode == SHUTDOWN_DEFAULT && !save_rules(&self.config.read().save()).is_empty());
        if !wanted {
            return Ok(());
        }
        self.wait_bgsave();
        if self.persist.shutdown_saved.load(Ordering::Acquire) && self.changes_since_save() == 0 {
            return Ok(());
        }
        log(
            Level::Notice,
            "Saving the final RDB snapshot before exiting.",
        );
        self.save_now()?;
        self.persist.shutdown_saved.store(true, Ordering::Release);
        Ok(())
    }

    /// Loads `dir/dbfilename` if it exists, logging the outcome.
    pub fn load_rdb(&self) -> Result<Option<LoadStats>, LoadError> {
        let path = self.rdb_path();
        let verify = self.config.read().rdbchecksum();
        self.persist.loading.store(true, Ordering::Relaxed);
        let r = snapshot::load(&self.engine, &path, verify);
        self.persist.loading.store(false, Ordering::Relaxed);
        if let Ok(Some(s)) = &r {
            self.persist.load_loaded.store(s.loaded, Ordering::Relaxed);
            self.persist
                .load_expired
                .store(s.expired, Ordering::Relaxed);
            // The data on disk is the data in memory: nothing to save yet.
            self.persist
                .dirty_at_save
                .store(self.engine.dirty(), Ordering::Relaxed);
            if s.info.functions_skipped > 0 {
                log(
                    Level::Warning,
                    &format!(
                        "{} function libraries in the RDB file were not loaded (no FUNCTION support)",
                        s.info.functions_skipped
                    ),
                );
            }
            log(
                Level::Notice,
                &format!(
                    "DB loaded from disk: {:.3} seconds, {} keys loaded, {} expired keys skipped (RDB version {}, {})",
                    s.elapsed.as_secs_f64(),
                    s.loaded,
                    s.expired,
                    s.info.version,
                    path.display()
                ),
            );
        }
        r
    }

    /// The `INFO persistence` figures.
    pub fn persist_info(&self) -> PersistInfo {
        let p = &self.persist;
        let running = p.running.load(Ordering::Acquire);
        let current = if running {
            p.bg.lock()
                .as_ref()
                .map_or(-1, |(t, _)| t.elapsed().as_secs() as i64)
        } else {
            -1
        };
        PersistInfo {
            loading: p.loading.load(Ordering::Relaxed),
            changes: self.changes_since_save(),
            bgsave_in_progress: running,
            last_save_time: p.lastsave.load(Ordering::Relaxed),
            last_ok: p.last_ok.load(Ordering::Relaxed),
            last_bgsave_secs: p.last_bgsave_secs.load(Ordering::Relaxed),
            current_bgsave_secs: current,
            saves: p.saves.load(Ordering::Relaxed),
            keys_processed: if running {
                p.progress.keys.load(Ordering::Relaxed)
            } else {
                0
            },
            keys_total: if running {
                p.progress.total.load(Ordering::Relaxed)
            } else {
                0
            },
            load_loaded: p.load_loaded.load(Ordering::Relaxed),
            load_expired: p.load_expired.load(Ordering::Relaxed),
        }
    }
}
