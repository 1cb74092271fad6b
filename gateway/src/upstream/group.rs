//! A stdio upstream's process group.
//!
//! `npx`, `uvx`, `docker run` and shell wrappers start the real server as a grandchild of the
//! gateway; killing only the child leaves it running. So each upstream is started as the leader
//! of a new process group (`setpgid(0, 0)`, unix), and stopping it signals the whole group:
//! `SIGTERM`, then `SIGKILL` for what is left. The group is also killed after the leader exits
//! by itself (orphans of a crashed server), and when the [`ProcessGroup`] is dropped (a session
//! task dropped while the runtime shuts down, e.g. the gateway exiting).
//!
//! The group id is the leader's pid. Signals go to it only while the leader is unreaped or
//! right after it was reaped (a live member keeps the id from being reused). Elsewhere than on
//! unix these are no-ops and only the child itself is killed (`kill_on_drop`).

use tokio::process::{Child, Command};

/// The process group of one stdio upstream (see the module header).
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    /// The group id (the leader's pid); `None` when unknown or not on unix.
    pgid: Option<i32>,
}

impl ProcessGroup {
    /// Makes the command's process the leader of a new process group.
    pub(crate) fn configure(cmd: &mut Command) {
        #[cfg(unix)]
        cmd.process_group(0);
        #[cfg(not(unix))]
        let _ = cmd;
    }

    /// The group of a child started from a command set up by [`ProcessGroup::configure`].
    pub(crate) fn of(child: &Child) -> ProcessGroup {
        let pgid = if cfg!(unix) {
            child.id().and_then(|id| i32::try_from(id).ok())
        } else {
            None
        };
        ProcessGroup { pgid }
    }

    /// Asks every process of the group to stop (`SIGTERM`).
    pub(crate) fn terminate(&self) {
        #[cfg(unix)]
        self.signal(libc::SIGTERM);
    }

    /// Kills every process of the group (`SIGKILL`).
    pub(crate) fn kill(&self) {
        #[cfg(unix)]
        self.signal(libc::SIGKILL);
    }

    #[cfg(unix)]
    fn signal(&self, sig: libc::c_int) {
        // pgid 0 or below would name our own group or every process: never signalled.
        if let Some(pgid) = self.pgid.filter(|p| *p > 1) {
            // SAFETY: killpg takes plain integers and touches no memory of ours; a group that
            // no longer exists gives ESRCH, which is ignored.
            unsafe {
                libc::killpg(pgid, sig);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
