//! Growth to a new high: memory freed and waiting for the purge delay
//! goes back before the footprint grows past its high-water mark, rather
//! than adding to a new peak (in a child process, so no other test
//! allocates meanwhile).

use crate::support::{MIB, fill, holds, resident_bytes};

/// The block freed first: its segments wait, resident, for the delay.
const FIRST: usize = 24 * MIB;
/// A block kept just after it, so that the hole it leaves is bounded.
const FENCE: usize = MIB / 4;
/// The block allocated next, too large for the hole: fresh memory, a new
/// high of the memory committed.
const SECOND: usize = 28 * MIB;
/// Of the first block's bytes, at most this many may still be resident
/// once the second is written (its pages given back, not all of them
/// necessarily: the header's, the allocator's own).
const FIRST_LEFT_AT_MOST: usize = 4 * MIB;

isolated_test! {
  fn freed_memory_goes_back_before_growth_to_a_new_high() {
    let mut first = vec![0_u8; FIRST];
    fill(&mut first, 1);
    let mut fence = vec![0_u8; FENCE];
    fill(&mut fence, 2);
    let base = resident_bytes() - FIRST;
    drop(first);
    let mut second = vec![0_u8; SECOND];
    fill(&mut second, 3);
    let grown = resident_bytes() - base;
    assert!(
      grown <= SECOND + FIRST_LEFT_AT_MOST,
      "the first block's pages stayed: {} MiB resident above the base for \
       a {} MiB block",
      grown / MIB,
      SECOND / MIB
    );
    assert!(holds(&second, 3) && holds(&fence, 2), "contents intact");
  }
}
