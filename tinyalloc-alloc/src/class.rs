//! Size classes: a compile-time table and a branch-free lookup.
//!
//! Invariants: class sizes strictly increase, are multiples of
//! [`MIN_ALIGN`], and the largest is [`SMALL_MAX`]. Up to eight times
//! `MIN_ALIGN` the classes step by `MIN_ALIGN`; above, each doubling holds
//! [`CLASS_STEPS`] evenly spaced classes, so a request never gets more than
//! one eighth more than it asked for beyond `MIN_ALIGN` rounding. A class's
//! block area starts at an offset aligned to the block size's natural
//! alignment, so aligned requests are served by the class whose size is a
//! multiple of the alignment.

#[cfg(test)]
mod tests;

use core::mem::size_of;
use core::ops::Range;

use crate::config::{
  CLASS_STEPS, CLASS_STEPS_SHIFT, MIN_ALIGN, MIN_ALIGN_SHIFT, SEGMENT_SIZE,
  SMALL_MAX,
};
use crate::segment::Segment;

/// Largest size of the linear part of the table.
const LINEAR_MAX: usize = MIN_ALIGN * CLASS_STEPS;
/// Doublings from [`LINEAR_MAX`] to [`SMALL_MAX`].
const DOUBLINGS: usize =
  (SMALL_MAX.trailing_zeros() - LINEAR_MAX.trailing_zeros()) as usize;
/// Number of small size classes.
pub(crate) const CLASS_COUNT: usize = CLASS_STEPS + DOUBLINGS * CLASS_STEPS;
/// Entries of the size-to-class table: one per `MIN_ALIGN` step of the
/// request size, zero included.
pub(crate) const SIZE_STEPS: usize = (SMALL_MAX >> MIN_ALIGN_SHIFT) + 1;

/// Request sizes up to this find their segment by their exact size, one
/// table slot per byte, which spares the fast path rounding the size to a
/// step. Beyond it classes are wide enough that a slot per byte would make
/// each update of a class's slots long; there the table has a slot per
/// `MIN_ALIGN` step. This bound keeps a class's exact slots to at most
/// `EXACT_MAX >> CLASS_STEPS_SHIFT` (class sizes grow by that much per
/// step below it). It is 256 rather than 1024 (session 5): every heap
/// writes its whole table, and the unowned heap's is in the binary's data
/// with a relocation per slot, so the 768 slots above 256 cost 6 KiB per
/// heap and 24 KiB of the binary's start-up (its peak fell by 56 KiB, and
/// `falseshare` and `threads` by 0.15 MiB); a request of 257 to 1024 bytes
/// pays 5 instructions more for it (35 to 40 per pair).
pub(crate) const EXACT_MAX: usize = SMALL_MAX >> (CLASS_STEPS_SHIFT + 2);
/// Entries of the exact-size table: sizes 0 to [`EXACT_MAX`].
pub(crate) const EXACT_SIZES: usize = EXACT_MAX + 1;

/// log2 of [`DIRECT_STEP`].
const DIRECT_SHIFT: u32 = EXACT_MAX.trailing_zeros() - CLASS_STEPS_SHIFT;
/// The step of the direct table, which serves the sizes above
/// [`EXACT_MAX`]: the spacing of the classes in the doubling that starts
/// there (32 bytes), which only grows with the size, so every class size
/// from `EXACT_MAX` up is a multiple of it and rounding a request up to it
/// never crosses a class. A `MIN_ALIGN` step would take twice the slots
/// (session 6: 513 slots made a heap 9.9 KiB, three pages; 257 make it
/// 7.9 KiB, two), for the same instructions on the fast path.
pub(crate) const DIRECT_STEP: usize = 1 << DIRECT_SHIFT;
/// Entries of the direct table: one per [`DIRECT_STEP`] of the request
/// size up to [`SMALL_MAX`], zero included (the slots of sizes up to
/// `EXACT_MAX` are kept up to date but never read by `malloc`).
pub(crate) const DIRECT_SLOTS: usize = (SMALL_MAX >> DIRECT_SHIFT) + 1;

const _: () = assert!(
  EXACT_MAX.is_power_of_two() && EXACT_MAX >= LINEAR_MAX,
  "classes above EXACT_MAX step by EXACT_MAX / CLASS_STEPS at least"
);

/// One small size class and the layout of its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Class {
  /// Block size in bytes.
  size: u32,
  /// Alignment every block of this class has.
  align: u32,
  /// Blocks in one segment.
  blocks: u32,
  /// Offset of the first block from the segment start.
  area_offset: u32,
}

