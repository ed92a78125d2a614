//! Mixed blocks from 4 KiB to 4 MiB (log-uniform), every page touched,
//! replaced at random in a small table: the medium and large paths.

use super::{Rng, replace_slots, scaled, touched_block};

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
  let replacements = scaled(REPLACEMENTS, scale);
  replace_slots(
    &mut rng,
    SLOTS,
    replacements,
    |rng| rng.log_size(MIN_SIZE, MAX_SIZE),
    touched_block,
  )
}
