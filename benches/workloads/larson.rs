//! Larson-like server pattern: each of a few lanes keeps a table of blocks;
//! a worker thread replaces random slots, then hands the table to a fresh
//! thread and exits, so blocks are freed by threads that did not allocate
//! them and heaps of dead threads must be reused.

use std::mem;
use std::thread;

use super::{Rng, block, scaled};

/// Lanes running at once (one per core of the reference machine).
const LANES: usize = 2;
/// Blocks per lane.
const SLOTS: usize = 2000;
/// Thread generations per lane at scale 1.
const GENERATIONS: usize = 100;
/// Slot replacements per generation.
const REPLACEMENTS: usize = 20_000;
/// Smallest block.
const MIN_SIZE: usize = 16;
/// Largest block (exclusive).
const MAX_SIZE: usize = 1024;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let generations = scaled(GENERATIONS, scale);
  let lanes: Vec<_> = (0..LANES)
    .map(|lane| thread::spawn(move || run_lane(lane as u64, generations)))
    .collect();
  lanes
    .into_iter()
    .map(|lane| lane.join().unwrap_or_default())
    .fold(0, u64::wrapping_add)
}

/// One lane: its table passes through `generations` short-lived threads.
fn run_lane(lane: u64, generations: usize) -> u64 {
  let mut rng = Rng::new(lane + 1);
  let mut slots: Vec<Vec<u8>> = (0..SLOTS)
    .map(|_| block(rng.range(MIN_SIZE, MAX_SIZE), 0))
    .collect();
  let mut checksum = 0_u64;
  for generation in 0..generations {
    let seed = rng.next();
    let worker = thread::spawn(move || {
      let sum = replace_slots(&mut slots, seed, generation);
      (slots, sum)
    });
    let (table, sum) = worker.join().unwrap_or_default();
    slots = table;
    checksum = checksum.wrapping_add(sum);
  }
  checksum
}

/// Replaces random slots of `slots` with fresh blocks.
fn replace_slots(slots: &mut [Vec<u8>], seed: u64, generation: usize) -> u64 {
  let mut rng = Rng::new(seed);
  let fill = generation.to_le_bytes()[0];
  let mut checksum = 0_u64;
  for _ in 0..REPLACEMENTS {
    let slot = rng.range(0, slots.len());
    let old = mem::replace(
      &mut slots[slot],
      block(rng.range(MIN_SIZE, MAX_SIZE), fill),
    );
    checksum = checksum.wrapping_add(old.capacity() as u64);
  }
  checksum
}
