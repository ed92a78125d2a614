//! A 1 GiB block: allocated zeroed, every page written and read back, then
//! freed, with the committed and resident bytes falling by a GiB (in a child
//! process, so the counters and the resident size are ours alone).

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::slice;

use tinyalloc::stats;

use crate::support::{GIB, KIB, MIB, page_size, resident_bytes, uniform};

/// The size of the block.
const HUGE: usize = GIB;
/// How far the committed and resident sizes may miss a whole GiB: test
/// harness noise and page rounding, far below the GiB measured.
const SLACK: usize = 16 * MIB;
/// How far live bytes may end from where they started: what the harness
/// and std keep on first use (a few hundred bytes seen).
const LIVE_SLACK: usize = 4 * KIB;

/// A zeroed block of [`HUGE`] bytes, as a slice it owns until
/// [`free_huge`].
fn allocate_huge() -> &'static mut [u8] {
  let layout = huge_layout();
  // SAFETY: the layout has a non-zero size.
  let block = unsafe { alloc_zeroed(layout) };
  assert!(!block.is_null(), "a GiB allocates");
  // SAFETY: the block is live, writable, HUGE bytes long and initialised
  // (zeroed), and only this slice reaches it until it is freed.
  unsafe { slice::from_raw_parts_mut(block, HUGE) }
}

/// Frees a block from [`allocate_huge`].
fn free_huge(block: &'static mut [u8]) {
  // SAFETY: allocated with this layout, freed once; the slice dies here.
  unsafe { dealloc(block.as_mut_ptr(), huge_layout()) };
}

/// The layout of the block, page-aligned.
fn huge_layout() -> Layout {
  Layout::from_size_align(HUGE, page_size()).expect("a valid layout")
}

/// The byte written into page `index`.
fn page_byte(index: usize) -> u8 {
  (index % usize::from(u8::MAX)) as u8 + 1
}

/// Writes every page of `block` with its own byte.
fn write_pages(block: &mut [u8]) {
  for (index, page) in block.chunks_mut(page_size()).enumerate() {
    page.fill(page_byte(index));
  }
}

/// True if every page of `block` holds its own byte.
fn pages_hold(block: &[u8]) -> bool {
  let mut pages = block.chunks(page_size()).enumerate();
  pages.all(|(index, page)| uniform(page, page_byte(index)))
}

/// Asserts that `after` is at least a GiB (less the slack) below `before`.
fn assert_fell(what: &str, before: usize, after: usize) {
  let fallen = before.saturating_sub(after);
  assert!(
    fallen + SLACK >= HUGE,
    "{what} fell by {fallen} bytes ({before} -> {after}), not a GiB",
  );
}

/// Asserts that `after` is at least a GiB (less the slack) above `before`.
fn assert_rose(what: &str, before: usize, after: usize) {
  let risen = after.saturating_sub(before);
  assert!(
    risen + SLACK >= HUGE,
    "{what} rose by {risen} bytes ({before} -> {after}), not a GiB",
  );
}

isolated_test! {
  fn a_gib_is_committed_touched_and_given_back() {
    let start = stats();
    let resident = resident_bytes();
    let block = allocate_huge();
    assert!(uniform(block, 0), "a fresh huge block reads zero");
    write_pages(block);
    let full = stats();
    assert_rose("committed", start.committed_bytes(), full.committed_bytes());
    assert_rose("live", start.live_bytes(), full.live_bytes());
    let touched = resident_bytes();
    assert_rose("resident", resident, touched);
    assert!(pages_hold(block), "every page keeps its byte");
    free_huge(block);
    let end = stats();
    assert_fell("committed", full.committed_bytes(), end.committed_bytes());
    assert_fell("mapped", full.mapped_bytes(), end.mapped_bytes());
    assert_fell("resident", touched, resident_bytes());
    let live = end.live_bytes().abs_diff(start.live_bytes());
    assert!(live <= LIVE_SLACK, "live bytes moved by {live}");
  }
}

isolated_test! {
  fn a_gib_vec_of_zeros_after_a_dirty_gib_reads_zero() {
    let dirty = allocate_huge();
    write_pages(dirty);
    free_huge(dirty);
    let zeros = vec![0_u8; HUGE];
    assert!(uniform(&zeros, 0), "vec![0; 1 GiB] reads zero");
    let committed = stats().committed_bytes();
    drop(zeros);
    assert_fell("committed", committed, stats().committed_bytes());
  }
}
