//! The append-only file at run time: the ordered log of write commands, its buffer, the open
//! incremental file, and `appendfsync`.
//!
//! Ordering: a write command runs its handler while holding [`Aof::order`]'s lock and appends
//! its record before releasing it, so the file holds the commands in the order their effects
//! were applied, whatever thread ran them. Reads never take the lock. An event loop running a
//! batch of pipelined requests keeps the lock from one write command to the next
//! ([`Aof::keep_scope`], [`Aof::order_kept`]) instead of taking it for each: taking and
//! releasing it are each a locked instruction, which waits for the handler's stores to reach
//! the cache. It lets go before anything else: a read, a command that takes the gate itself, a
//! blocking command, the end of the batch, and any other use of the AOF's locks on that thread;
//! and it hands the lock over between two commands when another thread waits for it.
//!
//! Durability: records go to a buffer; before a connection's replies are written
//! ([`Aof::before_reply`]) the buffer is written to the file, and with `appendfsync always` the
//! file is fsynced up to the last record this thread appended. That fsync is a group commit:
//! one caller (the leader) writes out everything buffered by every thread and fsyncs once;
//! callers arriving meanwhile wait for it, and return at once if it covered their records.
//! With `everysec` a thread of its own fsyncs once a second; with `no` the OS decides.
//!
//! Keys the engine removes on its own (expired, evicted) are recorded as the engine reports
//! them (under the key's shard lock, so before anyone else can touch the key again) and
//! logged as `DEL` (`UNLINK` with `lazyfree-lazy-expire`/`-eviction yes`), as Redis 7.0
//! propagates them, by the next holder of the ordering lock before its own record: the next
//! write command, the write-out of a batch's records, or the once-a-second write-out. A key a
//! write command (or a transaction, or a script) finds expired is its own: its `DEL` is
//! logged with the command's records, in one `MULTI` block, as Redis 7.0 logs it.

use std::cell::Cell;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::engine::{Removal, RemovalSink};
use crate::log::{log, Level};
use crate::persist::aof::{append_record, encode_command, Manifest};

mod keep;
#[cfg(test)]
mod tests;

pub use keep::{KeepScope, Logged};

/// `appendfsync no`.
pub const FSYNC_NO: u8 = 0;
/// `appendfsync everysec`.
pub const FSYNC_EVERYSEC: u8 = 1;
/// `appendfsync always`.
pub const FSYNC_ALWAYS: u8 = 2;

