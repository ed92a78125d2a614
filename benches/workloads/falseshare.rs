//! False-sharing check (after Hoard's cache-scratch): the main thread
//! allocates small objects back to back, dealing them alternately to two
//! threads, so that neighbouring objects (and so cache lines) belong to
//! different threads. Each thread frees its objects, allocates as many
//! fresh ones of the same size and increments them many times. An
//! allocator that hands a thread back the blocks it just freed (a
//! per-thread cache refilled by remote frees) leaves the two threads
//! writing to the same cache lines; one that serves each thread from its
//! own pages does not.

use std::hint::black_box;
use std::thread;

use super::scaled;

/// Rounds at scale 1.
const ROUNDS: usize = 10;
/// Increments per thread and round.
const WRITES: usize = 10_000_000;
/// Threads writing at once.
const WRITERS: usize = 2;
/// Objects per thread: enough to span several cache lines whatever the
/// allocator's block spacing.
const OBJECTS: usize = 8;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut checksum = 0_u64;
  for _ in 0..scaled(ROUNDS, scale) {
    let mut dealt: Vec<Vec<Box<u64>>> =
      (0..WRITERS).map(|_| Vec::with_capacity(OBJECTS)).collect();
    for index in 0..WRITERS * OBJECTS {
      dealt[index % WRITERS].push(Box::new(0));
    }
    let writers: Vec<_> = dealt
      .into_iter()
      .map(|objects| thread::spawn(move || scratch(objects)))
      .collect();
    for writer in writers {
      checksum = checksum.wrapping_add(writer.join().unwrap_or_default());
    }
  }
  checksum
}

/// Frees `given`, allocates as many replacements and increments them in
/// turn `WRITES` times in memory, as a program updating its own counters
/// would (`black_box` keeps every store).
#[expect(clippy::vec_box, reason = "each counter must be its own block")]
fn scratch(given: Vec<Box<u64>>) -> u64 {
  let count = given.len();
  drop(given);
  let mut own: Vec<Box<u64>> = (0..count).map(|_| Box::new(0)).collect();
  for write in 0..WRITES {
    let counter = &mut own[write % count];
    **black_box(counter) += 1;
  }
  own.iter().map(|counter| **counter).sum()
}
