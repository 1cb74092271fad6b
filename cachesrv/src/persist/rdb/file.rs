//! Whole RDB files: the header and auxiliary fields, database sections, keys with their
//! expiry and LRU/LFU opcodes, the end marker and the CRC64 trailer.
//!
//! ```text
//! "REDIS0010"
//! AUX redis-ver, redis-bits, ctime, used-mem, aof-base
//! SELECTDB n, RESIZEDB keys expires          (per non-empty database)
//! [EXPIRETIME_MS t] [IDLE s | FREQ f] type key value   (per key)
//! EOF, CRC64 (u64 LE; 0 when rdbchecksum is off)
//! ```
//!
//! Writing is split into pieces ([`write_header`], [`write_db_header`], [`write_key`],
//! [`write_footer`]) so a snapshot can produce the file a slice at a time; the caller keeps the
//! running checksum ([`super::crc64::crc64`] over every byte up to and including EOF).
//! [`load_from`] reads a file a window at a time; [`load`] reads one from memory. Both hand
//! each key to a [`LoadSink`] (a closure, or a sink that also wants the `RESIZEDB` sizes),
//! string values borrowed from the read buffer or a reused scratch buffer.

use std::borrow::Cow;
use std::io::Read;

use super::crc64::crc64;
use super::decode::{read_value, Reader};
use super::encode::{write_len, Encoder};
use super::{opcodes, types, RdbError, RDB_VERSION};
use crate::engine::{LoadValue, ValueRef};

/// The auxiliary fields written after the header.
#[derive(Debug, Clone)]
pub struct AuxFields {
    /// `redis-ver`.
    pub redis_ver: String,
    /// `ctime`: Unix seconds of the snapshot.
    pub ctime: u64,
    /// `used-mem`.
    pub used_mem: u64,
    /// `aof-base`: the file is the base of an append-only file.
    pub aof_base: bool,
}

fn write_aux(out: &mut Vec<u8>, enc: &mut Encoder, name: &str, value: &[u8]) {
    out.push(opcodes::AUX);
    enc.write_string(out, name.as_bytes());
    enc.write_string(out, value);
}

/// Appends the signature and the auxiliary fields.
pub fn write_header(out: &mut Vec<u8>, enc: &mut Encoder, aux: &AuxFields) {
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    write_aux(out, enc, "redis-ver", aux.redis_ver.as_bytes());
    write_aux(out, enc, "redis-bits", b"64");
    write_aux(out, enc, "ctime", aux.ctime.to_string().as_bytes());
    write_aux(out, enc, "used-mem", aux.used_mem.to_string().as_bytes());
    write_aux(out, enc, "aof-base", if aux.aof_base { b"1" } else { b"0" });
}

/// Appends SELECTDB and RESIZEDB for a database of `keys` keys, `expires` of them volatile.
pub fn write_db_header(out: &mut Vec<u8>, db: usize, keys: usize, expires: usize) {
    out.push(opcodes::SELECTDB);
    write_len(out, db as u64);
    out.push(opcodes::RESIZEDB);
    write_len(out, keys as u64);
    write_len(out, expires as u64);
}

/// What to record about a key's access, per `maxmemory-policy` (as Redis: idle time under LRU
/// policies, the counter under LFU ones, nothing otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMeta {
    /// No opcode.
    None,
    /// `IDLE` seconds.
    Idle(u64),
    /// `FREQ` counter.
    Freq(u8),
}

/// Appends one key: expiry, access opcode, type, key and value.
pub fn write_key(
    out: &mut Vec<u8>,
    enc: &mut Encoder,
    key: &[u8],
    value: ValueRef<'_>,
    expire_ms: Option<u64>,
    meta: AccessMeta,
) {
    if let Some(t) = expire_ms {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&t.to_le_bytes());
    }
    match meta {
        AccessMeta::None => {}
        AccessMeta::Idle(s) => {
            out.push(opcodes::IDLE);
            write_len(out, s);
        }
        AccessMeta::Freq(f) => {
            out.push(opcodes::FREQ);
            out.push(f);
        }
    }
    out.push(Encoder::value_type(value));
    enc.write_string(out, key);
    enc.write_body(out, value);
}