thread_local! {
    /// End offset of the last record this thread appended and has not yet made durable.
    static PENDING: Cell<u64> = const { Cell::new(0) };
    /// This thread runs a write command, a transaction or a script: keys it expires are its.
    static IN_WRITE: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as running a write command, a transaction or a script until the
/// value is dropped; the keys it expires meanwhile are its own (see [`Aof::log_removals`]).
pub struct WriteScope(bool);

impl WriteScope {
    /// Enters the scope.
    pub fn enter() -> WriteScope {
        WriteScope(IN_WRITE.with(|w| w.replace(true)))
    }
}

impl Drop for WriteScope {
    fn drop(&mut self) {
        IN_WRITE.with(|w| w.set(self.0));
    }
}

/// The `DEL` (or `UNLINK`) record of a removed key, with its database.
pub type RemovedRecord = (usize, Vec<Vec<u8>>);

/// A key the engine removed, not logged yet.
#[derive(Debug)]
struct Removed {
    db: usize,
    key: Vec<u8>,
    /// Logged as `UNLINK` (the `lazyfree-lazy-*` setting when it was removed).
    unlink: bool,
    /// Expired by the write command (transaction, script) running on the recording thread.
    own: bool,
}

impl Removed {
    fn record(self) -> RemovedRecord {
        let name: &[u8] = if self.unlink { b"UNLINK" } else { b"DEL" };
        (self.db, vec![name.to_vec(), self.key])
    }
}

/// The buffer of records not yet written to the file, under the ordering lock.
#[derive(Debug, Default)]
pub struct LogBuf {
    buf: Vec<u8>,
    /// The database the last record ran in (`None`: a `SELECT` comes first).
    db: Option<usize>,
    /// Bytes appended since start (an offset over every file).
    appended: u64,
    /// A rewrite runs: write commands are logged as the resulting state of their keys.
    state_mode: bool,
    /// A command the running rewrite cannot follow (`SWAPDB`) ran: it will fail.
    spoiled: bool,
}

impl LogBuf {
    /// Appends one command run in database `db`.
    #[inline]
    pub fn command<A: AsRef<[u8]>>(&mut self, db: usize, argv: &[A]) {
        if self.db != Some(db) {
            self.select(db);
        }
        encode_command(&mut self.buf, argv);
        self.mark();
    }

    /// Appends one command run in database `db` as the client sent it: a copy of `raw` (its
    /// request bytes, see `protocol::Args::raw`) when they are the encoding of `argv`, else
    /// `argv` encoded.
    #[inline]
    pub fn command_as_sent(&mut self, db: usize, argv: &[&[u8]], raw: Option<&[u8]>) {
        match raw {
            Some(raw) if is_encoding_of(raw, argv) => {
                if self.db != Some(db) {
                    self.select(db);
                }
                append_record(&mut self.buf, raw);
                self.mark();
            }
            _ => self.command(db, argv),
        }
    }

    #[cold]
    fn select(&mut self, db: usize) {
        let n = db.to_string();
        encode_command(&mut self.buf, &["SELECT", n.as_str()]);
        self.db = Some(db);
    }

    /// Appends a command that runs in no database (`FLUSHALL`, `SWAPDB`, `MULTI`, `EXEC`).
    pub fn global<A: AsRef<[u8]>>(&mut self, argv: &[A]) {
        encode_command(&mut self.buf, argv);
        self.mark();
    }

    #[inline]
    fn mark(&mut self) {
        let end = self.appended + self.buf.len() as u64;
        PENDING.with(|p| p.set(end));
    }

    /// True while a rewrite runs (records must be the keys' states).
    pub fn state_mode(&self) -> bool {
        self.state_mode
    }

    /// Makes the running rewrite fail (its base could not match the log).
    pub fn spoil(&mut self) {
        self.spoiled = true;
    }

    fn end(&self) -> u64 {
        self.appended + self.buf.len() as u64
    }
}

/// True when `raw` (a request's bytes, `protocol::Args::raw`: the exact RESP encoding of the
/// arguments it was parsed into) is the encoding of `argv`: `argv` are those arguments, the
/// first one where the encoding puts it and the last one ending where `raw` does.
#[inline]
fn is_encoding_of(raw: &[u8], argv: &[&[u8]]) -> bool {
    let (Some(first), Some(last)) = (argv.first(), argv.last()) else {
        return false;
    };
    let base = raw.as_ptr() as usize;
    let offset = |a: &[u8]| (a.as_ptr() as usize).wrapping_sub(base);
    offset(first) == 6 + digits(argv.len()) + digits(first.len())
        && offset(last).wrapping_add(last.len() + 2) == raw.len()
}

/// Decimal digits of `n`.
#[inline]
fn digits(n: usize) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        _ => n.ilog10() as usize + 1,
    }
}

/// The open incremental file and what the manifest says.
#[derive(Debug, Default)]
pub struct OutFile {
    /// The incremental file records are written to.
    pub file: Option<File>,
    /// The offset (see [`LogBuf`]) written to the file so far.
    pub written: u64,
    /// The manifest in force.
    pub manifest: Manifest,
    /// Size of the base file.
    pub base_size: u64,
    /// Size of every incremental file of the manifest.
    pub incr_size: u64,
    spare: Vec<u8>,
}

#[derive(Debug, Default)]
struct SyncState {
    synced: u64,
    syncing: bool,
}

