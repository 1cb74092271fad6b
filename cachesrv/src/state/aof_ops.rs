//! AOF operations on the shared state: opening the files at start, `BGREWRITEAOF` and the
//! automatic rewrite, `CONFIG SET appendonly`, the flush at shutdown, and `INFO` figures.
//!
//! A rewrite (there is no fork): a new incremental file is opened and the manifest lists it;
//! then, under the ordering lock, the records buffered so far are written to the current
//! incremental file and the new one takes its place; from then on, until every key has been
//! copied into the base, each write command is logged as the resulting state of its keys
//! (`RESTORE ... ABSTTL REPLACE`, or `DEL`), since the base is written a slice of keys at a
//! time while clients keep writing and may already hold a write logged after the switch:
//! replaying a key's state on top of a later one yields the same end state. A plain `SET key
//! value` is logged as sent all the same: it leaves the same state whatever state it is
//! replayed on. The base is a
//! snapshot ([`crate::persist::snapshot::save_then`]) into the AOF directory; when it is on
//! disk (and the previous incremental file fsynced), the manifest names it and the new
//! incremental file, the old files become history and are deleted. No step holds a lock for
//! longer than a slice of keys or a buffer write: files are written, fsynced and deleted with
//! none held.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::aof::{Aof, FSYNC_ALWAYS};
use super::Shared;
use crate::log::{log, Level};
use crate::persist::aof::{self as files, AofFile, FileType, Manifest};
use crate::persist::snapshot::{self, Progress, SaveOptions};

/// Why `BGREWRITEAOF` did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteError {
    /// One is running.
    InProgress,
    /// The files or the thread could not be set up (logged).
    Failed,
}

