//! Segments: a header at the segment-aligned start, then blocks.
//!
//! A *small* segment holds blocks of one class. Its header keeps the owner's
//! free list, a count of blocks not on that list (`used`), how many blocks
//! have been carved from the untouched tail (`carved`), a list of blocks
//! freed by other threads (`thread_free`, on its own cache line), and one
//! allocated bit per block after the fixed header. A block is on exactly
//! one of: the free list, the thread-free list, the untouched tail, or in
//! the program's hands (bit set).
//!
//! A *large* or *huge* header describes one block: a run of segments in an
//! arena, or a mapping of its own.
//!
//! Every header carries `cookie == address ^ secret` while it is in use, so
//! a pointer whose segment start holds anything else is not ours. The block
//! a pointer belongs to is found from `pointer - 1`, which lets a block
//! aligned to the segment size start right at a segment boundary with its
//! header in the segment before.

#[cfg(test)]
mod tests;

use core::cell::{Cell, UnsafeCell};
use core::mem::size_of;
use core::ptr::{self, NonNull};

use tinyalloc_list::{HasLink, Link};

use crate::class::{BITMAP_WORDS, Class, WORD_BITS, class};
use crate::config::{MIN_ALIGN, MIN_ALIGN_SHIFT, SEGMENT_MASK};
use crate::fault::Fault;
use crate::heap::Heap;
use crate::manager::{owns, secret};
use crate::sync::{
  AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering,
};

/// What a segment header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
  /// Blocks of one small class, owned by a heap.
  Small = 1,
  /// One block in a run of arena segments.
  Large = 2,
  /// One block in a mapping of its own.
  Huge = 3,
  /// Given back to the arena; a free that lands here is a double free.
  Released = 4,
}

/// A free block: its first word links to the next free block (read and
/// written through `next_of` and `set_next` only).
#[repr(C)]
pub(crate) struct Block {
  _next: Option<NonNull<Block>>,
}

/// Reads the successor of a free block.
///
/// # Safety
/// `block` is a free block of ours whose link was written.
#[inline]
pub(crate) unsafe fn next_of(block: NonNull<Block>) -> Option<NonNull<Block>> {
  // SAFETY: the caller guarantees the block is free and its link written.
  unsafe { block.cast::<Option<NonNull<Block>>>().read() }
}

/// Writes the successor of a free block.
///
/// # Safety
/// `block` is a block of ours that nobody else reads or writes now.
#[inline]
pub(crate) unsafe fn set_next(
  block: NonNull<Block>,
  next: Option<NonNull<Block>>,
) {
  // SAFETY: the caller owns the block's memory.
  unsafe { block.cast::<Option<NonNull<Block>>>().write(next) }
}

/// The field other threads write, kept off the owner's cache lines.
#[repr(C, align(64))]
struct Remote {
  /// Blocks freed by other threads, pushed with compare-and-swap.
  thread_free: AtomicPtr<Block>,
}

/// The header at the start of every segment in use.
#[repr(C)]
pub(crate) struct Segment {
  /// `address ^ secret` while in use.
  cookie: AtomicUsize,
  /// A [`Kind`] as its `u8`.
  kind: AtomicU8,
  /// Class index of a small segment.
  class: AtomicU8,
  /// Set while a small segment sits on its heap's full list; a remote free
  /// then tells the heap to look at it again.
  in_full: AtomicBool,
  /// The owning heap of a small segment.
  heap: AtomicPtr<Heap>,
  /// The owner's free list.
  free: Cell<Option<NonNull<Block>>>,
  /// Blocks not on `free` and not in the untouched tail.
  used: Cell<u32>,
  /// Blocks taken from the untouched tail so far.
  carved: Cell<u32>,
  /// Link in the heap's queue of this class.
  link: UnsafeCell<Link<Segment>>,
  /// Segments of a large span, or bytes of a huge mapping.
  extent: Cell<usize>,
  /// Start of the span or mapping (may precede the header for huge
  /// blocks aligned beyond the segment size).
  base: Cell<usize>,
  /// Usable bytes of the block of a large or huge header.
  usable: Cell<usize>,
  /// Offset of the block of a large or huge header from the header.
  block_offset: Cell<usize>,
  /// Fields written by other threads.
  remote: Remote,
}

