//! Producer/consumer: one thread allocates blocks of 16 to 512 bytes and
//! sends them in batches to another, which frees them, so every free is a
//! cross-thread free.

use std::sync::mpsc;
use std::thread;

use super::{Rng, block, scaled};

/// Blocks handed over at scale 1.
const BLOCKS: usize = 3_000_000;
/// Blocks per message.
const BATCH: usize = 256;
/// Messages in flight before the producer waits.
const IN_FLIGHT: usize = 16;
/// Smallest block.
const MIN_SIZE: usize = 16;
/// Largest block (exclusive).
const MAX_SIZE: usize = 512;
/// Seed of the size sequence.
const SEED: u64 = 0xfeed;

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let batches = scaled(BLOCKS, scale).div_ceil(BATCH);
  let (sender, receiver) = mpsc::sync_channel::<Vec<Vec<u8>>>(IN_FLIGHT);
  let consumer = thread::spawn(move || {
    let mut checksum = 0_u64;
    for batch in receiver {
      checksum = batch
        .iter()
        .fold(checksum, |sum, bytes| sum.wrapping_add(u64::from(bytes[0])));
    }
    checksum
  });
  let mut rng = Rng::new(SEED);
  for round in 0..batches {
    let fill = round.to_le_bytes()[0];
    let batch = (0..BATCH)
      .map(|_| block(rng.range(MIN_SIZE, MAX_SIZE), fill))
      .collect();
    if sender.send(batch).is_err() {
      break;
    }
  }
  drop(sender);
  consumer.join().unwrap_or_default()
}
