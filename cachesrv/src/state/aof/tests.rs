//! The incremental file switch at a rewrite's start: every record appended before it goes to
//! the previous file, every one appended after it to the new file, while another thread keeps
//! appending.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::Aof;
use crate::persist::aof::{read_record, Manifest, Record};

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cachesrv-aof-switch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The `SET` values of a file's records, in order (`SELECT`s left out).
fn values(path: &Path) -> Vec<String> {
    let buf = std::fs::read(path).expect("read");
    let mut out = Vec::new();
    let mut at = 0;
    while let Record::Command(argv, next) = read_record(&buf, at) {
        if argv[0] == b"SET" {
            out.push(String::from_utf8_lossy(&argv[2]).into_owned());
        }
        at = next;
    }
    assert_eq!(at, buf.len(), "{} holds whole records only", path.display());
    out
}

#[test]
fn records_before_a_switch_go_to_the_previous_file_and_after_it_to_the_new_one() {
    let dir = scratch("one");
    let aof = Arc::new(Aof::new());
    aof.out().file = Some(File::create(dir.join("0")).expect("file"));
    aof.switch_on();
    aof.order().expect("on").command(0, &["SET", "k", "before"]);
    let previous = {
        let mut out = aof.out();
        let new = File::create(dir.join("1")).expect("file");
        aof.switch_incr(&mut out, new, Manifest::default())
    };
    assert!(previous.is_some(), "the previous file is handed back");
    {
        let mut log = aof.order().expect("on");
        assert!(log.state_mode(), "a rewrite's switch starts state mode");
        log.command(0, &["SET", "k", "after"]);
    }
    aof.write_out();
    assert_eq!(values(&dir.join("0")), ["before"]);
    assert_eq!(values(&dir.join("1")), ["after"]);
    aof.switch_off();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_record_falls_between_the_files_while_another_thread_appends() {
    // The appender tags each record with the state mode it was appended in. State mode
    // begins at each switch and the switcher ends it only once a record was appended in it,
    // so every file after the first starts with a `state` record: a record appended before a
    // switch but written to the new file would start it with a `plain` one.
    let dir = scratch("race");
    let aof = Arc::new(Aof::new());
    aof.out().file = Some(File::create(dir.join("0")).expect("file"));
    aof.switch_on();
    let stop = Arc::new(AtomicBool::new(false));
    let in_state = Arc::new(AtomicU64::new(0));
    let appender = {
        let (aof, stop, in_state) = (aof.clone(), stop.clone(), in_state.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                {
                    let mut log = aof.order().expect("on");
                    let tag = if log.state_mode() { "state" } else { "plain" };
                    log.command(0, &["SET", "k", &format!("{n}:{tag}")]);
                    if log.state_mode() {
                        in_state.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
                if n.is_multiple_of(16) {
                    aof.write_out();
                }
            }
        })
    };
    let switches = 200;
    for i in 1..=switches {
        let seen = in_state.load(Ordering::Relaxed);
        {
            let mut out = aof.out();
            let new = File::create(dir.join(i.to_string())).expect("file");
            aof.switch_incr(&mut out, new, Manifest::default());
        }
        while in_state.load(Ordering::Relaxed) == seen {
            std::thread::yield_now();
        }
        let _ = Aof::set_state_mode(&mut aof.log_lock(), false);
    }
    stop.store(true, Ordering::Relaxed);
    appender.join().expect("appender");
    aof.switch_off();
    let mut last = None;
    for i in 0..=switches {
        let vals = values(&dir.join(i.to_string()));
        if i > 0 {
            let first = vals.first().expect("a record in every file");
            assert!(first.ends_with(":state"), "file {i} starts with {first}");
        }
        for v in vals {
            let n: u64 = v.split(':').next().and_then(|n| n.parse().ok()).expect("n");
            assert!(last.is_none_or(|l| n == l + 1), "record {n} after {last:?}");
            last = Some(n);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
