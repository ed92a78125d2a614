//! Alignments from 1 byte to 64 MiB through `std::alloc`: every block is
//! aligned, zeroed when asked, keeps its contents across realloc and
//! overlaps no other live block (all live blocks sit in one ordered map of
//! address ranges, shared by the threads).

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::slice;
use std::sync::Mutex;
use std::thread;

use crate::support::{KIB, MIB, Rng, fill, holds, holds_prefix, uniform};

/// log2 of the largest alignment of the sweep and of most random blocks.
const MAX_ALIGN_SHIFT: u32 = 20;
/// Alignments beyond the sweep: above the arena's limit and a whole
/// arena's worth.
const HUGE_ALIGNS: [usize; 2] = [4 * MIB, 64 * MIB];
/// Largest size of the sweep.
const SWEEP_SIZE_LIMIT: usize = 8 * MIB;
/// Threads running random operations at once.
const FUZZ_THREADS: u64 = 2;
/// Random operations per thread.
const FUZZ_OPS: usize = 1200;
/// Live blocks per thread beyond which the fuzz frees rather than
/// allocates.
const FUZZ_LIVE_BLOCKS: usize = 150;
/// Percent of random blocks that are small.
const SMALL_PERCENT: usize = 70;
/// Percent of random blocks that are huge.
const HUGE_PERCENT: usize = 2;
/// Percent of random alignments taken from [`HUGE_ALIGNS`].
const HUGE_ALIGN_PERCENT: usize = 1;
/// Largest small size.
const SMALL_LIMIT: usize = 8 * KIB;
/// Largest large size of the fuzz.
const LARGE_LIMIT: usize = 4 * MIB;
/// Largest huge size of the fuzz.
const HUGE_LIMIT: usize = 40 * MIB;
/// Sizes freed dirty and then allocated zeroed.
const ZEROING_SIZES: [usize; 8] = [
  24,
  1000,
  8 * KIB,
  8 * KIB + 1,
  100 * KIB,
  MIB,
  8 * MIB,
  40 * MIB,
];
/// Alignments of the zeroing test.
const ZEROING_ALIGNS: [usize; 3] = [16, 4096, MIB];
/// Blocks of each size freed dirty per round, so that reuse is likely.
const ZEROING_BLOCKS: usize = 4;
/// Rounds of the zeroing test.
const ZEROING_ROUNDS: usize = 3;
/// The byte dirty blocks are filled with.
const DIRTY: u8 = 0xa5;

/// A live block: where it is, its layout and the id of its pattern.
#[derive(Debug)]
struct Block {
  pointer: NonNull<u8>,
  layout: Layout,
  id: u64,
}

// SAFETY: a block is plain memory owned by whoever holds the `Block`; any
// thread may read, write and free it.
unsafe impl Send for Block {}

impl Block {
  /// A fresh block of `layout`, zeroed if `zeroed`, asserted aligned.
  fn new(layout: Layout, zeroed: bool, id: u64) -> Self {
    let pointer = if zeroed {
      // SAFETY: the layout has a non-zero size.
      unsafe { alloc_zeroed(layout) }
    } else {
      // SAFETY: the layout has a non-zero size.
      unsafe { alloc(layout) }
    };
    let pointer = NonNull::new(pointer).expect("the allocation succeeds");
    let block = Self {
      pointer,
      layout,
      id,
    };
    block.assert_aligned();
    block
  }

  /// Asserts the block honours its alignment.
  fn assert_aligned(&self) {
    let (address, align) = (self.pointer.addr().get(), self.layout.align());
    assert_eq!(address % align, 0, "{address:#x} aligned to {align}");
  }

  /// The block's bytes, which must have been initialised (zeroed or
  /// filled).
  fn bytes(&self) -> &[u8] {
    // SAFETY: the block is live, `layout.size()` bytes long, initialised
    // (callers fill or zero it first) and reached through this block only.
    unsafe { slice::from_raw_parts(self.pointer.as_ptr(), self.layout.size()) }
  }

  /// Writes the block's pattern over whatever it held.
  fn fill_fresh(&mut self) {
    let size = self.layout.size();
    // SAFETY: the block is live and `size` bytes long.
    unsafe { self.pointer.write_bytes(0, size) };
    // SAFETY: the block is live, `size` bytes long, initialised just above
    // and reached through this block only, borrowed mutably.
    let bytes =
      unsafe { slice::from_raw_parts_mut(self.pointer.as_ptr(), size) };
    fill(bytes, self.id);
  }