/// Appends EOF; the caller then appends the checksum of everything so far (see
/// [`checksum_trailer`]).
pub fn write_footer(out: &mut Vec<u8>) {
    out.push(opcodes::EOF);
}

/// The 8-byte trailer: `crc` (LE), or zeros when checksums are off.
pub fn checksum_trailer(crc: u64, enabled: bool) -> [u8; 8] {
    if enabled {
        crc.to_le_bytes()
    } else {
        [0; 8]
    }
}

/// A key read from a file.
#[derive(Debug)]
pub struct LoadedKey<'a> {
    /// Its database.
    pub db: usize,
    /// The key.
    pub key: Cow<'a, [u8]>,
    /// The value.
    pub value: LoadValue<'a>,
    /// Absolute expiry, Unix ms.
    pub expire_ms: Option<u64>,
    /// `IDLE` seconds, if recorded.
    pub idle_secs: Option<u64>,
    /// `FREQ` counter, if recorded.
    pub freq: Option<u8>,
}

/// Where a load hands what it reads.
pub trait LoadSink {
    /// One key, in file order.
    fn key(&mut self, key: LoadedKey<'_>) -> Result<(), RdbError>;

    /// `RESIZEDB` of database `db`: the file says `keys` keys follow, `expires` of them
    /// with an expiry (a hint: nothing checks it).
    fn resize(&mut self, _db: usize, _keys: u64, _expires: u64) {}
}

impl<F: FnMut(LoadedKey<'_>) -> Result<(), RdbError>> LoadSink for F {
    fn key(&mut self, key: LoadedKey<'_>) -> Result<(), RdbError> {
        self(key)
    }
}

/// What a load found besides the keys.
#[derive(Debug, Default, Clone)]
pub struct LoadInfo {
    /// The file's RDB version.
    pub version: u32,
    /// Auxiliary fields, in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys passed to the sink.
    pub keys: u64,
    /// Function libraries present in the file (not loaded: cachesrv has no functions).
    pub functions_skipped: u64,
    /// False when the file's checksum was not verified (zero in the file, or not asked for).
    pub checksum_verified: bool,
}

/// One record of the file body.
enum Step<'a> {
    Expire(u64),
    Freq(u8),
    Idle(u64),
    Eof,
    Select(u64),
    Resize(u64, u64),
    Aux(Vec<u8>, Vec<u8>),
    Function,
    Key(Cow<'a, [u8]>, LoadValue<'a>),
}

fn read_step<'a>(
    r: &mut Reader<'a>,
    db: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<Step<'a>, RdbError> {
    let t = r.u8()?;
    Ok(match t {
        opcodes::EXPIRETIME_MS => Step::Expire(u64::from_le_bytes(r.array()?)),
        opcodes::EXPIRETIME => Step::Expire(u64::from(u32::from_le_bytes(r.array()?)) * 1000),
        opcodes::FREQ => Step::Freq(r.u8()?),
        opcodes::IDLE => Step::Idle(r.read_len()?),
        opcodes::EOF => Step::Eof,
        opcodes::SELECTDB => Step::Select(r.read_len()?),
        opcodes::RESIZEDB => {
            let keys = r.read_len()?;
            Step::Resize(keys, r.read_len()?)
        }
        opcodes::AUX => {
            let k = r.string()?.into_owned();
            let v = r.string()?.into_owned();
            Step::Aux(k, v)
        }
        opcodes::FUNCTION2 => {
            r.string()?;
            Step::Function
        }
        opcodes::MODULE_AUX | opcodes::FUNCTION_PRE_GA => {
            return Err(RdbError::Unsupported(format!(
                "RDB opcode {t} (module or function data) is not supported by cachesrv"
            )));
        }
        _ => {
            let key = r.string()?;
            if t == types::STRING {
                return Ok(Step::Key(key, LoadValue::Str(r.string_into(scratch)?)));
            }
            let value = read_value(r, t).map_err(|e| match e {
                RdbError::Unsupported(m) => RdbError::Unsupported(format!(
                    "key '{}' in db {db}: {m}",
                    String::from_utf8_lossy(&key[..key.len().min(128)])
                )),
                e => e,
            })?;
            Step::Key(key, LoadValue::Value(value))
        }
    })
}

