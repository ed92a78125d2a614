extern crate std;

use std::boxed::Box;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use std::vec::Vec;

use core::slice;

use libc::mincore;

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// Runs `body` with a heap of its own, abandoned at the end.
fn with_heap<R>(body: impl FnOnce(&Heap) -> R) -> R {
  let heap = Heap::acquire().expect("a heap");
  // SAFETY: this thread owns the heap it acquired.
  let result = body(unsafe { heap.as_ref() });
  // SAFETY: heaps live for the rest of the process.
  let owned = unsafe { heap.as_ref() };
  // SAFETY: this thread owns the heap; nothing frees into it meanwhile.
  unsafe { owned.check_invariants() };
  // SAFETY: the heap is not used after this.
  unsafe { Heap::abandon(heap) };
  result
}

/// Allocates from a heap the calling thread owns.
fn alloc(heap: &Heap, size: usize) -> NonNull<u8> {
  // SAFETY: the tests only pass heaps their thread owns.
  unsafe { heap.malloc(size) }.expect("memory")
}

/// Frees a live block from a heap the calling thread owns.
fn free(heap: &Heap, block: NonNull<u8>) {
  // SAFETY: the tests free each live block once.
  unsafe { Heap::free(heap, block) }
}

/// Resizes a live block.
fn realloc(heap: &Heap, block: NonNull<u8>, size: usize) -> NonNull<u8> {
  // SAFETY: the heap is the thread's; the old block is given up.
  unsafe { heap.realloc(block, size, MIN_ALIGN) }.expect("memory")
}

/// The usable size of a live block.
fn usable(block: NonNull<u8>) -> usize {
  // SAFETY: the tests only ask about live blocks.
  unsafe { Heap::usable_size(block) }
}

/// The bytes of a live block.
fn bytes<'block>(block: NonNull<u8>, size: usize) -> &'block [u8] {
  // SAFETY: the tests only read live blocks of at least `size` bytes.
  unsafe { slice::from_raw_parts(block.as_ptr(), size) }
}

/// The byte a block with `seed` holds at `offset`.
fn pattern(seed: usize, offset: usize) -> u8 {
  (seed.wrapping_mul(31) ^ offset.wrapping_mul(7)) as u8
}

/// Offsets of a block of `size` bytes that the tests write and check: the
/// start, every page, and the end, so huge blocks stay cheap to check.
fn probe_offsets(size: usize) -> impl Iterator<Item = usize> {
  let head = 0..size.min(256);
  let pages = (256..size).step_by(4096);
  let tail = size.saturating_sub(64).max(256.min(size))..size;
  head.chain(pages).chain(tail)
}

fn fill(block: NonNull<u8>, size: usize, seed: usize) {
  for offset in probe_offsets(size) {
    // SAFETY: `offset < size`, inside the block.
    let byte = unsafe { block.byte_add(offset) };
    // SAFETY: the block is live and ours.
    unsafe { byte.write(pattern(seed, offset)) };
  }
}

fn check(block: NonNull<u8>, size: usize, seed: usize) {
  check_prefix(block, size, size, seed);
}

/// Checks the probes of a block written with `written` bytes that lie in
/// its first `prefix` bytes.
fn check_prefix(
  block: NonNull<u8>,
  written: usize,
  prefix: usize,
  seed: usize,
) {
  for offset in probe_offsets(written).filter(|&offset| offset < prefix) {
    let byte = bytes(block, offset + 1)[offset];
    assert_eq!(
      byte,
      pattern(seed, offset),
      "block {block:?} offset {offset}"
    );
  }
}

/// A heap's own totals: allocations, frees and cross-thread frees.
fn totals(heap: &Heap) -> (u64, u64, u64) {
  let allocations = heap.classes.iter().map(|slot| slot.counters.allocations());
  let frees = heap.classes.iter().map(|slot| slot.counters.frees());
  (
    allocations.sum(),
    frees.sum(),
    heap.cross_frees.load(Ordering::Relaxed),
  )
}

#[test]
fn counts_are_exact_once_flushed_remote_frees_included() {
  const BLOCKS: usize = 3000;
  const LOCAL: usize = 1200;
  const REMOTE: usize = 900;
  // Sizes cycle from the smallest over this many bytes: many classes.
  const SMALLEST: usize = 8;
  const SIZE_SPAN: usize = 700;
  with_heap(|heap| {
    let before = totals(heap);
    let blocks: Vec<NonNull<u8>> = (0..BLOCKS)
      .map(|index| alloc(heap, SMALLEST + index % SIZE_SPAN))
      .collect();
    for &block in &blocks[..LOCAL] {
      free(heap, block);
    }
    let remote: Vec<usize> = blocks[LOCAL..LOCAL + REMOTE]
      .iter()
      .map(|block| block.addr().get())
      .collect();
    free_remotely(remote);
    // SAFETY: the heap is ours.
    unsafe { heap.flush_counts() };
    let after = totals(heap);
    assert_eq!(after.0 - before.0, BLOCKS as u64, "allocations");
    assert_eq!(after.1 - before.1, (LOCAL + REMOTE) as u64, "frees");
    assert_eq!(after.2 - before.2, REMOTE as u64, "cross-thread frees");
    for &block in &blocks[LOCAL + REMOTE..] {
      free(heap, block);
    }
    // SAFETY: the heap is ours.
    unsafe { heap.flush_counts() };
    let end = totals(heap);
    assert_eq!(end.1 - before.1, BLOCKS as u64, "every block freed");
  });
}

