//! Growing and shrinking blocks: contents survive every realloc, across
//! the small, large and huge boundaries, through `Vec`, `String` and
//! `std::alloc::realloc` directly.

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::ptr::NonNull;
use std::slice;

use crate::support::{KIB, MIB, Rng, fill, holds, holds_prefix};

/// Size a `Vec` grows to one byte at a time.
const VEC_GROWTH: usize = 4 * MIB;
/// Size a raw block grows to one byte at a time: past the small classes.
const BYTEWISE_GROWTH: usize = 20 * KIB;
/// Size the doubling and geometric growths reach: past the huge threshold.
const GROWTH_LIMIT: usize = 64 * MIB;
/// Geometric growth adds `size / GROWTH_STEP_DIVISOR` each step.
const GROWTH_STEP_DIVISOR: usize = 8;
/// Random resizes in the boundary walk.
const RANDOM_RESIZES: usize = 400;
/// Largest size of the boundary walk.
const RANDOM_LIMIT: usize = 40 * MIB;
/// Alignments the raw-block tests run with.
const ALIGNS: [usize; 3] = [1, 16, 4096];

/// A block owned through a raw pointer, freed on drop.
struct RawBlock {
  pointer: NonNull<u8>,
  layout: Layout,
}

impl RawBlock {
  /// A fresh block of `size` bytes aligned to `align`.
  fn new(size: usize, align: usize) -> Self {
    let layout = Layout::from_size_align(size, align).expect("valid layout");
    // SAFETY: the layout has a non-zero size.
    let pointer = unsafe { alloc(layout) };
    let pointer = NonNull::new(pointer).expect("the allocation succeeds");
    // SAFETY: the block is live and `size` bytes long.
    unsafe { pointer.write_bytes(0, size) };
    Self { pointer, layout }
  }

  /// Resizes the block to `size` bytes, asserting the alignment holds; a
  /// new tail reads zero.
  fn resize(&mut self, size: usize) {
    let old = self.layout.size();
    // SAFETY: the block is live with this layout; `size` is not zero.
    let moved = unsafe { realloc(self.pointer.as_ptr(), self.layout, size) };
    self.pointer = NonNull::new(moved).expect("the realloc succeeds");
    self.layout =
      Layout::from_size_align(size, self.layout.align()).expect("valid layout");
    let align = self.layout.align();
    assert_eq!(self.pointer.addr().get() % align, 0, "aligned to {align}");
    if let Some(grown) = size.checked_sub(old) {
      // SAFETY: the block is `size` bytes long, so its tail past `old` is
      // in bounds.
      let tail = unsafe { self.pointer.add(old) };
      // SAFETY: the tail is live and `grown` bytes long.
      unsafe { tail.write_bytes(0, grown) };
    }
  }

  /// The block's bytes.
  fn bytes(&mut self) -> &mut [u8] {
    // SAFETY: the block is live, `layout.size()` bytes long, initialised
    // (every byte is written on allocation and growth) and reached only
    // through `self`.
    unsafe {
      slice::from_raw_parts_mut(self.pointer.as_ptr(), self.layout.size())
    }
  }
}

impl Drop for RawBlock {
  fn drop(&mut self) {
    // SAFETY: the block is live with this layout and freed once.
    unsafe { dealloc(self.pointer.as_ptr(), self.layout) };
  }
}

/// The byte at `index` of the bytewise patterns.
fn byte_at(index: usize) -> u8 {
  (index.wrapping_mul(7) % 251) as u8
}

#[test]
fn a_vec_grows_byte_by_byte_and_keeps_its_bytes() {
  let mut bytes = Vec::new();
  for index in 0..VEC_GROWTH {
    bytes.push(byte_at(index));
  }
  assert!(
    bytes
      .iter()
      .enumerate()
      .all(|(at, byte)| *byte == byte_at(at))
  );
  bytes.truncate(KIB);
  bytes.shrink_to_fit();
  assert_eq!(bytes.capacity(), KIB);
  assert!(
    bytes
      .iter()
      .enumerate()
      .all(|(at, byte)| *byte == byte_at(at))
  );
}