/// The AOF state, in [`super::Shared`].
#[derive(Debug, Default)]
pub struct Aof {
    /// Logging is on (`appendonly yes` and the files are open).
    on: AtomicBool,
    fsync: AtomicU8,
    log: Mutex<LogBuf>,
    /// The file ([`Aof::out`]); lock order: `out` before `log`.
    out: Mutex<OutFile>,
    sync: Mutex<SyncState>,
    synced_cv: Condvar,
    /// A rewrite runs.
    pub rewriting: AtomicBool,
    /// A rewrite waits to start.
    pub scheduled: AtomicBool,
    /// Seconds the last rewrite took (-1: none).
    pub last_rewrite_secs: AtomicI64,
    /// Start of the running rewrite (Unix ms).
    pub rewrite_started_ms: AtomicU64,
    /// The last rewrite succeeded.
    pub last_rewrite_ok: AtomicBool,
    /// Rewrites done.
    pub rewrites: AtomicU64,
    /// Failed rewrites in a row.
    pub consecutive_failures: AtomicU64,
    /// The last write to the file succeeded.
    pub last_write_ok: AtomicBool,
    /// Delayed fsyncs (`aof_delayed_fsync`).
    pub delayed_fsync: AtomicU64,
    /// Base size when the last rewrite ended (for `auto-aof-rewrite-percentage`).
    pub rewrite_base_size: AtomicU64,
    /// The rewrite's thread.
    pub rewrite_thread: Mutex<Option<JoinHandle<()>>>,
    fsync_thread: Mutex<Option<JoinHandle<()>>>,
    stop_fsync: AtomicBool,
    /// Keys the engine removed, to log (a leaf lock: taken under shard locks).
    removed: Mutex<Vec<Removed>>,
    removed_pending: AtomicBool,
    /// `lazyfree-lazy-expire` and `lazyfree-lazy-eviction`: logged as `UNLINK`.
    unlink_expired: AtomicBool,
    unlink_evicted: AtomicBool,
}

impl RemovalSink for Aof {
    fn removed(&self, db: usize, key: &[u8], why: Removal) {
        if !self.is_on() {
            return;
        }
        let unlink = match why {
            Removal::Expired => self.unlink_expired.load(Ordering::Relaxed),
            Removal::Evicted => self.unlink_evicted.load(Ordering::Relaxed),
        };
        self.removed.lock().push(Removed {
            db,
            key: key.to_vec(),
            unlink,
            own: why == Removal::Expired && IN_WRITE.with(Cell::get),
        });
        self.removed_pending.store(true, Ordering::Release);
    }
}

impl Aof {
    /// A new, off AOF state.
    pub fn new() -> Aof {
        Aof {
            last_rewrite_secs: AtomicI64::new(-1),
            last_rewrite_ok: AtomicBool::new(true),
            last_write_ok: AtomicBool::new(true),
            fsync: AtomicU8::new(FSYNC_EVERYSEC),
            ..Aof::default()
        }
    }

    /// True while write commands are logged.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Sets `appendfsync`.
    pub fn set_fsync(&self, text: &str) {
        let v = match text {
            "always" => FSYNC_ALWAYS,
            "no" => FSYNC_NO,
            _ => FSYNC_EVERYSEC,
        };
        self.fsync.store(v, Ordering::Relaxed);
    }

    /// `appendfsync` as set.
    pub fn fsync_mode(&self) -> u8 {
        self.fsync.load(Ordering::Relaxed)
    }

