extern crate std;

use std::collections::BTreeSet;
use std::thread;
use std::vec::Vec;

use core::num::NonZeroUsize;

use tinyalloc_sys::{Mapper, PosixMapper};

use super::*;
use crate::class::{CLASS_COUNT, class, class_of};
use crate::config::SEGMENT_SIZE;
use crate::manager::{init, page_size};

/// A segment-aligned mapping for one test segment, unmapped on drop.
pub(super) struct TestSegment {
  memory: NonNull<[u8]>,
}

impl TestSegment {
  pub(super) fn new() -> Self {
    init();
    let size = NonZeroUsize::new(SEGMENT_SIZE).unwrap();
    let memory = PosixMapper::new().map_aligned(size, size).unwrap();
    Self { memory }
  }

  pub(super) fn small<'seg>(&self, class_index: usize) -> &'seg Segment {
    self.small_over(class_index, true)
  }

  /// A small segment over the mapping, which holds an earlier one's
  /// blocks unless `zeroed`.
  fn small_over<'seg>(
    &self,
    class_index: usize,
    zeroed: bool,
  ) -> &'seg Segment {
    // SAFETY: the mapping is ours, segment-aligned and unused.
    unsafe {
      Segment::init_small(
        self.memory.cast(),
        class_index,
        NonNull::dangling(),
        NonNull::from(&UNCOUNTED),
        zeroed,
      )
    }
  }
}

impl Drop for TestSegment {
  fn drop(&mut self) {
    // SAFETY: nothing uses the segment any more.
    unsafe { PosixMapper::new().unmap(self.memory) }.unwrap();
  }
}

/// Pops every block of the segment, carving (and reviving) as needed.
pub(super) fn drain(segment: &Segment) -> Vec<NonNull<u8>> {
  let mut blocks = Vec::new();
  loop {
    if let Some(block) = segment.pop() {
      blocks.push(block);
    } else if !segment.extend(page_size()) {
      return blocks;
    }
  }
}

#[test]
fn every_class_hands_out_each_block_once_aligned_and_in_bounds() {
  let memory = TestSegment::new();
  for index in 0..CLASS_COUNT {
    let segment = memory.small(index);
    let class = class(index);
    let blocks = drain(segment);
    segment.check_invariants();
    assert_eq!(blocks.len(), class.blocks(), "class {index}");
    assert_eq!(segment.used(), class.blocks());
    let distinct: BTreeSet<usize> =
      blocks.iter().map(|b| b.addr().get()).collect();
    assert_eq!(distinct.len(), blocks.len());
    let start = segment.start().addr().get();
    for block in &blocks {
      let address = block.addr().get();
      assert_eq!(address % class.align(), 0);
      assert!(address >= start + class.area_offset());
      assert!(address + class.size() <= start + SEGMENT_SIZE);
      assert!(segment.is_carved_block(*block));
      assert!(segment.is_allocated(*block));
    }
    assert_eq!(segment.untagged_blocks(), blocks.len());
  }
}

#[test]
fn local_free_then_reuse_and_double_free_is_refused() {
  let memory = TestSegment::new();
  let segment = memory.small(3);
  segment.extend(4096);
  let block = segment.pop().unwrap();
  assert_eq!(segment.push_local(block), Ok(()));
  assert_eq!(segment.used(), 0);
  assert!(!segment.is_allocated(block));
  assert_eq!(segment.untagged_blocks(), 0);
  assert_eq!(segment.push_local(block), Err(Fault::DoubleFree));
  assert_eq!(segment.try_push_quick(block), Quick::Declined);
  segment.check_invariants();
  assert_eq!(
    segment.pop(),
    Some(block),
    "the last freed block comes first"
  );
}

#[test]
fn interior_and_out_of_range_pointers_are_not_blocks() {
  let memory = TestSegment::new();
  let segment = memory.small(5);
  segment.extend(4096);
  let block = segment.pop().unwrap();
  // SAFETY: inside the same block.
  let interior = unsafe { block.byte_add(MIN_INTERIOR) };
  assert!(!segment.is_carved_block(interior));
  assert_eq!(segment.fault_of(interior), Fault::NotABlock);
  assert!(!segment.is_allocated(interior));
  assert_eq!(segment.try_push_quick(interior), Quick::Declined);
  assert_eq!(segment.push_local(interior), Err(Fault::NotABlock));
  // SAFETY: inside the same block, not on a granule boundary.
  let misaligned = unsafe { block.byte_add(1) };
  assert_eq!(segment.push_local(misaligned), Err(Fault::NotABlock));
  let header = segment.start();
  assert_eq!(segment.fault_of(header), Fault::NotABlock);
  // SAFETY: the last byte of the segment mapping.
  let end = unsafe { header.byte_add(SEGMENT_SIZE - 1) };
  assert_eq!(segment.fault_of(end), Fault::NotABlock);
  // A block start beyond the carved blocks was never handed out.
  let class = segment.class();
  // SAFETY: the last block of the class lies inside the segment.
  let uncarved = unsafe {
    header.byte_add(class.area_offset() + (class.blocks() - 1) * class.size())
  };
  assert!(!segment.is_carved_block(uncarved));
  assert_eq!(segment.push_local(uncarved), Err(Fault::NotABlock));
  assert_eq!(segment.push_remote(uncarved), Err(Fault::NotABlock));
  assert_eq!(segment.push_local(block), Ok(()));
  segment.check_invariants();
}

