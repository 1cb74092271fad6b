//! INFO, with Redis's section and field names so that tools reading them (`redis-cli`,
//! exporters, the gateway) work unchanged. `# Persistence` reports RDB snapshots as Redis
//! names the fields (there is no fork: the copy-on-write figures are 0; no AOF yet).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::server::REDIS_VERSION;
use super::Ctx;
use crate::state::Shared;

pub(super) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b < 1024f64.powi(4) {
        format!("{:.2}G", b / 1024f64.powi(3))
    } else {
        format!("{:.2}T", b / 1024f64.powi(4))
    }
}

/// Resident set size of this process, from `/proc/self/statm`.
pub(super) fn rss_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |p| p * page)
}

/// User and system CPU seconds of this process.
fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0;
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / tick;
    (get(11), get(12))
}

fn total_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

fn info_section(s: &Shared, name: &str, out: &mut String) {
    let cfg = s.config.read();
    let uptime = s.uptime_ms() / 1000;
    let w = |out: &mut String, k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match name {
        "server" => {
            out.push_str("# Server\r\n");
            w(out, "redis_version", &REDIS_VERSION);
            w(out, "cachesrv_version", &env!("CARGO_PKG_VERSION"));
            w(out, "redis_git_sha1", &"00000000");
            w(out, "redis_git_dirty", &0);
            w(out, "redis_build_id", &"0");
            w(out, "redis_mode", &"standalone");
            w(
                out,
                "os",
                &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            w(out, "arch_bits", &64);
            w(out, "monotonic_clock", &"POSIX clock_gettime");
            w(out, "multiplexing_api", &"epoll");
            w(out, "process_id", &std::process::id());
            w(out, "process_supervised", &"no");
            w(out, "run_id", &s.run_id);
            w(out, "tcp_port", &s.port.load(Ordering::Relaxed));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            w(out, "server_time_usec", &now.as_micros());
            w(out, "uptime_in_seconds", &uptime);
            w(out, "uptime_in_days", &(uptime / 86400));
            w(out, "hz", &cfg.hz());
            w(out, "configured_hz", &cfg.hz());
            w(out, "lru_clock", &(now.as_secs() & ((1 << 24) - 1)));
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            w(out, "executable", &exe);
            w(out, "config_file", &cfg.file().unwrap_or_default());
            w(out, "io_threads_active", &0);
            w(out, "server_threads", &cfg.server_threads());
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            w(out, "connected_clients", &s.clients.count());
            w(out, "cluster_connections", &0);
            w(out, "maxclients", &cfg.maxclients());
            w(out, "client_recent_max_input_buffer", &0);
            w(
                out,
                "client_recent_max_output_buffer",
                &s.climits.recent_max_output(),
            );
            w(out, "blocked_clients", &s.blocking.count());
            w(out, "tracking_clients", &s.tracking.info().clients);
            w(out, "clients_in_timeout_table", &s.blocking.timed());
        }
        "memory" => {
            let used = s.engine.used_memory();
            let peak = s.peak_memory.fetch_max(used, Ordering::Relaxed).max(used);
            let rss = rss_bytes();
            let maxmem = s.engine.maxmemory();
            let total = total_memory();
            out.push_str("# Memory\r\n");
            w(out, "used_memory", &used);
            w(out, "used_memory_human", &human(used));
            w(out, "used_memory_rss", &rss);
            w(out, "used_memory_rss_human", &human(rss));
            w(out, "used_memory_peak", &peak);
            w(out, "used_memory_peak_human", &human(peak));
            let perc = if peak > 0 {
                used as f64 * 100.0 / peak as f64
            } else {
                100.0
            };
            w(out, "used_memory_peak_perc", &format!("{perc:.2}%"));
            w(out, "used_memory_overhead", &0);
            w(out, "used_memory_startup", &0);
            w(out, "used_memory_dataset", &used);
            w(out, "used_memory_dataset_perc", &"100.00%");
            w(out, "total_system_memory", &total);
            w(out, "total_system_memory_human", &human(total));
            let scripts = &s.scripts;
            let lua = scripts.vm_memory.load(Ordering::Relaxed);
            let (libraries, functions, function_bytes) = scripts.function_counts();
            let eval_bytes = scripts.cache_bytes();
            w(out, "used_memory_lua", &lua);
            w(out, "used_memory_vm_eval", &lua);
            w(out, "used_memory_lua_human", &human(lua));
            w(out, "used_memory_scripts_eval", &eval_bytes);
            w(out, "number_of_cached_scripts", &scripts.cached());
            w(out, "number_of_functions", &functions);
            w(out, "number_of_libraries", &libraries);
            w(out, "used_memory_vm_functions", &0);
            w(out, "used_memory_vm_total", &lua);
            w(out, "used_memory_vm_total_human", &human(lua));
            w(out, "used_memory_functions", &function_bytes);
            w(out, "used_memory_scripts", &(eval_bytes + function_bytes));
            w(
                out,
                "used_memory_scripts_human",
                &human(eval_bytes + function_bytes),
            );
            w(out, "maxmemory", &maxmem);
            w(out, "maxmemory_human", &human(maxmem));
            w(out, "maxmemory_policy", &s.engine.policy());
            let frag = if used > 0 {
                rss as f64 / used as f64
            } else {
                1.0
            };
            w(out, "mem_fragmentation_ratio", &format!("{frag:.2}"));
            w(out, "mem_allocator", &"libc");
            w(out, "lazyfree_pending_objects", &0);
        }
        "persistence" => {
            let p = s.persist_info();
            out.push_str("# Persistence\r\n");
            w(out, "loading", &u8::from(p.loading));
            w(out, "async_loading", &0);
            w(out, "current_cow_peak", &0);
            w(out, "current_cow_size", &0);
            w(out, "current_cow_size_age", &0);
            w(out, "current_fork_perc", &"0.00");
            w(out, "current_save_keys_processed", &p.keys_processed);
            w(out, "current_save_keys_total", &p.keys_total);
            w(out, "rdb_changes_since_last_save", &p.changes);
            w(
                out,
                "rdb_bgsave_in_progress",
                &u8::from(p.bgsave_in_progress),
            );
            w(out, "rdb_last_save_time", &p.last_save_time);
            w(
                out,
                "rdb_last_bgsave_status",
                &if p.last_ok { "ok" } else { "err" },
            );
            w(out, "rdb_last_bgsave_time_sec", &p.last_bgsave_secs);
            w(out, "rdb_current_bgsave_time_sec", &p.current_bgsave_secs);
            w(out, "rdb_saves", &p.saves);
            w(out, "rdb_last_cow_size", &0);
            w(out, "rdb_last_load_keys_expired", &p.load_expired);
            w(out, "rdb_last_load_keys_loaded", &p.load_loaded);
            let a = s.aof_info();
            let status = |ok: bool| if ok { "ok" } else { "err" };
            w(out, "aof_enabled", &u8::from(a.enabled));
            w(out, "aof_rewrite_in_progress", &u8::from(a.rewriting));
            w(out, "aof_rewrite_scheduled", &u8::from(a.scheduled));
            w(out, "aof_last_rewrite_time_sec", &a.last_rewrite_secs);
            w(out, "aof_current_rewrite_time_sec", &a.current_rewrite_secs);
            w(out, "aof_last_bgrewrite_status", &status(a.last_rewrite_ok));
            w(out, "aof_rewrites", &a.rewrites);
            w(
                out,
                "aof_rewrites_consecutive_failures",
                &a.consecutive_failures,
            );
            w(out, "aof_last_write_status", &status(a.last_write_ok));
            w(out, "aof_last_cow_size", &0);
            w(out, "module_fork_in_progress", &0);
            w(out, "module_fork_last_cow_size", &0);
            if a.enabled {
                w(out, "aof_current_size", &a.current_size);
                w(out, "aof_base_size", &a.base_size);
                w(out, "aof_pending_rewrite", &0);
                w(out, "aof_buffer_length", &a.buffer_length);
                w(out, "aof_pending_bio_fsync", &a.pending_fsync);
                w(out, "aof_delayed_fsync", &a.delayed_fsync);
            }
        }
        "stats" => {
            let st = &s.stats;
            let es = s.engine.stats();
            let (channels, patterns) = s.pubsub.counts();
            out.push_str("# Stats\r\n");
            w(
                out,
                "total_connections_received",
                &st.total_connections.load(Ordering::Relaxed),
            );
            w(
                out,
                "total_commands_processed",
                &st.total_commands.load(Ordering::Relaxed),
            );
            w(
                out,
                "instantaneous_ops_per_sec",
                &st.ops_per_sec.load(Ordering::Relaxed),
            );
            w(
                out,
                "total_net_input_bytes",
                &st.net_input_bytes.load(Ordering::Relaxed),
            );
            w(
                out,
                "total_net_output_bytes",
                &st.net_output_bytes.load(Ordering::Relaxed),
            );
            w(out, "instantaneous_input_kbps", &"0.00");
            w(out, "instantaneous_output_kbps", &"0.00");
            w(
                out,
                "rejected_connections",
                &st.rejected_connections.load(Ordering::Relaxed),
            );
            w(out, "sync_full", &0);
            w(out, "sync_partial_ok", &0);
            w(out, "sync_partial_err", &0);
            w(out, "expired_keys", &es.expired_keys);
            w(out, "expired_stale_perc", &"0.00");
            w(out, "expired_time_cap_reached_count", &0);
            w(out, "evicted_keys", &es.evicted_keys);
            w(
                out,
                "evicted_clients",
                &s.climits.evicted.load(std::sync::atomic::Ordering::Relaxed),
            );
            w(out, "keyspace_hits", &es.keyspace_hits);
            w(out, "keyspace_misses", &es.keyspace_misses);
            w(out, "pubsub_channels", &channels);
            w(out, "pubsub_patterns", &patterns);
            w(out, "latest_fork_usec", &0);
            w(out, "total_forks", &0);
            let ti = s.tracking.info();
            w(out, "tracking_total_keys", &ti.keys);
            w(out, "tracking_total_items", &ti.items);
            w(out, "tracking_total_prefixes", &ti.prefixes);
            w(out, "total_error_replies", &s.errorstats.total());
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            w(out, "role", &"master");
            w(out, "connected_slaves", &0);
            w(out, "master_failover_state", &"no-failover");
            w(out, "master_replid", &s.run_id);
            w(
                out,
                "master_replid2",
                &"0000000000000000000000000000000000000000",
            );
            w(out, "master_repl_offset", &0);
            w(out, "second_repl_offset", &-1);
            w(out, "repl_backlog_active", &0);
            w(
                out,
                "repl_backlog_size",
                &cfg.get("repl-backlog-size").unwrap_or_default(),
            );
            w(out, "repl_backlog_first_byte_offset", &0);
            w(out, "repl_backlog_histlen", &0);
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            out.push_str("# CPU\r\n");
            w(out, "used_cpu_sys", &format!("{sys:.6}"));
            w(out, "used_cpu_user", &format!("{user:.6}"));
            w(out, "used_cpu_sys_children", &"0.000000");
            w(out, "used_cpu_user_children", &"0.000000");
        }
        "modules" => out.push_str("# Modules\r\n"),
        "cluster" => {
            out.push_str("# Cluster\r\n");
            w(out, "cluster_enabled", &0);
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for i in 0..s.engine.databases() {
                if let Ok(k) = s.engine.keyspace_info(i) {
                    if k.keys > 0 {
                        let _ = write!(
                            out,
                            "db{i}:keys={},expires={},avg_ttl={}\r\n",
                            k.keys, k.expires, k.avg_ttl
                        );
                    }
                }
            }
        }
        "latencystats" => super::latency::latencystats(s, out),
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, n) in s.errorstats.snapshot() {
                let _ = write!(out, "errorstat_{code}:count={n}\r\n");
            }
        }
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for (name, calls, usec, rejected, failed) in super::command_stats(s) {
                let per = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    out,
                    "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
                );
            }
        }
        _ => {}
    }
}

pub(super) fn info(ctx: &mut Ctx<'_>, a: &[&[u8]]) {
    let mut sections: Vec<String> = vec![];
    let requested: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    if requested.is_empty() || requested.iter().any(|r| r == "default") {
        sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for r in &requested {
        match r.as_str() {
            "all" | "everything" => {
                sections.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
                sections.push("commandstats".into());
                sections.push("latencystats".into());
            }
            "default" => {}
            other => sections.push(other.to_string()),
        }
    }
    let mut seen = std::collections::HashSet::new();
    sections.retain(|s| seen.insert(s.clone()));
    let sections: Vec<&str> = sections.iter().map(String::as_str).collect();
    let out = info_text(ctx.shared, &sections);
    ctx.verbatim(&out);
}

/// The text `INFO <sections>` answers, read straight from the shared state (no client, no
/// command counted): for the server's `/metrics` responder.
pub fn info_text(shared: &Shared, sections: &[&str]) -> String {
    let mut out = String::new();
    for s in sections {
        let mut sec = String::new();
        info_section(shared, s, &mut sec);
        if !sec.is_empty() {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str(&sec);
        }
    }
    out
}