#[test]
fn the_home_test_takes_exactly_the_home_arena_and_never_null() {
  /// Where x86-64 Linux puts a PIE program's image, and the top page of
  /// its user space: addresses a program holds.
  const PROGRAM_IMAGE: usize = 0x5555_5555_0000;
  const USER_SPACE_TOP: usize = 0x7fff_ffff_f000;
  /// Some arena-aligned address for the home arena.
  const HOME: usize = 7 * ARENA_SIZE;
  let heap = Heap::new();
  // Before a first segment, nothing a program holds is home: only the
  // kernel-space arena place below the top one is (see `NO_ARENA`).
  let user_space = [1, SEGMENT_SIZE, PROGRAM_IMAGE, USER_SPACE_TOP];
  for address in user_space.into_iter().chain([usize::MAX, NO_ARENA]) {
    let pointer = ptr::without_provenance_mut(address);
    assert_eq!(heap.home_place(pointer), None, "address {address:#x}");
  }
  let kernel = ptr::without_provenance_mut(NO_ARENA + 1);
  assert_eq!(heap.home_place(kernel), Some(0));
  assert_eq!(heap.home_place(ptr::null_mut()), None, "null is never home");
  let home = HOME;
  heap.home_arena.store(home, Ordering::Relaxed);
  for (address, place) in [
    (home, None),
    (home + 1, Some(0)),
    (home + SEGMENT_SIZE, Some(SEGMENT_SIZE - 1)),
    (home + ARENA_SIZE, Some(ARENA_SIZE - 1)),
    (home + ARENA_SIZE + 1, None),
    (0, None),
  ] {
    let pointer = ptr::without_provenance_mut(address);
    assert_eq!(heap.home_place(pointer), place, "address {address:#x}");
    if let Some(place) = place {
      assert_eq!(place, place_of(pointer), "the home place is the place");
    }
  }
}

/// Whether every size-table slot of `heap` is vacant.
fn all_slots_vacant(heap: &Heap) -> bool {
  heap
    .direct
    .iter()
    .chain(&heap.exact)
    .all(|slot| slot.get() == VACANT_SLOT)
}

#[test]
fn a_vacant_slot_gives_nothing_and_fresh_heaps_hold_only_vacant_slots() {
  let heap = Heap::new();
  assert!(all_slots_vacant(&heap), "a fresh heap names no segment");
  // SAFETY: a vacant slot names the heap, read as a header.
  assert_eq!(unsafe { heap.pop_at_slot(VACANT_SLOT) }, None);
  for size in [0, 1, EXACT_MAX, EXACT_MAX + 1, SMALL_MAX] {
    // SAFETY: the fresh heap is ours; it owns no segment.
    assert_eq!(unsafe { heap.try_malloc(size) }, None, "size {size}");
  }
}

/// Pages a heap may span: its hot fields and class slots on the first,
/// the size tables on the second (a third page per thread is what the
/// 32-byte direct step saved).
const HEAP_PAGES: usize = 2;

#[test]
fn a_heap_fits_in_two_pages() {
  assert!(size_of::<Heap>() <= HEAP_PAGES * page_size());
}

#[test]
fn the_fast_path_finds_the_class_of_every_size_above_the_exact_table() {
  with_heap(|heap| {
    for size in EXACT_MAX + 1..=SMALL_MAX {
      // The slow path makes the class's segment current (the first block
      // keeps it in use), and a free gives it a block at hand ...
      let kept = alloc(heap, size);
      free(heap, alloc(heap, size));
      // SAFETY: the heap is this thread's.
      let found = unsafe { heap.try_malloc(size) };
      // ... which the fast path must find from the size alone.
      let found = found.unwrap_or_else(|| panic!("size {size}"));
      assert_eq!(usable(found), class(class_of(size)).size(), "size {size}");
      free(heap, found);
      free(heap, kept);
    }
  });
}

#[test]
fn the_local_compare_names_the_owning_heap_only_while_the_segment_is_partial() {
  /// A size whose class holds many blocks per segment.
  const SIZE: usize = 32;
  with_heap(|heap| {
    let first = alloc(heap, SIZE);
    // SAFETY: the block is live and ours.
    let segment = unsafe { header_at(first.as_ptr()) };
    assert!(segment.is_local_to(heap), "the owner's partial segment");
    assert!(!segment.is_local_to(&UNOWNED_HEAP), "not another heap's");
    let other = Heap::new();
    assert!(!segment.is_local_to(&other), "not a fresh heap's");
    // Allocate until a block comes from elsewhere: the segment is full
    // then, on the full list, and names no heap.
    let mut blocks = Vec::from([first]);
    loop {
      let block = alloc(heap, SIZE);
      blocks.push(block);
      // SAFETY: as above.
      if !ptr::eq(unsafe { header_at(block.as_ptr()) }, segment) {
        break;
      }
    }
    assert!(segment.is_full(), "the segment filled up");
    assert!(
      !segment.is_local_to(heap),
      "a full segment is no one's local"
    );
    free(heap, first);
    assert!(segment.is_local_to(heap), "partial again after a free");
    for &block in &blocks[1..] {
      free(heap, block);
    }
  });
}

