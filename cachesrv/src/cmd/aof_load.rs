//! Loading the append-only file at start, as Redis 7.0 does: the manifest in
//! `dir/appenddirname`, then the base (an RDB file, or commands) and the incremental files in
//! order, their commands replayed through an in-process [`Runner`].
//!
//! A record torn at the end of the last file (a crash in the middle of a write) is cut off
//! when `aof-load-truncated yes` (the file is truncated to its last whole record, or to
//! before an unfinished `MULTI`, and the log says how many bytes were dropped); with `no` the
//! start is refused. A record that is not valid RESP before the end refuses the start with
//! the file and offset, as does an unknown command. Nothing here panics on input.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Runner;
use crate::log::{log, Level};
use crate::persist::aof::{self as files, read_record, Manifest, Record};
use crate::persist::snapshot;
use crate::state::Shared;

/// What loading the AOF did.
#[derive(Debug, Clone, Default)]
pub struct AofLoadStats {
    /// Commands replayed.
    pub commands: u64,
    /// Keys loaded from an RDB base.
    pub base_keys: u64,
    /// Bytes cut off a torn last record.
    pub truncated_bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// Why the AOF could not be loaded (the start is refused).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AofLoadError(pub String);

fn fix_hint(manifest: &str) -> String {
    format!("make a backup of your AOF file, then use ./redis-check-aof --fix <{manifest}>")
}

/// Loads the AOF of `shared`'s configuration; `Ok(None)` if there is no manifest.
pub fn load(shared: &Arc<Shared>) -> Result<Option<AofLoadStats>, AofLoadError> {
    let (dir, name) = shared.aof_paths();
    let mname = files::manifest_name(&name);
    let m = match Manifest::load(&dir.join(&mname)) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(AofLoadError(format!(
                "Can't load the AOF manifest {mname}: {e}"
            )))
        }
    };
    if m.base.is_none() && m.incrs.is_empty() {
        return Ok(None);
    }
    shared.persist.loading.store(true, Ordering::Relaxed);
    let r = load_files(shared, &dir, &mname, &m);
    shared.persist.loading.store(false, Ordering::Relaxed);
    let stats = r?;
    log(
        Level::Notice,
        &format!(
            "DB loaded from append only file: {:.3} seconds ({} commands, {} keys from the base)",
            stats.elapsed.as_secs_f64(),
            stats.commands,
            stats.base_keys
        ),
    );
    Ok(Some(stats))
}

fn load_files(
    shared: &Arc<Shared>,
    dir: &Path,
    mname: &str,
    m: &Manifest,
) -> Result<AofLoadStats, AofLoadError> {
    let start = Instant::now();
    let mut stats = AofLoadStats::default();
    let mut runner = Runner::internal(shared.clone());
    let truncated_ok = shared.config.read().get("aof-load-truncated").as_deref() == Some("yes");
    let verify = shared.config.read().rdbchecksum();
    let mut list: Vec<&files::AofFile> = Vec::new();
    list.extend(m.base.iter());
    list.extend(m.incrs.iter());
    let total = list.len();
    for (i, f) in list.into_iter().enumerate() {
        let path = dir.join(&f.name);
        let last = i + 1 == total;
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && f.kind != files::FileType::Base =>
            {
                // Redis 7.0 tolerates a missing last incremental file (created lazily).
                if last {
                    continue;
                }
                return Err(AofLoadError(format!(
                    "The AOF file {} doesn't exist",
                    f.name
                )));
            }
            Err(e) => {
                return Err(AofLoadError(format!(
                    "Fatal error: can't open the append log file {} for reading: {e}",
                    f.name
                )))
            }
        };
        if data.starts_with(b"REDIS") {
            let mut s = snapshot::LoadStats::default();
            let now = shared.engine.now_ms();
            snapshot::load_from(
                &shared.engine,
                &data[..],
                data.len() as u64,
                verify,
                now,
                &mut s,
            )
            .map_err(|e| {
                AofLoadError(format!(
                    "Bad file format reading the append only file {}: {e}",
                    f.name
                ))
            })?;
            stats.base_keys += s.loaded;
            continue;
        }
        let valid = replay(&mut runner, &data, &f.name, mname, &mut stats)?;
        if valid < data.len() {
            let dropped = data.len() - valid;
            if !last || !truncated_ok {
                return Err(AofLoadError(if last {
                    format!(
                        "Unexpected end of file reading the append only file {}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <{mname}>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                        f.name
                    )
                } else {
                    format!(
                        "Unexpected end of file reading the append only file {} (not the last file of the manifest): {}",
                        f.name,
                        fix_hint(mname)
                    )
                }));
            }
            log(
                Level::Warning,
                &format!(
                    "!!! Warning: short read while loading the AOF file {}!!! The last {dropped} bytes (a torn record) were dropped: the file is truncated to {valid} bytes.",
                    f.name
                ),
            );
            let cut = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|fh| fh.set_len(valid as u64).and_then(|()| fh.sync_all()));
            if let Err(e) = cut {
                return Err(AofLoadError(format!(
                    "Error truncating the AOF file {}: {e}",
                    f.name
                )));
            }
            log(
                Level::Warning,
                &format!(
                    "AOF {} loaded anyway because aof-load-truncated is enabled",
                    f.name
                ),
            );
            stats.truncated_bytes += dropped as u64;
        }
    }
    // The loader's transaction state and database are its own.
    drop(runner);
    stats.elapsed = start.elapsed();
    Ok(stats)
}

/// Replays the commands of one file; returns the offset of the end of its last whole record
/// (outside an unfinished `MULTI`).
fn replay(
    runner: &mut Runner,
    data: &[u8],
    fname: &str,
    mname: &str,
    stats: &mut AofLoadStats,
) -> Result<usize, AofLoadError> {
    let mut at = 0;
    let mut valid = 0;
    let mut in_multi: Option<usize> = None;
    while at < data.len() {
        match read_record(data, at) {
            Record::Annotation(next) => {
                at = next;
                if in_multi.is_none() {
                    valid = at;
                }
            }
            Record::Command(argv, next) => {
                let name = argv[0].to_ascii_lowercase();
                if super::lookup(&argv[0]).is_none() {
                    return Err(AofLoadError(format!(
                        "Unknown command '{}' reading the append only file {fname}",
                        String::from_utf8_lossy(&argv[0][..argv[0].len().min(64)])
                    )));
                }
                match name.as_slice() {
                    b"multi" => in_multi = Some(at),
                    b"exec" => in_multi = None,
                    _ => {}
                }
                runner.run(&argv);
                stats.commands += 1;
                at = next;
                if in_multi.is_none() {
                    valid = at;
                }
            }
            Record::Truncated => {
                if in_multi.is_some() {
                    runner.run(&[b"DISCARD"]);
                }
                return Ok(valid);
            }
            Record::Corrupt => {
                return Err(AofLoadError(format!(
                    "Bad file format reading the append only file {fname} at offset {at}: {}",
                    fix_hint(mname)
                )))
            }
        }
    }
    if in_multi.is_some() {
        // Ends inside a transaction: as a torn write, Redis reverts it.
        runner.run(&[b"DISCARD"]);
    }
    Ok(valid)
}
