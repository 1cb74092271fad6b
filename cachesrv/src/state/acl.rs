//! ACL users as Redis 7.0 keeps them: a name, on/off, `nopass`, SHA-256 password hashes, and
//! selectors (the root one, then those added with `(...)`), each a bitset of allowed command
//! ids with Redis's "all commands" and "future commands" marks, first-arg exceptions, key
//! patterns with read/write permissions, and channel patterns; plus the ACL log.
//!
//! Users are immutable once published: `ACL SETUSER` builds a new [`User`] and swaps it in, and
//! bumps a generation counter. A session keeps an `Arc` of its user and the generation it read
//! it at ([`AclSession`]); the per-command check compares one counter and one flag, and reloads
//! the user only after a change. Rule parsing and descriptions need the command table, so they
//! live in the command layer (`cmd::acl`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::engine::glob_match;

/// Read permission of a key pattern (`%R~`).
pub const KEY_READ: u8 = 1;
/// Write permission of a key pattern (`%W~`).
pub const KEY_WRITE: u8 = 2;
/// `~pattern`: read and write.
pub const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

/// One selector: what commands, keys and channels it allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Allowed command ids.
    pub bits: Vec<u64>,
    /// `allcommands`: every command, without looking at the bits.
    pub allcommands: bool,
    /// Set by `+@all` and cleared by `-@all` only: commands added later are allowed (and
    /// descriptions start from `+@all`).
    pub future: bool,
    /// `+cmd|firstarg` exceptions of otherwise denied commands: (command id, first args).
    pub firstargs: Vec<(usize, Vec<Vec<u8>>)>,
    /// `allkeys`.
    pub allkeys: bool,
    /// Key patterns and their [`KEY_READ`]/[`KEY_WRITE`] permissions, in order.
    pub keys: Vec<(Vec<u8>, u8)>,
    /// `allchannels`.
    pub allchannels: bool,
    /// Channel patterns, in order.
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector (`acl-pubsub-default allchannels` gives it every channel).
    pub fn new(allchannels: bool) -> Selector {
        Selector {
            allchannels,
            ..Selector::default()
        }
    }

    /// Whether the bit of command `id` is set.
    #[inline]
    pub fn bit(&self, id: usize) -> bool {
        self.bits
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Sets or clears the bit of command `id`; clearing drops `allcommands`.
    pub fn set_bit(&mut self, id: usize, on: bool) {
        if self.bits.len() <= id / 64 {
            self.bits.resize(id / 64 + 1, 0);
        }
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
            self.allcommands = false;
        }
    }

    /// `+@all` (`on`) or `-@all`, over a table of `n` commands.
    pub fn set_all(&mut self, on: bool, n: usize) {
        self.bits = vec![if on { u64::MAX } else { 0 }; n.div_ceil(64)];
        self.allcommands = on;
        self.future = on;
        self.firstargs.clear();
    }

    /// Whether command `id` may run with first argument `first`.
    pub fn allows_command(&self, id: usize, first: Option<&[u8]>) -> bool {
        if self.allcommands || self.bit(id) {
            return true;
        }
        let Some(first) = first else {
            return false;
        };
        self.firstargs
            .iter()
            .find(|(i, _)| *i == id)
            .is_some_and(|(_, args)| args.iter().any(|a| a.eq_ignore_ascii_case(first)))
    }

    /// Whether a key may be accessed with the given [`KEY_READ`]/[`KEY_WRITE`] needs.
    pub fn allows_key(&self, key: &[u8], needs: u8) -> bool {
        self.allkeys
            || self
                .keys
                .iter()
                .any(|(p, f)| f & needs == needs && glob_match(p, key, false))
    }

    /// Whether a channel (or, for PSUBSCRIBE, a pattern taken literally) is allowed.
    pub fn allows_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if is_pattern {
                    p[..] == *channel
                } else {
                    glob_match(p, channel, false)
                }
            })
    }
}

/// An ACL user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name.
    pub name: Bytes,
    /// `on` (true) or `off`.
    pub enabled: bool,
    /// `nopass`: any password authenticates.
    pub nopass: bool,
    /// `sanitize-payload` (set by `reset`), `skip-sanitize-payload`: None for neither.
    pub sanitize: Option<bool>,
    /// Lower-case hex SHA-256 hashes of the passwords, in order.
    pub passwords: Vec<String>,
    /// The root selector first, then the others.
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no password, no permissions.
    pub fn new(name: &[u8], allchannels: bool) -> User {
        User {
            name: Bytes::copy_from_slice(name),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(allchannels)],
        }
    }

    /// The default user: `on nopass ~* &* +@all` (with `>password` if `requirepass` is set).
    pub fn default_user(commands: usize, requirepass: Option<&[u8]>) -> User {
        let mut root = Selector::new(true);
        root.set_all(true, commands);
        root.allkeys = true;
        let mut u = User {
            name: Bytes::from_static(b"default"),
            enabled: true,
            nopass: true,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![root],
        };
        u.set_password(requirepass);
        u
    }

    /// `resetpass` then `>password`, or `nopass` for none (the `requirepass` sync).
    pub fn set_password(&mut self, pass: Option<&[u8]>) {
        self.passwords.clear();
        self.nopass = pass.is_none();
        if let Some(p) = pass {
            self.passwords.push(hash_password(p));
        }
    }

    /// Whether every command, key and channel is allowed (no check needed).
    pub fn unrestricted(&self) -> bool {
        self.selectors
            .first()
            .is_some_and(|s| s.allcommands && s.allkeys && s.allchannels)
    }

    /// Whether `password` authenticates this user (in constant time per stored hash).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(password);
        let mut ok = false;
        for p in &self.passwords {
            ok |= bool::from(h.as_bytes().ct_eq(p.as_bytes()));
        }
        ok
    }
}