#[test]
fn a_heap_written_in_place_is_the_heap_new_makes() {
  let size = NonZeroUsize::new(size_of::<Heap>()).expect("a heap has a size");
  let region = mapper().map(size).expect("memory");
  // Garbage first: every field but the tables, which a fresh mapping
  // leaves as zeros, must be written, none left as mapped.
  // SAFETY: the mapping is ours, and the tables end it.
  unsafe {
    region
      .cast::<u8>()
      .write_bytes(0xa5, offset_of!(Heap, direct))
  };
  let pointer = region.cast::<Heap>();
  // SAFETY: the mapping is ours, aligned, large enough, and its tables
  // read as zero.
  unsafe { Heap::write_fresh(pointer) };
  // SAFETY: just written.
  let heap = unsafe { pointer.as_ref() };
  heap.every_field_of();
  let new = Heap::new();
  assert_eq!(
    heap.home_arena.load(Ordering::Relaxed),
    new.home_arena.load(Ordering::Relaxed)
  );
  assert!(!heap.abandoned.load(Ordering::Relaxed) && !heap.trimmed.get());
  assert!(!heap.exiting.get() && !heap.lock.load(Ordering::Relaxed));
  assert!(heap.next.load(Ordering::Relaxed).is_null());
  assert_eq!(heap.no_free_block, None);
  assert_eq!((heap.kept_empty.get(), heap.kept_marked.get()), (0, 0));
  assert_eq!(heap.sweep_cursor.get(), 0);
  assert_eq!(heap.cross_frees.load(Ordering::Relaxed), 0);
  for index in 0..CLASS_COUNT {
    assert!(!heap.full_notices[index].load(Ordering::Relaxed));
    assert_eq!(heap.classes[index].counters.allocations(), 0);
    assert_eq!(heap.classes[index].counters.frees(), 0);
  }
  // SAFETY: the heap is ours; its queues are empty and its tables vacant.
  unsafe { heap.check_invariants() };
  for size in [0, 1, EXACT_MAX, EXACT_MAX + 1, SMALL_MAX] {
    // SAFETY: as above.
    assert_eq!(unsafe { heap.try_malloc(size) }, None, "size {size}");
  }
  // SAFETY: nothing refers to the mapping any more.
  unsafe { mapper().unmap(region) }.expect("unmapped");
}

/// A class of `heap` with no segment yet at or after `from` (the heap may
/// be an adopted one, with segments of its own).
fn unused_class(heap: &Heap, from: usize) -> usize {
  (from..CLASS_COUNT)
    .find(|&index| {
      // SAFETY: the tests only pass heaps their thread owns.
      let queue = unsafe { heap.queue(index) };
      queue.partial.is_empty() && queue.full.is_empty()
    })
    .expect("a class without a segment")
}

/// The lock of an abandoned heap, let go when dropped: a failed assertion
/// while holding it must not leave other tests spinning on it.
struct Held<'heap>(&'heap Heap);

impl<'heap> Held<'heap> {
  fn new(heap: &'heap Heap) -> Self {
    assert!(heap.try_lock(), "no one else acts on the abandoned heap");
    Self(heap)
  }
}

impl Drop for Held<'_> {
  fn drop(&mut self) {
    self.0.unlock();
  }
}

#[test]
fn fresh_claims_give_back_the_empty_segments_other_classes_kept_since_the_last()
{
  with_heap(|heap| {
    let small = unused_class(heap, 0);
    let block = alloc(heap, class(small).size());
    free(heap, block);
    // SAFETY: this thread owns the heap.
    let kept = unsafe { heap.current(small) }.expect("an empty segment kept");
    // SAFETY: kept segments are queued in the heap.
    assert_eq!(unsafe { seg(kept) }.used(), 0);
    // The first fresh claim of another class only marks it.
    let first = unused_class(heap, small + 1);
    let first_block = alloc(heap, class(first).size());
    // SAFETY: this thread owns the heap.
    assert_eq!(unsafe { heap.current(small) }, Some(kept), "kept one claim");
    // The second gives it back.
    let second = unused_class(heap, first + 1);
    let second_block = alloc(heap, class(second).size());
    // SAFETY: as above.
    assert_eq!(unsafe { heap.current(small) }, None, "given back");
    free(heap, first_block);
    free(heap, second_block);
    // SAFETY: as above.
    assert!(unsafe { heap.current(second) }.is_some(), "its own kept");
  });
}

/// Two classes used one lone block at a time, in turn, settle: each keeps
/// its segment, and neither takes the other's (a reviewer's finding: with
/// give-back at every claim, each allocation claimed a segment).
#[test]
fn alternating_lone_blocks_of_two_classes_claim_no_segment_each_time() {
  const ROUNDS: usize = 1000;
  with_heap(|heap| {
    let a = unused_class(heap, 0);
    let b = unused_class(heap, a + 1);
    let mut a_segments = BTreeMap::new();
    for _ in 0..ROUNDS {
      let first = alloc(heap, class(a).size());
      free(heap, first);
      let second = alloc(heap, class(b).size());
      free(heap, second);
      // SAFETY: this thread owns the heap.
      let current = unsafe { heap.current(a) }.expect("a keeps a segment");
      *a_segments.entry(current.addr().get()).or_insert(0) += 1;
    }
    assert_eq!(a_segments.len(), 1, "class a kept one segment throughout");
  });
}

#[test]
fn flushing_counts_keeps_at_most_one_segment_emptied_by_remote_frees() {
  /// Segments' worth of blocks allocated, then freed remotely.
  const SEGMENTS: usize = 3;
  /// A block size with few blocks per segment.
  const LARGISH: usize = 1024;
  with_heap(|heap| {
    let index = unused_class(heap, class_of(LARGISH));
    let size = class(index).size();
    let blocks: Vec<usize> = (0..SEGMENTS * class(index).blocks())
      .map(|_| alloc(heap, size).addr().get())
      .collect();
    free_remotely(blocks);
    // SAFETY: this thread owns the heap.
    unsafe { heap.flush_counts() };
    // SAFETY: as above.
    let queue = unsafe { heap.queue(index) };
    assert!(queue.full.is_empty(), "the full segments came back");
    assert_eq!(queue.partial.len(), 1, "one empty segment kept, no more");
  });
}