// SAFETY: `link` is a field of `Segment`, at the same place every time.
unsafe impl HasLink<Segment> for Segment {
  fn link(item: NonNull<Segment>) -> NonNull<Link<Segment>> {
    // SAFETY: `item` points to a segment header; projecting to a field of it
    // stays inside the same allocation.
    let cell = unsafe { &raw const (*item.as_ptr()).link };
    // SAFETY: a field pointer derived from a non-null pointer is non-null.
    unsafe { NonNull::new_unchecked(UnsafeCell::raw_get(cell)) }
  }
}

/// The header place of the segment `pointer` belongs to, if the pointer
/// lies in memory of ours; the header is not checked to be live. Only a
/// caller that then finds its own heap in it may skip
/// [`segment_of`]'s cookie check: only live small segments name a heap, and
/// a heap's address is never handed to the program.
///
/// # Safety
/// `pointer` is not null (any other value is allowed: that is the point).
#[inline]
pub(crate) unsafe fn header_of<'seg>(
  pointer: NonNull<u8>,
) -> Result<&'seg Segment, Fault> {
  let last = pointer.addr().get() - 1;
  if !owns(last) {
    return Err(Fault::Foreign);
  }
  let start = pointer.as_ptr().with_addr(last & !SEGMENT_MASK);
  // SAFETY: `owns` says the whole granule is mapped by us, and a segment
  // start in it is aligned for a header; all its fields are atomics or
  // plain integers and pointers, so any bytes read are a valid value.
  Ok(unsafe { &*start.cast::<Segment>() })
}

/// The header of the segment `pointer` belongs to, if the pointer is ours
/// and the header live (its cookie is right).
///
/// # Safety
/// `pointer` is not null (any other value is allowed: that is the point).
#[inline]
pub(crate) unsafe fn segment_of<'seg>(
  pointer: NonNull<u8>,
) -> Result<&'seg Segment, Fault> {
  // SAFETY: forwarded from the caller.
  let segment = unsafe { header_of(pointer) }?;
  segment.check_live()?;
  Ok(segment)
}

impl Segment {
  /// Checks the cookie: whether this header place holds a live header.
  #[inline]
  pub(crate) fn check_live(&self) -> Result<(), Fault> {
    let start = NonNull::from(self).addr().get();
    if self.cookie.load(Ordering::Relaxed) != start ^ secret() {
      return Err(Fault::NotABlock);
    }
    Ok(())
  }

