//! Socket reads and writes with the fewest system calls: a read that returns less than the
//! buffer had room for means the socket is drained, so readiness is cleared without the extra
//! `read` that would only return `EAGAIN` (tokio's edge-triggered reactor reports new data as a
//! new event). Writes go straight to the socket and wait for writability only when it is full.
//! This keeps a request/reply round trip at one `read` and one `write`, as Redis does.
//!
//! The socket is registered for readability only, as Redis registers its clients: with
//! writability too, every ACK that frees send-buffer space is an edge that wakes the thread
//! from `epoll_wait` for nothing. A write that finds the buffer full registers a duplicate of
//! the descriptor for writability alone, for as long as that write waits.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking socket registered with the reactor.
pub struct Socket {
    fd: AsyncFd<TcpStream>,
}

impl Socket {
    /// Takes over a tokio stream.
    pub fn new(stream: tokio::net::TcpStream) -> io::Result<Socket> {
        let std = stream.into_std()?;
        std.set_nonblocking(true)?;
        // SAFETY: the `TcpStream` owns its descriptor, which stays open for as long as the
        // `AsyncFd` (which owns the stream) exists.
        let fd = unsafe { AsyncFd::register_with_interest(std, Interest::READABLE) }?;
        Ok(Socket { fd })
    }

    /// Waits until readable, then reads what is there into `buf`'s spare capacity. `Ok(0)` is
    /// end of stream.
    pub async fn read(&self, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let spare = buf.chunk_mut();
            let room = spare.len();
            // SAFETY: `read` writes at most `room` bytes into the spare capacity it is given;
            // exactly the `n` bytes it reports are then marked initialised.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    spare.as_mut_ptr().cast(),
                    room,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    guard.clear_ready();
                    continue;
                }
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            // SAFETY: the kernel initialised these `n` bytes.
            unsafe { buf.advance_mut(n) };
            if n < room {
                guard.clear_ready();
            }
            return Ok(n);
        }
    }

    /// Writes all of `data`. With `stall`, a socket that stays full that long (the client reads
    /// nothing) is an error (`TimedOut`), as Redis's `timeout` closes a client without
    /// interaction.
    pub async fn write_all(&self, mut data: &[u8], stall: Option<Duration>) -> io::Result<()> {
        // Registered on the first write that finds the send buffer full.
        let mut waiter: Option<AsyncFd<TcpStream>> = None;
        while !data.is_empty() {
            match self.fd.get_ref().write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if waiter.is_none() {
                        // Registering reports readiness that already holds, so space freed
                        // since the failed write is not missed.
                        let dup = self.fd.get_ref().try_clone()?;
                        // SAFETY: the duplicate is owned by the `AsyncFd`, which closes it
                        // when dropped.
                        waiter = Some(unsafe {
                            AsyncFd::register_with_interest(dup, Interest::WRITABLE)
                        }?);
                    }
                    if let Some(w) = &waiter {
                        let mut guard = match stall {
                            None => w.writable().await?,
                            Some(t) => match tokio::time::timeout(t, w.writable()).await {
                                Ok(g) => g?,
                                Err(_) => return Err(io::ErrorKind::TimedOut.into()),
                            },
                        };
                        match guard.try_io(|_| self.fd.get_ref().write(data)) {
                            Ok(Ok(n)) => data = &data[n..],
                            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                            Ok(Err(e)) => return Err(e),
                            Err(_would_block) => {}
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
