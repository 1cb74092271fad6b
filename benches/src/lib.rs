//! Benchmarks and load harnesses; see `benches/README.md`.