  /// Writes a fresh header at `start`.
  ///
  /// # Safety
  /// `start` is segment-aligned, writable, and not in use by anyone.
  unsafe fn write_header<'seg>(
    start: NonNull<u8>,
    kind: Kind,
  ) -> &'seg Segment {
    let header = Segment {
      cookie: AtomicUsize::new(start.addr().get() ^ secret()),
      kind: AtomicU8::new(kind as u8),
      class: AtomicU8::new(0),
      in_full: AtomicBool::new(false),
      heap: AtomicPtr::new(ptr::null_mut()),
      free: Cell::new(None),
      used: Cell::new(0),
      carved: Cell::new(0),
      link: UnsafeCell::new(Link::new()),
      extent: Cell::new(0),
      base: Cell::new(start.addr().get()),
      usable: Cell::new(0),
      block_offset: Cell::new(0),
      remote: Remote {
        thread_free: AtomicPtr::new(ptr::null_mut()),
      },
    };
    let segment = start.cast::<Segment>();
    // SAFETY: the caller gives us the memory at `start`.
    unsafe { segment.write(header) };
    // SAFETY: just written, and nobody else knows of it yet.
    unsafe { segment.as_ref() }
  }

  /// Makes `start` a small segment of class `class_index` owned by `heap`.
  ///
  /// # Safety
  /// As [`Segment::write_header`], and the whole segment is writable.
  pub(crate) unsafe fn init_small<'seg>(
    start: NonNull<u8>,
    class_index: usize,
    heap: NonNull<Heap>,
  ) -> &'seg Segment {
    // SAFETY: forwarded from the caller.
    let segment = unsafe { Self::write_header(start, Kind::Small) };
    segment.class.store(class_index as u8, Ordering::Relaxed);
    segment.heap.store(heap.as_ptr(), Ordering::Relaxed);
    for word in segment.bitmap() {
      word.store(0, Ordering::Relaxed);
    }
    segment
  }

  /// Makes `start` the header of a large or huge block.
  ///
  /// # Safety
  /// As [`Segment::write_header`].
  pub(crate) unsafe fn init_single<'seg>(
    start: NonNull<u8>,
    kind: Kind,
    base: usize,
    extent: usize,
    block_offset: usize,
    usable: usize,
  ) -> &'seg Segment {
    // SAFETY: forwarded from the caller.
    let segment = unsafe { Self::write_header(start, kind) };
    segment.block_offset.set(block_offset);
    segment.base.set(base);
    segment.extent.set(extent);
    segment.usable.set(usable);
    segment.used.set(1);
    segment
  }

  /// What this header describes.
  #[inline]
  pub(crate) fn kind(&self) -> Kind {
    match self.kind.load(Ordering::Relaxed) {
      1 => Kind::Small,
      2 => Kind::Large,
      3 => Kind::Huge,
      _ => Kind::Released,
    }
  }

  /// Marks the header as given back, keeping its cookie so a later free
  /// through it reads as a double free. Its heap is cleared, so no thread
  /// takes it for one of its own segments.
  pub(crate) fn release(&self) {
    self.kind.store(Kind::Released as u8, Ordering::Relaxed);
    self.heap.store(ptr::null_mut(), Ordering::Relaxed);
  }

  /// Forgets the header entirely (before its memory is decommitted).
  pub(crate) fn erase(&self) {
    self.cookie.store(0, Ordering::Relaxed);
  }

  /// Address of the header.
  #[inline]
  pub(crate) fn start(&self) -> NonNull<u8> {
    NonNull::from(self).cast()
  }

  /// The class index of a small segment.
  #[inline]
  pub(crate) fn class_index(&self) -> usize {
    self.class.load(Ordering::Relaxed) as usize
  }

  /// The class of a small segment.
  #[inline]
  pub(crate) fn class(&self) -> &'static Class {
    class(self.class_index())
  }

  /// The heap owning a small segment.
  #[inline]
  pub(crate) fn heap(&self) -> *mut Heap {
    self.heap.load(Ordering::Relaxed)
  }

  /// Blocks not on the owner's free list nor in the untouched tail.
  #[inline]
  pub(crate) fn used(&self) -> usize {
    self.used.get() as usize
  }

  /// Start of the span or mapping of a large or huge block.
  pub(crate) fn base(&self) -> usize {
    self.base.get()
  }

  /// Segments of a large span, or bytes of a huge mapping.
  pub(crate) fn extent(&self) -> usize {
    self.extent.get()
  }

  /// The block of a large or huge header.
  pub(crate) fn block(&self) -> NonNull<u8> {
    // SAFETY: the block lies in the same span or mapping as its header.
    unsafe { self.start().byte_add(self.block_offset.get()) }
  }

  /// Usable bytes of a large or huge block.
  pub(crate) fn usable(&self) -> usize {
    self.usable.get()
  }

  /// Records a new usable size for a large or huge block resized in place.
  pub(crate) fn set_usable(&self, usable: usize) {
    self.usable.set(usable);
  }

  /// Records a new extent for a large span resized in place.
  pub(crate) fn set_extent(&self, extent: usize) {
    self.extent.set(extent);
  }

  /// Whether the segment is on its heap's full list.
  #[inline]
  pub(crate) fn is_full(&self) -> bool {
    self.in_full.load(Ordering::Relaxed)
  }

  /// Records whether the segment is on its heap's full list.
  pub(crate) fn set_full(&self, full: bool) {
    self.in_full.store(full, Ordering::SeqCst);
  }

  /// The first word of the allocated bits, which follow the header.
  #[inline]
  fn bitmap_start(&self) -> NonNull<AtomicU64> {
    let first = NonNull::from(self).cast::<AtomicU64>();
    // SAFETY: the bitmap follows the header (see `class::make_class`), inside
    // the segment.
    unsafe { first.byte_add(size_of::<Segment>()) }
  }

  /// The allocated bits, one per `MIN_ALIGN` granule.
  fn bitmap(&self) -> &[AtomicU64] {
    // SAFETY: `BITMAP_WORDS` words lie between the header and the block
    // area, and are only ever accessed atomically.
    unsafe {
      NonNull::slice_from_raw_parts(self.bitmap_start(), BITMAP_WORDS).as_ref()
    }
  }

  /// The allocated-bit word and mask of the granule `pointer` starts.
  #[inline]
  fn bit(&self, pointer: NonNull<u8>) -> (&AtomicU64, u64) {
    let granule = (pointer.addr().get() & SEGMENT_MASK) >> MIN_ALIGN_SHIFT;
    // SAFETY: every granule of the segment has a bit in the bitmap.
    let word = unsafe { self.bitmap_start().add(granule / WORD_BITS) };
    // SAFETY: bitmap words are only ever accessed atomically.
    let word = unsafe { word.as_ref() };
    (word, 1 << (granule % WORD_BITS))
  }

  /// Pointer to the block with index `index`.
  #[inline]
  fn block_at(&self, class: &Class, index: usize) -> NonNull<Block> {
    let offset = class.area_offset() + index * class.size();
    // SAFETY: `index < class.blocks()`, so the block lies in the segment.
    unsafe { self.start().byte_add(offset) }.cast()
  }

  /// Index of the block `pointer` starts, or the fault it would be to free
  /// it.
  pub(crate) fn block_index(
    &self,
    pointer: NonNull<u8>,
  ) -> Result<usize, Fault> {
    let class = self.class();
    let offset = pointer
      .addr()
      .get()
      .wrapping_sub(self.start().addr().get() + class.area_offset());
    let index = class.index_of(offset);
    if index >= class.blocks() || index * class.size() != offset {
      return Err(Fault::NotABlock);
    }
    Ok(index)
  }

  /// Whether `pointer` is the start of a block in the program's hands.
  /// Only block starts ever have their bit set, so an interior or
  /// misaligned pointer is never allocated.
  #[inline]
  pub(crate) fn is_allocated(&self, pointer: NonNull<u8>) -> bool {
    let (word, mask) = self.bit(pointer);
    pointer.addr().get().is_multiple_of(MIN_ALIGN)
      && word.load(Ordering::Relaxed) & mask != 0
  }

  /// What freeing `pointer` would be, given it is not allocated.
  #[cold]
  pub(crate) fn fault_of(&self, pointer: NonNull<u8>) -> Fault {
    match self.block_index(pointer) {
      Ok(_) => Fault::DoubleFree,
      Err(fault) => fault,
    }
  }

  /// Flips the allocated bit of the block at `pointer`. Only the owner
  /// calls this.
  #[inline]
  fn toggle(&self, pointer: NonNull<u8>) {
    let (word, mask) = self.bit(pointer);
    word.store(word.load(Ordering::Relaxed) ^ mask, Ordering::Relaxed);
  }

  /// Pops a block off the owner's free list and marks it allocated.
  #[inline]
  pub(crate) fn pop(&self) -> Option<NonNull<u8>> {
    let block = self.free.get()?;
    // SAFETY: blocks on the owner's free list are free and linked.
    self.free.set(unsafe { next_of(block) });
    self.used.set(self.used.get() + 1);
    self.toggle(block.cast());
    Some(block.cast())
  }

  /// The owner's fast free: gives the block back if nothing needs the
  /// slow path (it is allocated, no remote frees wait, the segment neither
  /// empties nor leaves the full list). False, with nothing changed,
  /// otherwise.
  #[inline]
  pub(crate) fn try_push_quick(&self, pointer: NonNull<u8>) -> bool {
    let used = self.used.get();
    if used <= 1
      || self.is_full()
      || self.has_thread_free()
      || !self.is_allocated(pointer)
    {
      return false;
    }
    self.toggle(pointer);
    let block = pointer.cast::<Block>();
    // SAFETY: the block was allocated and is now ours again.
    unsafe { set_next(block, self.free.get()) };
    self.free.set(Some(block));
    self.used.set(used - 1);
    true
  }

  /// Gives the block at `pointer` back to the owner's free list. Returns
  /// the fault if it is not an allocated block.
  #[inline]
  pub(crate) fn push_local(&self, pointer: NonNull<u8>) -> Result<(), Fault> {
    if !self.is_allocated(pointer) {
      return Err(self.fault_of(pointer));
    }
    self.toggle(pointer);
    let block = pointer.cast::<Block>();
    // SAFETY: the block was allocated and is now ours again.
    unsafe { set_next(block, self.free.get()) };
    self.free.set(Some(block));
    self.used.set(self.used.get() - 1);
    Ok(())
  }

  /// Pushes a block freed by another thread; lock-free.
  pub(crate) fn push_remote(&self, pointer: NonNull<u8>) {
    let block = pointer.cast::<Block>();
    let head = &self.remote.thread_free;
    let mut current = head.load(Ordering::Relaxed);
    loop {
      // SAFETY: the block is the caller's to give back; nobody else reads
      // it until the push below publishes it.
      unsafe { set_next(block, NonNull::new(current)) };
      match head.compare_exchange_weak(
        current,
        block.as_ptr(),
        Ordering::SeqCst,
        Ordering::Relaxed,
      ) {
        Ok(_) => return,
        Err(seen) => current = seen,
      }
    }
  }

  /// Whether the segment is on its heap's full list, read in the single
  /// total order with [`Segment::set_full`]: a remote
  /// freer pushes and then reads this; the owner sets it and then reads the
  /// thread-free list; one of the two sees the other.
  pub(crate) fn is_full_seq_cst(&self) -> bool {
    self.in_full.load(Ordering::SeqCst)
  }

  /// The owner's side of [`Segment::is_full_seq_cst`].
  pub(crate) fn has_thread_free_seq_cst(&self) -> bool {
    !self.remote.thread_free.load(Ordering::SeqCst).is_null()
  }

  /// Whether other threads have freed blocks not yet collected.
  #[inline]
  pub(crate) fn has_thread_free(&self) -> bool {
    !self.remote.thread_free.load(Ordering::Relaxed).is_null()
  }

  /// Moves the blocks other threads freed to the owner's free list.
  /// Returns the fault and address of a block found freed twice.
  pub(crate) fn collect(&self) -> Result<(), (Fault, usize)> {
    let taken = self
      .remote
      .thread_free
      .swap(ptr::null_mut(), Ordering::Acquire);
    let Some(head) = NonNull::new(taken) else {
      return Ok(());
    };
    // One walk clears the bits and finds the tail; the list, already
    // linked, is then spliced onto the free list whole. A block pushed
    // twice shows up with its bit already clear (a cycle is cut there).
    let mut count = 0;
    let mut tail = head;
    let mut cursor = Some(head);
    while let Some(block) = cursor {
      let pointer = block.cast::<u8>();
      if !self.is_allocated(pointer) {
        return Err((self.fault_of(pointer), pointer.addr().get()));
      }
      self.toggle(pointer);
      count += 1;
      tail = block;
      // SAFETY: the swap handed us the list; its links were written before
      // the pushes that published them.
      cursor = unsafe { next_of(block) };
    }
    // SAFETY: the tail is one of the blocks just taken, now free and ours.
    unsafe { set_next(tail, self.free.get()) };
    self.free.set(Some(head));
    self.used.set(self.used.get() - count);
    Ok(())
  }

  /// Checks a small segment's invariants (owner only, remote list empty):
  /// every carved block is either on the free list with its bit clear or
  /// counted in `used` with its bit set, and no bit is set outside the
  /// carved blocks.
  #[cfg(any(test, debug_assertions))]
  pub(crate) fn check_invariants(&self) {
    let class = self.class();
    let carved = self.carved.get() as usize;
    assert!(carved <= class.blocks(), "carved within the segment");
    let mut free = 0;
    let mut cursor = self.free.get();
    while let Some(block) = cursor {
      assert!(
        !self.is_allocated(block.cast()),
        "a block on the free list is not allocated"
      );
      assert!(
        self.block_index(block.cast()).is_ok(),
        "free blocks are blocks"
      );
      free += 1;
      assert!(free <= carved, "the free list has no cycle");
      // SAFETY: blocks on the owner's free list are free and linked.
      cursor = unsafe { next_of(block) };
    }
    let allocated = (0..class.blocks())
      .filter(|&index| self.is_allocated(self.block_at(class, index).cast()))
      .count();
    assert_eq!(allocated, self.used(), "used counts the allocated blocks");
    assert_eq!(free + allocated, carved, "every carved block is accounted");
    let set: usize = self
      .bitmap()
      .iter()
      .map(|word| word.load(Ordering::Relaxed).count_ones() as usize)
      .sum();
    assert_eq!(set, allocated, "no bit is set outside the blocks");
  }

  /// Carves up to `budget` bytes' worth of blocks (at least one) from the
  /// untouched tail onto the free list. Returns whether any was carved.
  pub(crate) fn extend(&self, budget: usize) -> bool {
    let class = self.class();
    let carved = self.carved.get() as usize;
    let remaining = class.blocks() - carved;
    if remaining == 0 {
      return false;
    }
    let count = (budget / class.size()).clamp(1, remaining);
    let mut head = self.free.get();
    for index in (carved..carved + count).rev() {
      let block = self.block_at(class, index);
      // SAFETY: the tail block was never handed out; it is ours.
      unsafe { set_next(block, head) };
      head = Some(block);
    }
    self.free.set(head);
    self.carved.set((carved + count) as u32);
    true
  }

  /// Whether the owner's free list has a block.
  #[inline]
  pub(crate) fn has_free(&self) -> bool {
    self.free.get().is_some()
  }
}
