//! Tests of the command table and the dispatcher.

use super::*;

#[test]
fn the_event_loop_s_gate_names_are_the_table_s_own_gate_handlers() {
    let mut own = 0;
    for c in commands() {
        let base = c.name.split('|').next().unwrap_or(c.name);
        let kind_own = matches!(c.handler, Handle::OwnGate(_));
        let own_gate = |n: &str| gate_use(n.as_bytes()) != GateUse::Shared;
        assert_eq!(own_gate(base), kind_own, "{}", c.name);
        assert_eq!(c.flags & flags::OWN_GATE != 0, kind_own, "{}", c.name);
        assert_eq!(own_gate(&base.to_uppercase()), kind_own);
        own += usize::from(kind_own);
    }
    // EXEC, the four EVAL forms, FCALL and FCALL_RO, SCRIPT and FUNCTION with their
    // subcommands.
    assert_eq!(own, 1 + 4 + 2 + 7 + 10);
    for name in ["eval", "EVALSHA_RO", "fcall"] {
        assert_eq!(gate_use(name.as_bytes()), GateUse::Script);
    }
    for name in ["exec", "script", "FUNCTION"] {
        assert_eq!(gate_use(name.as_bytes()), GateUse::Own);
    }
    for name in ["get", "set", "sadd", "evalx", "fcal", "scripts", ""] {
        assert_eq!(gate_use(name.as_bytes()), GateUse::Shared, "{name}");
    }
}

#[test]
fn batches_shorter_than_a_microsecond_add_up_in_commandstats() {
    let shared = shared(Config::from_args::<&str>(&[]).expect("config"));
    let get = lookup(b"GET").expect("GET");
    let mut stats = LocalStats::default();
    // Ten batches of one 450 ns GET each: 4 us in all, not ten times nothing.
    let ticks_450ns = timing::micros_to_ticks(450) / 1000;
    for _ in 0..10 {
        let e = stats.entry(get.id);
        e.1 += 1;
        e.2 += ticks_450ns;
        stats.flush(&shared);
    }
    let snap = command_stats(&shared);
    let row = snap.iter().find(|r| r.0 == "get").expect("a get row");
    assert_eq!((row.1, row.2), (10, 4));
}
