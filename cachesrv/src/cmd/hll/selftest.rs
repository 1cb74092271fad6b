//! PFSELFTEST: checks the dense register accessors and the estimator, as Redis's command does.
//!
//! Test 1 fills the dense registers with random values and reads them back; test 2 adds
//! distinct elements to a dense and a sparse HyperLogLog together and, at each power of ten,
//! checks that the sparse form is still used while small, that both estimate the same, and
//! that the error stays within six standard errors. Redis goes to ten million elements and
//! a thousand register cycles; this runs to one million and a hundred cycles, so the command
//! returns in well under a second.

use super::format::{self, Set, DENSE_SIZE, HDR, REGISTERS};
use crate::cmd::Ctx;

const CYCLES: usize = 100;
const ELEMENTS: u64 = 1_000_000;

pub(super) fn pfselftest(ctx: &mut Ctx<'_>, _a: &[&[u8]]) {
    match run(ctx.shared.hll_sparse_max_bytes(), CYCLES, ELEMENTS) {
        Ok(()) => ctx.ok(),
        Err(e) => ctx.err(&e),
    }
}

/// The self test with `cycles` register cycles and up to `elements` elements.
pub(super) fn run(max_sparse: usize, cycles: usize, elements: u64) -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut expect = vec![0u8; REGISTERS];
    for _ in 0..cycles {
        for (i, e) in expect.iter_mut().enumerate() {
            let r = rand::random::<u8>() & 63;
            *e = r;
            format::dense_put(&mut regs, i, r);
        }
        for (i, &e) in expect.iter().enumerate() {
            let v = format::dense_get(&regs, i);
            if v != e {
                return Err(format!("TESTFAILED Register {i} should be {e} but is {v}"));
            }
        }
    }
    let mut dense = format::new_sparse();
    dense = format::to_dense(&dense).map_err(|()| "TESTFAILED dense conversion".to_string())?;
    let mut sparse = format::new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rand::random();
    let mut checkpoint: u64 = 1;
    let count = |h: &[u8]| format::histogram(h).map_or(u64::MAX, |h| format::estimate(&h));
    for j in 1..=elements {
        let ele = (j ^ seed).to_le_bytes();
        let (i, c) = format::pat_len(&ele);
        format::dense_set(&mut dense[HDR..], i, c);
        if format::set(&mut sparse, i, c, max_sparse) == Set::Invalid {
            return Err("TESTFAILED sparse representation corrupted".into());
        }
        if j != checkpoint {
            continue;
        }
        if j < (max_sparse / 2) as u64 && sparse[4] != format::SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let estimate = count(&dense);
        if estimate != count(&sparse) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(estimate);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_self_test_passes() {
        assert_eq!(super::run(3000, 2, 100_000), Ok(()));
    }
}