#[test]
fn quick_free_leaves_the_last_block_to_the_slow_path() {
  let memory = TestSegment::new();
  let segment = memory.small(2);
  segment.extend(4096);
  let first = segment.pop().unwrap();
  let second = segment.pop().unwrap();
  assert_eq!(segment.try_push_quick(first), Quick::Done);
  assert_eq!(segment.try_push_quick(first), Quick::Declined);
  assert_eq!(
    segment.try_push_quick(second),
    Quick::Declined,
    "the last block in use goes the slow way"
  );
  assert_eq!(segment.push_local(second), Ok(()));
  segment.check_invariants();
  assert_eq!(segment.untagged_blocks(), 0);
}

/// An offset inside a block that is never a block start.
const MIN_INTERIOR: usize = 16;

#[test]
fn remote_frees_are_collected_and_a_double_remote_free_is_caught() {
  let memory = TestSegment::new();
  let segment = memory.small(1);
  let blocks = drain(segment);
  for block in &blocks[..10] {
    assert_eq!(segment.push_remote(*block), Ok(()));
  }
  assert_eq!(
    segment.push_local(blocks[0]),
    Err(Fault::DoubleFree),
    "a local free after a remote one is a double free before collection"
  );
  assert!(segment.has_thread_free());
  assert_eq!(segment.used(), blocks.len());
  assert_eq!(segment.collect(), Ok(10));
  segment.check_invariants();
  assert!(!segment.has_thread_free());
  assert_eq!(segment.used(), blocks.len() - 10);
  let again: BTreeSet<usize> = (0..10)
    .map(|_| segment.pop().unwrap().addr().get())
    .collect();
  let freed: BTreeSet<usize> =
    blocks[..10].iter().map(|b| b.addr().get()).collect();
  assert_eq!(again, freed);
  assert_eq!(segment.push_remote(blocks[20]), Ok(()));
  assert_eq!(segment.push_remote(blocks[20]), Err(Fault::DoubleFree));
  assert_eq!(segment.collect(), Ok(1), "the refused free is not pushed");
  segment.check_invariants();
}

#[test]
fn remote_pushes_from_many_threads_all_arrive() {
  const THREADS: usize = 4;
  let memory = TestSegment::new();
  let segment = memory.small(0);
  let blocks = drain(segment);
  let addresses: Vec<usize> = blocks.iter().map(|b| b.addr().get()).collect();
  let header = segment.start().addr().get();
  thread::scope(|scope| {
    for chunk in addresses.chunks(addresses.len() / THREADS + 1) {
      scope.spawn(move || {
        // SAFETY: the segment outlives the scope.
        let segment = unsafe { &*(header as *const Segment) };
        for &address in chunk {
          let block = NonNull::new(address as *mut u8).unwrap();
          assert_eq!(segment.push_remote(block), Ok(()));
        }
      });
    }
  });
  assert_eq!(segment.collect(), Ok(addresses.len() as u32));
  segment.check_invariants();
  assert_eq!(segment.used(), 0);
}

#[test]
fn single_headers_describe_their_block() {
  let memory = TestSegment::new();
  let start = memory.memory.cast::<u8>();
  // SAFETY: the mapping is ours and unused.
  let segment = unsafe {
    Segment::init_single(start, Kind::Large, start.addr().get(), 1, 256, 4096)
  };
  assert_eq!(segment.kind(), Kind::Large);
  assert_eq!(segment.block().addr().get(), start.addr().get() + 256);
  assert_eq!(segment.usable(), 4096);
  segment.release(false);
  assert_eq!(segment.kind(), Kind::Released);
}

#[test]
fn the_pops_bits_of_the_tally_wrap_without_touching_the_used_count() {
  let memory = TestSegment::new();
  let segment = memory.small(0);
  segment.extend(4096);
  let other = segment.pop().unwrap();
  // As after 2^34 - 1 fast-path pops with one other block live (no free
  // takes the slow path that flushes in between).
  segment.tally.set((u64::MAX << TALLY_POPS_SHIFT) | 1);
  let block = segment.pop().unwrap();
  assert_eq!(segment.used(), 2, "the carry leaves the used half alone");
  assert_eq!(segment.push_local(block), Ok(()));
  assert_eq!(segment.push_local(other), Ok(()));
  assert_eq!(segment.used(), 0);
  segment.flush_counts();
  segment.check_invariants();
}