#[test]
fn a_string_shrinks_to_fit_and_keeps_its_text() {
  let mut text = String::with_capacity(3 * MIB);
  for index in 0..KIB {
    text.push_str(&index.to_string());
  }
  let copy = text.clone();
  text.shrink_to_fit();
  assert_eq!(text.capacity(), text.len());
  assert_eq!(text, copy);
  text.reserve(40 * MIB);
  assert_eq!(text, copy);
}

#[test]
fn a_raw_block_grows_byte_by_byte_past_the_small_classes() {
  for align in ALIGNS {
    let mut block = RawBlock::new(1, align);
    block.bytes()[0] = byte_at(0);
    for size in 2..=BYTEWISE_GROWTH {
      block.resize(size);
      let bytes = block.bytes();
      assert_eq!(bytes[size - 2], byte_at(size - 2), "size {size}");
      bytes[size - 1] = byte_at(size - 1);
      if size.is_power_of_two() {
        let all = bytes.iter().enumerate().all(|(at, b)| *b == byte_at(at));
        assert!(all, "align {align}, size {size}");
      }
    }
  }
}

/// Grows a block through `sizes`, checking it keeps its bytes at each step
/// against a reference.
fn grow_through(sizes: &[usize], align: usize) {
  let largest = sizes.iter().copied().max().expect("sizes given");
  let mut reference = vec![0; largest];
  fill(&mut reference, 0);
  let mut block = RawBlock::new(sizes[0], align);
  block.bytes().copy_from_slice(&reference[..sizes[0]]);
  let mut kept = sizes[0];
  for &size in &sizes[1..] {
    block.resize(size);
    kept = kept.min(size);
    assert!(block.bytes()[..kept] == reference[..kept], "size {size}");
    block.bytes()[kept..].copy_from_slice(&reference[kept..size]);
    kept = size;
  }
}

#[test]
fn doubling_and_halving_cross_every_boundary() {
  let up: Vec<usize> =
    (0..=GROWTH_LIMIT.ilog2()).map(|shift| 1 << shift).collect();
  let down = up.iter().rev().copied();
  let sizes: Vec<usize> = up.iter().copied().chain(down).collect();
  for align in ALIGNS {
    grow_through(&sizes, align);
  }
}

#[test]
fn a_huge_block_resizes_in_place_and_back() {
  let sizes = [
    40 * MIB,
    40 * MIB,
    40 * MIB - 100,
    36 * MIB,
    40 * MIB,
    GROWTH_LIMIT,
    40 * MIB + 1,
  ];
  for align in ALIGNS {
    grow_through(&sizes, align);
  }
}

#[test]
fn geometric_growth_keeps_contents() {
  let mut sizes = vec![100];
  while let Some(&size) = sizes.last().filter(|size| **size < GROWTH_LIMIT) {
    sizes.push(size + size / GROWTH_STEP_DIVISOR + 1);
  }
  grow_through(&sizes, ALIGNS[1]);
}

#[test]
fn random_resizes_across_boundaries_keep_the_prefix() {
  let mut rng = Rng::new(99);
  for align in ALIGNS {
    let mut block = RawBlock::new(1, align);
    let mut id = 0;
    fill(block.bytes(), id);
    for _ in 0..RANDOM_RESIZES {
      let old = block.layout.size();
      let size = rng.log_uniform(1, RANDOM_LIMIT);
      block.resize(size);
      let kept = old.min(size);
      assert!(
        holds_prefix(&block.bytes()[..kept], id, old),
        "{old}->{size}"
      );
      id += 1;
      fill(block.bytes(), id);
      assert!(holds(block.bytes(), id));
    }
  }
}