#[test]
fn a_large_block_on_reused_memory_starts_with_no_stale_tag() {
  const SIZE: usize = 3 * SEGMENT_SIZE;
  const ATTEMPTS: usize = 10;
  /// What the program leaves in the block before freeing it.
  const OLD_BYTE: u8 = 0xA5;
  with_heap(|heap| {
    // Another test may take the freed span first: try until it comes back.
    let reused = (0..ATTEMPTS).any(|_| {
      let block = alloc(heap, SIZE);
      // SAFETY: the block is ours and longer than two words.
      unsafe { block.cast::<usize>().write_bytes(OLD_BYTE, 2) };
      free(heap, block);
      let again = alloc(heap, SIZE);
      // SAFETY: as above.
      let words =
        unsafe { slice::from_raw_parts(again.cast::<usize>().as_ptr(), 2) };
      let same = again == block;
      if same {
        assert_eq!(words, [0, 0], "no stale word where a tag could sit");
      }
      free(heap, again);
      same
    });
    assert!(reused, "the freed span came back at least once");
  });
}

#[test]
fn small_blocks_are_reused_after_free() {
  with_heap(|heap| {
    let first = alloc(heap, 40);
    free(heap, first);
    let second = alloc(heap, 40);
    assert_eq!(first, second);
    assert_eq!(usable(second), 48);
    free(heap, second);
  });
}

#[test]
fn filling_many_segments_and_freeing_all_returns_them() {
  const BLOCKS: usize = 20_000;
  with_heap(|heap| {
    // This heap's own segments: the global count moves with the other
    // tests' heaps too.
    let index = class_of(100);
    let queued = || {
      // SAFETY: the heap is ours.
      let queue = unsafe { heap.queue(index) };
      queue.partial.len() + queue.full.len()
    };
    let before = queued();
    let blocks: Vec<_> = (0..BLOCKS)
      // SAFETY: the heap is ours.
      .map(|index| unsafe { heap.malloc(100) }.map(|block| (block, index)).unwrap())
      .collect();
    for &(block, seed) in &blocks {
      fill(block, 100, seed);
    }
    let during = queued();
    assert!(during >= before + BLOCKS * class(index).size() / SEGMENT_SIZE);
    for &(block, seed) in &blocks {
      check(block, 100, seed);
      // SAFETY: each block is freed once.
      unsafe { Heap::free(heap, block) };
    }
    // SAFETY: the heap is ours.
    unsafe { heap.collect() };
  });
}

#[test]
fn full_segments_come_back_after_remote_frees() {
  let class_size = 2048;
  let heap = Heap::acquire().unwrap();
  // SAFETY: this thread owns the heap.
  let owner = unsafe { heap.as_ref() };
  // SAFETY: the heap is ours.
  let blocks: Vec<usize> = (0..200)
    .map(|_| unsafe { owner.malloc(class_size) }.unwrap().addr().get())
    .collect();
  free_remotely(blocks.clone());
  // Every segment got remote frees: the next allocations reuse them all
  // before any new segment is needed (the current segment may first hand
  // out its uncarved tail).
  let tail = class(class_of(class_size)).blocks();
  // SAFETY: the heap is ours.
  let again: Vec<usize> = (0..200 + tail)
    .map(|_| unsafe { owner.malloc(class_size) }.unwrap().addr().get())
    .collect();
  let reused = again
    .iter()
    .filter(|address| blocks.contains(address))
    .count();
  assert_eq!(reused, 200, "remotely freed blocks are reused");
  for address in again {
    // SAFETY: each block is freed once.
    unsafe { Heap::free(owner, NonNull::new(address as *mut u8).unwrap()) };
  }
  // SAFETY: not used after this.
  unsafe { Heap::abandon(heap) };
}

/// A block size whose segment holds few blocks, so that a test can fill
/// one quickly.
const FEW_PER_SEGMENT: usize = 2048;

#[test]
fn remote_frees_into_a_full_segment_are_reused_before_a_new_page_is_carved() {
  with_heap(|heap| {
    let index = unused_class(heap, class_of(FEW_PER_SEGMENT));
    let class = class(index);
    let size = class.size();
    // A full segment and the first block of a second one, which then has
    // the rest of its first page on its free list and an untouched tail.
    let first: Vec<usize> = (0..class.blocks())
      .map(|_| alloc(heap, size).addr().get())
      .collect();
    let second = alloc(heap, size);
    assert!(
      !first.contains(&second.addr().get()),
      "the second segment's block is new"
    );
    free_remotely(first.clone());
    assert!(
      heap.full_notices[index].load(Ordering::SeqCst),
      "a remote free into a full segment sets its class's notice"
    );
    let page_blocks = (page_size() / size).max(1);
    let again: Vec<NonNull<u8>> =
      (0..class.blocks()).map(|_| alloc(heap, size)).collect();
    let reused = again
      .iter()
      .filter(|block| first.contains(&block.addr().get()))
      .count();
    assert!(
      reused + page_blocks >= class.blocks(),
      "{reused} of {} remotely freed blocks reused before carving",
      class.blocks()
    );
    assert!(
      !heap.full_notices[index].load(Ordering::SeqCst),
      "the refill that revived the segment took the notice"
    );
    for block in again.into_iter().chain([second]) {
      free(heap, block);
    }
  });
}

