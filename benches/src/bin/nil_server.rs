//! The floor for a RESP server's CPU per request: one thread, level-triggered `epoll`, one
//! `read` per ready socket, requests parsed by `protocol::RequestParser`, every request answered
//! with a nil bulk (`$-1`), the replies of one `epoll_wait` written after all its reads, as
//! Redis does. No store, no commands, no statistics.
//!
//! A real server using the same system calls (`read`, `write`, `epoll_wait`) cannot use less
//! CPU per request than this one. `benches/scripts/cachesrv_vs_redis.py floor` compares it with
//! Redis and cachesrv under `redis-benchmark -t get`.
//!
//! Usage: `nil_server <port>` (binds 127.0.0.1).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use protocol::{Parsed, ParserLimits, RequestParser};

const READ_CHUNK: usize = 16 * 1024;
const NIL: &[u8] = b"$-1\r\n";

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    used: usize,
    parser: RequestParser,
}

fn main() -> io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other("usage: nil_server <port>"))?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    // SAFETY: plain system call; the result is checked.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    watch(ep, listener.as_raw_fd())?;
    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut replies: Vec<(RawFd, Vec<u8>)> = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    loop {
        // SAFETY: `events` has room for the number of events passed.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let fd = ev.u64 as RawFd;
            if fd == listener.as_raw_fd() {
                accept_all(ep, &listener, &mut conns);
                continue;
            }
            let mut out = spare.pop().unwrap_or_default();
            if serve(conns.get_mut(&fd), &mut out) {
                if !out.is_empty() {
                    replies.push((fd, out));
                }
            } else {
                conns.remove(&fd);
            }
        }
        for (fd, mut out) in replies.drain(..) {
            if let Some(c) = conns.get_mut(&fd) {
                if write_all(&mut c.stream, &out).is_err() {
                    conns.remove(&fd);
                }
            }
            out.clear();
            spare.push(out);
        }
    }
}

fn watch(ep: RawFd, fd: RawFd) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: `ev` is a live epoll_event; `fd` is an open descriptor.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn accept_all(ep: RawFd, listener: &TcpListener, conns: &mut HashMap<RawFd, Conn>) {
    while let Ok((stream, _)) = listener.accept() {
        if stream.set_nonblocking(true).is_err() || stream.set_nodelay(true).is_err() {
            continue;
        }
        let fd = stream.as_raw_fd();
        if watch(ep, fd).is_ok() {
            let conn = Conn {
                stream,
                buf: vec![0; READ_CHUNK],
                used: 0,
                parser: RequestParser::new(ParserLimits::default()),
            };
            conns.insert(fd, conn);
        }
    }
}

/// One read, every complete request answered into `out`. False: close the connection.
fn serve(conn: Option<&mut Conn>, out: &mut Vec<u8>) -> bool {
    let Some(c) = conn else { return false };
    if c.used == c.buf.len() {
        c.buf.resize(c.buf.len() * 2, 0);
    }
    let n = match c.stream.read(&mut c.buf[c.used..]) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
    };
    c.used += n;
    let mut off = 0;
    loop {
        match c.parser.parse(&mut c.buf[off..c.used], true) {
            Ok(Parsed::Complete(len)) => {
                out.extend_from_slice(NIL);
                off += len;
            }
            Ok(Parsed::Incomplete) => break,
            Err(_) => return false,
        }
    }
    c.buf.copy_within(off..c.used, 0);
    c.used -= off;
    true
}

/// Replies are small: a full send buffer is waited out with `poll`.
fn write_all(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut p = libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one live pollfd.
                unsafe { libc::poll(&mut p, 1, 1000) };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
