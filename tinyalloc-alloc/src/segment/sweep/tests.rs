extern crate std;

use std::collections::BTreeSet;
use std::vec::Vec;

use core::ptr::NonNull;
use core::slice;

use proptest::prelude::*;
use tinyalloc_sys::{Mapper, PosixMapper};

use super::super::Segment;
use super::super::tests::{TestSegment, drain};
use super::PURGE_MAP_PAGES;
use crate::class::{CLASS_COUNT, class, class_of};
use crate::config::SEGMENT_SIZE;
use crate::fault::Fault;
use crate::manager::page_size;

/// A fresh small segment of class `index` over `memory`, every block
/// carved and handed out (returned in address order).
fn drained<'seg>(
  memory: &TestSegment,
  index: usize,
) -> (&'seg Segment, Vec<NonNull<u8>>) {
  let segment = memory.small(index);
  let mut blocks = drain(segment);
  blocks.sort();
  (segment, blocks)
}

/// Sweeps and decommits what the sweep names, as the heap does.
fn sweep_and_decommit(segment: &Segment) -> u64 {
  let page = page_size();
  let pages = segment.sweep(page);
  for index in 0..PURGE_MAP_PAGES {
    if pages >> index & 1 != 0 {
      // SAFETY: a page of the test segment.
      let start = unsafe { segment.start().byte_add(index * page) };
      let region = NonNull::slice_from_raw_parts(start, page);
      // SAFETY: the sweep took every block on it off every list.
      unsafe { PosixMapper::new().decommit(region) }.unwrap();
    }
  }
  pages
}

/// The pages (past the header's) on which every block that overlaps them
/// is freed: what a sweep of a fully carved segment must purge, computed
/// from scratch.
fn model_free_pages(
  segment: &Segment,
  blocks: &[NonNull<u8>],
  live: &[bool],
) -> u64 {
  let page = page_size();
  let start = segment.start().addr().get();
  let size = segment.class().size();
  let mut busy = [false; PURGE_MAP_PAGES];
  let mut covered = [false; PURGE_MAP_PAGES];
  for (block, &alive) in blocks.iter().zip(live) {
    let offset = block.addr().get() - start;
    for index in offset / page..=(offset + size - 1) / page {
      covered[index] = true;
      busy[index] |= alive;
    }
  }
  (1..SEGMENT_SIZE / page)
    .filter(|&index| covered[index] && !busy[index])
    .fold(0, |mask, index| mask | 1 << index)
}

/// Writes a pattern unique to block `index` over the whole block.
fn fill(block: NonNull<u8>, size: usize, index: usize) {
  // SAFETY: the block is live and `size` bytes long.
  unsafe { block.write_bytes(pattern(index), size) };
}

fn pattern(index: usize) -> u8 {
  (index % 251) as u8 + 1
}

/// Whether the block still holds its pattern.
fn holds(block: NonNull<u8>, size: usize, index: usize) -> bool {
  // SAFETY: the block is live and `size` bytes long.
  let bytes = unsafe { slice::from_raw_parts(block.as_ptr(), size) };
  bytes.iter().all(|&byte| byte == pattern(index))
}

/// Frees the blocks not marked live; returns the segment and its blocks.
fn sparse<'seg>(
  memory: &TestSegment,
  index: usize,
  live: impl Fn(usize) -> bool,
) -> (&'seg Segment, Vec<NonNull<u8>>, Vec<bool>) {
  let (segment, blocks) = drained(memory, index);
  let size = segment.class().size();
  let flags: Vec<bool> = (0..blocks.len()).map(live).collect();
  for (number, (&block, &alive)) in blocks.iter().zip(&flags).enumerate() {
    if alive {
      fill(block, size, number);
    } else {
      assert_eq!(segment.push_local(block), Ok(()));
    }
  }
  (segment, blocks, flags)
}

/// Blocks of this size straddle page boundaries.
const STRADDLING_SIZE: usize = 48;
/// The smallest blocks: hundreds per page.
const SMALLEST_SIZE: usize = 16;
/// Blocks of this size, about twenty per page.
const MIDDLE_SIZE: usize = 208;
/// Blocks of this size, about ten per page.
const FEW_PER_PAGE_SIZE: usize = 416;
/// One block in this many kept live: a page of small blocks keeps some,
/// one of larger ones often none.
const KEEP_ONE_IN: usize = 10;
/// One block in this many kept live: some pages of middle-sized blocks
/// keep none.
const KEEP_FEW_ONE_IN: usize = 40;
/// The first this many blocks kept live, on the first pages only.
const KEEP_FIRST: usize = 4;
/// Blocks kept in runs of this many...
const KEPT_RUN: usize = 100;
/// ... one run in this many.
const KEEP_ONE_RUN_IN: usize = 5;
/// Keep patterns of the property test: one block in up to this many.
const KEEP_ONE_IN_MAX: u64 = 40;
/// Spreads a block number and a seed over 64 bits (the 64-bit golden
/// ratio, as in Fibonacci hashing).
const MIX_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;
/// Steps of the random interleavings, at least and at most.
const STEPS: (usize, usize) = (100, 2000);