#[test]
fn a_trimmed_heap_gives_its_tables_back_and_works_again_once_adopted() {
  /// Sizes allocated before the trim and after the adoption.
  const SIZES: [usize; 4] = [1, 100, 1000, 5000];
  init();
  let pointer = Heap::create().expect("a heap");
  // SAFETY: heaps live for the rest of the process; this thread made it
  // and owns it.
  let heap = unsafe { pointer.as_ref() };
  for size in SIZES {
    let block = alloc(heap, size);
    free(heap, block);
  }
  // SAFETY: this thread owns the heap.
  unsafe { heap.collect() };
  // SAFETY: as above.
  assert!(unsafe { heap.is_empty() }, "collect retires kept segments");
  // SAFETY: as above (the lock of an abandoned heap gives the same right),
  // and the heap owns no segment.
  unsafe { heap.trim() };
  assert!(heap.trimmed.get(), "the tables were decommitted");
  let last_slot = heap.exact.as_ptr().wrapping_add(EXACT_SIZES - 1).addr();
  assert!(!is_resident(last_slot), "the last table page is given back");
  heap.adopt();
  assert!(!heap.trimmed.get(), "the adopter may use the tables");
  assert!(!is_resident(last_slot), "adoption leaves them given back");
  assert!(all_slots_vacant(heap), "given-back tables read as vacant");
  let blocks: Vec<NonNull<u8>> =
    SIZES.iter().map(|&size| alloc(heap, size)).collect();
  // SAFETY: this thread owns the heap.
  unsafe { heap.check_invariants() };
  for block in blocks {
    free(heap, block);
  }
  // SAFETY: not used after this.
  unsafe { Heap::abandon(pointer) };
}

/// A small segment of `class_index` claimed from the arenas, its first
/// `pages` pages carved and written with `FILL`, then given back as its
/// heap would, `cold` or not, but kept from the arena (no one else claims
/// it). Returns its start.
fn written_and_released(
  class_index: usize,
  pages: usize,
  cold: bool,
) -> NonNull<u8> {
  /// What the old life wrote into its blocks.
  const FILL: u8 = 0x5A;
  let span = claim_span(1, Placement::ANY, None).expect("a segment");
  // SAFETY: a segment we just claimed; the counters are never read.
  let segment = unsafe {
    Segment::init_small(
      span.start,
      class_index,
      NonNull::dangling(),
      NonNull::from(&UNOWNED_HEAP.classes[class_index].counters),
      span.zeroed,
    )
  };
  let page = page_size();
  while segment.extend(page) && segment.extent_of_carved() < pages * page {}
  let area = class(class_index).area_offset();
  // SAFETY: past the header, within the segment.
  let blocks = unsafe { span.start.byte_add(area) };
  // SAFETY: the carved blocks are ours.
  unsafe { blocks.write_bytes(FILL, segment.extent_of_carved() - area) };
  segment.release(cold);
  span.start
}

/// Whether the page `index` of the segment at `start` reads zero.
fn page_is_zero(start: NonNull<u8>, index: usize) -> bool {
  let page = page_size();
  // SAFETY: the page lies within the segment.
  let first = unsafe { start.as_ptr().add(index * page) };
  // SAFETY: the segment is ours and mapped.
  let bytes = unsafe { slice::from_raw_parts(first, page) };
  bytes.iter().all(|&byte| byte == 0)
}

#[test]
fn a_cold_segment_reused_gives_back_its_old_pages_past_the_header() {
  init();
  let index = class_of(FEW_PER_SEGMENT);
  let many = COLD_REUSE_KEPT_PAGES + 4;
  let cold = written_and_released(index, many, true);
  let warm = written_and_released(index, many, false);
  let small = written_and_released(index, COLD_REUSE_KEPT_PAGES / 2, true);
  for start in [cold, warm, small] {
    // SAFETY: each is a segment we claimed and hold, not zeroed.
    unsafe { give_back_cold_pages(start) };
  }
  assert!(
    (1..many).all(|page| page_is_zero(cold, page)),
    "a cold segment's old pages past the header go back"
  );
  assert!(!page_is_zero(warm, 1), "a warm segment keeps its pages");
  assert!(
    !page_is_zero(small, 1),
    "a cold segment with few pages keeps them"
  );
  for start in [cold, warm, small] {
    release_span(start, 1);
  }
}

#[test]
fn a_long_full_list_is_looked_through_only_when_no_page_is_left_to_carve() {
  with_heap(|heap| {
    let index = unused_class(heap, class_of(FEW_PER_SEGMENT));
    let class = class(index);
    let size = class.size();
    let full_segments = REVIVE_BEFORE_CARVE_MAX + 2;
    // That many full segments, and one block of the next.
    let blocks: Vec<NonNull<u8>> = (0..full_segments * class.blocks() + 1)
      .map(|_| alloc(heap, size))
      .collect();
    let freed = blocks[0].addr().get();
    free_remotely(std::vec![freed]);
    // The rest of the current segment is carved before the long full list
    // is looked through for the block freed into it.
    let rest: Vec<NonNull<u8>> =
      (1..class.blocks()).map(|_| alloc(heap, size)).collect();
    assert!(
      rest.iter().all(|block| block.addr().get() != freed),
      "the current segment is carved first"
    );
    let next = alloc(heap, size);
    assert_eq!(next.addr().get(), freed, "then the full list is revived");
    for block in blocks.into_iter().skip(1).chain(rest).chain([next]) {
      free(heap, block);
    }
  });
}

