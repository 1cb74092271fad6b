//! Tests of the configuration: the seeds' redis.conf, flags and their errors, memory units.

use super::*;

#[test]
fn seed_redis_conf_loads() {
    let text = "# Network\nbind 0.0.0.0\nport 6379\nprotected-mode yes\n\nrequirepass your-very-secure-password-here\n\
maxmemory 1gb\nmaxmemory-policy allkeys-lru\nsave 900 1\nsave 300 10\nsave 60 10000\ndir /var/lib/redis\n\
loglevel notice\nlogfile /var/log/redis/redis-server.log\ntcp-backlog 511\ntcp-keepalive 300\ntimeout 0\n\
server-threads 4\nserver-thread-affinity true\nappendonly no\n";
    let mut c = Config::default();
    c.load_text(text).unwrap();
    assert_eq!(c.maxmemory(), 1 << 30);
    assert_eq!(c.save(), "900 1 300 10 60 10000");
    assert_eq!(c.bind(), vec!["0.0.0.0"]);
    assert_eq!(c.server_threads(), 4);
    assert_eq!(
        c.requirepass().as_deref(),
        Some("your-very-secure-password-here")
    );
}

#[test]
fn flags_and_errors() {
    let c = Config::from_args(&["--port", "7000", "--save", "", "--maxmemory", "256mb"]).unwrap();
    assert_eq!(
        (c.port(), c.save(), c.maxmemory()),
        (7000, String::new(), 256 << 20)
    );
    let e = Config::from_args(&["--foo", "bar"]).unwrap_err();
    assert_eq!(e.line, "foo \"bar\"");
    assert!(e
        .to_string()
        .contains("Bad directive or wrong number of arguments"));
    let mut c = Config::default();
    assert_eq!(
        c.set("maxmemory", "abc").unwrap_err().reply(),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        c.set("databases", "3").unwrap_err().reply(),
        "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"
    );
    c.set("hash-max-ziplist-entries", "100").unwrap();
    assert_eq!(c.get("hash-max-listpack-entries").as_deref(), Some("100"));
    c.set("hz", "0").unwrap();
    assert_eq!(c.hz(), 1);
    c.set("appendonly", "yes").unwrap();
    assert!(c.appendonly());
    assert_eq!(
        c.set("appendfsync", "sometimes").unwrap_err().reply(),
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: always, everysec, no"
    );
    assert_eq!(
        c.set("dir", "/tmp").unwrap_err().reply(),
        "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    );
    c.set("enable-protected-configs", "yes").unwrap_err();
    let mut open = Config::default();
    open.load_text("enable-protected-configs yes\n").unwrap();
    open.set("dir", "/tmp").unwrap();
    assert_eq!(open.dir(), "/tmp");
    assert!(open.set("dir", "/no/such/dir").is_err());
    assert!(open.set("dbfilename", "a/b.rdb").is_err());
    open.set("dbfilename", "b.rdb").unwrap();
    assert_eq!(open.dbfilename(), "b.rdb");
}

#[test]
fn memory_units() {
    assert_eq!(parse_memory("1k"), Some(1000));
    assert_eq!(parse_memory("1KB"), Some(1024));
    assert_eq!(parse_memory("2gb"), Some(2 << 30));
    assert_eq!(parse_memory("-1"), None);
    assert_eq!(parse_memory("mb"), None);
}
