//! False-sharing check (Hoard's cache-scratch): the main thread allocates
//! two small objects back to back and hands one to each of two threads;
//! each frees it, allocates a fresh one of the same size and writes it
//! many times. An allocator that hands the freed block (or its cache line
//! neighbour) back makes the two threads fight over one cache line.

use std::hint::black_box;
use std::thread;

use super::scaled;

/// Rounds at scale 1.
const ROUNDS: usize = 10;
/// Writes per thread and round.
const WRITES: u64 = 10_000_000;
/// Threads writing at once.
const WRITERS: usize = 2;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut checksum = 0_u64;
  for _ in 0..scaled(ROUNDS, scale) {
    let objects: Vec<Box<u64>> = (0..WRITERS).map(|_| Box::new(0)).collect();
    let writers: Vec<_> = objects
      .into_iter()
      .map(|object| thread::spawn(move || scratch(object)))
      .collect();
    for writer in writers {
      checksum = checksum.wrapping_add(writer.join().unwrap_or_default());
    }
  }
  checksum
}

/// Frees `given`, allocates its replacement and increments it `WRITES`
/// times in memory, as a program updating its own counter would
/// (`black_box` keeps every store).
fn scratch(given: Box<u64>) -> u64 {
  drop(given);
  let mut own = Box::new(0_u64);
  for _ in 0..WRITES {
    *black_box(&mut *own) += 1;
  }
  *own
}