#[test]
fn a_sweep_purges_exactly_the_pages_whose_blocks_are_all_free() {
  let memory = TestSegment::new();
  let (segment, blocks, live) =
    sparse(&memory, class_of(STRADDLING_SIZE), |number| {
      number.is_multiple_of(KEEP_ONE_IN)
    });
  let expected = model_free_pages(segment, &blocks, &live);
  let purged = sweep_and_decommit(segment);
  assert_eq!(purged, expected);
  segment.check_invariants();
  let size = segment.class().size();
  for (number, (&block, &alive)) in blocks.iter().zip(&live).enumerate() {
    if alive {
      assert!(holds(block, size, number), "live block {number} kept");
      assert!(segment.is_allocated(block));
    } else {
      assert!(!segment.is_allocated(block), "freed block {number}");
    }
  }
}

#[test]
fn a_segment_with_no_whole_free_page_is_left_alone() {
  let memory = TestSegment::new();
  // Every page keeps some.
  let (segment, blocks, live) =
    sparse(&memory, class_of(SMALLEST_SIZE), |number| {
      number.is_multiple_of(KEEP_ONE_IN)
    });
  assert_eq!(model_free_pages(segment, &blocks, &live), 0);
  assert_eq!(sweep_and_decommit(segment), 0);
  assert!(!segment.has_purged());
  assert!(
    !segment.local_heap().is_null(),
    "the fast free still applies"
  );
  segment.check_invariants();
}

#[test]
fn freeing_a_block_of_a_purged_page_is_a_double_free_on_any_path() {
  let memory = TestSegment::new();
  let (segment, blocks, _) =
    sparse(&memory, class_of(FEW_PER_PAGE_SIZE), |number| {
      number < KEEP_FIRST
    });
  assert_ne!(sweep_and_decommit(segment), 0);
  assert!(segment.local_heap().is_null(), "the fast free is off");
  let dead = *blocks.last().unwrap();
  assert!(segment.is_purged_block(dead));
  assert_eq!(segment.push_local(dead), Err(Fault::DoubleFree));
  assert_eq!(segment.push_remote(dead), Err(Fault::DoubleFree));
  assert_eq!(segment.collect(), Ok(0), "nothing was pushed");
  // A live block frees as ever, and one freed before is still refused.
  assert_eq!(segment.push_local(blocks[0]), Ok(()));
  assert_eq!(segment.push_local(blocks[0]), Err(Fault::DoubleFree));
  segment.check_invariants();
}

#[test]
fn refills_revive_purged_pages_before_the_tail_and_restore_the_fast_free() {
  let memory = TestSegment::new();
  let (segment, blocks, live) =
    sparse(&memory, class_of(MIDDLE_SIZE), |number| {
      number.is_multiple_of(KEEP_FEW_ONE_IN)
    });
  let purged = sweep_and_decommit(segment);
  assert_ne!(purged, 0);
  // Take every block again: the free ones, then the revived ones.
  let again = drain(segment);
  let freed: BTreeSet<NonNull<u8>> = blocks
    .iter()
    .zip(&live)
    .filter(|&(_, &alive)| !alive)
    .map(|(&block, _)| block)
    .collect();
  assert_eq!(again.len(), freed.len(), "each block comes back once");
  assert_eq!(again.iter().copied().collect::<BTreeSet<_>>(), freed);
  assert!(!segment.has_purged());
  assert!(!segment.local_heap().is_null(), "the fast free is back");
  let size = segment.class().size();
  for (number, (&block, &alive)) in blocks.iter().zip(&live).enumerate() {
    if alive {
      assert!(holds(block, size, number), "live block {number} kept");
    }
  }
  for &block in &again {
    assert!(segment.is_allocated(block));
    fill(block, size, 0);
  }
  segment.check_invariants();
}

#[test]
fn a_sweep_is_due_only_on_a_sparse_segment_that_emptied_since_the_last() {
  let memory = TestSegment::new();
  let page = page_size();
  let (segment, blocks, _) =
    sparse(&memory, class_of(FEW_PER_PAGE_SIZE), |_| true);
  assert!(!segment.sweep_due(page), "a full segment");
  for &block in &blocks[..blocks.len() / 2] {
    assert_eq!(segment.push_local(block), Ok(()));
  }
  assert!(segment.sweep_due(page), "half free");
  sweep_and_decommit(segment);
  assert!(!segment.sweep_due(page), "nothing freed since");
  for &block in &blocks[blocks.len() / 2..blocks.len() - 1] {
    assert_eq!(segment.push_local(block), Ok(()));
  }
  assert!(segment.sweep_due(page), "more freed since");
  segment.check_invariants();
}