    /// The ordering lock, when logging is on: hold it across a write command's handler and
    /// append its record before dropping it.
    #[inline]
    pub fn order(&self) -> Option<MutexGuard<'_, LogBuf>> {
        if !self.is_on() {
            return None;
        }
        let g = self.lock_log();
        // Switched off while waiting: nothing more is logged.
        self.is_on().then_some(g)
    }

    /// The ordering lock, after letting go of the one this thread keeps.
    #[inline]
    fn lock_log(&self) -> MutexGuard<'_, LogBuf> {
        self.release_kept();
        self.log.lock()
    }

    /// The file's state, after letting go of the ordering lock this thread keeps (lock order:
    /// `out` before the ordering lock).
    #[inline]
    pub fn out(&self) -> MutexGuard<'_, OutFile> {
        self.release_kept();
        self.out.lock()
    }

    /// `lazyfree-lazy-expire` and `lazyfree-lazy-eviction`: expired and evicted keys are
    /// logged as `UNLINK` instead of `DEL`.
    pub fn set_lazyfree(&self, expire: bool, eviction: bool) {
        self.unlink_expired.store(expire, Ordering::Relaxed);
        self.unlink_evicted.store(eviction, Ordering::Relaxed);
    }

    /// True when the engine removed keys not logged yet.
    #[inline]
    pub fn removals_pending(&self) -> bool {
        self.removed_pending.load(Ordering::Acquire)
    }

    /// Logs the keys the engine removed since the last call, in order, as `DEL` (or
    /// `UNLINK`) records.
    /// With `keep_own`, those the running write command expired itself are returned
    /// instead, for the caller to log with the command's records.
    #[inline]
    pub fn log_removals(&self, log: &mut LogBuf, keep_own: bool) -> Vec<RemovedRecord> {
        if !self.removed_pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.log_removed(log, keep_own)
    }

    #[cold]
    fn log_removed(&self, log: &mut LogBuf, keep_own: bool) -> Vec<RemovedRecord> {
        let list = {
            let mut r = self.removed.lock();
            self.removed_pending.store(false, Ordering::Release);
            std::mem::take(&mut *r)
        };
        let mut own = Vec::new();
        for r in list {
            if keep_own && r.own {
                own.push(r.record());
            } else {
                let (db, argv) = r.record();
                log.command(db, &argv);
            }
        }
        own
    }

    /// Takes the records of the keys the running transaction or script expired itself (the
    /// others stay pending), to log them in its block.
    pub fn take_own_removals(&self) -> Vec<RemovedRecord> {
        if !self.removed_pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut r = self.removed.lock();
        let mut own = Vec::new();
        let mut i = 0;
        while i < r.len() {
            if r[i].own {
                own.push(r.remove(i).record());
            } else {
                i += 1;
            }
        }
        if r.is_empty() {
            self.removed_pending.store(false, Ordering::Release);
        }
        own
    }

    /// The ordering lock, whatever the state (rewrite switch points).
    pub fn log_lock(&self) -> MutexGuard<'_, LogBuf> {
        self.lock_log()
    }

    /// Called before a connection's replies are written: writes the buffer to the file and,
    /// with `appendfsync always`, makes this thread's records durable (group commit).
    #[inline]
    pub fn before_reply(&self) {
        if self.removed_pending.load(Ordering::Relaxed) && self.is_on() {
            // Keys this batch expired or evicted (a read may have): logged with the batch.
            self.log_removals(&mut self.lock_log(), false);
        }
        let p = PENDING.with(|p| p.replace(0));
        if p == 0 {
            return;
        }
        if self.fsync_mode() == FSYNC_ALWAYS {
            self.sync_upto(p);
        } else {
            let mut out = self.out();
            if out.written < p {
                self.write_out_locked(&mut out);
            }
        }
    }

    /// Writes the buffered records to the file; returns the offset now written. The lock on
    /// `out` is held for the write, so records reach the file in order.
    pub fn write_out(&self) -> u64 {
        let mut out = self.out();
        self.write_out_locked(&mut out)
    }

    /// [`Aof::write_out`] with `out` already held.
    pub fn write_out_locked(&self, out: &mut OutFile) -> u64 {
        let spare = std::mem::take(&mut out.spare);
        let (data, end) = self.take_records(&mut self.lock_log(), spare);
        self.write_records(out, data, end, None)
    }

    /// Switches the incremental file at a rewrite's start, `out` held. Under one hold of the
    /// ordering lock, the records buffered so far are taken, `file` becomes the file and state
    /// mode begins (see [`LogBuf`]); those records then go to the previous file, which is
    /// returned. Taken in the same hold, no record can fall between the two files: one
    /// appended before the switch is in the previous file (the base, copied after the switch,
    /// holds its effect), one appended after it is in the new file as a key state.
    pub fn switch_incr(&self, out: &mut OutFile, file: File, manifest: Manifest) -> Option<File> {
        let spare = std::mem::take(&mut out.spare);
        let (mut data, end, mut previous) = {
            let mut log = self.lock_log();
            let (data, end) = self.take_records(&mut log, spare);
            let previous = out.file.replace(file);
            out.manifest = manifest;
            let _ = Aof::set_state_mode(&mut log, true);
            (data, end, previous)
        };
        if previous.is_none() {
            // No file before: logging is being switched on, nothing was logged.
            data.clear();
        }
        self.write_records(out, data, end, previous.as_mut());
        previous
    }

    /// Takes the buffered records (keys the engine removed logged first), leaving `spare` as
    /// the buffer; returns them and the offset they end at.
    fn take_records(&self, log: &mut LogBuf, mut data: Vec<u8>) -> (Vec<u8>, u64) {
        if self.is_on() {
            self.log_removals(log, false);
        }
        std::mem::swap(&mut data, &mut log.buf);
        log.appended += data.len() as u64;
        (data, log.appended)
    }

    /// Writes taken records to `to` (else to `out`'s file) and keeps the buffer for reuse;
    /// returns `end`, the offset now written.
    fn write_records(
        &self,
        out: &mut OutFile,
        mut data: Vec<u8>,
        end: u64,
        to: Option<&mut File>,
    ) -> u64 {
        if !data.is_empty() {
            if let Some(f) = to.or(out.file.as_mut()) {
                match f.write_all(&data) {
                    Ok(()) => {
                        out.incr_size += data.len() as u64;
                        self.last_write_ok.store(true, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if self.last_write_ok.swap(false, Ordering::Relaxed) {
                            log(
                                Level::Warning,
                                &format!("Error writing to the AOF file: {e}"),
                            );
                        }
                    }
                }
            }
        }
        data.clear();
        if data.capacity() > 16 << 20 {
            data.shrink_to(1 << 20);
        }
        out.spare = data;
        out.written = end;
        end
    }

    /// Makes every record up to `target` durable: one fsync covers every record buffered
    /// before it, by any thread.
    pub fn sync_upto(&self, target: u64) {
        let mut s = self.sync.lock();
        loop {
            if s.synced >= target {
                return;
            }
            if !s.syncing {
                break;
            }
            self.synced_cv.wait(&mut s);
        }
        s.syncing = true;
        drop(s);
        let (end, file) = {
            let mut out = self.out();
            let end = self.write_out_locked(&mut out);
            (end, out.file.as_ref().and_then(|f| f.try_clone().ok()))
        };
        if let Some(f) = file {
            if let Err(e) = f.sync_data() {
                self.last_write_ok.store(false, Ordering::Relaxed);
                log(Level::Warning, &format!("Can't fsync the AOF file: {e}"));
            }
        }
        if !self.last_write_ok.load(Ordering::Relaxed) && self.fsync_mode() == FSYNC_ALWAYS {
            // As Redis: a write that cannot be made durable must not be acknowledged.
            log(
                Level::Warning,
                "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...",
            );
            std::process::exit(1);
        }
        let mut s = self.sync.lock();
        s.syncing = false;
        s.synced = s.synced.max(end);
        self.synced_cv.notify_all();
    }

    /// Writes out and fsyncs everything appended so far.
    pub fn sync_all(&self) {
        let end = {
            let mut log = self.lock_log();
            if self.is_on() {
                self.log_removals(&mut log, false);
            }
            log.end()
        };
        self.sync_upto(end);
    }

    /// Starts logging into `out` (already open).
    pub fn switch_on(self: &Arc<Self>) {
        {
            let mut log = self.lock_log();
            log.db = None;
            self.on.store(true, Ordering::Release);
        }
        let mut t = self.fsync_thread.lock();
        if t.is_none() {
            self.stop_fsync.store(false, Ordering::Relaxed);
            let me = Arc::downgrade(self);
            *t = std::thread::Builder::new()
                .name("cachesrv-aof-fsync".into())
                .spawn(move || everysec(me))
                .ok();
        }
    }

    /// Stops logging, fsyncs and closes the file (`appendonly no`, shutdown).
    pub fn switch_off(&self) {
        self.sync_all();
        let mut out = self.out();
        {
            let mut log = self.lock_log();
            self.log_removals(&mut log, false);
            self.on.store(false, Ordering::Release);
            log.state_mode = false;
            log.db = None;
        }
        self.write_out_locked(&mut out);
        if let Some(f) = out.file.take() {
            let _ = f.sync_all();
        }
        drop(out);
        self.stop_fsync.store(true, Ordering::Relaxed);
        if let Some(h) = self.fsync_thread.lock().take() {
            let _ = h.join();
        }
    }

    /// Enters or leaves state mode (see [`LogBuf`]); returns whether the rewrite was spoiled.
    pub fn set_state_mode(log: &mut LogBuf, on: bool) -> bool {
        log.state_mode = on;
        log.db = None;
        std::mem::take(&mut log.spoiled)
    }
}

/// The `everysec` thread: once a second, writes out the buffer and (unless `appendfsync no`)
/// fsyncs, while the AOF exists.
fn everysec(aof: std::sync::Weak<Aof>) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let Some(a) = aof.upgrade() else { return };
        if a.stop_fsync.load(Ordering::Relaxed) {
            return;
        }
        if a.is_on() {
            // Records whose replies were never written (the client left) reach the file too.
            if a.fsync_mode() == FSYNC_NO {
                a.write_out();
            } else {
                a.sync_all();
            }
        }
    }
}
