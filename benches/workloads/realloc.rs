//! Realloc growth: vectors grown by doubling (pushes) and by small exact
//! steps (`reserve_exact`), two at a time so that neither always sits at
//! the end of the heap.

use super::scaled;

/// Rounds at scale 1.
const ROUNDS: usize = 300;
/// Final size of the doubling vectors, in elements of 8 bytes (1 MiB).
const DOUBLING_LEN: usize = 1 << 17;
/// Final size of the stepping vectors, in bytes.
const STEP_LEN: usize = 16 * 1024;
/// Bytes added per step.
const STEP: usize = 24;
/// Small vectors grown by doubling per round.
const SMALL_VECTORS: usize = 256;
/// Final size of the small vectors, in elements of 8 bytes (4 KiB).
const SMALL_LEN: usize = 512;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut checksum = 0_u64;
  for round in 0..scaled(ROUNDS, scale) {
    checksum = checksum.wrapping_add(doubling(round as u64));
    checksum = checksum.wrapping_add(stepping(round.to_le_bytes()[0]));
    checksum = checksum.wrapping_add(small_doubling(round as u64));
  }
  checksum
}

/// Grows two vectors to `DOUBLING_LEN` elements by pushes.
fn doubling(seed: u64) -> u64 {
  let mut first = Vec::new();
  let mut second = Vec::new();
  for index in 0..DOUBLING_LEN as u64 {
    first.push(index ^ seed);
    second.push(index);
  }
  first[DOUBLING_LEN - 1].wrapping_add(second.len() as u64)
}

/// Grows two byte vectors to `STEP_LEN` by steps of `STEP` bytes.
fn stepping(fill: u8) -> u64 {
  let mut first: Vec<u8> = Vec::new();
  let mut second: Vec<u8> = Vec::new();
  while first.len() < STEP_LEN {
    first.reserve_exact(STEP);
    first.extend_from_slice(&[fill; STEP]);
    second.reserve_exact(STEP);
    second.extend_from_slice(&[fill; STEP]);
  }
  u64::from(first[STEP_LEN / 2]) + second.capacity() as u64
}

/// Grows many small vectors side by side to `SMALL_LEN` elements.
fn small_doubling(seed: u64) -> u64 {
  let mut vectors: Vec<Vec<u64>> =
    (0..SMALL_VECTORS).map(|_| Vec::new()).collect();
  for index in 0..SMALL_LEN as u64 {
    for vector in &mut vectors {
      vector.push(index ^ seed);
    }
  }
  vectors
    .iter()
    .map(|vector| vector[SMALL_LEN - 1])
    .fold(0, u64::wrapping_add)
}
