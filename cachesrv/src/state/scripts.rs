//! What scripting shares between threads, without any Lua: the EVAL script cache (SHA-1 ->
//! body), the FUNCTION libraries (name -> code and the functions it registers), and the state
//! of the script running now (for `-BUSY`, `SCRIPT KILL` and `FUNCTION KILL`).
//!
//! Each thread that runs scripts keeps its own Lua state and compiles from here lazily: the
//! cache's `epoch` and the libraries' `generation` tell it when what it compiled is stale.
//! Only one script runs at a time (it holds the engine's gate exclusively), so [`Running`]
//! describes at most one.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

/// A function's `no-writes` flag.
pub const FN_NO_WRITES: u32 = 1;
/// A function's `allow-oom` flag.
pub const FN_ALLOW_OOM: u32 = 1 << 1;
/// A function's `allow-stale` flag.
pub const FN_ALLOW_STALE: u32 = 1 << 2;
/// A function's `no-cluster` flag.
pub const FN_NO_CLUSTER: u32 = 1 << 3;
/// A function's `allow-cross-slot-keys` flag.
pub const FN_ALLOW_CROSS_SLOT: u32 = 1 << 4;

/// The flags `redis.register_function` accepts, by name, in the order `FUNCTION LIST` shows them.
pub const FN_FLAGS: &[(&str, u32)] = &[
    ("no-writes", FN_NO_WRITES),
    ("allow-oom", FN_ALLOW_OOM),
    ("allow-stale", FN_ALLOW_STALE),
    ("no-cluster", FN_NO_CLUSTER),
    ("allow-cross-slot-keys", FN_ALLOW_CROSS_SLOT),
];

/// One function of a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDef {
    /// Its name (unique across libraries).
    pub name: String,
    /// Its description, if registered with one.
    pub description: Option<Bytes>,
    /// [`FN_FLAGS`] bits.
    pub flags: u32,
}

/// A library loaded with `FUNCTION LOAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// Its name (from the `#!lua name=` header).
    pub name: String,
    /// The code as given.
    pub code: Bytes,
    /// Its functions, by name.
    pub functions: BTreeMap<String, FunctionDef>,
}

/// What kind of script is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// EVAL / EVALSHA (and their `_RO` forms).
    Eval,
    /// FCALL / FCALL_RO.
    Function,
}

/// The script running now, if any.
#[derive(Debug, Default)]
pub struct Running {
    /// 0: none; 1: EVAL; 2: FCALL.
    kind: AtomicU8,
    /// When it started.
    started: Mutex<Option<Instant>>,
    /// SCRIPT KILL / FUNCTION KILL asked it to stop.
    kill: AtomicBool,
    /// It has written to the keyspace (it can no longer be killed).
    wrote: AtomicBool,
    /// The running function's name (FUNCTION STATS).
    name: Mutex<String>,
}

impl Running {
    /// Marks a script as started.
    pub fn start(&self, kind: ScriptKind, name: &str) {
        *self.started.lock() = Some(Instant::now());
        self.kill.store(false, Ordering::Release);
        self.wrote.store(false, Ordering::Release);
        if kind == ScriptKind::Function {
            let mut n = self.name.lock();
            n.clear();
            n.push_str(name);
        }
        let k = match kind {
            ScriptKind::Eval => 1,
            ScriptKind::Function => 2,
        };
        self.kind.store(k, Ordering::Release);
    }

    /// Marks the script as finished.
    pub fn finish(&self) {
        self.kind.store(0, Ordering::Release);
        *self.started.lock() = None;
        self.kill.store(false, Ordering::Release);
    }

    /// The running script's kind, if one runs.
    pub fn kind(&self) -> Option<ScriptKind> {
        match self.kind.load(Ordering::Acquire) {
            1 => Some(ScriptKind::Eval),
            2 => Some(ScriptKind::Function),
            _ => None,
        }
    }

    /// Milliseconds the running script has run (0 when none runs).
    pub fn elapsed_ms(&self) -> u64 {
        self.started
            .lock()
            .map_or(0, |s| s.elapsed().as_millis() as u64)
    }

