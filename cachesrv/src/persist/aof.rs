//! The append-only file of Redis 7.0: its manifest, file names, and the RESP command records
//! of the incremental files.
//!
//! A multi-part AOF lives in `dir/appenddirname`: a base file (`<name>.<seq>.base.rdb`, an RDB
//! file, or `<name>.<seq>.base.aof`, commands), incremental files (`<name>.<seq>.incr.aof`,
//! commands as RESP arrays of bulk strings) and the manifest `<name>.manifest` listing them one
//! a line: `file <file> seq <n> type b|h|i` (`h`: history, files left from before a rewrite,
//! deleted once the new manifest is on disk). Runtime-free; nothing here panics on input.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file's role in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// The base (`b`).
    Base,
    /// Left from before a rewrite, to delete (`h`).
    History,
    /// An incremental file (`i`).
    Incr,
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    /// The file name, inside the AOF directory.
    pub name: String,
    /// Its sequence number.
    pub seq: u64,
    /// Its role.
    pub kind: FileType,
}

/// The manifest: at most one base, the incremental files in order, history files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file.
    pub base: Option<AofFile>,
    /// Incremental files, oldest first.
    pub incrs: Vec<AofFile>,
    /// Files to delete.
    pub history: Vec<AofFile>,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A line is not `file <name> seq <n> type <t>`.
    #[error("Invalid AOF manifest file format: {0}")]
    Format(String),
}

fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => word.push(chars.next()?),
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
}

impl Manifest {
    /// Parses a manifest's text (Redis's key-value pairs; `#` lines are comments).
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || ManifestError::Format(line.to_string());
            let words = split_args(line).ok_or_else(bad)?;
            if words.len() % 2 != 0 {
                return Err(bad());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks_exact(2) {
                match pair[0].as_str() {
                    "file" => name = Some(pair[1].clone()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match pair[1].as_str() {
                            "b" => Some(FileType::Base),
                            "h" => Some(FileType::History),
                            "i" => Some(FileType::Incr),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(bad());
            };
            if name.contains('/') {
                return Err(bad());
            }
            let f = AofFile { name, seq, kind };
            match kind {
                FileType::Base => {
                    if m.base.is_some() {
                        return Err(ManifestError::Format(
                            "Found duplicate base file information".into(),
                        ));
                    }
                    m.base = Some(f);
                }
                FileType::Incr => {
                    if m.incrs.last().is_some_and(|l| l.seq >= f.seq) {
                        return Err(ManifestError::Format(
                            "Found a non-monotonic sequence number".into(),
                        ));
                    }
                    m.incrs.push(f);
                }
                FileType::History => m.history.push(f),
            }
        }
        Ok(m)
    }

    /// The manifest's text, as Redis writes it: base, history, then incremental files.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut line = |f: &AofFile, t: &str| {
            s.push_str(&format!("file {} seq {} type {t}\n", quote(&f.name), f.seq));
        };
        if let Some(b) = &self.base {
            line(b, "b");
        }
        for h in &self.history {
            line(h, "h");
        }
        for i in &self.incrs {
            line(i, "i");
        }
        s
    }

    /// Reads `path`; `Ok(None)` if it does not exist.
    pub fn load(path: &Path) -> Result<Option<Manifest>, ManifestError> {
        match fs::read_to_string(path) {
            Ok(t) => Manifest::parse(&t).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the manifest to `dir/temp-<name>` then renames it over `dir/<name>` and fsyncs
    /// the directory: a crash leaves the old manifest or the new one.
    pub fn persist(&self, dir: &Path, name: &str) -> io::Result<()> {
        let tmp = dir.join(format!("temp-{name}"));
        let mut f = File::create(&tmp)?;
        f.write_all(self.render().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir);
        Ok(())
    }

    /// The highest sequence number of a base or incremental file.
    pub fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map_or(0, |f| f.seq) + 1
    }

    /// The next base sequence number.
    pub fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map_or(0, |f| f.seq) + 1
    }
}

fn quote(name: &str) -> String {
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        let mut s = String::from("\"");
        for c in name.chars() {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
        s
    } else {
        name.to_string()
    }
}

/// Fsyncs a directory (after a rename in it); errors are ignored, as Redis does.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `<appendfilename>.manifest`.
pub fn manifest_name(base: &str) -> String {
    format!("{base}.manifest")
}

