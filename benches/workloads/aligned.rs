//! Aligned allocations: blocks of 8 to 2048 bytes with alignments from 16
//! to 4096 bytes, replaced at random in a table.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::{Rng, scaled};

/// Live blocks kept in the table.
const SLOTS: usize = 4096;
/// Replacements at scale 1.
const REPLACEMENTS: usize = 3_000_000;
/// Smallest block.
const MIN_SIZE: usize = 8;
/// Largest block (exclusive).
const MAX_SIZE: usize = 2048;
/// Base-two logarithms of the smallest and largest alignment (16, 4096).
const ALIGN_SHIFTS: (usize, usize) = (4, 12);
/// Seed of the size, alignment and slot sequence.
const SEED: u64 = 0xa11;

/// A block obtained from the global allocator with an explicit layout.
struct AlignedBlock {
  /// The block.
  pointer: NonNull<u8>,
  /// The layout it was allocated with.
  layout: Layout,
}

impl AlignedBlock {
  /// Allocates a block of `layout` (non-zero size) and writes its first byte.
  fn new(layout: Layout) -> Self {
    // SAFETY: every layout made here has a non-zero size.
    let raw = unsafe { alloc::alloc(layout) };
    let Some(pointer) = NonNull::new(raw) else {
      alloc::handle_alloc_error(layout)
    };
    // SAFETY: the block is at least one byte long and ours.
    unsafe { pointer.write(1) };
    Self { pointer, layout }
  }

  /// Whether the block honours its alignment.
  fn is_aligned(&self) -> bool {
    self
      .pointer
      .as_ptr()
      .addr()
      .is_multiple_of(self.layout.align())
  }
}

impl Drop for AlignedBlock {
  fn drop(&mut self) {
    // SAFETY: the block came from `alloc::alloc` with this layout.
    unsafe { alloc::dealloc(self.pointer.as_ptr(), self.layout) };
  }
}

/// A random layout of the workload's size and alignment ranges.
fn random_layout(rng: &mut Rng) -> Layout {
  let align = 1 << rng.range(ALIGN_SHIFTS.0, ALIGN_SHIFTS.1 + 1);
  let size = rng.range(MIN_SIZE, MAX_SIZE);
  Layout::from_size_align(size, align).unwrap_or_else(|_| Layout::new::<u64>())
}

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut rng = Rng::new(SEED);
  let mut slots: Vec<Option<AlignedBlock>> = (0..SLOTS).map(|_| None).collect();
  let mut checksum = 0_u64;
  for _ in 0..scaled(REPLACEMENTS, scale) {
    let slot = rng.range(0, SLOTS);
    let fresh = AlignedBlock::new(random_layout(&mut rng));
    assert!(fresh.is_aligned(), "the allocator honours alignment");
    if let Some(old) = slots[slot].replace(fresh) {
      checksum = checksum.wrapping_add(old.layout.align() as u64);
    }
  }
  checksum
}
