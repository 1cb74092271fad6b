//! The stdio transport: the upstream is a child process speaking newline-delimited JSON-RPC on
//! its stdin and stdout (MCP "stdio" transport, all versions).
//!
//! The child starts with an allow-list of the gateway's environment plus the server's own `env`
//! ([`super::env`]), as the leader of its own process group ([`super::group`]).
//!
//! Four tasks per child: a writer (one queue, so messages never interleave), a reader (each
//! stdout line is one message; non-JSON lines, which some servers print, are logged and
//! skipped), a stderr logger (`tracing` debug, never our stdout) and a supervisor that owns the
//! child and its group. When the child exits or closes stdout the supervisor closes the session
//! with its exit status, so pending requests fail at once, and kills what is left of the group.
//! Closing the session closes the child's stdin, as the MCP specification asks; a child still
//! running [`STOP_GRACE`] later gets `SIGTERM` (the whole group), and `SIGKILL` after as long
//! again. The group is also killed when the supervisor is dropped, and the child when it is
//! dropped (`kill_on_drop`).
//!
//! Invariants: lines longer than [`MAX_LINE`] are discarded, so a child cannot make the gateway
//! buffer without limit; a child that stops reading its stdin blocks neither the session's
//! shutdown (the writer also stops on it) nor a caller past its deadline (see `session`).

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::group::ProcessGroup;
use super::session::{Core, Link};
use super::spec::{Transport, UpstreamSpec};
use super::{UpstreamError, UpstreamHandler};
use crate::jsonrpc::Message;

/// The longest stdout line (one message) accepted: 64 MiB.
pub(crate) const MAX_LINE: usize = 64 * 1024 * 1024;
/// The longest stderr line logged whole.
const MAX_LOG_LINE: usize = 8 * 1024;
/// How long a stopping child gets after its stdin closed, and again after `SIGTERM`.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(1);

/// The sending side of a stdio session.
pub(crate) struct StdioLink {
    tx: mpsc::Sender<Vec<u8>>,
    exited: watch::Receiver<bool>,
}

fn frame(msg: &Message) -> Vec<u8> {
    let mut bytes = msg.to_bytes();
    bytes.push(b'\n');
    bytes
}

impl StdioLink {
    /// Queues one message; `Err` when the writer has stopped.
    pub(crate) async fn send(&self, msg: &Message) -> Result<(), ()> {
        self.tx.send(frame(msg)).await.map_err(|_| ())
    }

    /// Queues one message without waiting (dropped if the queue is full or closed).
    pub(crate) fn try_send(&self, msg: &Message) {
        let _ = self.tx.try_send(frame(msg));
    }

    /// Waits until the child has exited, at most `limit`.
    pub(crate) async fn wait_exited(&self, limit: Duration) {
        let mut rx = self.exited.clone();
        let _ = tokio::time::timeout(limit, rx.wait_for(|e| *e)).await;
    }
}

