//! `client-output-buffer-limit <class> <hard> <soft> <soft seconds> [...]`, as Redis parses it:
//! classes `normal`, `replica` (or `slave`) and `pubsub`; sizes with memory units; a partial
//! value changes only the classes it names; printed back in bytes in Redis's order.

use super::parse_memory;

/// One class's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit {
    /// Bytes of pending output that close the client at once (0: none).
    pub hard: u64,
    /// Bytes of pending output that close it when exceeded for `soft_secs` (0: none).
    pub soft: u64,
    /// Seconds over `soft`.
    pub soft_secs: u64,
}

/// The limits of the three classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Ordinary clients.
    pub normal: Limit,
    /// Replicas (no replica connects to cachesrv; kept for CONFIG GET).
    pub replica: Limit,
    /// Clients subscribed to channels or patterns.
    pub pubsub: Limit,
}

impl Limits {
    /// Reads a canonical or partial value on top of `self`; Redis's complaint otherwise.
    pub fn apply(mut self, raw: &str) -> Result<Limits, String> {
        let parts: Vec<&str> = raw.split_whitespace().collect();
        if !parts.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for p in parts.chunks_exact(4) {
            let class = match p[0].to_ascii_lowercase().as_str() {
                "normal" => &mut self.normal,
                "replica" | "slave" => &mut self.replica,
                "pubsub" => &mut self.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(p[1]).ok_or_else(bad)?;
            let soft = parse_memory(p[2]).ok_or_else(bad)?;
            let soft_secs = p[3].parse::<u64>().map_err(|_| bad())?;
            *class = Limit {
                hard,
                soft,
                soft_secs,
            };
        }
        Ok(self)
    }

    /// The value as CONFIG GET prints it.
    pub fn format(&self) -> String {
        let f = |l: &Limit| format!("{} {} {}", l.hard, l.soft, l.soft_secs);
        format!(
            "normal {} slave {} pubsub {}",
            f(&self.normal),
            f(&self.replica),
            f(&self.pubsub)
        )
    }

    /// Parses a canonical value (defaults for anything unreadable).
    pub fn parse(raw: &str) -> Limits {
        Limits::default().apply(raw).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_values_change_only_their_classes() {
        let d = Limits::default()
            .apply("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
            .expect("defaults");
        let l = d.apply("pubsub 1mb 2kb 3").expect("valid");
        assert_eq!(
            l.format(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2048 3"
        );
        assert!(d.apply("normal 1 2").is_err());
        assert!(d.apply("foo 1 2 3").is_err());
        assert!(d.apply("normal 1 2 -1").is_err());
    }
}