/// The lower-case hex SHA-256 of a password.
pub fn hash_password(p: &[u8]) -> String {
    let d = Sha256::digest(p);
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        s.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    s
}

/// Why a command was denied (ordered as Redis's `ACL_DENIED_*`: a later one wins when
/// selectors disagree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    /// The command.
    Command,
    /// A key (argument index).
    Key,
    /// Authentication failed.
    Auth,
    /// A channel (argument index).
    Channel,
}

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Times it happened (similar events within a minute are grouped).
    pub count: u64,
    /// Why.
    pub reason: Denied,
    /// `toplevel`, `multi` or `lua`.
    pub context: &'static str,
    /// The command, key, channel or (for auth) `AUTH`/`HELLO` as sent.
    pub object: Bytes,
    /// The user.
    pub username: Bytes,
    /// Unix milliseconds of the last occurrence.
    pub ctime_ms: u64,
    /// The client's `CLIENT LIST` line.
    pub client_info: String,
}

/// Every user, the generation counter and the ACL log.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<Bytes, Arc<User>>>,
    gen: AtomicU64,
    default_nopass: AtomicBool,
    /// Newest first.
    pub log: Mutex<VecDeque<LogEntry>>,
}

impl Acl {
    /// The registry with only the default user.
    pub fn new(commands: usize, requirepass: Option<&[u8]>) -> Acl {
        let d = User::default_user(commands, requirepass);
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            gen: AtomicU64::new(1),
            default_nopass: AtomicBool::new(true),
            log: Mutex::new(VecDeque::new()),
        };
        acl.put(d);
        acl
    }

    /// The generation: changes whenever a user does.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.gen.load(Ordering::Acquire)
    }

    /// A user by name.
    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// Adds or replaces a user.
    pub fn put(&self, u: User) {
        if &u.name[..] == b"default" {
            self.default_nopass
                .store(u.nopass && u.enabled, Ordering::Release);
        }
        self.users.write().insert(u.name.clone(), Arc::new(u));
        self.gen.fetch_add(1, Ordering::AcqRel);
    }

    /// Replaces every user at once (ACL LOAD).
    pub fn replace_all(&self, users: Vec<User>) {
        let mut map = BTreeMap::new();
        for u in users {
            if &u.name[..] == b"default" {
                self.default_nopass
                    .store(u.nopass && u.enabled, Ordering::Release);
            }
            map.insert(u.name.clone(), Arc::new(u));
        }
        *self.users.write() = map;
        self.gen.fetch_add(1, Ordering::AcqRel);
    }

    /// Removes a user; true if it existed.
    pub fn remove(&self, name: &[u8]) -> bool {
        let gone = self.users.write().remove(name).is_some();
        self.gen.fetch_add(1, Ordering::AcqRel);
        gone
    }

    /// Whether new connections are authenticated at once (the default user is `on nopass`).
    pub fn default_nopass(&self) -> bool {
        self.default_nopass.load(Ordering::Acquire)
    }

    /// The `requirepass` sync: the default user's passwords become this one (or `nopass`).
    pub fn set_default_password(&self, pass: Option<&[u8]>) {
        if let Some(d) = self.get(b"default") {
            let mut u = (*d).clone();
            u.set_password(pass);
            self.put(u);
        }
    }

    /// Adds an entry to the log (grouped with a similar one of the last minute among the ten
    /// newest), keeping at most `max` entries.
    pub fn add_log(&self, e: LogEntry, max: usize) {
        let mut log = self.log.lock();
        let similar = log.iter().take(10).position(|o| {
            o.reason == e.reason
                && o.context == e.context
                && o.object == e.object
                && o.username == e.username
                && o.ctime_ms.abs_diff(e.ctime_ms) <= 60_000
        });
        match similar {
            Some(i) => {
                if let Some(mut o) = log.remove(i) {
                    o.count += 1;
                    o.ctime_ms = e.ctime_ms;
                    o.client_info = e.client_info;
                    log.push_front(o);
                }
            }
            None => {
                log.push_front(e);
                log.truncate(max);
            }
        }
    }
}

/// A session's view of its user.
#[derive(Debug, Default)]
pub struct AclSession {
    /// The user's name (`None`: the default user).
    pub name: Option<Bytes>,
    /// The user as of `gen` (`None` until the first command).
    pub user: Option<Arc<User>>,
    /// The generation `user` was read at (0: never).
    pub gen: u64,
    /// `user` may run anything: no check needed.
    pub unrestricted: bool,
}

impl AclSession {
    /// Whether a command may skip the permission checks: the user is unchanged and
    /// unrestricted (one comparison and one flag).
    #[inline]
    pub fn fast_path(&self, acl: &Acl) -> bool {
        self.unrestricted & (self.gen == acl.generation())
    }

    /// Reloads the user if it changed; `None` if it was deleted.
    pub fn refresh(&mut self, acl: &Acl) -> Option<Arc<User>> {
        let gen = acl.generation();
        if self.gen != gen || self.user.is_none() {
            let name: &[u8] = self.name.as_deref().unwrap_or(b"default");
            self.user = acl.get(name);
            self.gen = gen;
            self.unrestricted = self.user.as_ref().is_some_and(|u| u.unrestricted());
        }
        self.user.clone()
    }

    /// The user's name as `ACL WHOAMI` and `CLIENT LIST` give it.
    pub fn user_name(&self) -> &[u8] {
        self.name.as_deref().unwrap_or(b"default")
    }
}
