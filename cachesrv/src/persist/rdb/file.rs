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
//! [`load`] reads a whole file from memory.

use std::borrow::Cow;

use super::crc64::crc64;
use super::decode::{read_value, Reader};
use super::encode::{write_len, Encoder};
use super::{opcodes, RdbError, RDB_VERSION};
use crate::engine::{Value, ValueRef};

/// The auxiliary fields written after the header.
#[derive(Debug, Clone)]
pub struct AuxFields {
    /// `redis-ver`.
    pub redis_ver: String,
    /// `ctime`: Unix seconds of the snapshot.
    pub ctime: u64,
    /// `used-mem`.
    pub used_mem: u64,
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
    write_aux(out, enc, "aof-base", b"0");
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
    pub value: Value,
    /// Absolute expiry, Unix ms.
    pub expire_ms: Option<u64>,
    /// `IDLE` seconds, if recorded.
    pub idle_secs: Option<u64>,
    /// `FREQ` counter, if recorded.
    pub freq: Option<u8>,
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

/// Reads a whole RDB file from `data`, handing each key to `sink`; verifies the CRC64 trailer
/// when `verify` is set and the file has a non-zero one (as Redis with `rdbchecksum yes`).
pub fn load<'a>(
    data: &'a [u8],
    verify: bool,
    mut sink: impl FnMut(LoadedKey<'a>) -> Result<(), RdbError>,
) -> Result<LoadInfo, RdbError> {
    let mut r = Reader::new(data);
    let sig = r.take(9).map_err(|_| RdbError::Signature)?;
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
    let mut info = LoadInfo {
        version,
        ..LoadInfo::default()
    };
    let mut db = 0usize;
    let mut expire = None;
    let mut idle = None;
    let mut freq = None;
    loop {
        let t = r.u8()?;
        match t {
            opcodes::EXPIRETIME_MS => {
                expire = Some(u64::from_le_bytes(r.array()?));
                continue;
            }
            opcodes::EXPIRETIME => {
                expire = Some(u64::from(u32::from_le_bytes(r.array()?)) * 1000);
                continue;
            }
            opcodes::FREQ => {
                freq = Some(r.u8()?);
                continue;
            }
            opcodes::IDLE => {
                idle = Some(r.read_len()?);
                continue;
            }
            opcodes::EOF => break,
            opcodes::SELECTDB => {
                let n = r.read_len()?;
                db = usize::try_from(n).map_err(|_| r.corrupt("database index out of range"))?;
                continue;
            }
            opcodes::RESIZEDB => {
                r.read_len()?;
                r.read_len()?;
                continue;
            }
            opcodes::AUX => {
                let k = r.string()?.into_owned();
                let v = r.string()?.into_owned();
                info.aux.push((k, v));
                continue;
            }
            opcodes::FUNCTION2 => {
                r.string()?;
                info.functions_skipped += 1;
                continue;
            }
            opcodes::MODULE_AUX | opcodes::FUNCTION_PRE_GA => {
                return Err(RdbError::Unsupported(format!(
                    "RDB opcode {t} (module or function data) is not supported by cachesrv"
                )));
            }
            _ => {}
        }
        let key = r.string()?;
        let value = read_value(&mut r, t).map_err(|e| match e {
            RdbError::Unsupported(m) => RdbError::Unsupported(format!(
                "key '{}' in db {db}: {m}",
                String::from_utf8_lossy(&key[..key.len().min(128)])
            )),
            e => e,
        })?;
        sink(LoadedKey {
            db,
            key,
            value,
            expire_ms: expire.take(),
            idle_secs: idle.take(),
            freq: freq.take(),
        })?;
        info.keys += 1;
    }
    let end = r.pos();
    if version >= 5 {
        let stored = u64::from_le_bytes(r.array()?);
        if verify && stored != 0 {
            let actual = crc64(0, &data[..end]);
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
        let info = load(data, true, |k| {
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