impl Class {
  /// Block size in bytes.
  #[inline]
  pub(crate) const fn size(&self) -> usize {
    self.size as usize
  }

  /// Alignment every block of this class has.
  #[inline]
  pub(crate) const fn align(&self) -> usize {
    self.align as usize
  }

  /// Blocks in one segment of this class.
  #[inline]
  pub(crate) const fn blocks(&self) -> usize {
    self.blocks as usize
  }

  /// Offset of the first block from the segment start.
  #[inline]
  pub(crate) const fn area_offset(&self) -> usize {
    self.area_offset as usize
  }
}

/// Size of class `index` (before the table exists).
const fn size_of_class(index: usize) -> usize {
  if index < CLASS_STEPS {
    return (index + 1) * MIN_ALIGN;
  }
  let step = index - CLASS_STEPS;
  let base = LINEAR_MAX << (step / CLASS_STEPS);
  base + (base >> CLASS_STEPS_SHIFT) * (step % CLASS_STEPS + 1)
}

/// Largest power of two dividing `size`.
const fn natural_align(size: usize) -> usize {
  1 << size.trailing_zeros()
}

const fn make_class(index: usize) -> Class {
  let size = size_of_class(index);
  let align = natural_align(size);
  let header = size_of::<Segment>();
  let area_offset = header.next_multiple_of(align);
  let blocks = (SEGMENT_SIZE - area_offset) / size;
  Class {
    size: size as u32,
    align: align as u32,
    blocks: blocks as u32,
    area_offset: area_offset as u32,
  }
}

const fn make_classes() -> [Class; CLASS_COUNT] {
  let mut table = [make_class(0); CLASS_COUNT];
  let mut index = 1;
  while index < CLASS_COUNT {
    table[index] = make_class(index);
    index += 1;
  }
  table
}

const fn make_lookup() -> [u8; SIZE_STEPS] {
  let mut table = [0u8; SIZE_STEPS];
  let mut slot = 0;
  let mut class = 0;
  while slot < SIZE_STEPS {
    while size_of_class(class) < slot << MIN_ALIGN_SHIFT {
      class += 1;
    }
    table[slot] = class as u8;
    slot += 1;
  }
  table
}

/// Every small class, smallest first.
pub(crate) static CLASSES: [Class; CLASS_COUNT] = make_classes();
/// Class index for each `MIN_ALIGN` step of the request size.
static LOOKUP: [u8; SIZE_STEPS] = make_lookup();

const _: () = assert!(size_of_class(CLASS_COUNT - 1) == SMALL_MAX);
const _: () = assert!(CLASS_COUNT <= u8::MAX as usize);
/// The `MIN_ALIGN` step of a small request size: its index in the
/// size-to-class table. `size` must be at most [`SMALL_MAX`].
#[inline]
pub(crate) const fn size_step(size: usize) -> usize {
  (size + MIN_ALIGN - 1) >> MIN_ALIGN_SHIFT
}

/// The class of a small request. `size` must be at most [`SMALL_MAX`].
#[inline]
pub(crate) fn class_of(size: usize) -> usize {
  debug_assert!(size <= SMALL_MAX, "class_of takes small sizes only");
  LOOKUP[size_step(size)] as usize
}

/// The first size step each class serves, and one past the last class's:
/// class `index` serves steps `FIRST_STEPS[index]..FIRST_STEPS[index + 1]`.
/// A table, because heaps ask on every change of a class's direct slots.
static FIRST_STEPS: [u16; CLASS_COUNT + 1] = make_first_steps();

const fn make_first_steps() -> [u16; CLASS_COUNT + 1] {
  let lookup = make_lookup();
  let mut table = [0u16; CLASS_COUNT + 1];
  let mut step = 0;
  while step < SIZE_STEPS {
    // Classes serve contiguous runs of steps, in order: a step's class is
    // at most one more than the previous step's.
    let class = lookup[step] as usize;
    if step == 0 || lookup[step - 1] as usize != class {
      table[class] = step as u16;
    }
    step += 1;
  }
  table[CLASS_COUNT] = SIZE_STEPS as u16;
  table
}

const _: () = assert!(SIZE_STEPS <= u16::MAX as usize);

/// The size steps class `index` serves: a contiguous run of the table.
pub(crate) fn size_steps_of(index: usize) -> Range<usize> {
  FIRST_STEPS[index] as usize..FIRST_STEPS[index + 1] as usize
}

/// The direct-table slot of a request of `size` bytes, above
/// [`EXACT_MAX`] and at most [`SMALL_MAX`]: the sizes above
/// `(slot - 1) * DIRECT_STEP` up to `slot * DIRECT_STEP`.
#[inline]
pub(crate) const fn direct_slot(size: usize) -> usize {
  (size + DIRECT_STEP - 1) >> DIRECT_SHIFT
}

