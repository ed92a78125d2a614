//! Small-object churn: one thread replaces random slots of a table with
//! fresh blocks of 8 to 256 bytes, the bread and butter of most programs.

use std::mem;

use super::{Rng, block, scaled};

/// Live blocks kept in the table.
const SLOTS: usize = 4096;
/// Replacements at scale 1.
const REPLACEMENTS: usize = 6_000_000;
/// Smallest block.
const MIN_SIZE: usize = 8;
/// Largest block (exclusive).
const MAX_SIZE: usize = 256;
/// Seed of the size and slot sequence.
const SEED: u64 = 0xc0ffee;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut rng = Rng::new(SEED);
  let mut slots: Vec<Vec<u8>> = (0..SLOTS).map(|_| Vec::new()).collect();
  let mut checksum = 0_u64;
  for round in 0..scaled(REPLACEMENTS, scale) {
    let slot = rng.range(0, SLOTS);
    let size = rng.range(MIN_SIZE, MAX_SIZE);
    let fresh = block(size, round.to_le_bytes()[0]);
    let old = mem::replace(&mut slots[slot], fresh);
    checksum = checksum.wrapping_add(old.capacity() as u64);
  }
  checksum
}
