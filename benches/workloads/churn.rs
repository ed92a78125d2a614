//! Small-object churn: one thread replaces random slots of a table with
//! fresh blocks of 8 to 256 bytes, the bread and butter of most programs.

use super::{Rng, block, replace_slots, scaled};

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
  let replacements = scaled(REPLACEMENTS, scale);
  replace_slots(
    &mut rng,
    SLOTS,
    replacements,
    |rng| rng.range(MIN_SIZE, MAX_SIZE),
    block,
  )
}