/// Spawns the child and its tasks.
pub(crate) fn open(
    spec: UpstreamSpec,
    handler: Arc<dyn UpstreamHandler>,
) -> Result<Arc<Core>, UpstreamError> {
    let Transport::Stdio { command, args, env } = &spec.transport else {
        return Err(UpstreamError::Protocol("not a stdio spec".into()));
    };
    let name = spec.name.clone();
    let mut cmd = Command::new(command);
    cmd.args(args)
        .env_clear()
        .envs(super::env::child_env(std::env::vars_os(), env))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    ProcessGroup::configure(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| {
        UpstreamError::Spawn(format!(
            "upstream server `{name}`: cannot run `{command}`: {e}"
        ))
    })?;
    let group = ProcessGroup::of(&child);
    let missing =
        |what: &str| UpstreamError::Spawn(format!("upstream server `{name}`: no {what} pipe"));
    let stdin = child.stdin.take().ok_or_else(|| missing("stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
    let stderr = child.stderr.take().ok_or_else(|| missing("stderr"))?;

    let (tx, rx) = mpsc::channel(1024);
    let (exited_tx, exited_rx) = watch::channel(false);
    let core = Core::new(
        spec,
        handler,
        Link::Stdio(StdioLink {
            tx,
            exited: exited_rx,
        }),
    );
    let (reader_done_tx, reader_done_rx) = oneshot::channel();
    tokio::spawn(write_loop(stdin, rx, core.shutdown.clone()));
    tokio::spawn({
        let core = core.clone();
        async move {
            let c = core.clone();
            read_lines(stdout, MAX_LINE, move |line| {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    c.dispatch_bytes(line, None);
                }
            })
            .await;
            let _ = reader_done_tx.send(());
        }
    });
    tokio::spawn(async move {
        read_lines(stderr, MAX_LOG_LINE, |line| {
            let text = String::from_utf8_lossy(line);
            tracing::debug!(server = %name, "stderr: {}", text.trim_end());
        })
        .await;
    });
    tokio::spawn(supervise(
        core.clone(),
        child,
        group,
        reader_done_rx,
        exited_tx,
    ));
    Ok(core)
}

async fn write_loop(
    mut stdin: ChildStdin,
    mut rx: mpsc::Receiver<Vec<u8>>,
    shutdown: CancellationToken,
) {
    let write = async {
        while let Some(buf) = rx.recv().await {
            stdin.write_all(&buf).await?;
            while let Ok(more) = rx.try_recv() {
                stdin.write_all(&more).await?;
            }
            stdin.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    // A child that stops reading blocks `write_all`: the shutdown still ends the writer.
    tokio::select! {
        _ = write => {}
        _ = shutdown.cancelled() => {}
    }
    // Dropping stdin closes it: the child's signal to exit.
}

/// Calls `f` with each line (without its `\n`); lines over `max` bytes are skipped.
pub(crate) async fn read_lines<R: AsyncRead + Unpin>(r: R, max: usize, mut f: impl FnMut(&[u8])) {
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, Some(i)),
            None => (buf.len(), None),
        };
        match complete {
            Some(i) if !skipping && line.is_empty() => f(&buf[..i]),
            Some(i) if !skipping => {
                line.extend_from_slice(&buf[..i]);
                f(&line);
                line.clear();
            }
            Some(_) => skipping = false,
            None if !skipping => {
                line.extend_from_slice(buf);
                if line.len() > max {
                    tracing::debug!("line longer than {max} bytes discarded");
                    line = Vec::new();
                    skipping = true;
                }
            }
            None => {}
        }
        reader.consume(used);
    }
    if !skipping && !line.is_empty() {
        f(&line);
    }
}

async fn supervise(
    core: Arc<Core>,
    mut child: Child,
    group: ProcessGroup,
    mut reader_done: oneshot::Receiver<()>,
    exited: watch::Sender<bool>,
) {
    let shutdown = core.shutdown.clone();
    let what = tokio::select! {
        status = child.wait() => {
            // Let the reader deliver what the child wrote before exiting.
            let _ = tokio::time::timeout(Duration::from_millis(200), &mut reader_done).await;
            describe(status)
        }
        _ = &mut reader_done => {
            match tokio::time::timeout(Duration::from_secs(1), child.wait()).await {
                Ok(status) => describe(status),
                Err(_) => {
                    kill(&mut child, &group).await;
                    "closed its stdout".to_string()
                }
            }
        }
        _ = shutdown.cancelled() => {
            stop(&mut child, &group).await;
            exited.send_replace(true);
            return;
        }
    };
    // Whatever the server left behind (a crashed `npx` leaves its server running).
    group.kill();
    exited.send_replace(true);
    core.close_with(format!("upstream server `{}` {what}", core.name));
}

/// Stops a child whose stdin was closed: waits [`STOP_GRACE`] for it to exit, then sends
/// `SIGTERM` to its group and waits as long again, then kills the group. Processes of the group
/// still running once the leader is gone are killed too.
async fn stop(child: &mut Child, group: &ProcessGroup) {
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        group.terminate();
        if tokio::time::timeout(STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            kill(child, group).await;
        }
    }
    group.kill();
}

/// Kills the group and the child, and reaps the child.
async fn kill(child: &mut Child, group: &ProcessGroup) {
    group.kill();
    let _ = child.start_kill();
    let _ = child.wait().await;
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => format!("exited ({s})"),
        Err(e) => format!("could not be waited for: {e}"),
    }
}