/// Bytes read so far from the source, of which `buf[pos..]` is not parsed yet.
struct Window<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[0]`.
    base: usize,
    /// `buf[..crc_done]` is in `crc`.
    crc_done: usize,
    crc: u64,
    eof: bool,
}

/// Bytes read from the source at a time (the window grows past it for a larger record); tiny
/// in unit tests, so records straddle windows.
const WINDOW: usize = if cfg!(test) { 64 } else { 4 << 20 };

impl<R: Read> Window<R> {
    fn avail(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    fn crc_to_pos(&mut self) -> u64 {
        self.crc = crc64(self.crc, &self.buf[self.crc_done..self.pos]);
        self.crc_done = self.pos;
        self.crc
    }

    /// Drops the parsed bytes and reads at least as much again as is unparsed (at least
    /// [`WINDOW`]); false at the end of the source.
    fn refill(&mut self) -> Result<bool, RdbError> {
        if self.eof {
            return Ok(false);
        }
        self.crc_to_pos();
        self.buf.drain(..self.pos);
        self.base += self.pos;
        self.pos = 0;
        self.crc_done = 0;
        let want = self.buf.len().max(WINDOW);
        let start = self.buf.len();
        let mut got = 0;
        self.buf.resize(start + want, 0);
        while got < want {
            match self.src.read(&mut self.buf[start + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(start + got);
                    return Err(RdbError::Corrupt {
                        at: self.base + start + got,
                        what: format!("read error: {e}"),
                    });
                }
            }
        }
        self.buf.truncate(start + got);
        Ok(got > 0 || !self.eof)
    }

    /// Offsets in an error from a reader over `avail()` made file offsets.
    fn locate(&self, e: RdbError) -> RdbError {
        let off = self.base + self.pos;
        match e {
            RdbError::Truncated(at) => RdbError::Truncated(off + at),
            RdbError::Corrupt { at, what } => RdbError::Corrupt { at: off + at, what },
            e => e,
        }
    }
}

/// Reads a whole RDB file from `data`, handing each key to `sink` (see [`load_from`]).
pub fn load(data: &[u8], verify: bool, sink: impl LoadSink) -> Result<LoadInfo, RdbError> {
    load_from(data, verify, sink)
}

/// Reads an RDB file from `src`, handing each key to `sink`; verifies the CRC64 trailer when
/// `verify` is set and the file has a non-zero one (as Redis with `rdbchecksum yes`). The
/// file is read a window at a time: memory holds a few MB of it (more only for a single
/// larger key), never the whole file.
pub fn load_from(
    src: impl Read,
    verify: bool,
    mut sink: impl LoadSink,
) -> Result<LoadInfo, RdbError> {
    let mut w = Window {
        src,
        buf: Vec::new(),
        pos: 0,
        base: 0,
        crc_done: 0,
        crc: 0,
        eof: false,
    };
    while w.avail().len() < 9 {
        if !w.refill()? {
            return Err(RdbError::Signature);
        }
    }
    let sig = &w.avail()[..9];
    if &sig[..5] != b"REDIS" || !sig[5..].iter().all(u8::is_ascii_digit) {
        return Err(RdbError::Signature);
    }
    let version: u32 = std::str::from_utf8(&sig[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(RdbError::Signature)?;
    if version < 1 || version > u32::from(RDB_VERSION) {
        return Err(RdbError::Version(version));
    }
    w.consume(9);
    let mut info = LoadInfo {
        version,
        ..LoadInfo::default()
    };
    let mut db = 0usize;
    let mut expire = None;
    let mut idle = None;
    let mut freq = None;
    let mut scratch = Vec::new();
    loop {
        let parsed = {
            let mut r = Reader::partial(w.avail());
            match read_step(&mut r, db, &mut scratch) {
                Ok(step) => {
                    let n = r.pos();
                    let end = matches!(step, Step::Eof);
                    match step {
                        Step::Expire(t) => expire = Some(t),
                        Step::Freq(f) => freq = Some(f),
                        Step::Idle(s) => idle = Some(s),
                        Step::Eof => {}
                        Step::Resize(keys, expires) => sink.resize(db, keys, expires),
                        Step::Select(n) => {
                            db = usize::try_from(n).map_err(|_| RdbError::Corrupt {
                                at: w.base + w.pos,
                                what: "database index out of range".into(),
                            })?;
                        }
                        Step::Aux(k, v) => info.aux.push((k, v)),
                        Step::Function => info.functions_skipped += 1,
                        Step::Key(key, value) => {
                            sink.key(LoadedKey {
                                db,
                                key,
                                value,
                                expire_ms: expire.take(),
                                idle_secs: idle.take(),
                                freq: freq.take(),
                            })?;
                            info.keys += 1;
                        }
                    }
                    Ok((n, end))
                }
                Err(e) => Err(e),
            }
        };
        match parsed {
            Ok((n, end)) => {
                w.consume(n);
                if end {
                    break;
                }
            }
            Err(RdbError::Truncated(_)) if !w.eof => {
                w.refill()?;
            }
            Err(e) => return Err(w.locate(e)),
        }
    }
    let actual = w.crc_to_pos();
    if version >= 5 {
        while w.avail().len() < 8 {
            if !w.refill()? {
                return Err(RdbError::Truncated(w.base + w.buf.len()));
            }
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&w.avail()[..8]);
        let stored = u64::from_le_bytes(c);
        if verify && stored != 0 {
            if actual != stored {
                return Err(RdbError::Checksum {
                    expected: stored,
                    actual,
                });
            }
            info.checksum_verified = true;
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::rdb::types;

    fn sample(compress: bool, checksum: bool) -> Vec<u8> {
        let mut enc = Encoder::new(compress);
        let mut out = Vec::new();
        write_header(
            &mut out,
            &mut enc,
            &AuxFields {
                redis_ver: "7.0.15".into(),
                ctime: 1_700_000_000,
                used_mem: 12345,
                aof_base: false,
            },
        );
        write_db_header(&mut out, 0, 2, 1);
        write_key(
            &mut out,
            &mut enc,
            b"a",
            ValueRef::Str(b"1"),
            Some(4_102_444_800_000),
            AccessMeta::Idle(30),
        );
        write_key(
            &mut out,
            &mut enc,
            b"b",
            ValueRef::Str(b"two"),
            None,
            AccessMeta::Freq(7),
        );
        write_db_header(&mut out, 3, 1, 0);
        write_key(
            &mut out,
            &mut enc,
            b"c",
            ValueRef::Str(b"x"),
            None,
            AccessMeta::None,
        );
        write_footer(&mut out);
        let crc = crc64(0, &out);
        out.extend_from_slice(&checksum_trailer(crc, checksum));
        out
    }

    fn keys(data: &[u8]) -> Result<(LoadInfo, Vec<String>), RdbError> {
        let mut got = Vec::new();
        let info = load(data, true, |k: LoadedKey<'_>| {
            got.push(format!(
                "{}/{}={:?} exp={:?} idle={:?} freq={:?}",
                k.db,
                String::from_utf8_lossy(&k.key),
                k.value,
                k.expire_ms,
                k.idle_secs,
                k.freq
            ));
            Ok(())
        })?;
        Ok((info, got))
    }

    #[test]
    fn a_file_roundtrips_with_its_opcodes() {
        let (info, got) = keys(&sample(true, true)).expect("valid");
        assert_eq!(info.version, 10);
        assert!(info.checksum_verified);
        assert_eq!(info.aux[0], (b"redis-ver".to_vec(), b"7.0.15".to_vec()));
        assert_eq!(info.aux[2], (b"ctime".to_vec(), b"1700000000".to_vec()));
        assert_eq!(
            got,
            vec![
                "0/a=Str([49]) exp=Some(4102444800000) idle=Some(30) freq=None",
                "0/b=Str([116, 119, 111]) exp=None idle=None freq=Some(7)",
                "3/c=Str([120]) exp=None idle=None freq=None",
            ]
        );
        let (info, _) = keys(&sample(false, false)).expect("valid without a checksum");
        assert!(!info.checksum_verified);
    }

    #[test]
    fn a_sink_is_told_the_declared_sizes_before_the_keys() {
        struct Log<'a>(&'a mut Vec<String>);
        impl LoadSink for Log<'_> {
            fn key(&mut self, k: LoadedKey<'_>) -> Result<(), RdbError> {
                self.0
                    .push(format!("key {}/{}", k.db, String::from_utf8_lossy(&k.key)));
                Ok(())
            }
            fn resize(&mut self, db: usize, keys: u64, expires: u64) {
                self.0.push(format!("resize {db} {keys} {expires}"));
            }
        }
        let mut got = Vec::new();
        load(&sample(true, true), true, Log(&mut got)).expect("valid");
        assert_eq!(
            got,
            [
                "resize 0 2 1",
                "key 0/a",
                "key 0/b",
                "resize 3 1 0",
                "key 3/c"
            ]
        );
    }

    /// Hands out at most 5 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(5).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn records_straddling_windows_load() {
        let mut enc = Encoder::new(true);
        let mut out = Vec::new();
        write_header(
            &mut out,
            &mut enc,
            &AuxFields {
                redis_ver: "7.0.15".into(),
                ctime: 1,
                used_mem: 1,
                aof_base: false,
            },
        );
        write_db_header(&mut out, 0, 300, 0);
        let mut expected = Vec::new();
        for i in 0..300usize {
            let key = format!("key:{i}");
            let value: Vec<u8> = (0..(i * 7) % 2000).map(|j| (j * i % 251) as u8).collect();
            write_key(
                &mut out,
                &mut enc,
                key.as_bytes(),
                ValueRef::Str(&value),
                None,
                AccessMeta::None,
            );
            expected.push((key.into_bytes(), value));
        }
        write_footer(&mut out);
        let crc = crc64(0, &out);
        out.extend_from_slice(&checksum_trailer(crc, true));
        let mut got = Vec::new();
        let info = load_from(Trickle(&out), true, |k: LoadedKey<'_>| {
            let LoadValue::Str(v) = k.value else {
                panic!("a string")
            };
            got.push((k.key.into_owned(), v.to_vec()));
            Ok(())
        })
        .expect("valid");
        assert!(info.checksum_verified);
        assert_eq!(got, expected);
        // The same file cut short fails at every length, through the window too.
        for cut in (9..out.len()).step_by(97) {
            assert!(load_from(Trickle(&out[..cut]), true, |_: LoadedKey<'_>| Ok(())).is_err());
        }
    }

    #[test]
    fn header_version_and_checksum_errors() {
        let good = sample(true, true);
        assert_eq!(keys(b"REDIS").unwrap_err(), RdbError::Signature);
        assert_eq!(keys(b"RADIS0010\xff").unwrap_err(), RdbError::Signature);
        let mut newer = good.clone();
        newer[5..9].copy_from_slice(b"0011");
        assert_eq!(keys(&newer).unwrap_err(), RdbError::Version(11));
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 12] ^= 1;
        assert!(matches!(
            keys(&flipped).unwrap_err(),
            RdbError::Checksum { .. } | RdbError::Corrupt { .. }
        ));
        for cut in 9..good.len() {
            assert!(keys(&good[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn older_opcodes_and_skipped_functions() {
        // RDB 9: EXPIRETIME in seconds, a function library (skipped), one key, no checksum
        // check needed (zero trailer).
        let mut data = b"REDIS0009".to_vec();
        data.push(opcodes::FUNCTION2);
        data.extend_from_slice(&[3, b'l', b'u', b'a']);
        data.push(opcodes::SELECTDB);
        data.push(0);
        data.push(opcodes::EXPIRETIME);
        data.extend_from_slice(&2_000_000_000u32.to_le_bytes());
        data.push(types::STRING);
        data.extend_from_slice(&[1, b'k', 1, b'v']);
        data.push(opcodes::EOF);
        data.extend_from_slice(&[0; 8]);
        let (info, got) = keys(&data).expect("valid");
        assert_eq!(info.functions_skipped, 1);
        assert_eq!(
            got,
            vec!["0/k=Str([118]) exp=Some(2000000000000) idle=None freq=None"]
        );
        let mut module = b"REDIS0010".to_vec();
        module.push(opcodes::MODULE_AUX);
        module.extend_from_slice(&[0; 16]);
        assert!(matches!(
            keys(&module).unwrap_err(),
            RdbError::Unsupported(_)
        ));
    }
}