#[test]
fn frees_into_an_abandoned_heap_release_its_segments() {
  const BLOCKS: usize = 5000;
  const ADOPTION_RETRIES: usize = 10;
  // Another test may adopt the heap between its thread's exit and the
  // pool lock below; then we try again with a new thread.
  let (blocks, heap, index, pool) = (0..ADOPTION_RETRIES)
    .find_map(|_| {
      let (blocks, heap_address, index) = thread::spawn(|| {
        with_heap(|heap| {
          // A class the heap (maybe adopted) has no segment in.
          let index = unused_class(heap, 0);
          let blocks: Vec<usize> = (0..BLOCKS)
            .map(|_| alloc(heap, class(index).size()).addr().get())
            .collect();
          (blocks, heap as *const Heap as usize, index)
        })
      })
      .join()
      .unwrap();
      // Holding the pool keeps other tests from adopting the heap now.
      let pool = POOL.lock();
      // SAFETY: heaps live forever.
      let heap = unsafe { &*(heap_address as *const Heap) };
      // In the pool (not only flagged abandoned: a test may flag a heap
      // it adopted), so nobody can take it while we hold the pool.
      if pool.contains(NonNull::from(heap)) {
        return Some((blocks, heap, index, pool));
      }
      // Adopted: the blocks stay live in the adopter's heap (freeing them
      // would change the counts another test is checking).
      drop((pool, blocks));
      None
    })
    .expect("the abandoned heap stays in the pool at least once");
  for address in blocks {
    // SAFETY: each block is freed once.
    unsafe { Heap::free(&UNOWNED_HEAP, pointer(address)) };
  }
  let held = Held::new(heap);
  // SAFETY: holding the lock of an abandoned heap makes us its owner.
  let queue = unsafe { heap.queue(index) };
  assert!(queue.full.is_empty());
  assert!(queue.partial.is_empty(), "every empty segment went back");
  drop(held);
  drop(pool);
}

#[test]
fn large_blocks_resize_in_place_and_report_usable_size() {
  with_heap(|heap| {
    let block = alloc(heap, 100_000);
    fill(block, 100_000, 7);
    assert!(usable(block) >= 100_000);
    let grown = realloc(heap, block, 300_000);
    check(grown, 100_000, 7);
    let shrunk = realloc(heap, grown, 20_000);
    assert_eq!(shrunk, grown, "a large block shrinks in place");
    check_prefix(shrunk, 100_000, 20_000, 7);
    let small = realloc(heap, shrunk, 100);
    check_prefix(small, 100_000, 100, 7);
    assert_eq!(usable(small), 112);
    free(heap, small);
  });
}

#[test]
fn zeroed_allocations_read_zero_even_after_reuse() {
  with_heap(|heap| {
    for size in [24, 3000, 70_000, 5 << 20] {
      let dirty = alloc(heap, size);
      // SAFETY: the block has `size` writable bytes.
      unsafe { dirty.write_bytes(0xFF, size) };
      free(heap, dirty);
      // SAFETY: the heap is ours.
      let block = unsafe { heap.malloc_zeroed(size, MIN_ALIGN) }.unwrap();
      assert!(
        bytes(block, size).iter().all(|&byte| byte == 0),
        "size {size}"
      );
      free(heap, block);
    }
  });
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
  Alloc {
    size: usize,
    align_shift: u32,
    thread: usize,
  },
  Free {
    pick: usize,
    thread: usize,
  },
  Realloc {
    pick: usize,
    size: usize,
    thread: usize,
  },
}

/// Worker threads of the model test.
const THREADS: usize = 3;
/// Largest alignment the model test asks for, as a shift: 64 KiB.
const MAX_ALIGN_SHIFT: u32 = 16;

