//! A connection's private command state: database, authentication, protocol, MULTI queue,
//! WATCH tokens, subscriptions.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use protocol::Protocol;

use super::blocking::{BlockRequest, Blocked};
use super::{ClientInfo, Mailbox};
use crate::engine::WatchToken;

/// The state of one connection.
#[derive(Debug)]
pub struct Session {
    /// The shared view of this client.
    pub info: Arc<ClientInfo>,
    /// Selected database.
    pub db: usize,
    /// False while a password is required and not yet given.
    pub authenticated: bool,
    /// RESP2 or RESP3.
    pub proto: Protocol,
    /// Queued commands after MULTI (each an owned argument vector).
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command failed to queue: EXEC will answer EXECABORT.
    pub multi_error: bool,
    /// WATCHed keys.
    pub watches: Vec<WatchToken>,
    /// Subscribed channels.
    pub channels: HashSet<Bytes>,
    /// Subscribed patterns.
    pub patterns: HashSet<Bytes>,
    /// This connection's inbox for pub/sub messages and MONITOR lines.
    pub mailbox: Mailbox,
    /// Close once the pending replies are written (QUIT, protocol error, SHUTDOWN...).
    pub close: bool,
    /// `CLIENT NO-EVICT`.
    pub no_evict: bool,
    /// `CLIENT NO-TOUCH`: reads do not refresh LRU/LFU.
    pub no_touch: bool,
    /// Blocking commands may block (a network connection outside EXEC); otherwise they act
    /// as their non-blocking forms.
    pub can_block: bool,
    /// Set by a blocking command that found nothing to take and may block.
    pub block_request: Option<BlockRequest>,
    /// The command this client is blocked in, if any.
    pub blocked: Option<Blocked>,
    /// The ACL user.
    pub acl: super::acl::AclSession,
    /// Subscribed shard channels (SSUBSCRIBE).
    pub shard_channels: HashSet<Bytes>,
    /// `CLIENT REPLY OFF`: replies are dropped.
    pub reply_off: bool,
    /// `CLIENT REPLY SKIP`: the reply to the current command is dropped.
    pub reply_skip: bool,
    /// `CLIENT REPLY SKIP` ran: the next command's reply is dropped.
    pub reply_skip_next: bool,
    /// Stopped before a command held back by `CLIENT PAUSE`.
    pub paused: bool,
    /// `CLIENT TRACKING ON` options, while tracking is on.
    pub tracking: Option<super::tracking::TrackOpts>,
    /// `CLIENT CACHING YES|NO` was given for the next command.
    pub track_caching: bool,
    /// One of `reply_off`, `reply_skip`, `reply_skip_next`, `track_caching` is set: the
    /// dispatcher looks at them after the command (one test per command otherwise).
    pub after_command: bool,
}

impl Session {
    /// A fresh session.
    pub fn new(info: Arc<ClientInfo>, mailbox: Mailbox, authenticated: bool) -> Self {
        let _ = info.mailbox.set(mailbox.clone());
        Session {
            info,
            db: 0,
            authenticated,
            proto: Protocol::Resp2,
            multi: None,
            multi_error: false,
            watches: Vec::new(),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            mailbox,
            close: false,
            no_evict: false,
            no_touch: false,
            can_block: false,
            block_request: None,
            blocked: None,
            acl: Default::default(),
            shard_channels: HashSet::new(),
            reply_off: false,
            reply_skip: false,
            reply_skip_next: false,
            paused: false,
            tracking: None,
            track_caching: false,
            after_command: false,
        }
    }

    /// In RESP2 subscriber mode only a few commands are allowed.
    pub fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shard_channels.is_empty()
    }

    /// Selects a database and publishes it to the registry.
    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    /// Publishes the subscription counts to the registry.
    pub fn publish_sub_counts(&self) {
        self.info.subs.store(self.channels.len(), Ordering::Relaxed);
        self.info
            .psubs
            .store(self.patterns.len(), Ordering::Relaxed);
    }
}