#[test]
fn a_reused_segment_is_cleared_as_it_is_carved() {
  let memory = TestSegment::new();
  let first = memory.small(0);
  first.extend(SEGMENT_SIZE);
  let tag = first.tag();
  let head = first.free.get().expect("carved blocks").cast::<u8>();
  assert!(first.is_tagged(head), "free blocks are tagged");
  // The same memory for a class three times as large, not fresh: the
  // earlier blocks' tags sit in the middle of the new ones.
  let larger = (1..CLASS_COUNT)
    .find(|&index| class(index).size() == 3 * class(0).size())
    .expect("a class three times the smallest");
  let second = memory.small_over(larger, false);
  second.extend(page_size());
  let words = class(larger).size() / size_of::<usize>();
  let mut carved = 0;
  while let Some(block) = second.pop() {
    carved += 1;
    for word in 2..words {
      // SAFETY: the block is ours and `words` words long.
      let place = unsafe { block.cast::<usize>().add(word) };
      // SAFETY: as above; carved memory is initialised (zero or ours).
      let value = unsafe { place.read() };
      assert_eq!(value, 0, "word {word} of a fresh block");
      assert_ne!(value, tag);
    }
  }
  assert!(carved > 0);
}

#[test]
fn carving_fills_the_header_page_first_then_one_page_at_a_time() {
  let memory = TestSegment::new();
  let page = page_size();
  for index in 0..CLASS_COUNT {
    let class = class(index);
    let segment = memory.small(index);
    let start = segment.start().addr().get();
    let area = start + class.area_offset();
    let mut carved = 0;
    let mut carves = 0;
    while segment.extend(page) {
      carves += 1;
      let first = area + carved * class.size();
      let boundary = (first + class.size()).next_multiple_of(page);
      carved = segment.carved();
      let end = area + carved * class.size();
      assert!(
        end <= boundary && boundary - end < class.size(),
        "class {}: a carve from {first:#x} ends at {end:#x}, not by the \
         page boundary {boundary:#x} after its first block",
        class.size()
      );
      if carves == 1 && class.area_offset() + class.size() <= page {
        assert!(end <= start + page, "the first carve keeps to one page");
      }
    }
    assert_eq!(carved, class.blocks(), "class {}", class.size());
    let pages = (area + carved * class.size() - start).div_ceil(page);
    assert!(carves <= pages, "class {}: {carves} carves", class.size());
  }
}

#[test]
fn a_stale_cold_header_never_names_pages_past_its_segment() {
  /// A class index no class has.
  const NO_CLASS: u8 = u8::MAX;
  /// A carved limit far past any segment's.
  const WILD_LIMIT: u64 = 7_696_581_401_088;
  let memory = TestSegment::new();
  let start = memory.memory.cast::<u8>();
  for (class, limit) in [(0, WILD_LIMIT), (NO_CLASS, WILD_LIMIT), (0, u64::MAX)]
  {
    let segment = memory.small(usize::from(class.min(1)));
    segment.release(true);
    // What a large block's owner may have written over the rest of a
    // header given back.
    segment.class.store(class, Ordering::Relaxed);
    segment.code_limit.set(limit);
    // SAFETY: the test's own segment, unused.
    let end = unsafe { Segment::cold_touched_end(start) };
    assert_eq!(end, Some(SEGMENT_SIZE), "class {class}, limit {limit}");
  }
}

/// Blocks of the aligned-pop test, one in four of them aligned to four
/// times their size.
const ALIGNED_POP_SIZE: usize = 1024;
/// Free blocks an aligned pop looks through in that test.
const ALIGNED_POP_STEPS: usize = 16;

#[test]
fn aligned_pops_unlink_aligned_blocks_from_anywhere_in_the_list() {
  let memory = TestSegment::new();
  let index = class_of(ALIGNED_POP_SIZE);
  let segment = memory.small(index);
  let blocks = drain(segment);
  let align = 4 * class(index).align();
  for &block in &blocks {
    assert_eq!(segment.push_local(block), Ok(()));
  }
  let mut taken = BTreeSet::new();
  while let Some(block) = segment.pop_aligned(align, ALIGNED_POP_STEPS) {
    assert!(block.addr().get().is_multiple_of(align));
    assert!(segment.is_allocated(block));
    assert!(taken.insert(block.addr().get()), "each block once");
    segment.check_invariants();
  }
  assert!(!taken.is_empty(), "aligned blocks were near the head");
  // It gave up only because the first blocks it looked at are all
  // misaligned; the others are all still there, once each, in order.
  for step in 0.. {
    let Some(block) = segment.pop() else { break };
    if step < ALIGNED_POP_STEPS {
      assert!(!block.addr().get().is_multiple_of(align), "step {step}");
    }
    assert!(taken.insert(block.addr().get()), "each block once");
  }
  assert_eq!(taken.len(), blocks.len());
  segment.check_invariants();
}
