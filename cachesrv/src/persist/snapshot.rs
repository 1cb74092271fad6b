//! Snapshots of the keyspace as RDB files, and loading them back.
//!
//! [`save`] writes to `temp-<pid>-<n>.rdb` in the target's directory, then fsyncs, renames it
//! over the target and fsyncs the directory, as Redis does: a crash leaves either the old file
//! or the new one, never a partial file under the real name.
//!
//! Consistency: there is no fork. The engine is walked one database shard at a time; each
//! shard is copied out in slices of [`SLICE_KEYS`] keys, each slice under the shard's lock
//! ([`crate::engine::DbShards::copy_shard`]: a memory copy), then encoded and written with no
//! lock held. So every key is saved once and whole, as it was at one instant; keys are captured
//! at different instants during the save (a `MULTI`/`EXEC` that runs during the save may be in
//! the file for some of its keys and not others; a key created during the save may be left
//! out). Writers are only ever blocked for the copy of one slice, and only writers of that
//! shard.
//!
//! [`load`] reads a file a window at a time and inserts its keys; keys already expired are
//! skipped (as a Redis master does), `IDLE`/`FREQ` data is applied per policy.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::rdb::crc64::crc64;
use super::rdb::encode::Encoder;
use super::rdb::file::{self, AccessMeta, AuxFields, LoadInfo, LoadSink, LoadedKey};
use super::rdb::RdbError;
use crate::engine::{AccessInfo, Engine, Loaded, ShardCopy};

/// Keys copied per hold of a shard's lock.
pub const SLICE_KEYS: usize = 256;

/// How to write a snapshot.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// The file to (re)place: `dir/dbfilename`.
    pub path: PathBuf,
    /// `rdbcompression`.
    pub compress: bool,
    /// `rdbchecksum`.
    pub checksum: bool,
    /// The `redis-ver` aux field.
    pub redis_ver: String,
    /// The `aof-base` aux field: an AOF base file.
    pub aof_base: bool,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveStats {
    /// Keys written.
    pub keys: u64,
    /// File size.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Longest time a shard's lock was held (one slice's copy).
    pub max_shard_hold: Duration,
}

/// Counters a running save publishes (for `INFO`).
#[derive(Debug, Default)]
pub struct Progress {
    /// Keys written so far.
    pub keys: AtomicU64,
    /// Keys in the keyspace when the save started.
    pub total: AtomicU64,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn temp_path(target: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    dir.join(format!("temp-{}-{n}.rdb", std::process::id()))
}

/// A writer that keeps the running CRC64 and byte count.
struct Sink {
    w: BufWriter<File>,
    crc: u64,
    bytes: u64,
}

impl Sink {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = crc64(self.crc, b);
        self.bytes += b.len() as u64;
        self.w.write_all(b)
    }
}

/// Writes a snapshot of `engine` to `opts.path` (see the module header).
pub fn save(engine: &Engine, opts: &SaveOptions, progress: &Progress) -> io::Result<SaveStats> {
    save_then(engine, opts, progress, || {})
}

