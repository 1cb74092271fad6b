//! Key hashing and the engine's cheap random numbers.
//!
//! [`KeyHasher`] is a seeded wyhash-style hash (folded 64x64->128 multiplies). One hash per key
//! access feeds everything: the top bits pick the shard, the low bits the home slot of the shard's
//! index, so a lookup hashes the key once. The seed is random per engine (HashDoS resistance:
//! a client cannot precompute colliding keys).
//!
//! [`rand_u64`] and friends are a thread-local wyrand generator seeded from the OS, used for
//! sampling (eviction, active expiry, RANDOMKEY) and the LFU logarithmic increment; they never
//! lock and never allocate.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn r8(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn r4(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[i..i + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// A seeded hash for keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    seed: u64,
}

impl KeyHasher {
    /// A hasher with a random seed.
    pub(crate) fn random() -> Self {
        Self::with_seed(os_random())
    }

    /// A hasher with a fixed seed.
    pub(crate) fn with_seed(seed: u64) -> Self {
        Self {
            seed: seed ^ mum(seed ^ P0, P1),
        }
    }

    /// The 64-bit hash of `key`.
    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        let len = key.len();
        let mut seed = self.seed;
        let (a, b) = if len <= 16 {
            if len >= 4 {
                let q = (len >> 3) << 2;
                (
                    (r4(key, 0) << 32) | r4(key, q),
                    (r4(key, len - 4) << 32) | r4(key, len - 4 - q),
                )
            } else if len > 0 {
                (
                    (u64::from(key[0]) << 16)
                        | (u64::from(key[len >> 1]) << 8)
                        | u64::from(key[len - 1]),
                    0,
                )
            } else {
                (0, 0)
            }
        } else {
            let mut i = 0;
            let mut rest = len;
            if rest > 48 {
                let mut s1 = seed;
                let mut s2 = seed;
                while rest > 48 {
                    seed = mum(r8(key, i) ^ P1, r8(key, i + 8) ^ seed);
                    s1 = mum(r8(key, i + 16) ^ P2, r8(key, i + 24) ^ s1);
                    s2 = mum(r8(key, i + 32) ^ P0, r8(key, i + 40) ^ s2);
                    i += 48;
                    rest -= 48;
                }
                seed ^= s1 ^ s2;
            }
            while rest > 16 {
                seed = mum(r8(key, i) ^ P1, r8(key, i + 8) ^ seed);
                i += 16;
                rest -= 16;
            }
            (r8(key, len - 16), r8(key, len - 8))
        };
        mum(P1 ^ len as u64, mum(a ^ P1, b ^ seed))
    }
}

/// 64 random bits from the operating system's hash seed source.
fn os_random() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(os_random());
}

/// A uniformly random `u64` from the thread-local generator.
#[inline]
pub(crate) fn rand_u64() -> u64 {
    RNG.with(|s| {
        let x = s.get().wrapping_add(P0);
        s.set(x);
        mum(x, x ^ P1)
    })
}

/// A uniformly random index in `0..n`; 0 when `n == 0`.
#[inline]
pub(crate) fn rand_below(n: usize) -> usize {
    ((u128::from(rand_u64()) * n as u128) >> 64) as usize
}

/// A uniformly random float in `[0, 1)`.
#[inline]
pub(crate) fn rand_f64() -> f64 {
    (rand_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hash_is_deterministic_per_seed_and_seed_dependent() {
        let a = KeyHasher::with_seed(1);
        let b = KeyHasher::with_seed(2);
        for len in 0..100usize {
            let key: Vec<u8> = (0..len as u8).collect();
            assert_eq!(a.hash(&key), a.hash(&key));
            if len > 0 {
                assert_ne!(a.hash(&key), b.hash(&key));
            }
        }
    }

    #[test]
    fn hash_spreads_similar_keys() {
        let h = KeyHasher::with_seed(7);
        let mut top = HashSet::new();
        let mut low = HashSet::new();
        for i in 0..4096u32 {
            let k = format!("key:{i:06}");
            let x = h.hash(k.as_bytes());
            top.insert(x >> 56);
            low.insert(x & 0xff);
        }
        assert_eq!(top.len(), 256);
        assert_eq!(low.len(), 256);
    }

    #[test]
    fn rand_below_stays_in_range() {
        for n in 1..50 {
            for _ in 0..50 {
                assert!(rand_below(n) < n);
            }
        }
        assert_eq!(rand_below(0), 0);
        let f = rand_f64();
        assert!((0.0..1.0).contains(&f));
    }
}