/// `<appendfilename>.<seq>.base.rdb` (or `.base.aof`).
pub fn base_name(base: &str, seq: u64, rdb: bool) -> String {
    format!("{base}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

/// `<appendfilename>.<seq>.incr.aof`.
pub fn incr_name(base: &str, seq: u64) -> String {
    format!("{base}.{seq}.incr.aof")
}

/// The AOF directory: `dir/appenddirname`.
pub fn aof_dir(dir: &str, dirname: &str) -> PathBuf {
    Path::new(dir).join(dirname)
}

/// The longest `<lead><n>\r\n` header: a 20-digit `usize`.
const MAX_HEADER: usize = 23;

/// Appends a command as a RESP array of bulk strings, in one pass after one reservation (no
/// allocation beyond `out`'s growth). This encodes every write command logged to the AOF.
#[inline]
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    let bytes = argv
        .iter()
        .fold(0usize, |n, a| n.saturating_add(a.as_ref().len()));
    let bound = argv
        .len()
        .saturating_mul(MAX_HEADER + 2)
        .saturating_add(bytes)
        .saturating_add(MAX_HEADER);
    out.reserve(bound);
    let start = out.len();
    let spare = out.spare_capacity_mut();
    let mut w = Writer {
        at: spare.as_mut_ptr().cast::<u8>(),
        written: 0,
    };
    // Only when the reservation holds `bound` (the writes below stay within it).
    if spare.len() >= bound {
        w.header(b'*', argv.len());
        for a in argv {
            let a = a.as_ref();
            w.header(b'$', a.len());
            w.put(a);
            w.put(b"\r\n");
        }
    }
    debug_assert!(w.written <= bound);
    // SAFETY: the writer initialised exactly the first `written` bytes of the spare capacity.
    unsafe { out.set_len(start + w.written) };
}

/// Appends `src` (a whole record), short ones without a call to `memcpy`.
#[inline]
pub fn append_record(out: &mut Vec<u8>, src: &[u8]) {
    out.reserve(src.len());
    let start = out.len();
    let spare = out.spare_capacity_mut();
    let mut w = Writer {
        at: spare.as_mut_ptr().cast::<u8>(),
        written: 0,
    };
    // Only when the reservation holds `src` (the write below stays within it).
    if spare.len() >= src.len() {
        w.put(src);
    }
    // SAFETY: the writer initialised exactly the first `written` bytes of the spare capacity.
    unsafe { out.set_len(start + w.written) };
}

/// Copies `n` bytes, `W <= n <= 2 * W`, as two overlapping moves of `W` bytes.
///
/// # Safety
/// `s` must hold `n` readable bytes and `d` room for `n` bytes, not overlapping them.
#[inline(always)]
unsafe fn overlapping<const W: usize>(s: *const u8, d: *mut u8, n: usize) {
    // SAFETY: `W <= n`, so both moves stay within the `n` bytes the caller vouches for.
    unsafe {
        std::ptr::copy_nonoverlapping(s, d, W);
        std::ptr::copy_nonoverlapping(s.add(n - W), d.add(n - W), W);
    }
}

/// Writes through a pointer into reserved room: the caller ([`encode_command`],
/// [`append_record`]) reserves at least `MAX_HEADER` bytes per header and `len + 2` per
/// argument (the record's length for a record copied whole), so no write checks room.
struct Writer {
    at: *mut u8,
    written: usize,
}

impl Writer {
    /// Copies `src`. Pieces of up to 64 bytes (names, headers, short keys and values, short
    /// whole commands) are copied as two overlapping fixed-size moves instead of a call to
    /// `memcpy`.
    #[inline(always)]
    fn put(&mut self, src: &[u8]) {
        let n = src.len();
        let (s, d) = (src.as_ptr(), self.at);
        // SAFETY: `src` holds `n` readable bytes; `d` has room for `n` bytes (see the type's
        // doc) and does not overlap `src` (it is spare capacity of the output vector). Each
        // fixed-size pair of moves below covers [0, n) within both.
        unsafe {
            match n {
                0 => {}
                1..=3 => {
                    *d = *s;
                    *d.add(n / 2) = *s.add(n / 2);
                    *d.add(n - 1) = *s.add(n - 1);
                }
                4..=7 => overlapping::<4>(s, d, n),
                8..=16 => overlapping::<8>(s, d, n),
                17..=32 => overlapping::<16>(s, d, n),
                33..=64 => overlapping::<32>(s, d, n),
                _ => std::ptr::copy_nonoverlapping(s, d, n),
            }
            self.at = d.add(n);
        }
        self.written += n;
    }

    /// `<lead><n>\r\n` (at most [`MAX_HEADER`] bytes): counts and lengths under 100 (nearly
    /// all of them) as fixed-size stores.
    #[inline(always)]
    fn header(&mut self, lead: u8, n: usize) {
        if n < 10 {
            self.put(&[lead, b'0' + n as u8, b'\r', b'\n']);
        } else if n < 100 {
            let (tens, units) = ((n / 10) as u8, (n % 10) as u8);
            self.put(&[lead, b'0' + tens, b'0' + units, b'\r', b'\n']);
        } else {
            self.long_header(lead, n);
        }
    }

    #[cold]
    fn long_header(&mut self, lead: u8, n: usize) {
        let mut digits = itoa::Buffer::new();
        self.put(&[lead]);
        self.put(digits.format(n).as_bytes());
        self.put(b"\r\n");
    }
}

/// What reading one record found.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// A command and the offset just past it.
    Command(Vec<Vec<u8>>, usize),
    /// A `#` annotation line, skipped; the offset past it.
    Annotation(usize),
    /// The data ends inside a record (a torn write).
    Truncated,
    /// Not a valid record at the offset.
    Corrupt,
}