  /// Resizes the block to `size` bytes (same alignment), asserting that
  /// it kept its prefix, then patterns it after `id`.
  fn resize(&mut self, size: usize, id: u64) {
    let old = self.layout.size();
    // SAFETY: the block is live with this layout; `size` is not zero.
    let moved = unsafe { realloc(self.pointer.as_ptr(), self.layout, size) };
    self.pointer = NonNull::new(moved).expect("the realloc succeeds");
    self.layout =
      Layout::from_size_align(size, self.layout.align()).expect("valid layout");
    self.assert_aligned();
    let kept = old.min(size);
    // SAFETY: the first `kept` bytes are live and were copied from the
    // patterned old block.
    let prefix = unsafe { slice::from_raw_parts(moved, kept) };
    assert!(holds_prefix(prefix, self.id, old), "{old} -> {size} keeps");
    self.id = id;
    self.fill_fresh();
  }

  /// Frees the block after checking its pattern.
  fn free(self) {
    assert!(holds(self.bytes(), self.id), "block {} intact", self.id);
    // SAFETY: the block is live with this layout and freed once.
    unsafe { dealloc(self.pointer.as_ptr(), self.layout) };
  }

  /// The address range of the block.
  fn range(&self) -> (usize, usize) {
    let start = self.pointer.addr().get();
    (start, start + self.layout.size())
  }
}

/// Address ranges of all live blocks, by start.
type Ranges = Mutex<BTreeMap<usize, usize>>;

/// Records `block` in `ranges`, asserting it overlaps no live block.
fn insert(ranges: &Ranges, block: &Block) {
  let (start, end) = block.range();
  let mut ranges = ranges.lock().expect("not poisoned");
  if let Some((&before, &before_end)) = ranges.range(..=start).next_back() {
    assert!(before_end <= start, "{start:#x} overlaps {before:#x}");
  }
  if let Some((&after, _)) = ranges.range(start..).next() {
    assert!(end <= after, "{start:#x}..{end:#x} overlaps {after:#x}");
  }
  ranges.insert(start, end);
}

/// Forgets `block` in `ranges`.
fn remove(ranges: &Ranges, block: &Block) {
  let (start, end) = block.range();
  let removed = ranges.lock().expect("not poisoned").remove(&start);
  assert_eq!(removed, Some(end), "block {start:#x} was recorded");
}

/// The sizes of the sweep for `align`: around the alignment and at a few
/// fixed points, within the limit.
fn sweep_sizes(align: usize) -> Vec<usize> {
  let mut sizes = vec![
    1,
    8,
    align / 2,
    align,
    align + 1,
    3 * align / 2,
    200 * KIB,
    3 * MIB,
  ];
  sizes.retain(|size| (1..=SWEEP_SIZE_LIMIT).contains(size));
  sizes.sort_unstable();
  sizes.dedup();
  sizes
}

/// The alignments of the sweep.
fn sweep_aligns() -> impl Iterator<Item = usize> {
  let powers = (0..=MAX_ALIGN_SHIFT).map(|shift| 1 << shift);
  powers.chain(HUGE_ALIGNS)
}

#[test]
fn every_alignment_and_size_of_the_sweep_is_honoured() {
  let ranges = Ranges::default();
  let mut live = Vec::new();
  for (index, align) in sweep_aligns().enumerate() {
    for (step, size) in sweep_sizes(align).into_iter().enumerate() {
      let layout = Layout::from_size_align(size, align).expect("valid");
      let id = (index * 100 + step) as u64;
      let mut block = Block::new(layout, step % 2 == 0, id);
      if step % 2 == 0 {
        assert!(uniform(block.bytes(), 0), "{layout:?} zeroed");
      }
      block.fill_fresh();
      insert(&ranges, &block);
      live.push(block);
    }
  }
  for (index, mut block) in live.into_iter().enumerate() {
    remove(&ranges, &block);
    let size = block.layout.size();
    let id = block.id + 1_000_000;
    block.resize(
      if index % 2 == 0 {
        size * 2 + 1
      } else {
        size / 2 + 1
      },
      id,
    );
    insert(&ranges, &block);
    remove(&ranges, &block);
    block.free();
  }
}