    /// The running function's name (FCALL) and how long it has run, for FUNCTION STATS.
    pub fn function(&self) -> Option<(String, u64)> {
        (self.kind() == Some(ScriptKind::Function))
            .then(|| (self.name.lock().clone(), self.elapsed_ms()))
    }

    /// Asks the running script to stop.
    pub fn request_kill(&self) {
        self.kill.store(true, Ordering::Release);
    }

    /// A kill was requested.
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }

    /// Records a write by the running script.
    pub fn set_wrote(&self) {
        self.wrote.store(true, Ordering::Release);
    }

    /// The running script has written.
    pub fn wrote(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }
}

/// The shared scripting state of a server.
#[derive(Debug)]
pub struct Scripts {
    /// A server-unique id: threads' Lua states compiled for another server start over.
    pub id: u64,
    cache: RwLock<HashMap<String, Bytes>>,
    cache_bytes: AtomicU64,
    epoch: AtomicU64,
    libraries: RwLock<BTreeMap<String, Library>>,
    generation: AtomicU64,
    /// The script running now.
    pub running: Running,
    /// `busy-reply-threshold` in milliseconds.
    pub busy_threshold_ms: AtomicU64,
    /// `math.random`'s generator (Redis's `rand48`, in its initial state at start).
    pub rand48: AtomicU64,
    /// Bytes the Lua state that ran the last script uses (INFO `used_memory_lua`).
    pub vm_memory: AtomicU64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            cache: RwLock::new(HashMap::new()),
            cache_bytes: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            libraries: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            running: Running::default(),
            busy_threshold_ms: AtomicU64::new(5000),
            rand48: AtomicU64::new(0x1234_ABCD_330E),
            vm_memory: AtomicU64::new(0),
        }
    }
}

impl Scripts {
    /// The body cached under `sha` (40 lower-case hex digits).
    pub fn get(&self, sha: &str) -> Option<Bytes> {
        self.cache.read().get(sha).cloned()
    }

    /// Caches `body` under `sha`.
    pub fn insert(&self, sha: String, body: Bytes) {
        let mut c = self.cache.write();
        let len = body.len() as u64;
        if c.insert(sha, body).is_none() {
            self.cache_bytes.fetch_add(len, Ordering::Relaxed);
        }
    }

    /// Whether `sha` is cached.
    pub fn contains(&self, sha: &str) -> bool {
        self.cache.read().contains_key(sha)
    }

    /// Empties the cache (`SCRIPT FLUSH`).
    pub fn flush(&self) {
        let mut c = self.cache.write();
        c.clear();
        self.cache_bytes.store(0, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Bumped by every flush.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Number of cached scripts.
    pub fn cached(&self) -> usize {
        self.cache.read().len()
    }

    /// Bytes of cached script bodies (INFO `used_memory_scripts_eval`).
    pub fn cache_bytes(&self) -> u64 {
        self.cache_bytes.load(Ordering::Relaxed)
    }

    /// Bumped whenever the libraries change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A snapshot of the libraries.
    pub fn libraries(&self) -> BTreeMap<String, Library> {
        self.libraries.read().clone()
    }

    /// Replaces the whole set of libraries (FUNCTION LOAD/DELETE/FLUSH/RESTORE build the new
    /// set and check it first).
    pub fn set_libraries(&self, libs: BTreeMap<String, Library>) {
        *self.libraries.write() = libs;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The library that has function `name`, and the function.
    pub fn function(&self, name: &str) -> Option<(String, FunctionDef)> {
        let libs = self.libraries.read();
        libs.values()
            .find_map(|l| l.functions.get(name).map(|f| (l.name.clone(), f.clone())))
    }

    /// (libraries, functions, bytes of library code).
    pub fn function_counts(&self) -> (usize, usize, u64) {
        let libs = self.libraries.read();
        let functions = libs.values().map(|l| l.functions.len()).sum();
        let bytes = libs.values().map(|l| l.code.len() as u64).sum();
        (libs.len(), functions, bytes)
    }
}
