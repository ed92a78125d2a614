//! Fragmentation: fill the heap with small blocks, free nine in ten
//! (evenly spread), then allocate larger blocks that cannot reuse the holes, and
//! finally free everything but the survivors. Reports the final resident
//! size after a short pause, which shows how much memory goes back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use super::{Rng, block, memory_kb, scaled};

/// Small blocks allocated first, at scale 1.
const SMALL_BLOCKS: usize = 600_000;
/// Smallest small block.
const SMALL_MIN: usize = 16;
/// Largest small block (exclusive).
const SMALL_MAX: usize = 512;
/// One small block in this many survives to the end.
const SURVIVE_EVERY: usize = 10;
/// Larger blocks allocated into the fragmented heap, at scale 1.
const LARGE_BLOCKS: usize = 60_000;
/// Smallest larger block.
const LARGE_MIN: usize = 600;
/// Largest larger block (exclusive).
const LARGE_MAX: usize = 4000;
/// Pause before the final size is read: longer than any peer's default
/// purge delay (ours is 10 ms).
const SETTLE: Duration = Duration::from_millis(100);
/// Small allocations made after the pause, so that allocators that purge
/// lazily on their allocation path get the chance to.
const SETTLE_CHURN: usize = 10_000;
/// Seed of the size sequence.
const SEED: u64 = 0xf4a9;

/// The final resident size of the last run, in KiB (0 before any run).
static FINAL_KB: AtomicUsize = AtomicUsize::new(0);

/// The final resident size of the last run, if one ran.
pub(super) fn last_final_kb() -> Option<usize> {
  match FINAL_KB.load(Ordering::Relaxed) {
    0 => None,
    kb => Some(kb),
  }
}

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut rng = Rng::new(SEED);
  let small: Vec<Vec<u8>> = (0..scaled(SMALL_BLOCKS, scale))
    .map(|_| block(rng.range(SMALL_MIN, SMALL_MAX), 1))
    .collect();
  let survivors: Vec<Vec<u8>> = small
    .into_iter()
    .enumerate()
    .filter_map(|(index, bytes)| (index % SURVIVE_EVERY == 0).then_some(bytes))
    .collect();
  let large: Vec<Vec<u8>> = (0..scaled(LARGE_BLOCKS, scale))
    .map(|_| block(rng.range(LARGE_MIN, LARGE_MAX), 2))
    .collect();
  let checksum = (survivors.len() + large.len()) as u64;
  drop(large);
  settle();
  FINAL_KB.store(memory_kb().1, Ordering::Relaxed);
  checksum.wrapping_add(survivors.iter().map(|b| b.capacity() as u64).sum())
}

/// Gives the allocator a pause and a little traffic to purge in.
fn settle() {
  thread::sleep(SETTLE);
  for size in 0..SETTLE_CHURN {
    drop(block(SMALL_MIN + size % SMALL_MAX, 0));
  }
}
