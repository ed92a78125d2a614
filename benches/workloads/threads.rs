//! Thread churn: thousands of short-lived threads, two at a time, each
//! allocating a few hundred blocks, freeing most and handing the rest back
//! to the main thread, which frees them.

use std::thread;

use super::{Rng, block, scaled};

/// Threads started at scale 1.
const THREADS: usize = 4000;
/// Threads alive at once.
const AT_ONCE: usize = 2;
/// Blocks each thread allocates.
const BLOCKS: usize = 500;
/// One block in this many is handed back to the main thread.
const KEEP_EVERY: usize = 5;
/// Smallest block.
const MIN_SIZE: usize = 16;
/// Largest block (exclusive).
const MAX_SIZE: usize = 256;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut checksum = 0_u64;
  for wave in 0..scaled(THREADS, scale).div_ceil(AT_ONCE) {
    let workers: Vec<_> = (0..AT_ONCE)
      .map(|index| {
        let seed = (wave * AT_ONCE + index) as u64;
        thread::spawn(move || short_life(seed))
      })
      .collect();
    for worker in workers {
      let kept = worker.join().unwrap_or_default();
      checksum = kept.iter().fold(checksum, |sum, bytes| {
        sum.wrapping_add(bytes.capacity() as u64)
      });
    }
  }
  checksum
}

/// A worker's life: allocate, free most, return the rest.
fn short_life(seed: u64) -> Vec<Vec<u8>> {
  let mut rng = Rng::new(seed);
  let blocks: Vec<Vec<u8>> = (0..BLOCKS)
    .map(|_| block(rng.range(MIN_SIZE, MAX_SIZE), 0))
    .collect();
  blocks.into_iter().step_by(KEEP_EVERY).collect()
}
