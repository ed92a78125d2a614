//! Mixed blocks from 4 KiB to 4 MiB (log-uniform), every page touched,
//! replaced at random in a small table: the medium and large paths.

use std::mem;

use super::{Rng, scaled, touched_block};

/// Live blocks kept in the table.
const SLOTS: usize = 32;
/// Replacements at scale 1.
const REPLACEMENTS: usize = 12_000;
/// Smallest block.
const MIN_SIZE: usize = 4 << 10;
/// Largest block (exclusive).
const MAX_SIZE: usize = 4 << 20;
/// Seed of the size and slot sequence.
const SEED: u64 = 0xb10c;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut rng = Rng::new(SEED);
  let mut slots: Vec<Vec<u8>> = (0..SLOTS).map(|_| Vec::new()).collect();
  let mut checksum = 0_u64;
  for round in 0..scaled(REPLACEMENTS, scale) {
    let slot = rng.range(0, SLOTS);
    let size = rng.log_size(MIN_SIZE, MAX_SIZE);
    let fresh = touched_block(size, round.to_le_bytes()[0]);
    let old = mem::replace(&mut slots[slot], fresh);
    checksum = checksum.wrapping_add(old.capacity() as u64);
  }
  checksum
}