fn line_at(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let nl = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..nl], at + nl + 2))
}

fn number(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Reads the record at `buf[at..]`; `buf` must hold the rest of the file (or at least the
/// whole record) for a record to be recognised.
pub fn read_record(buf: &[u8], at: usize) -> Record {
    match buf.get(at) {
        None => return Record::Truncated,
        Some(b'#') => {
            return match buf[at..].iter().position(|&c| c == b'\n') {
                Some(p) => Record::Annotation(at + p + 1),
                None => Record::Truncated,
            }
        }
        Some(b'*') => {}
        Some(_) => return Record::Corrupt,
    }
    // A header line not yet ended is a torn write unless it already holds a non-digit.
    let header = |buf: &[u8], at: usize, lead: u8| -> Result<(usize, usize), Record> {
        match line_at(buf, at) {
            Some((l, next)) if l.first() == Some(&lead) => {
                number(&l[1..]).map(|n| (n, next)).ok_or(Record::Corrupt)
            }
            Some(_) => Err(Record::Corrupt),
            None => {
                let rest = &buf[at..];
                let digits = rest.get(1..).unwrap_or(&[]);
                let ok_so_far = rest.first() == Some(&lead)
                    && digits
                        .iter()
                        .enumerate()
                        .all(|(i, c)| c.is_ascii_digit() || (*c == b'\r' && i == digits.len() - 1));
                Err(if ok_so_far || rest.is_empty() {
                    Record::Truncated
                } else {
                    Record::Corrupt
                })
            }
        }
    };
    let (argc, mut pos) = match header(buf, at, b'*') {
        Ok(v) => v,
        Err(r) => return r,
    };
    if argc == 0 || argc > 1 << 20 {
        return Record::Corrupt;
    }
    let mut argv = Vec::with_capacity(argc.min(1024));
    for _ in 0..argc {
        let (len, next) = match header(buf, pos, b'$') {
            Ok(v) => v,
            Err(r) => return r,
        };
        let end = next.saturating_add(len);
        if buf.len() < end.saturating_add(2) {
            return Record::Truncated;
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Record::Corrupt;
        }
        argv.push(buf[next..end].to_vec());
        pos = end + 2;
    }
    Record::Command(argv, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_in_redis_form() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render(), text);
        assert_eq!(m.next_incr_seq(), 3);
        assert!(Manifest::parse("file x seq 1\n").is_err());
        assert!(Manifest::parse("file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        let q = Manifest::parse("file \"my file\" seq 3 type i\n").unwrap();
        assert_eq!(q.incrs[0].name, "my file");
        assert_eq!(q.render(), "file \"my file\" seq 3 type i\n");
    }

    #[test]
    fn commands_encode_as_resp_whatever_the_lengths() {
        // Lengths on each side of every size class of the copy and of the length headers;
        // counts of one digit, two digits and three.
        let lengths = [
            0, 1, 2, 3, 4, 7, 8, 9, 10, 16, 17, 31, 32, 33, 63, 64, 65, 99, 100, 101, 999, 1000,
            100_000,
        ];
        for (i, len) in lengths.into_iter().enumerate() {
            let value: Vec<u8> = (0..len).map(|j| (j % 251) as u8).collect();
            let count = [1, 9, 98, 150][i % 4];
            let mut argv: Vec<&[u8]> = vec![b"RPUSH", b"key"];
            argv.extend(std::iter::repeat_n(&value[..], count));
            let mut b = b"prefix".to_vec();
            encode_command(&mut b, &argv);
            let mut want = format!("prefix*{}\r\n", argv.len()).into_bytes();
            for a in &argv {
                want.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                want.extend_from_slice(a);
                want.extend_from_slice(b"\r\n");
            }
            assert_eq!(b, want, "length {len}, {count} values");
            let expect: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            assert_eq!(read_record(&b, 6), Record::Command(expect, b.len()));
            // A record copied whole.
            let mut c = b"prefix".to_vec();
            append_record(&mut c, &value);
            assert_eq!(&c[..6], b"prefix");
            assert_eq!(&c[6..], &value[..], "length {len} appended");
        }
    }

    #[test]
    fn records_torn_and_corrupt() {
        let mut b = Vec::new();
        encode_command(&mut b, &["SET", "k", "v"]);
        let full = b.len();
        assert_eq!(
            read_record(&b, 0),
            Record::Command(vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()], full)
        );
        for cut in 1..full {
            assert_eq!(read_record(&b[..cut], 0), Record::Truncated, "cut at {cut}");
        }
        assert_eq!(read_record(b"+OK\r\n", 0), Record::Corrupt);
        assert_eq!(read_record(b"*1\r\n$3\r\nabcX\n", 0), Record::Corrupt);
        assert_eq!(read_record(b"*x\r\n", 0), Record::Corrupt);
        assert_eq!(read_record(b"#TS:1\r\n*1", 0), Record::Annotation(7));
    }
}
