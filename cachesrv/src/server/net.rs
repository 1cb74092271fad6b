//! Socket helpers: listeners with a backlog, TCP keepalive as Redis sets it, and the checks
//! made when a connection is accepted (protected mode, maxclients).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use socket2::{Domain, Socket, Type};
use std::net::TcpListener;

/// Redis's reply to a non-loopback client in protected mode.
pub const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's reply when `maxclients` is reached.
pub const MAX_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";

/// Turns a `bind` entry into an address: `*` is every IPv4 address, `::*` every IPv6 one; a
/// leading `-` (the entry may be unavailable) is stripped and reported.
pub fn parse_bind(entry: &str, port: u16) -> Option<(SocketAddr, bool)> {
    let (optional, addr) = match entry.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, entry),
    };
    let ip: IpAddr = match addr {
        "*" => IpAddr::from([0, 0, 0, 0]),
        "::*" => IpAddr::from([0u16; 8]),
        other => other.parse().ok()?,
    };
    Some((SocketAddr::new(ip, port), optional))
}

/// Binds a non-blocking listener with `SO_REUSEADDR` and the given backlog.
pub fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // As Redis: an IPv6 listener takes IPv6 only, so `0.0.0.0` and `::` can both bind.
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(i32::try_from(backlog.max(1)).unwrap_or(i32::MAX))?;
    Ok(sock.into())
}

fn set_int_opt(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> bool {
    // SAFETY: setsockopt with a pointer to a live c_int and its exact size, on an open socket.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

/// `tcp-keepalive`: probes after `secs` idle, every `secs/3`, 3 probes (Redis's `anetKeepAlive`).
pub fn set_keepalive(stream: &impl AsRawFd, secs: u64) {
    if secs == 0 {
        return;
    }
    let secs = secs.min(i32::MAX as u64) as libc::c_int;
    set_int_opt(stream, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set_int_opt(stream, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs);
    set_int_opt(
        stream,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        (secs / 3).max(1),
    );
    set_int_opt(stream, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}

/// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Pins the calling thread to one CPU (`server-thread-affinity`); failures are ignored.
pub fn pin_current_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it; the call
    // affects only the calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