/// A random layout of the fuzz.
fn random_layout(rng: &mut Rng) -> Layout {
  let align = if rng.percent(HUGE_ALIGN_PERCENT) {
    HUGE_ALIGNS[rng.below(HUGE_ALIGNS.len())]
  } else {
    1 << rng.below(MAX_ALIGN_SHIFT as usize + 1)
  };
  Layout::from_size_align(random_size(rng), align).expect("valid layout")
}

/// A random size of the fuzz: mostly small, some large, a few huge.
fn random_size(rng: &mut Rng) -> usize {
  if rng.percent(SMALL_PERCENT) {
    rng.log_uniform(1, SMALL_LIMIT)
  } else if rng.percent(HUGE_PERCENT) {
    rng.between(LARGE_LIMIT, HUGE_LIMIT)
  } else {
    rng.log_uniform(SMALL_LIMIT, LARGE_LIMIT)
  }
}

/// Allocates a random block, checks it and records it.
fn fuzz_allocate(rng: &mut Rng, ranges: &Ranges, id: u64) -> Block {
  let zeroed = rng.percent(33);
  let mut block = Block::new(random_layout(rng), zeroed, id);
  if zeroed {
    assert!(uniform(block.bytes(), 0), "{:?} zeroed", block.layout);
  }
  block.fill_fresh();
  insert(ranges, &block);
  block
}

/// Runs random operations on this thread's blocks; returns those left.
fn fuzz(seed: u64, ranges: &Ranges) -> Vec<Block> {
  let mut rng = Rng::new(seed);
  let mut live: Vec<Block> = Vec::new();
  for op in 0..FUZZ_OPS {
    let id = seed << 32 | op as u64;
    let choice = rng.below(4);
    if live.is_empty() || (choice < 2 && live.len() < FUZZ_LIVE_BLOCKS) {
      live.push(fuzz_allocate(&mut rng, ranges, id));
      continue;
    }
    let block = live.swap_remove(rng.below(live.len()));
    remove(ranges, &block);
    if choice == 2 {
      let mut block = block;
      block.resize(random_size(&mut rng), id);
      insert(ranges, &block);
      live.push(block);
    } else {
      block.free();
    }
  }
  live
}

#[test]
fn random_layouts_on_two_threads_never_overlap() {
  let ranges = Ranges::default();
  let leftovers: Vec<Vec<Block>> = thread::scope(|scope| {
    let workers: Vec<_> = (1..=FUZZ_THREADS)
      .map(|seed| {
        let ranges = &ranges;
        scope.spawn(move || fuzz(seed, ranges))
      })
      .collect();
    workers
      .into_iter()
      .map(|w| w.join().expect("fuzz ends"))
      .collect()
  });
  // Every thread's leftovers are freed here, on another thread.
  for block in leftovers.into_iter().flatten() {
    remove(&ranges, &block);
    block.free();
  }
  assert!(ranges.lock().expect("not poisoned").is_empty());
}

/// Allocates dirty blocks of `layout`, frees them, and asserts zeroed
/// blocks of the same layout (likely the same memory) read zero.
fn dirty_then_zeroed(layout: Layout) {
  let dirty: Vec<Block> = (0..ZEROING_BLOCKS)
    .map(|_| Block::new(layout, false, 0))
    .collect();
  for block in dirty {
    // SAFETY: the block is live and `layout.size()` bytes long.
    unsafe { block.pointer.write_bytes(DIRTY, layout.size()) };
    // SAFETY: the block is live with this layout and freed once.
    unsafe { dealloc(block.pointer.as_ptr(), layout) };
  }
  let zeroed: Vec<Block> = (0..ZEROING_BLOCKS)
    .map(|_| Block::new(layout, true, 0))
    .collect();
  for block in zeroed {
    assert!(uniform(block.bytes(), 0), "{layout:?} zeroed after reuse");
    // SAFETY: the block is live with this layout and freed once.
    unsafe { dealloc(block.pointer.as_ptr(), layout) };
  }
}

#[test]
fn zeroed_blocks_read_zero_after_dirty_blocks_were_freed() {
  for _ in 0..ZEROING_ROUNDS {
    for size in ZEROING_SIZES {
      for align in ZEROING_ALIGNS {
        dirty_then_zeroed(Layout::from_size_align(size, align).expect("ok"));
      }
    }
  }
}