/// [`save`], calling `scanned` once every key has been copied out of the engine (before the
/// file is completed and synced): the keyspace's later changes are not in the file.
pub fn save_then(
    engine: &Engine,
    opts: &SaveOptions,
    progress: &Progress,
    scanned: impl FnOnce(),
) -> io::Result<SaveStats> {
    let start = Instant::now();
    let tmp = temp_path(&opts.path);
    let result = write_file(engine, opts, progress, &tmp, scanned);
    match result {
        Ok(mut stats) => {
            fs::rename(&tmp, &opts.path).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
            if let Some(dir) = opts.path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            stats.elapsed = start.elapsed();
            Ok(stats)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_file(
    engine: &Engine,
    opts: &SaveOptions,
    progress: &Progress,
    tmp: &Path,
    scanned: impl FnOnce(),
) -> io::Result<SaveStats> {
    let f = File::create(tmp)?;
    let mut sink = Sink {
        w: BufWriter::with_capacity(1 << 20, f),
        crc: 0,
        bytes: 0,
    };
    let mut enc = Encoder::new(opts.compress);
    let mut buf = Vec::with_capacity(1 << 20);
    file::write_header(
        &mut buf,
        &mut enc,
        &AuxFields {
            redis_ver: opts.redis_ver.clone(),
            ctime: unix_secs(),
            used_mem: engine.used_memory(),
            aof_base: opts.aof_base,
        },
    );
    sink.put(&buf)?;
    buf.clear();
    let total: u64 = (0..engine.databases())
        .filter_map(|d| engine.keyspace_info(d).ok())
        .map(|k| k.keys as u64)
        .sum();
    progress.total.store(total, Ordering::Relaxed);
    progress.keys.store(0, Ordering::Relaxed);
    let mut keys = 0u64;
    let mut max_hold = Duration::ZERO;
    let mut copy = ShardCopy::default();
    for d in 0..engine.databases() {
        let (Ok(db), Ok(info)) = (engine.db_shards(d), engine.keyspace_info(d)) else {
            continue;
        };
        if info.keys == 0 {
            continue;
        }
        file::write_db_header(&mut buf, d, info.keys, info.expires);
        for shard in 0..engine.shards_per_db() {
            let n = db.copy_shard(shard, &mut copy, SLICE_KEYS);
            max_hold = max_hold.max(copy.max_hold());
            copy.for_each(|e| {
                let meta = match e.access {
                    AccessInfo::None => AccessMeta::None,
                    AccessInfo::IdleSecs(s) => AccessMeta::Idle(s),
                    AccessInfo::Freq(f) => AccessMeta::Freq(f),
                };
                file::write_key(&mut buf, &mut enc, e.key, e.value, e.expire_ms, meta);
            });
            keys += n as u64;
            progress.keys.store(keys, Ordering::Relaxed);
            sink.put(&buf)?;
            buf.clear();
            if buf.capacity() > 64 << 20 {
                buf.shrink_to(1 << 20);
            }
        }
    }
    scanned();
    file::write_footer(&mut buf);
    sink.put(&buf)?;
    let trailer = file::checksum_trailer(sink.crc, opts.checksum);
    sink.put(&trailer)?;
    let f = sink.w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    Ok(SaveStats {
        keys,
        bytes: sink.bytes,
        elapsed: Duration::ZERO,
        max_shard_hold: max_hold,
    })
}

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The content is not a valid RDB file (or holds what cachesrv cannot store).
    #[error("bad RDB file {path}: {source}")]
    Rdb {
        /// The file.
        path: String,
        /// Why.
        source: RdbError,
    },
}

/// What a load did.
#[derive(Debug, Clone, Default)]
pub struct LoadStats {
    /// Keys inserted.
    pub loaded: u64,
    /// Keys skipped because their expiry had passed.
    pub expired: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The file's header and aux fields.
    pub info: LoadInfo,
}

/// Loads `path` into `engine` (which should be empty). `Ok(None)` if the file does not exist.
/// `verify`: check the CRC64 trailer (`rdbchecksum`). The file is read a window at a time.
pub fn load(engine: &Engine, path: &Path, verify: bool) -> Result<Option<LoadStats>, LoadError> {
    let start = Instant::now();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let size = f.metadata().map_or(0, |m| m.len());
    let mut stats = LoadStats::default();
    let now = engine.now_ms();
    let info =
        load_from(engine, f, size, verify, now, &mut stats).map_err(|source| LoadError::Rdb {
            path: path.display().to_string(),
            source,
        })?;
    stats.info = info;
    stats.elapsed = start.elapsed();
    Ok(Some(stats))
}

/// The smallest a key takes in an RDB file (type, key length, value length), which bounds
/// how many keys a file of a given size can declare.
const MIN_KEY_BYTES: u64 = 3;

/// Inserts what a file holds into the engine.
struct EngineSink<'a> {
    engine: &'a Engine,
    now_ms: u64,
    stats: &'a mut LoadStats,
    /// Keys the file may still declare in `RESIZEDB` and have reserved.
    reserve_budget: u64,
}

impl LoadSink for EngineSink<'_> {
    fn resize(&mut self, db: usize, keys: u64, _expires: u64) {
        let keys = keys.min(self.reserve_budget);
        if let (Ok(h), Ok(n)) = (self.engine.db_shards(db), usize::try_from(keys)) {
            self.reserve_budget -= keys;
            h.reserve(n);
        }
    }

    fn key(&mut self, k: LoadedKey<'_>) -> Result<(), RdbError> {
        let databases = self.engine.databases();
        if k.db >= databases {
            return Err(RdbError::Unsupported(format!(
                "the file uses database {} but this server has {databases} databases",
                k.db
            )));
        }
        if k.expire_ms.is_some_and(|e| e < self.now_ms) {
            self.stats.expired += 1;
            return Ok(());
        }
        let db = self
            .engine
            .db_shards(k.db)
            .map_err(|_| RdbError::Unsupported(format!("database {} out of range", k.db)))?;
        let key = k.key;
        match db.insert_loaded(&key, k.value, k.expire_ms, k.idle_secs, k.freq, self.now_ms) {
            Ok(Loaded::Added) => {
                self.stats.loaded += 1;
                Ok(())
            }
            Ok(Loaded::Empty) => Ok(()),
            Ok(Loaded::Duplicate) => Err(RdbError::Corrupt {
                at: 0,
                what: format!(
                    "duplicate key '{}' in db {}",
                    String::from_utf8_lossy(&key[..key.len().min(128)]),
                    k.db
                ),
            }),
            Err(e) => Err(RdbError::Unsupported(format!("cannot store a key: {e}"))),
        }
    }
}

/// Loads RDB data from `src` (of `size` bytes, which bounds what the file's `RESIZEDB`
/// records may make the tables reserve) into `engine` (see [`load`]); keys expired at
/// `now_ms` are counted in `stats.expired` and skipped.
pub fn load_from(
    engine: &Engine,
    src: impl Read,
    size: u64,
    verify: bool,
    now_ms: u64,
    stats: &mut LoadStats,
) -> Result<LoadInfo, RdbError> {
    let sink = EngineSink {
        engine,
        now_ms,
        stats,
        reserve_budget: size / MIN_KEY_BYTES,
    };
    file::load_from(src, verify, sink)
}