fn size_strategy() -> impl Strategy<Value = usize> {
  prop_oneof![
    8 => 0usize..256,
    4 => 256usize..=SMALL_MAX,
    2 => SMALL_MAX..400_000,
    1 => 400_000usize..(4 << 20),
  ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
  prop_oneof![
    4 => (size_strategy(), 0..=MAX_ALIGN_SHIFT, 0..THREADS)
      .prop_map(|(size, align_shift, thread)| Op::Alloc { size, align_shift, thread }),
    3 => (any::<usize>(), 0..THREADS).prop_map(|(pick, thread)| Op::Free { pick, thread }),
    2 => (any::<usize>(), size_strategy(), 0..THREADS)
      .prop_map(|(pick, size, thread)| Op::Realloc { pick, size, thread }),
  ]
}

/// A live block of the model.
#[derive(Debug, Clone, Copy)]
struct Live {
  address: usize,
  size: usize,
  align: usize,
  seed: usize,
}

type Job = Box<dyn FnOnce(&Heap) -> usize + Send>;

/// A thread with a heap of its own that runs jobs on request.
struct Worker {
  jobs: Sender<Job>,
  results: Receiver<usize>,
  handle: JoinHandle<()>,
}

impl Worker {
  fn spawn() -> Self {
    let (jobs, job_rx) = channel::<Job>();
    let (result_tx, results) = channel();
    let handle = thread::spawn(move || {
      with_heap(|heap| {
        for job in job_rx {
          result_tx.send(job(heap)).unwrap();
        }
      })
    });
    Self {
      jobs,
      results,
      handle,
    }
  }

  fn run(&self, job: impl FnOnce(&Heap) -> usize + Send + 'static) -> usize {
    self.jobs.send(Box::new(job)).unwrap();
    self.results.recv().unwrap()
  }
}

fn pointer(address: usize) -> NonNull<u8> {
  NonNull::new(address as *mut u8).unwrap()
}

/// Frees the blocks at `addresses` from a new thread without a heap of its
/// own (every free is a remote one), and waits for it.
fn free_remotely(addresses: Vec<usize>) {
  thread::spawn(move || {
    for address in addresses {
      // SAFETY: the tests pass each live block once.
      unsafe { Heap::free(&UNOWNED_HEAP, pointer(address)) };
    }
  })
  .join()
  .expect("the remote freer ends");
}

fn check_no_overlap(live: &[Live]) {
  let mut sorted: BTreeMap<usize, usize> = BTreeMap::new();
  for block in live {
    sorted.insert(block.address, block.size.max(1));
  }
  assert_eq!(sorted.len(), live.len(), "two live blocks share an address");
  let mut end = 0;
  for (&address, &size) in &sorted {
    assert!(address >= end, "live blocks overlap at {address:#x}");
    end = address + size;
  }
}

fn apply(workers: &[Worker], live: &mut Vec<Live>, op: Op, seed: usize) {
  match op {
    Op::Alloc {
      size,
      align_shift,
      thread,
    } => {
      let align = 1usize << align_shift;
      let address = workers[thread].run(move |heap| {
        // SAFETY: the worker owns its heap.
        let block = unsafe { heap.malloc_aligned(size, align) }.unwrap();
        fill(block, size, seed);
        block.addr().get()
      });
      live.push(Live {
        address,
        size,
        align,
        seed,
      });
    }
    Op::Free { pick, thread } if !live.is_empty() => {
      let block = live.swap_remove(pick % live.len());
      workers[thread].run(move |heap| {
        check(pointer(block.address), block.size, block.seed);
        // SAFETY: the model frees each block once.
        unsafe { Heap::free(heap, pointer(block.address)) };
        0
      });
    }
    Op::Realloc { pick, size, thread } if !live.is_empty() => {
      let index = pick % live.len();
      let old = live[index];
      let address = workers[thread].run(move |heap| {
        // SAFETY: the worker owns its heap; the old block is given up.
        let block =
          unsafe { heap.realloc(pointer(old.address), size, old.align) }
            .unwrap();
        check_prefix(block, old.size, size, old.seed);
        fill(block, size, old.seed);
        block.addr().get()
      });
      live[index] = Live {
        address,
        size,
        ..old
      };
    }
    _ => {}
  }
}

fn check_live(live: &[Live]) {
  check_no_overlap(live);
  for block in live {
    assert_eq!(block.address % block.align, 0, "misaligned {block:?}");
    // SAFETY: a live block of ours.
    let usable = unsafe { Heap::usable_size(pointer(block.address)) };
    assert!(usable >= block.size, "usable {usable} < {block:?}");
  }
}

proptest! {
  #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

  #[test]
  fn random_operations_on_several_threads_match_the_model(
    ops in vec(op_strategy(), 1..80)
  ) {
    let workers: Vec<Worker> = (0..THREADS).map(|_| Worker::spawn()).collect();
    let mut live = Vec::new();
    for (seed, op) in ops.into_iter().enumerate() {
      apply(&workers, &mut live, op, seed);
      check_live(&live);
      for worker in &workers {
        worker.run(|heap| {
          // SAFETY: the worker owns its heap; no other op runs meanwhile.
          unsafe { heap.check_invariants() };
          0
        });
      }
    }
    for (index, block) in live.drain(..).enumerate() {
      workers[index % THREADS].run(move |heap| {
        check(pointer(block.address), block.size, block.seed);
        // SAFETY: each block is freed once.
        unsafe { Heap::free(heap, pointer(block.address)) };
        0
      });
    }
    for worker in workers {
      drop(worker.jobs);
      worker.handle.join().unwrap();
    }
  }
}

/// A block pushed by a remote free after its owner's last collection but
/// before the owner flags its heap abandoned (the freer saw the flag
/// clear), then the last block freed into the abandoned heap: the segment
/// must go back, not wait for a new thread to adopt the heap.
#[test]
fn a_remote_free_racing_the_abandon_does_not_pin_the_segment() {
  let (last, heap_address, index) = thread::spawn(|| {
    let owned = Heap::acquire().expect("a heap");
    // SAFETY: this thread owns the heap.
    let heap = unsafe { owned.as_ref() };
    // A class in which the heap (maybe adopted from another test) has no
    // segment, so both blocks come from a fresh one only they use.
    let index = unused_class(heap, 0);
    let size = class(index).size();
    let first = alloc(heap, size).addr().get();
    let last = alloc(heap, size).addr().get();
    // `Heap::abandon` with the remote free landing between its collection
    // and its flag.
    // SAFETY: we own the heap.
    unsafe { heap.collect() };
    free_remotely(Vec::from([first]));
    heap.abandoned.store(true, Ordering::SeqCst);
    (last, ptr::from_ref(heap).expose_provenance(), index)
  })
  .join()
  .expect("the owner ends");
  // SAFETY: freed once, into the abandoned heap.
  unsafe { Heap::free(&UNOWNED_HEAP, pointer(last)) };
  // SAFETY: heaps live forever.
  let heap = unsafe { &*ptr::with_exposed_provenance::<Heap>(heap_address) };
  let held = Held::new(heap);
  // SAFETY: we hold the lock of the abandoned heap.
  let queue = unsafe { heap.queue(index) };
  // Only this segment: the heap may have been adopted from another test,
  // with segments of its own in other classes.
  // SAFETY: `last` came from us; its header place is mapped.
  let segment = NonNull::from(unsafe { header_at(pointer(last).as_ptr()) });
  let queued = queue.partial.contains(segment) || queue.full.contains(segment);
  drop(held);
  assert!(!queued, "every block is free, so the segment went back");
}

/// How long the fork test lets a thread try to get a heap.
const FORK_WINDOW: Duration = Duration::from_millis(50);

/// While `fork`'s prepare handler holds the heap locks, no heap can be made
/// or adopted (so none escapes the locking and the unlocking after it).
/// This checks the window as a whole; the race a reviewer found (a thread
/// that saw the pool empty just before the fork, then made a heap inside
/// the window) is closed by registering heaps under the pool lock, which
/// this test cannot pause a thread in the middle of.
#[test]
fn no_heap_is_made_or_adopted_while_fork_holds_the_locks() {
  init();
  lock_for_fork();
  let acquirer = thread::spawn(|| {
    let heap = Heap::acquire().expect("a heap");
    // SAFETY: this thread owns the heap it acquired.
    unsafe { Heap::abandon(heap) };
  });
  thread::sleep(FORK_WINDOW);
  let waited = !acquirer.is_finished();
  // SAFETY: lock_for_fork ran in this thread.
  unsafe { unlock_after_fork() };
  acquirer.join().expect("the acquirer ends");
  assert!(waited, "a heap was acquired inside the fork window");
}

#[test]
fn a_heap_trimmed_while_its_thread_abandons_it_keeps_its_tables_given_back() {
  /// A block size any class serves.
  const SIZE: usize = 64;
  init();
  let owned = Heap::create().expect("a heap");
  // SAFETY: heaps live for the rest of the process.
  let heap = unsafe { owned.as_ref() };
  let address = alloc(heap, SIZE).addr().get();
  let last_slot = heap.exact.as_ptr().wrapping_add(EXACT_SIZES - 1).addr();
  let owner = {
    // Holds the lock as a thread freeing into the abandoned heap would,
    // between `abandon` raising its flag and taking the lock.
    let held = Held::new(heap);
    let heap_address = owned.as_ptr().expose_provenance();
    let owner = thread::spawn(move || {
      let pointer = ptr::with_exposed_provenance_mut::<Heap>(heap_address);
      // SAFETY: this thread takes the heap over and gives it up.
      unsafe { Heap::abandon(NonNull::new(pointer).expect("a heap")) };
    });
    while !heap.abandoned.load(Ordering::SeqCst) {
      spin_loop();
    }
    // What `free_remote` and `tend_abandoned` do: the heap's last block
    // comes back, its segment goes, and the empty heap is trimmed.
    // SAFETY: the block is live and ours.
    let segment = unsafe { header_at(pointer(address).as_ptr()) };
    segment.push_remote(pointer(address)).expect("a live block");
    // SAFETY: holding the lock of the abandoned heap makes us its owner.
    unsafe { heap.tend(segment) };
    // SAFETY: as above.
    assert!(unsafe { heap.is_empty() }, "the last segment went back");
    // SAFETY: as above; the heap is empty.
    unsafe { heap.trim() };
    drop(held);
    owner
  };
  owner.join().expect("abandon ends");
  // Another test may have adopted the heap meanwhile, and written its
  // tables again: then it is no longer trimmed.
  assert!(
    !heap.trimmed.get() || !is_resident(last_slot),
    "abandon wrote the tables of a heap a freer had trimmed"
  );
}

/// Whether the page holding `address` is resident, without touching it.
fn is_resident(address: usize) -> bool {
  let page = page_size();
  let start = address & !(page - 1);
  let mut vector = 0_u8;
  // SAFETY: the page is mapped (it is in a heap's mapping); mincore
  // writes one byte per page into `vector`.
  let status = unsafe {
    mincore(ptr::without_provenance_mut(start), page, &raw mut vector)
  };
  assert_eq!(status, 0, "mincore succeeds");
  vector & 1 == 1
}

/// Blocks of the bounded-sweep test: small, so that many fit a segment.
const SWEPT_SIZE: usize = 48;
/// One page's worth of its blocks kept in this many.
const KEEP_ONE_PAGE_IN: usize = 10;

#[test]
fn a_claims_sweep_walks_a_bounded_number_of_free_blocks() {
  with_heap(|heap| {
    let size = SWEPT_SIZE;
    let index = class_of(size);
    let per_page = page_size() / size;
    // Enough blocks that the free ones outnumber the budget twice over.
    let count = 3 * SWEEP_BUDGET_BLOCKS;
    let blocks: Vec<NonNull<u8>> =
      (0..count).map(|_| alloc(heap, size)).collect();
    // Whole free pages everywhere.
    let mut kept = Vec::new();
    for (number, &block) in blocks.iter().enumerate() {
      if (number / per_page).is_multiple_of(KEEP_ONE_PAGE_IN) {
        kept.push(block);
      } else {
        free(heap, block);
      }
    }
    let freed_bytes = (count - kept.len()) * size;
    // SAFETY: this thread owns the heap.
    let first = unsafe { heap.sweep_class(index, false, SWEEP_BUDGET_BLOCKS) };
    assert!(first > 0, "the first turn sweeps");
    assert!(
      first <= (SWEEP_BUDGET_BLOCKS + class(index).blocks()) * size,
      "one turn walks about the budget: {first} bytes swept"
    );
    let mut total = first;
    loop {
      // SAFETY: as above.
      let more = unsafe { heap.sweep_class(index, false, SWEEP_BUDGET_BLOCKS) };
      if more == 0 {
        break;
      }
      total += more;
    }
    assert!(total > first, "later turns take up the rest");
    assert!(total * 2 >= freed_bytes, "most freed pages swept: {total}");
    for block in kept {
      free(heap, block);
    }
  });
}