/// The `INFO persistence` AOF figures.
#[derive(Debug, Clone, Default)]
pub struct AofInfo {
    /// `aof_enabled`.
    pub enabled: bool,
    /// `aof_rewrite_in_progress`.
    pub rewriting: bool,
    /// `aof_rewrite_scheduled`.
    pub scheduled: bool,
    /// `aof_last_rewrite_time_sec`.
    pub last_rewrite_secs: i64,
    /// `aof_current_rewrite_time_sec`.
    pub current_rewrite_secs: i64,
    /// `aof_last_bgrewrite_status` is `ok`.
    pub last_rewrite_ok: bool,
    /// `aof_rewrites`.
    pub rewrites: u64,
    /// `aof_rewrites_consecutive_failures`.
    pub consecutive_failures: u64,
    /// `aof_last_write_status` is `ok`.
    pub last_write_ok: bool,
    /// `aof_current_size`.
    pub current_size: u64,
    /// `aof_base_size`.
    pub base_size: u64,
    /// `aof_buffer_length`.
    pub buffer_length: u64,
    /// `aof_pending_bio_fsync`.
    pub pending_fsync: u64,
    /// `aof_delayed_fsync`.
    pub delayed_fsync: u64,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Shared {
    /// `dir/appenddirname` and `appendfilename`.
    pub fn aof_paths(&self) -> (PathBuf, String) {
        let c = self.config.read();
        (
            files::aof_dir(&c.dir(), &c.get("appenddirname").unwrap_or_default()),
            c.get("appendfilename").unwrap_or_default(),
        )
    }

    fn base_options(&self, path: PathBuf) -> SaveOptions {
        let c = self.config.read();
        SaveOptions {
            path,
            compress: c.rdbcompression(),
            checksum: c.rdbchecksum(),
            redis_ver: super::persist::RDB_REDIS_VER.to_string(),
            aof_base: true,
        }
    }

    /// At start with `appendonly yes` (after loading): opens the last incremental file of the
    /// manifest for appending, or creates the directory, an empty base, a first incremental
    /// file and the manifest, as Redis 7.0 does; then logging starts.
    pub fn aof_open_at_start(&self) -> std::io::Result<()> {
        let (dir, name) = self.aof_paths();
        fs::create_dir_all(&dir)?;
        let mpath = dir.join(files::manifest_name(&name));
        let mut m = Manifest::load(&mpath)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .unwrap_or_default();
        let mut changed = false;
        if m.base.is_none() && m.incrs.is_empty() {
            let seq = m.next_base_seq();
            let bname = files::base_name(&name, seq, true);
            snapshot::save(
                &self.engine,
                &self.base_options(dir.join(&bname)),
                &Progress::default(),
            )?;
            m.base = Some(AofFile {
                name: bname,
                seq,
                kind: FileType::Base,
            });
            changed = true;
        }
        if m.incrs.is_empty() {
            let seq = m.next_incr_seq();
            m.incrs.push(AofFile {
                name: files::incr_name(&name, seq),
                seq,
                kind: FileType::Incr,
            });
            changed = true;
        }
        let last = m.incrs.last().map(|f| f.name.clone()).unwrap_or_default();
        let file = open_append(&dir.join(&last))?;
        if changed {
            m.persist(&dir, &files::manifest_name(&name))?;
        }
        delete_history(&dir, &name, &mut m);
        let (base, incr) = sizes(&dir, &m);
        {
            let mut out = self.aof.out();
            out.file = Some(file);
            out.manifest = m;
            out.base_size = base;
            out.incr_size = incr;
        }
        self.aof
            .rewrite_base_size
            .store(base + incr, Ordering::Relaxed);
        self.aof
            .set_fsync(&self.config.read().get("appendfsync").unwrap_or_default());
        self.aof.switch_on();
        Ok(())
    }

    /// `CONFIG SET appendonly yes`: starts logging into a new incremental file and rewrites
    /// a base from the keyspace; the manifest is written when the base is on disk.
    pub fn aof_enable(&self) -> Result<(), RewriteError> {
        if self.aof.is_on() {
            return Ok(());
        }
        self.aof
            .set_fsync(&self.config.read().get("appendfsync").unwrap_or_default());
        self.start_rewrite(true)
    }

    /// `CONFIG SET appendonly no`: stops logging, flushes and closes the file.
    pub fn aof_disable(&self) {
        if let Some(h) = self.aof.rewrite_thread.lock().take() {
            let _ = h.join();
        }
        self.aof.switch_off();
        self.aof.scheduled.store(false, Ordering::Relaxed);
    }

    /// `BGREWRITEAOF`: with `appendonly no` it writes the files (a base and an empty
    /// incremental file) without starting to log, as Redis does.
    pub fn bgrewriteaof(&self) -> Result<(), RewriteError> {
        self.start_rewrite(false)
    }

    fn start_rewrite(&self, enable: bool) -> Result<(), RewriteError> {
        let Some(me) = self.me.upgrade() else {
            return Err(RewriteError::Failed);
        };
        let mut thread = self.aof.rewrite_thread.lock();
        if self.aof.rewriting.load(Ordering::Acquire) {
            return Err(RewriteError::InProgress);
        }
        if let Some(h) = thread.take() {
            let _ = h.join();
        }
        let (dir, name) = self.aof_paths();
        let switched = self.aof_switch_incr(&dir, &name, enable).inspect_err(|e| {
            log(
                Level::Warning,
                &format!("Can't open the append-only file for the rewrite: {e}"),
            )
        });
        let Ok((manifest, base_seq, previous)) = switched else {
            self.aof.last_rewrite_ok.store(false, Ordering::Relaxed);
            return Err(RewriteError::Failed);
        };
        self.aof.rewriting.store(true, Ordering::Release);
        self.aof.scheduled.store(false, Ordering::Relaxed);
        self.aof
            .rewrite_started_ms
            .store(now_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("cachesrv-aof-rewrite".into())
            .spawn(move || me.aof_rewrite_base(dir, name, manifest, base_seq, previous));
        match spawned {
            Ok(h) => {
                log(
                    Level::Notice,
                    "Background append only file rewriting started by a thread (no fork)",
                );
                *thread = Some(h);
                Ok(())
            }
            Err(e) => {
                self.aof.rewriting.store(false, Ordering::Release);
                let _ = Aof::set_state_mode(&mut self.aof.log_lock(), false);
                log(Level::Warning, &format!("Can't rewrite the AOF: {e}"));
                Err(RewriteError::Failed)
            }
        }
    }

    /// The switch point of a rewrite: returns the manifest to finish with, the base's
    /// sequence number, and the previous incremental file when it is still to be fsynced.
    ///
    /// The manifest naming the new incremental file is written before the switch, with no
    /// lock held: writers keep logging into the current file meanwhile. Under `appendfsync
    /// always` the records the switch writes to the previous file belong to writes not yet
    /// acknowledged, so that file is fsynced before any later fsync can acknowledge them;
    /// otherwise it is left to the rewrite's thread (Redis fsyncs it in the background too),
    /// so that no writer waits for a second of records to reach the disk.
    fn aof_switch_incr(
        &self,
        dir: &PathBuf,
        name: &str,
        enable: bool,
    ) -> std::io::Result<(Manifest, u64, Option<File>)> {
        fs::create_dir_all(dir)?;
        let was_on = self.aof.is_on();
        let mut m = if was_on {
            self.aof.out().manifest.clone()
        } else {
            // Switched on at run time: files of an earlier run continue the sequence numbers
            // and become history when this rewrite ends.
            Manifest::load(&dir.join(files::manifest_name(name)))
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        let seq = m.next_incr_seq();
        let iname = files::incr_name(name, seq);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(dir.join(&iname))?;
        m.incrs.push(AofFile {
            name: iname,
            seq,
            kind: FileType::Incr,
        });
        if was_on {
            m.persist(dir, &files::manifest_name(name))?;
        }
        let base_seq = m.next_base_seq();
        let mut out = self.aof.out();
        let old = match self.aof.switch_incr(&mut out, file, m.clone()) {
            // With `out` still held: no later record is written, nor fsynced, before these.
            Some(f) if self.aof.fsync_mode() == FSYNC_ALWAYS => {
                let _ = f.sync_data();
                None
            }
            old => old,
        };
        drop(out);
        if !was_on && enable {
            self.aof.switch_on();
        }
        Ok((m, base_seq, old))
    }

    /// The rewrite's thread: writes the base, fsyncs the incremental file the switch left
    /// (`previous`), then installs the new manifest. The files are written and fsynced, and
    /// the history deleted, with no lock held (writers would wait for the disk).
    fn aof_rewrite_base(
        &self,
        dir: PathBuf,
        name: String,
        at_switch: Manifest,
        base_seq: u64,
        previous: Option<File>,
    ) {
        let started = Instant::now();
        let bname = files::base_name(&name, base_seq, true);
        let bpath = dir.join(&bname);
        // State mode ends once every key is in the base (the writes after that apply on top
        // of it as they are), not when the base is on disk.
        let spoiled = std::cell::Cell::new(None);
        let saved = {
            let _one_at_a_time = self.persist.save_lock.lock();
            snapshot::save_then(
                &self.engine,
                &self.base_options(bpath.clone()),
                &Progress::default(),
                || spoiled.set(Some(Aof::set_state_mode(&mut self.aof.log_lock(), false))),
            )
        };
        let spoiled = spoiled
            .take()
            .unwrap_or_else(|| Aof::set_state_mode(&mut self.aof.log_lock(), false));
        if let Some(f) = previous {
            let _ = f.sync_data();
        }
        // Only this thread changes the manifest until `rewriting` is cleared.
        let result = match (saved, spoiled) {
            (Err(e), _) => Err(e.to_string()),
            (Ok(_), true) => Err("SWAPDB ran during the rewrite".to_string()),
            (Ok(_), false) => {
                let mut m = self.aof.out().manifest.clone();
                // Every file before the switch point becomes history.
                let newest = at_switch.incrs.last().map(|f| f.seq).unwrap_or(0);
                let mut history: Vec<AofFile> = m.base.take().into_iter().collect();
                let (old, keep): (Vec<_>, Vec<_>) = m.incrs.drain(..).partition(|f| f.seq < newest);
                history.extend(old);
                m.incrs = keep;
                for mut h in history {
                    h.kind = FileType::History;
                    m.history.push(h);
                }
                m.base = Some(AofFile {
                    name: bname.clone(),
                    seq: base_seq,
                    kind: FileType::Base,
                });
                match m.persist(&dir, &files::manifest_name(&name)) {
                    Ok(()) => {
                        self.aof.out().manifest = m.clone();
                        delete_history(&dir, &name, &mut m);
                        let mut out = self.aof.out();
                        let (b, i) = sizes(&dir, &m);
                        out.base_size = b;
                        out.incr_size = i;
                        out.manifest = m;
                        self.aof.rewrite_base_size.store(b + i, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let a = &self.aof;
        a.last_rewrite_secs.store(
            started.elapsed().as_secs_f64().round() as i64,
            Ordering::Relaxed,
        );
        match result {
            Ok(()) => {
                a.last_rewrite_ok.store(true, Ordering::Relaxed);
                a.rewrites.fetch_add(1, Ordering::Relaxed);
                a.consecutive_failures.store(0, Ordering::Relaxed);
                log(
                    Level::Notice,
                    &format!(
                        "Background AOF rewrite finished successfully ({bname}, {:.3} s)",
                        started.elapsed().as_secs_f64()
                    ),
                );
            }
            Err(e) => {
                let _ = fs::remove_file(&bpath);
                a.last_rewrite_ok.store(false, Ordering::Relaxed);
                a.consecutive_failures.fetch_add(1, Ordering::Relaxed);
                // Retried by the periodic task, as Redis does after a failed rewrite.
                a.scheduled.store(true, Ordering::Relaxed);
                log(
                    Level::Warning,
                    &format!("Background AOF rewrite failed: {e}"),
                );
            }
        }
        a.rewriting.store(false, Ordering::Release);
    }

    /// Called by the periodic task: starts a scheduled rewrite, or one that
    /// `auto-aof-rewrite-percentage` / `auto-aof-rewrite-min-size` ask for.
    pub fn aof_cron(&self) {
        let a = &self.aof;
        if a.rewriting.load(Ordering::Acquire) || self.is_shutting_down() {
            return;
        }
        if a.scheduled.load(Ordering::Relaxed) {
            if self.persist.running.load(Ordering::Acquire) {
                return;
            }
            let _ = self.bgrewriteaof();
            return;
        }
        if !a.is_on() {
            return;
        }
        let (perc, min) = {
            let c = self.config.read();
            let n = |k: &str| c.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            (
                n("auto-aof-rewrite-percentage"),
                n("auto-aof-rewrite-min-size"),
            )
        };
        if perc == 0 {
            return;
        }
        let size = {
            let o = a.out();
            o.base_size + o.incr_size
        };
        let base = a.rewrite_base_size.load(Ordering::Relaxed).max(1);
        let growth = (size.saturating_sub(base)) * 100 / base;
        if size > min && size > base && growth >= perc {
            log(
                Level::Notice,
                &format!("Starting automatic rewriting of AOF on {growth}% growth"),
            );
            let _ = self.bgrewriteaof();
        }
    }

    /// At shutdown: waits for a rewrite, writes out and fsyncs the AOF.
    pub fn aof_shutdown(&self) {
        if let Some(h) = self.aof.rewrite_thread.lock().take() {
            let _ = h.join();
        }
        if self.aof.is_on() {
            self.aof.sync_all();
            log(Level::Notice, "Calling fsync() on the AOF file.");
        }
    }

    /// The `INFO persistence` AOF figures.
    pub fn aof_info(&self) -> AofInfo {
        let a = &self.aof;
        let rewriting = a.rewriting.load(Ordering::Acquire);
        let (base, incr) = {
            let o = a.out();
            (o.base_size, o.incr_size)
        };
        AofInfo {
            enabled: a.is_on(),
            rewriting,
            scheduled: a.scheduled.load(Ordering::Relaxed),
            last_rewrite_secs: a.last_rewrite_secs.load(Ordering::Relaxed),
            current_rewrite_secs: if rewriting {
                (now_ms().saturating_sub(a.rewrite_started_ms.load(Ordering::Relaxed)) / 1000)
                    as i64
            } else {
                -1
            },
            last_rewrite_ok: a.last_rewrite_ok.load(Ordering::Relaxed),
            rewrites: a.rewrites.load(Ordering::Relaxed),
            consecutive_failures: a.consecutive_failures.load(Ordering::Relaxed),
            last_write_ok: a.last_write_ok.load(Ordering::Relaxed),
            current_size: base + incr,
            base_size: base,
            buffer_length: 0,
            pending_fsync: 0,
            delayed_fsync: a.delayed_fsync.load(Ordering::Relaxed),
        }
    }
}

fn sizes(dir: &std::path::Path, m: &Manifest) -> (u64, u64) {
    let size = |n: &str| fs::metadata(dir.join(n)).map(|m| m.len()).unwrap_or(0);
    let base = m.base.as_ref().map_or(0, |b| size(&b.name));
    let incr = m.incrs.iter().map(|f| size(&f.name)).sum();
    (base, incr)
}

/// Deletes the history files of `m`, drops them from it and writes the manifest again, as
/// Redis does (a crash in between leaves history lines naming missing files: ignored).
fn delete_history(dir: &std::path::Path, name: &str, m: &mut Manifest) {
    if m.history.is_empty() {
        return;
    }
    for h in m.history.drain(..) {
        let _ = fs::remove_file(dir.join(&h.name));
    }
    if let Err(e) = m.persist(dir, &files::manifest_name(name)) {
        log(
            Level::Warning,
            &format!("Can't write the AOF manifest after deleting history files: {e}"),
        );
    }
}