/// The first direct slot of each class, and [`DIRECT_SLOTS`] after the
/// last: class `index` has slots `FIRST_DIRECT_SLOTS[index]..
/// FIRST_DIRECT_SLOTS[index + 1]`, none for a class below `EXACT_MAX` that
/// no multiple of `DIRECT_STEP` falls in.
static FIRST_DIRECT_SLOTS: [u16; CLASS_COUNT + 1] = make_first_direct_slots();

const fn make_first_direct_slots() -> [u16; CLASS_COUNT + 1] {
  let lookup = make_lookup();
  let mut table = [0u16; CLASS_COUNT + 1];
  let mut class = 0;
  let mut slot = 0;
  while class <= CLASS_COUNT {
    // Slots go to classes in order (a slot's class is that of its largest
    // size): the first slot whose class is at least `class` starts its run.
    while slot < DIRECT_SLOTS
      && (lookup[size_step(slot << DIRECT_SHIFT)] as usize) < class
    {
      slot += 1;
    }
    table[class] = slot as u16;
    class += 1;
  }
  table
}

/// Whether every class size from [`EXACT_MAX`] up is a multiple of
/// [`DIRECT_STEP`], which [`direct_slot`] relies on.
const fn large_classes_fit_direct_steps() -> bool {
  let mut index = 0;
  while index < CLASS_COUNT {
    let size = size_of_class(index);
    if size >= EXACT_MAX && !size.is_multiple_of(DIRECT_STEP) {
      return false;
    }
    index += 1;
  }
  true
}

const _: () = assert!(large_classes_fit_direct_steps());
const _: () = assert!(DIRECT_SLOTS <= u16::MAX as usize);

/// The direct slots class `index` serves: a contiguous run, maybe empty.
pub(crate) fn direct_slots_of(index: usize) -> Range<usize> {
  FIRST_DIRECT_SLOTS[index] as usize..FIRST_DIRECT_SLOTS[index + 1] as usize
}

/// The exact sizes up to [`EXACT_MAX`] class `index` serves: those whose
/// size steps are its own (step `s` holds the sizes above
/// `(s - 1) * MIN_ALIGN` up to `s * MIN_ALIGN`, step 0 the size 0).
pub(crate) fn exact_sizes_of(index: usize) -> Range<usize> {
  let steps = size_steps_of(index);
  let first = match steps.start {
    0 => 0,
    step => ((step - 1) << MIN_ALIGN_SHIFT) + 1,
  };
  let end = ((steps.end - 1) << MIN_ALIGN_SHIFT) + 1;
  first.min(EXACT_SIZES)..end.min(EXACT_SIZES)
}

/// How far apart, at most, the blocks aligned as asked may lie in a class
/// that [`loose_class_of_aligned`] picks: one block in four.
pub(crate) const LOOSE_ALIGN_RATIO: usize = 4;

/// ... and only if its blocks are at most this fraction of the strict
/// class's (half): looking through a free list for an aligned block costs
/// a cache miss per block, worth it for a 4 KiB block saved, not for 16
/// bytes (taking every smaller class made `aligned` 90% slower).
pub(crate) const LOOSE_MIN_SAVING: usize = 2;

/// The class for `size` bytes aligned to `align`, if a small class serves it.
pub(crate) fn class_of_aligned(size: usize, align: usize) -> Option<usize> {
  let wanted = size.checked_next_multiple_of(align)?;
  if wanted > SMALL_MAX {
    return None;
  }
  (class_of(wanted)..CLASS_COUNT).find(|&index| CLASSES[index].align() >= align)
}

/// A class at most half the size of `strict`, [`class_of_aligned`]'s
/// class for the request, that holds `size` bytes and some of whose blocks
/// are aligned to `align`: one in `align / natural alignment`, at most
/// [`LOOSE_ALIGN_RATIO`] apart (block sizes are an odd multiple of their
/// natural alignment, so the aligned ones recur at that period). `None`
/// when there is none.
pub(crate) fn loose_class_of_aligned(
  size: usize,
  align: usize,
  strict: usize,
) -> Option<usize> {
  class_of_aligned(size, align / LOOSE_ALIGN_RATIO).filter(|&index| {
    CLASSES[index].size() * LOOSE_MIN_SAVING <= CLASSES[strict].size()
  })
}

/// The class with index `index`.
#[inline]
pub(crate) fn class(index: usize) -> &'static Class {
  &CLASSES[index]
}