proptest! {
  #![proptest_config(ProptestConfig::with_cases(64))]

  /// Against a model: whatever is freed, a sweep purges exactly the whole
  /// free pages, never a byte of a live block, and every block is handed
  /// out once afterwards.
  #[test]
  fn sweeps_never_touch_live_blocks(
    index in 0..CLASS_COUNT,
    seed in any::<u64>(),
    keep_one_in in 1..KEEP_ONE_IN_MAX,
  ) {
    let memory = TestSegment::new();
    let keep = |number: usize| {
      let mixed = (number as u64 ^ seed).wrapping_mul(MIX_MULTIPLIER);
      (mixed >> 32).is_multiple_of(keep_one_in)
    };
    let (segment, blocks, live) = sparse(&memory, index, keep);
    let expected = model_free_pages(segment, &blocks, &live);
    prop_assert_eq!(sweep_and_decommit(segment), expected);
    segment.check_invariants();
    let size = class(index).size();
    for (number, (&block, &alive)) in blocks.iter().zip(&live).enumerate() {
      prop_assert_eq!(segment.is_allocated(block), alive);
      if alive {
        prop_assert!(holds(block, size, number));
        prop_assert_eq!(segment.push_local(block), Ok(()));
      }
    }
    let again = drain(segment);
    let seen: BTreeSet<NonNull<u8>> = again.iter().copied().collect();
    prop_assert_eq!(again.len(), blocks.len());
    prop_assert_eq!(seen.len(), blocks.len());
    segment.check_invariants();
  }
}

#[test]
fn a_segment_that_filled_up_again_is_due_again_once_sparse() {
  let memory = TestSegment::new();
  let page = page_size();
  let kept =
    |number: usize| (number / KEPT_RUN).is_multiple_of(KEEP_ONE_RUN_IN);
  let (segment, blocks, _) = sparse(&memory, class_of(STRADDLING_SIZE), kept);
  assert_ne!(sweep_and_decommit(segment), 0);
  // Everything taken again (the purged pages revived), then the same
  // pattern freed: as sparse as before, so due again.
  let mut again = drain(segment);
  segment.flush_counts();
  assert_eq!(segment.used(), blocks.len());
  again.sort();
  for (number, &block) in again.iter().enumerate() {
    if !kept(number) {
      assert_eq!(segment.push_local(block), Ok(()));
    }
  }
  assert!(segment.sweep_due(page), "sparse again after a refill");
  assert_ne!(sweep_and_decommit(segment), 0);
  segment.check_invariants();
}

/// Steps of the random interleavings in one phase, before the mix of
/// allocations and frees turns (filling, then emptying).
const PHASE_STEPS: usize = 400;
/// Percent of steps that allocate while filling...
const FILL_PERCENT: u64 = 60;
/// ... and while emptying.
const EMPTY_PERCENT: u64 = 12;
/// Percent of steps that free (the rest sweep).
const FREE_PERCENT: u64 = 96;
/// Percent points a step draws from.
const PERCENT: u64 = 100;

proptest! {
  #![proptest_config(ProptestConfig::with_cases(48))]

  /// Random interleavings of allocations (carving and reviving as needed),
  /// frees and sweeps on a segment carved as far as it got: live blocks
  /// never overlap and keep every byte, and the segment's invariants hold
  /// after every step. Sweeps meet partly carved segments, pages purged
  /// by an earlier sweep, and revived ones.
  #[test]
  fn sweeps_revivals_and_frees_interleaved_against_a_model(
    index in 0..CLASS_COUNT,
    seed in any::<u64>(),
    steps in STEPS.0..STEPS.1,
  ) {
    let memory = TestSegment::new();
    let segment = memory.small(index);
    let size = segment.class().size();
    let page = page_size();
    let mut state = seed | 1;
    let mut next = move || {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      state
    };
    let mut live: Vec<(NonNull<u8>, usize)> = Vec::new();
    for step in 0..steps {
      let draw = next() % PERCENT;
      let filling = (step / PHASE_STEPS).is_multiple_of(2);
      let allocate = if filling { FILL_PERCENT } else { EMPTY_PERCENT };
      if draw < allocate {
        let block = segment
          .pop()
          .or_else(|| segment.extend(page).then(|| segment.pop()).flatten());
        if let Some(block) = block {
          let start = block.addr().get();
          for &(other, _) in &live {
            let other = other.addr().get();
            prop_assert!(start + size <= other || other + size <= start);
          }
          fill(block, size, step);
          live.push((block, step));
        }
      } else if draw < FREE_PERCENT {
        if !live.is_empty() {
          let at = usize::try_from(next()).unwrap_or(0) % live.len();
          let (block, _) = live.swap_remove(at);
          prop_assert_eq!(segment.push_local(block), Ok(()));
        }
      } else {
        segment.flush_counts();
        if segment.sweep_due(page) {
          sweep_and_decommit(segment);
        }
      }
      for &(block, stamp) in &live {
        prop_assert!(holds(block, size, stamp), "a live block kept its bytes");
        prop_assert!(segment.is_allocated(block));
      }
      segment.check_invariants();
    }
  }
}
