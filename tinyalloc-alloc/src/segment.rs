//! Segments: a header at the segment-aligned start, then blocks.
//!
//! A *small* segment holds blocks of one class. Its header keeps the owner's
//! free list, a count of blocks not on that list (`used`), how many bytes
//! of blocks have been carved from the untouched tail (as `code_limit`), and
//! a list of blocks freed by other threads (`thread_free`, on its own cache
//! line). A block is on exactly one of: the free list, the thread-free
//! list, the untouched tail, or in the program's hands.
//!
//! A carved block that is not in the program's hands carries the address
//! of the segment's owning heap in its second word (its *free tag*);
//! `malloc` clears it. So a free finds a double free by one compare in the
//! block it is freeing anyway, on the owner's thread and on any other,
//! without a bitmap in the header; the owner's fast free has the tag at
//! hand already (it compares the same address with the header's `local`).
//! A pointer that is not a carved block start is refused by its block code
//! (one multiplication and one compare, see [`multiplier_of`]). A program
//! that writes into a block after freeing it can erase the tag and so hide
//! a later double free of that block. A heap's address is never handed to
//! the program, so a live block holds it only if the program copied it
//! out of a freed block. Freed blocks thus show where our heaps live, as
//! their free-list links already show where blocks live; glibc 2.29 to
//! 2.33 tagged freed tcache entries the same way, with the address of the
//! thread's cache, and 2.34 moved to a random key (see `docs/ENGINE.md`
//! for what the secret tag we had cost). Remote frees set the tag with an atomic swap, so two
//! of them racing on one block see each other; the owner's free uses plain
//! accesses (no locked instruction on its fast path), so a double free in
//! which the owner and another thread free the same block at the same
//! moment can pass unseen. Double frees one after the other, in any order
//! and from any threads, are caught.
//!
//! A *large* or *huge* header describes one block: a run of segments in an
//! arena, or a mapping of its own.
//!
//! Every header carries `cookie == address ^ secret ^ kind` while it is in use, so
//! a pointer whose segment start holds anything else is not ours. The block
//! a pointer belongs to is found from `pointer - 1`, which lets a block
//! aligned to the segment size start right at a segment boundary with its
//! header in the segment before.

mod sweep;
#[cfg(test)]
mod tests;

#[cfg(target_arch = "x86_64")]
use core::arch::asm;
use core::cell::{Cell, UnsafeCell};
use core::mem::{offset_of, size_of};
use core::ptr::{self, NonNull};

use tinyalloc_list::{HasLink, Link};

use crate::class::{CLASS_COUNT, Class, class};
use crate::config::{ARENA_MASK, MIN_ALIGN, SEGMENT_MASK, SEGMENT_SIZE};
use crate::fault::Fault;
use crate::heap::Heap;
use crate::manager::{owns, secret};
use crate::stats::ClassCounters;
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

impl Kind {
  /// The kind a decoded cookie names, if any.
  #[cold]
  fn from_cookie(value: usize) -> Option<Kind> {
    [Kind::Small, Kind::Large, Kind::Huge, Kind::Released]
      .into_iter()
      .find(|&kind| kind as usize == value)
  }
}

/// A free block: its first word links to the next free block, its second
/// holds the free tag (read and written through the functions below only).
#[repr(C)]
pub(crate) struct Block {
  _next: Option<NonNull<Block>>,
  _tag: usize,
}

/// Reads the free tag of a block.
///
/// # Safety
/// `block` is a carved block of ours (at least two words long).
#[inline]
unsafe fn tag_of(block: NonNull<Block>) -> usize {
  // SAFETY: the caller guarantees the block has a second word.
  let word = unsafe { tag_word(block) };
  // SAFETY: the caller guarantees the block's second word is ours to read.
  unsafe { word.read() }
}

/// The second word of a block, where its free tag lives.
///
/// # Safety
/// `block` is a carved block of ours (at least two words long).
#[inline]
unsafe fn tag_word(block: NonNull<Block>) -> NonNull<usize> {
  // SAFETY: forwarded from the caller: the word lies inside the block.
  unsafe { block.cast::<usize>().add(1) }
}

/// Writes the free tag of a block.
///
/// # Safety
/// `block` is a carved block of ours that nobody else reads or writes now.
#[inline]
unsafe fn set_tag(block: NonNull<Block>, tag: usize) {
  // SAFETY: the caller guarantees the block has a second word.
  let word = unsafe { tag_word(block) };
  // SAFETY: the caller owns the block's memory.
  unsafe { word.write(tag) }
}

/// Writes the free tag of a block by an atomic swap, returning the old
/// value, so that of two threads tagging the same block at once, one sees
/// the other's tag.
///
/// # Safety
/// `block` is a carved block of ours (at least two words long), and
/// whoever else touches its second word now does so through this.
#[inline]
unsafe fn swap_tag(block: NonNull<Block>, tag: usize) -> usize {
  // SAFETY: forwarded from the caller.
  let word = unsafe { tag_word(block) };
  // SAFETY: the word is ours and aligned; other threads touching it now
  // (a racing double free) do so atomically too.
  let word = unsafe { AtomicUsize::from_ptr(word.as_ptr()) };
  word.swap(tag, Ordering::SeqCst)
}

/// What the owner's fast free did (for tests).
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quick {
  /// The block is back on the free list; nothing else to do.
  Done,
  /// Nothing changed: the free needs the slow path (a fault, or the last
  /// block in use, whose free may retire the segment).
  Declined,
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
  /// One bit per page of the segment that a sweep gave back to the OS
  /// (see `segment/sweep.rs`): the blocks starting on it are on no list.
  /// Written by the owner only; read by remote frees, which check it
  /// next to the list they push onto.
  purged: AtomicU64,
}

/// The header at the start of every segment in use.
#[repr(C)]
pub(crate) struct Segment {
  // The first cache line holds everything the owner's fast paths touch
  // (a header per 128 KiB means every header maps to the same cache sets,
  // so each one should cost a single line).
  /// `address ^ secret ^ kind` while in use.
  cookie: AtomicUsize,
  /// Low bits: blocks not on `free` and not in the untouched tail (the
  /// segment's *used* count). High bits, from [`TALLY_POPS_SHIFT`]: blocks
  /// popped since the counts were last flushed to the heap. One add counts
  /// an allocation in both, so the fast paths store no counter of their
  /// own (see [`Segment::flush_counts`]).
  tally: Cell<u64>,
  /// The owning heap while the segment is on its partial list, null
  /// otherwise: the owner's fast free compares its heap with this one
  /// field, which rules out the full list in the same test.
  local: AtomicPtr<Heap>,
  /// The owner's free list.
  free: Cell<Option<NonNull<Block>>>,
  /// The [`place_of`] the first block of a small segment (fixed while the
  /// header lives, like `multiplier`: written with the header, before any
  /// other thread can know of it).
  area_place: usize,
  /// The block code multiplier of the block size (see [`multiplier_of`]):
  /// the code of a pointer, `(place - area_place) * multiplier` wrapping,
  /// is `index * code_step` for the block with that index, and above
  /// every such value for a pointer that starts no block.
  multiplier: u64,
  /// The code of the first block not yet carved, the owner's copy: a
  /// pointer is a carved block exactly when its code is below it, one
  /// compare with a plain field on the fast path.
  code_limit: Cell<u64>,
  /// The same limit for other threads (written with `code_limit`, by the
  /// owner).
  code_limit_shared: AtomicU64,
  // Slow paths only from here.
  /// The memory held blocks or data before this header was written (it
  /// was not fresh from the OS), so carving clears it: stale free tags of
  /// an earlier class, at other offsets, would otherwise sit in the new
  /// blocks' bytes, and a program copying such uninitialised bytes into
  /// the second word of a live block would make its free look like a
  /// double free (a reviewer's finding).
  stale: Cell<bool>,
  /// The owning heap's counters for this class.
  counters: NonNull<ClassCounters>,
  /// A [`Kind`] as its `u8`.
  kind: AtomicU8,
  /// Class index of a small segment.
  class: AtomicU8,
  /// Set while a small segment sits on its heap's full list; a remote free
  /// then tells the heap to look at it again.
  in_full: AtomicBool,
  /// Set when a small segment is given back by a heap whose thread is
  /// exiting or has exited: its pages are cold (see
  /// [`Segment::cold_touched_end`]).
  cold: AtomicBool,
  /// The used count when the counts were last flushed.
  flushed_used: Cell<u32>,
  /// The most blocks in use since the last sweep, as far as the slow
  /// paths saw ([`u32::MAX`] before any sweep and after a revival): a
  /// sweep is due again only once the used count has dropped below it
  /// (see `segment/sweep.rs`).
  swept_used: Cell<u32>,
  /// The owning heap of a small segment.
  heap: AtomicPtr<Heap>,
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

/// Shift of the pop count in a header's `tally`: the used count below it
/// needs only enough bits for the blocks of one segment, and a narrow one
/// keeps [`TALLY_POP`] a 32-bit immediate (one instruction to add, where a
/// 64-bit constant takes a second one to load). Thirty bits rather than
/// sixteen let the fast free test the used count straight in memory with
/// a 32-bit mask (a 16-bit one takes a load of its own).
const TALLY_POPS_SHIFT: u32 = u32::BITS - 2;
/// The used count in a header's `tally`.
const TALLY_USED_MASK: u64 = (1 << TALLY_POPS_SHIFT) - 1;
/// What one allocation adds to a `tally`: one block used, one pop.
const TALLY_POP: u64 = (1 << TALLY_POPS_SHIFT) | 1;

const _: () = assert!(
  (SEGMENT_SIZE / MIN_ALIGN) as u64 <= TALLY_USED_MASK,
  "the used count of a segment fits its half of the tally"
);
const _: () = assert!(
  TALLY_POP <= i32::MAX as u64,
  "an allocation's tally increment is a 32-bit immediate"
);

/// Bytes of a cache line.
const CACHE_LINE_BYTES: usize = 64;

/// Where a header keeps the owner's free list: a heap keeps a null word
/// at the same offset, so that its size tables can name the heap itself
/// as "no segment at hand" (see `Heap::try_malloc`).
pub(crate) const FREE_LIST_OFFSET: usize = offset_of!(Segment, free);

/// Where a header's `local` field ends: the fast free reads that far into
/// any header place of its home arena, the arena's own header included.
pub(crate) const LOCAL_FIELD_END: usize =
  offset_of!(Segment, local) + size_of::<AtomicPtr<Heap>>();

const _: () = assert!(
  usize::BITS == u64::BITS,
  "block codes (see `multiplier_of`) need 64-bit offsets"
);

const _: () = assert!(
  offset_of!(Segment, code_limit_shared) + size_of::<AtomicU64>()
    <= CACHE_LINE_BYTES,
  "the fast-path fields of a header share its first cache line"
);

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
/// None beyond the signature: any value is allowed, null included (it is
/// never ours).
#[inline]
pub(crate) unsafe fn header_of_raw<'seg>(
  pointer: *mut u8,
) -> Result<&'seg Segment, Fault> {
  // Null wraps to the top of the address space, which is never ours, so
  // the one test refuses it too.
  if !owns(pointer.addr().wrapping_sub(1)) {
    return Err(Fault::Foreign);
  }
  // SAFETY: `owns` says the granule is ours.
  Ok(unsafe { header_at(pointer) })
}

/// The header place of the segment `pointer` belongs to (found from
/// `pointer - 1`), not checked to be live.
///
/// # Safety
/// `pointer - 1` lies in a granule of ours (an arena or a huge mapping,
/// mapped in whole granules), so the header place is mapped.
#[inline]
pub(crate) unsafe fn header_at<'seg>(pointer: *mut u8) -> &'seg Segment {
  let last = pointer.addr().wrapping_sub(1);
  let start = pointer.with_addr(last & !SEGMENT_MASK);
  // SAFETY: the caller says the granule is mapped by us, and a segment
  // start in it is aligned for a header; all its fields are atomics or
  // plain integers and pointers, so any bytes read are a valid value.
  unsafe { &*start.cast::<Segment>() }
}

/// The place of `pointer - 1` in its arena (its offset from the arena
/// start): the byte a pointer's header is found from. The fast free has it
/// at hand from its home arena test, and a block code (see
/// [`multiplier_of`]) is computed from it, which spares a copy of the
/// pointer.
#[inline]
pub(crate) fn place_of(pointer: *mut u8) -> usize {
  pointer.addr().wrapping_sub(1) & ARENA_MASK
}

/// [`header_of_raw`] for a pointer known not to be null.
///
/// # Safety
/// As [`header_of_raw`].
#[inline]
pub(crate) unsafe fn header_of<'seg>(
  pointer: NonNull<u8>,
) -> Result<&'seg Segment, Fault> {
  // SAFETY: forwarded from the caller.
  unsafe { header_of_raw(pointer.as_ptr()) }
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

/// The header fields that stay fixed while it lives.
#[derive(Clone, Copy)]
struct Fixed {
  area_place: usize,
  multiplier: u64,
  counters: NonNull<ClassCounters>,
}

/// The counters of headers whose blocks are counted elsewhere (large and
/// huge blocks) or not at all (tests of a lone segment).
pub(crate) static UNCOUNTED: ClassCounters = ClassCounters::new();

impl Fixed {
  /// For headers of large and huge blocks, which have no block area (and
  /// no block code below the limit of zero).
  fn none() -> Self {
    Self {
      area_place: 0,
      multiplier: 0,
      counters: NonNull::from(&UNCOUNTED),
    }
  }
}

/// The block code multiplier for blocks of `size` bytes: one more than
/// Lemire's `ceil(2^64 / size)` (Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation", 2019), so that `size * multiplier`
/// wraps to a step `g` with `size <= g < 2 * size`, never zero.
///
/// Then for an offset `k * size + r` within a segment either way of the
/// block area (`r < size`), `offset * multiplier` wraps to `k * g` when
/// `r == 0`, and to at least `multiplier - (k + 1) * g` otherwise, far
/// above any `k * g` a segment can reach. So one multiplication and one
/// compare with `carved * g` tell whether a pointer starts a carved block,
/// range and divisibility at once; a test checks it for every offset of
/// every class.
pub(crate) const fn multiplier_of(size: usize) -> u64 {
  u64::MAX / size as u64 + 2
}

/// The code step of blocks of `size` bytes: the code of the second block.
pub(crate) const fn code_step_of(size: usize) -> u64 {
  multiplier_of(size).wrapping_mul(size as u64)
}

impl Segment {
  /// Checks the cookie: whether this header place holds a live header,
  /// and of what kind (the cookie carries it, so one compare settles both
  /// for the common case of a small segment).
  #[inline]
  pub(crate) fn check_live(&self) -> Result<Kind, Fault> {
    let start = NonNull::from(self).addr().get();
    let kind = self.cookie.load(Ordering::Relaxed) ^ start ^ secret();
    if kind == Kind::Small as usize {
      return Ok(Kind::Small);
    }
    Kind::from_cookie(kind).ok_or(Fault::NotABlock)
  }

  /// The cookie of a header of kind `kind` at `start`.
  fn cookie_of(start: usize, kind: Kind) -> usize {
    start ^ secret() ^ kind as usize
  }

  /// Writes a fresh header at `start`.
  ///
  /// # Safety
  /// `start` is segment-aligned, writable, and not in use by anyone.
  unsafe fn write_header<'seg>(
    start: NonNull<u8>,
    kind: Kind,
    fixed: Fixed,
  ) -> &'seg Segment {
    let header = Segment {
      cookie: AtomicUsize::new(Self::cookie_of(start.addr().get(), kind)),
      kind: AtomicU8::new(kind as u8),
      area_place: fixed.area_place,
      multiplier: fixed.multiplier,
      counters: fixed.counters,
      base: Cell::new(start.addr().get()),
      ..Self::blank()
    };
    let segment = start.cast::<Segment>();
    // SAFETY: the caller gives us the memory at `start`.
    unsafe { segment.write(header) };
    // SAFETY: just written, and nobody else knows of it yet.
    unsafe { segment.as_ref() }
  }

  /// A header with no kind, no cookie and no blocks, which fresh
  /// headers start from.
  const fn blank() -> Segment {
    Segment {
      cookie: AtomicUsize::new(0),
      kind: AtomicU8::new(Kind::Released as u8),
      class: AtomicU8::new(0),
      in_full: AtomicBool::new(false),
      cold: AtomicBool::new(false),
      heap: AtomicPtr::new(ptr::null_mut()),
      local: AtomicPtr::new(ptr::null_mut()),
      free: Cell::new(None),
      tally: Cell::new(0),
      flushed_used: Cell::new(0),
      swept_used: Cell::new(u32::MAX),
      area_place: 0,
      multiplier: 0,
      code_limit: Cell::new(0),
      code_limit_shared: AtomicU64::new(0),
      stale: Cell::new(false),
      counters: NonNull::from_ref(&UNCOUNTED),
      link: UnsafeCell::new(Link::new()),
      extent: Cell::new(0),
      base: Cell::new(0),
      usable: Cell::new(0),
      block_offset: Cell::new(0),
      remote: Remote {
        thread_free: AtomicPtr::new(ptr::null_mut()),
        purged: AtomicU64::new(0),
      },
    }
  }

  /// Makes `start` a small segment of class `class_index` owned by `heap`,
  /// whose blocks count in `counters` (the heap's for the class; heaps
  /// live for the rest of the process).
  ///
  /// # Safety
  /// As [`Segment::write_header`], and the whole segment is writable.
  pub(crate) unsafe fn init_small<'seg>(
    start: NonNull<u8>,
    class_index: usize,
    heap: NonNull<Heap>,
    counters: NonNull<ClassCounters>,
    zeroed: bool,
  ) -> &'seg Segment {
    let class = class(class_index);
    let fixed = Fixed {
      area_place: place_of(start.as_ptr().wrapping_add(class.area_offset())),
      multiplier: multiplier_of(class.size()),
      counters,
    };
    // SAFETY: forwarded from the caller.
    let segment = unsafe { Self::write_header(start, Kind::Small, fixed) };
    segment.class.store(class_index as u8, Ordering::Relaxed);
    segment.heap.store(heap.as_ptr(), Ordering::Relaxed);
    segment.local.store(heap.as_ptr(), Ordering::Relaxed);
    segment.stale.set(!zeroed);
    segment
  }

  /// The header at `start` if it is one of ours given back: the cookie,
  /// keyed by the secret, says so, so its other fields are as we left
  /// them.
  ///
  /// # Safety
  /// `start` is a free segment of ours, mapped, that no one claims
  /// meanwhile.
  unsafe fn released_header<'seg>(start: NonNull<u8>) -> Option<&'seg Segment> {
    // SAFETY: forwarded from the caller.
    let header = unsafe { start.cast::<Segment>().as_ref() };
    let released = Self::cookie_of(start.addr().get(), Kind::Released);
    (header.cookie.load(Ordering::Relaxed) == released).then_some(header)
  }

  /// How far into the segment at `start` its last life touched memory
  /// (past its carved blocks), if that was as a small segment given back
  /// cold (by the heap of an exiting or exited thread); `None` for
  /// anything else. At most the segment: the header is read defensively,
  /// because a header given back survives, cookie and all, where a large
  /// block later spanned the segment without writing over it, with
  /// whatever that block's owner wrote into the other fields (a release
  /// build of the C `threads` test met a carved limit of 7.7e12).
  ///
  /// # Safety
  /// `start` is a segment of ours that the caller has just claimed, not
  /// zeroed.
  pub(crate) unsafe fn cold_touched_end(start: NonNull<u8>) -> Option<usize> {
    // SAFETY: forwarded from the caller.
    let header = unsafe { Self::released_header(start) }?;
    if !header.cold.load(Ordering::Relaxed) {
      return None;
    }
    let index = header.class_index().min(CLASS_COUNT - 1);
    let class = class(index);
    let carved = header.code_limit.get() / code_step_of(class.size());
    let end = usize::try_from(carved)
      .unwrap_or(usize::MAX)
      .saturating_mul(class.size())
      .saturating_add(class.area_offset());
    Some(end.min(SEGMENT_SIZE))
  }

  /// The class the segment at `start` last served as a small segment, if
  /// it holds the header of one given back (a large block's header given
  /// back reads as class 0; a mismatch only costs the claim its choice).
  ///
  /// # Safety
  /// `start` is a free segment of ours, mapped, that no one claims
  /// meanwhile (the caller holds its arena's lock).
  pub(crate) unsafe fn released_class(start: NonNull<u8>) -> Option<usize> {
    // SAFETY: forwarded from the caller.
    let header = unsafe { Self::released_header(start) }?;
    Some(header.class_index())
  }

  /// The owning heap's counters for this segment's class.
  #[inline]
  fn counters(&self) -> &ClassCounters {
    // SAFETY: the counters are a field of a heap, and heaps live forever
    // (or they are `UNCOUNTED`).
    unsafe { self.counters.as_ref() }
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
    let segment = unsafe { Self::write_header(start, kind, Fixed::none()) };
    segment.block_offset.set(block_offset);
    segment.base.set(base);
    segment.extent.set(extent);
    segment.usable.set(usable);
    segment.tally.set(1);
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
  /// `cold` says that the heap giving it back belongs to a thread that is
  /// exiting or has exited.
  pub(crate) fn release(&self, cold: bool) {
    self.cold.store(cold, Ordering::Relaxed);
    let start = NonNull::from(self).addr().get();
    self
      .cookie
      .store(Self::cookie_of(start, Kind::Released), Ordering::Relaxed);
    self.kind.store(Kind::Released as u8, Ordering::Relaxed);
    self.heap.store(ptr::null_mut(), Ordering::Relaxed);
    self.local.store(ptr::null_mut(), Ordering::Relaxed);
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

  /// Whether the segment is on `heap`'s partial list (its `local` field
  /// names `heap`): the owner's fast free.
  ///
  /// On x86-64 the compare reads the field in place: the compiler does
  /// not fold an atomic load into a compare, and the separate load was
  /// one instruction more on the fast free (25 instead of 24; the aligned
  /// 8-byte read of a `cmp` is atomic, as the relaxed load it stands for).
  #[cfg(target_arch = "x86_64")]
  #[inline(always)]
  pub(crate) fn is_local_to(&self, heap: &Heap) -> bool {
    // SAFETY: reads the header's `local` field, an aligned word of a live
    // header place, and branches on the compare; it writes no register
    // nor memory, only the flags.
    unsafe {
      asm!(
        "cmp qword ptr [{header} + {local}], {heap}",
        "jne {elsewhere}",
        header = in(reg) self,
        heap = in(reg) heap,
        local = const offset_of!(Segment, local),
        elsewhere = label { return false },
        options(nostack, readonly),
      );
    }
    true
  }

  /// Whether the segment is on `heap`'s partial list (its `local` field
  /// names `heap`): the owner's fast free.
  #[cfg(not(target_arch = "x86_64"))]
  #[inline(always)]
  pub(crate) fn is_local_to(&self, heap: &Heap) -> bool {
    ptr::eq(self.local_heap(), heap)
  }

  /// The owning heap if the segment is on its partial list, else null.
  #[cfg(any(test, debug_assertions, not(target_arch = "x86_64")))]
  #[inline]
  pub(crate) fn local_heap(&self) -> *mut Heap {
    self.local.load(Ordering::Relaxed)
  }

  /// Blocks not on the owner's free list nor in the untouched tail.
  #[inline]
  pub(crate) fn used(&self) -> usize {
    (self.tally.get() & TALLY_USED_MASK) as usize
  }

  /// Moves the allocations and frees this segment has seen since the last
  /// flush into its heap's counters (owner only). Frees are not counted as
  /// they happen, on any thread: they are the pops no longer in use, that
  /// is, back on the free list, whether freed here or collected from other
  /// threads (a block freed remotely counts once collected).
  pub(crate) fn flush_counts(&self) {
    let tally = self.tally.get();
    let pops = tally >> TALLY_POPS_SHIFT;
    let used = tally & TALLY_USED_MASK;
    let frees = (pops + u64::from(self.flushed_used.get())).wrapping_sub(used);
    self.counters().add(pops, frees);
    self.tally.set(used);
    self.flushed_used.set(used as u32);
    // A segment that filled up again since its last sweep is due for
    // another once it empties again.
    self.swept_used.set(self.swept_used.get().max(used as u32));
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

  /// Records whether the segment is on its heap's full list (owner only).
  pub(crate) fn set_full(&self, full: bool) {
    self.in_full.store(full, Ordering::SeqCst);
    self.name_local();
  }

  /// Names the owning heap in `local` exactly when the owner's fast free
  /// may take blocks of this segment: on the partial list, with no page
  /// purged (a free into a segment with purged pages needs the slow
  /// path's check, see `segment/sweep.rs`).
  fn name_local(&self) {
    let fast =
      !self.is_full() && self.remote.purged.load(Ordering::Relaxed) == 0;
    let local = if fast { self.heap() } else { ptr::null_mut() };
    self.local.store(local, Ordering::Relaxed);
  }

  /// Pointer to the block with index `index`.
  #[inline]
  fn block_at(&self, class: &Class, index: usize) -> NonNull<Block> {
    let offset = class.area_offset() + index * class.size();
    // SAFETY: `index < class.blocks()`, so the block lies in the segment.
    unsafe { self.start().byte_add(offset) }.cast()
  }

  /// Whether `pointer` starts a block carved from the tail (see
  /// [`multiplier_of`]). Safe to ask from any thread: a block the caller
  /// was handed was carved before it was.
  #[inline]
  pub(crate) fn is_carved_block(&self, pointer: NonNull<u8>) -> bool {
    let code = self.code_of(place_of(pointer.as_ptr()));
    code < self.code_limit_shared.load(Ordering::Relaxed)
  }

  /// [`Segment::is_carved_block`] for the owner, from its own copy of the
  /// limit, given the pointer's [`place_of`].
  #[inline]
  fn is_carved_place_owned(&self, place: usize) -> bool {
    self.code_of(place) < self.code_limit.get()
  }

  /// The block code of a pointer from its [`place_of`]; the pointer lies
  /// in this segment or just past it (see [`multiplier_of`]).
  #[inline]
  fn code_of(&self, place: usize) -> u64 {
    let offset = place.wrapping_sub(self.area_place);
    (offset as u64).wrapping_mul(self.multiplier)
  }

  /// The free tag of this segment's blocks: the address of its owning
  /// heap (see the module documentation).
  #[inline]
  fn tag(&self) -> usize {
    self.heap().addr()
  }

  /// Whether the carved block at `pointer` carries the free tag `tag`,
  /// that is, is not in the program's hands.
  #[inline]
  fn is_tagged_with(pointer: NonNull<u8>, tag: usize) -> bool {
    // SAFETY: the caller checked that `pointer` starts a carved block.
    unsafe { tag_of(pointer.cast()) == tag }
  }

  /// Whether the carved block at `pointer` carries the free tag.
  #[inline]
  fn is_tagged(&self, pointer: NonNull<u8>) -> bool {
    Self::is_tagged_with(pointer, self.tag())
  }

  /// Whether `pointer` is the start of a block in the program's hands.
  #[inline]
  pub(crate) fn is_allocated(&self, pointer: NonNull<u8>) -> bool {
    self.is_carved_block(pointer)
      && !self.is_tagged(pointer)
      && !self.is_purged_block(pointer)
  }

  /// What freeing `pointer` would be, given it is not allocated.
  #[cold]
  pub(crate) fn fault_of(&self, pointer: NonNull<u8>) -> Fault {
    if self.is_carved_block(pointer) {
      Fault::DoubleFree
    } else {
      Fault::NotABlock
    }
  }

  /// Pops a block off the owner's free list of the header at `segment`,
  /// which may also be a heap standing for a vacant header: a heap's
  /// [`FREE_LIST_OFFSET`] word is always null, so its slot reads as a
  /// header with no free block (see `Heap::try_malloc`).
  ///
  /// # Safety
  /// `segment` is a small segment's header on a partial list of the
  /// calling thread's heap, or a heap.
  #[inline]
  pub(crate) unsafe fn pop_at(segment: *const Segment) -> Option<NonNull<u8>> {
    // The word lies inside a header or a heap, and holds a free list
    // either way (a heap's is null, never written).
    let word = segment.wrapping_byte_add(FREE_LIST_OFFSET);
    // SAFETY: forwarded from the caller: `word` is that free list.
    let block = unsafe { word.cast::<Option<NonNull<Block>>>().read() }?;
    // SAFETY: a heap's list is empty, so this is a live header of ours.
    let header = unsafe { &*segment };
    // SAFETY: blocks on the owner's free list are free and linked.
    header.free.set(unsafe { next_of(block) });
    Some(header.hand_out(block))
  }

  /// Pops a block off the owner's free list, clearing its free tag.
  #[inline]
  pub(crate) fn pop(&self) -> Option<NonNull<u8>> {
    let block = self.free.get()?;
    // SAFETY: blocks on the owner's free list are free and linked.
    self.free.set(unsafe { next_of(block) });
    Some(self.hand_out(block))
  }

  /// Counts a block just taken off the owner's free list as allocated and
  /// clears its free tag.
  #[inline]
  fn hand_out(&self, block: NonNull<Block>) -> NonNull<u8> {
    // Wrapping: the pops bits count modulo 2^34 between flushes.
    self.tally.set(self.tally.get().wrapping_add(TALLY_POP));
    // SAFETY: the block is ours until it is returned.
    unsafe { set_tag(block, 0) };
    block.cast()
  }

  /// Pops the first block aligned to `align` among the first `steps` on
  /// the owner's free list, unlinking it from where it is (for aligned
  /// requests served by a class only some of whose blocks are aligned).
  pub(crate) fn pop_aligned(
    &self,
    align: usize,
    steps: usize,
  ) -> Option<NonNull<u8>> {
    let mut previous: Option<NonNull<Block>> = None;
    let mut cursor = self.free.get();
    for _ in 0..steps {
      let block = cursor?;
      // SAFETY: blocks on the owner's free list are free and linked.
      let next = unsafe { next_of(block) };
      if block.addr().get().is_multiple_of(align) {
        match previous {
          // SAFETY: a free block of ours, before `block` on the list.
          Some(before) => unsafe { set_next(before, next) },
          None => self.free.set(next),
        }
        return Some(self.hand_out(block));
      }
      previous = Some(block);
      cursor = next;
    }
    None
  }

  /// Puts an allocated block on the owner's free list with its tag.
  #[inline]
  fn push_tagged(&self, pointer: NonNull<u8>, tag: usize) {
    let block = pointer.cast::<Block>();
    // SAFETY: the block was allocated and is now ours again.
    unsafe { set_tag(block, tag) };
    // SAFETY: as above.
    unsafe { set_next(block, self.free.get()) };
    self.free.set(Some(block));
    self.tally.set(self.tally.get().wrapping_sub(1));
  }

  /// The owner's fast free, first half: the free tag to push `pointer`
  /// (whose [`place_of`] is `place`) with, if it is an allocated block of
  /// this segment and not its last one in use; `None` (nothing changed)
  /// for anything else, which the slow path then examines (or retires the
  /// emptied segment). `owner` is the owning heap, which the caller has at
  /// hand (it found itself named in `local`): it is the tag.
  #[inline]
  pub(crate) fn quick_tag(
    &self,
    pointer: NonNull<u8>,
    place: usize,
    owner: *const Heap,
  ) -> Option<usize> {
    debug_assert!(ptr::eq(owner, self.heap()), "only the owner frees here");
    let tag = owner.addr();
    let last = self.tally.get() & TALLY_USED_MASK <= 1;
    if last
      || !self.is_carved_place_owned(place)
      || Self::is_tagged_with(pointer, tag)
    {
      return None;
    }
    Some(tag)
  }

  /// The owner's fast free, second half: gives back a block
  /// [`Segment::quick_tag`] accepted.
  #[inline]
  pub(crate) fn push_quick(&self, pointer: NonNull<u8>, tag: usize) {
    self.push_tagged(pointer, tag);
  }

  /// Both halves of the owner's fast free (for tests).
  #[cfg(test)]
  pub(crate) fn try_push_quick(&self, pointer: NonNull<u8>) -> Quick {
    match self.quick_tag(pointer, place_of(pointer.as_ptr()), self.heap()) {
      None => Quick::Declined,
      Some(tag) => {
        self.push_quick(pointer, tag);
        Quick::Done
      }
    }
  }

  /// Gives the block at `pointer` back to the owner's free list. Returns
  /// the fault if it is not an allocated block.
  #[inline]
  pub(crate) fn push_local(&self, pointer: NonNull<u8>) -> Result<(), Fault> {
    if !self.is_allocated(pointer) {
      return Err(self.fault_of(pointer));
    }
    self.push_tagged(pointer, self.tag());
    Ok(())
  }

  /// Pushes a block freed by another thread; lock-free. Returns the fault
  /// if it is not an allocated block. The tag is set by an atomic swap, so
  /// of two threads freeing the same block at once, one sees the other.
  pub(crate) fn push_remote(&self, pointer: NonNull<u8>) -> Result<(), Fault> {
    if !self.is_carved_block(pointer) {
      return Err(Fault::NotABlock);
    }
    // A block on a purged page is on no list, so freeing it is a double
    // free, whose tag the sweep wiped; looked at after the swap, because a
    // sweep sets the page's bit before it wipes the tags. A page being
    // revived meanwhile gets its tags by swaps, which see ours if we came
    // first (see `segment/sweep.rs`).
    let tag = self.tag();
    // SAFETY: a carved block is at least two words long, and the caller
    // gives it up.
    if unsafe { swap_tag(pointer.cast(), tag) } == tag
      || self.is_purged_block(pointer)
    {
      return Err(Fault::DoubleFree);
    }
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
        Ok(_) => return Ok(()),
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

  /// Whether other threads have freed blocks not yet collected: the
  /// owner's side of [`Segment::is_full_seq_cst`], in the same total order
  /// (slow paths only).
  pub(crate) fn has_thread_free(&self) -> bool {
    !self.remote.thread_free.load(Ordering::SeqCst).is_null()
  }

  /// Moves the blocks other threads freed to the owner's free list and
  /// returns how many there were. Returns the fault and address of the
  /// list's head if it is longer than the carved blocks (a cycle: only
  /// writes into freed blocks make one).
  pub(crate) fn collect(&self) -> Result<u32, (Fault, usize)> {
    let taken = self
      .remote
      .thread_free
      .swap(ptr::null_mut(), Ordering::SeqCst);
    let Some(head) = NonNull::new(taken) else {
      return Ok(0);
    };
    // One walk counts the blocks and finds the tail; the list, already
    // linked and tagged, is then spliced onto the free list whole.
    let carved = self.carved() as u32;
    let mut count = 0;
    let mut tail = head;
    let mut cursor = Some(head);
    while let Some(block) = cursor {
      count += 1;
      if count > carved {
        return Err((Fault::DoubleFree, head.addr().get()));
      }
      tail = block;
      // SAFETY: the swap handed us the list; its links were written before
      // the pushes that published them.
      cursor = unsafe { next_of(block) };
    }
    // SAFETY: the tail is one of the blocks just taken, now free and ours.
    unsafe { set_next(tail, self.free.get()) };
    self.free.set(Some(head));
    self
      .tally
      .set(self.tally.get().wrapping_sub(u64::from(count)));
    Ok(count)
  }

  /// Checks a small segment's invariants (owner only, remote list empty):
  /// every block on the free list is a tagged carved block, and the free
  /// list and `used` together account for every carved block. Reads no
  /// block in the program's hands (other threads may be writing them).
  #[cfg(any(test, debug_assertions))]
  pub(crate) fn check_invariants(&self) {
    let class = self.class();
    let carved = self.carved();
    assert!(carved <= class.blocks(), "carved within the segment");
    assert_eq!(
      self.code_limit.get() % self.code_step(),
      0,
      "whole blocks are carved"
    );
    assert_eq!(
      self.code_limit_shared.load(Ordering::Relaxed),
      self.code_limit.get(),
      "the shared copy of the carved limit follows the owner's"
    );
    let mut free = 0;
    let mut cursor = self.free.get();
    while let Some(block) = cursor {
      let pointer = block.cast::<u8>();
      assert!(
        self.is_carved_block(pointer),
        "free blocks are carved blocks"
      );
      assert!(self.is_tagged(pointer), "free blocks carry the tag");
      assert!(
        !self.is_purged_block(pointer),
        "free blocks start on pages in place"
      );
      free += 1;
      assert!(free <= carved, "the free list has no cycle");
      // SAFETY: blocks on the owner's free list are free and linked.
      cursor = unsafe { next_of(block) };
    }
    assert_eq!(
      free + self.used() + self.dead_blocks(),
      carved,
      "every carved block is accounted"
    );
    assert_eq!(
      self.local_heap().is_null(),
      self.is_full() || self.has_purged(),
      "the fast free takes blocks of partial segments without purged pages"
    );
  }

  /// Counts the carved blocks without the free tag: the blocks in the
  /// program's hands (for tests, where nobody writes them meanwhile).
  #[cfg(test)]
  pub(crate) fn untagged_blocks(&self) -> usize {
    let class = self.class();
    (0..self.carved())
      .filter(|&index| !self.is_tagged(self.block_at(class, index).cast()))
      .count()
  }

  /// Revives a purged page (see `segment/sweep.rs`), or else carves
  /// blocks from the untouched tail onto the free list, tagged:
  /// every block that ends by the first `page` boundary at or after the
  /// end of the first one (`page` a power of two). So the first carve of a
  /// segment fills the rest of its header's page and touches no other (a
  /// class used for a block or two costs one page, not two), and each
  /// later one touches one more page (a block across a boundary comes with
  /// the rest of the next page). Returns whether any was carved.
  pub(crate) fn extend(&self, page: usize) -> bool {
    // Pages a sweep purged come first: they lie below the tail.
    if self.has_purged() && self.revive(page) {
      return true;
    }
    let class = self.class();
    let carved = self.carved();
    let remaining = class.blocks() - carved;
    if remaining == 0 {
      return false;
    }
    let first = self.block_at(class, carved).cast::<u8>();
    let end = (first.addr().get() + class.size()).next_multiple_of(page);
    let count = ((end - first.addr().get()) / class.size()).clamp(1, remaining);
    if self.stale.get() {
      // SAFETY: the tail blocks were never handed out in this life of the
      // segment; they are ours and lie in it.
      unsafe { first.write_bytes(0, count * class.size()) };
    }
    let tag = self.tag();
    let mut head = self.free.get();
    for index in (carved..carved + count).rev() {
      let block = self.block_at(class, index);
      // SAFETY: the tail block was never handed out; it is ours.
      unsafe { set_next(block, head) };
      // SAFETY: as above.
      unsafe { set_tag(block, tag) };
      head = Some(block);
    }
    self.free.set(head);
    let limit = (carved + count) as u64 * self.code_step();
    self.code_limit.set(limit);
    self.code_limit_shared.store(limit, Ordering::Relaxed);
    true
  }

  /// The code of one block of a small segment: the step between the codes
  /// of consecutive blocks (see [`multiplier_of`]).
  fn code_step(&self) -> u64 {
    code_step_of(self.class().size())
  }

  /// Blocks taken from the untouched tail so far (owner only).
  fn carved(&self) -> usize {
    (self.code_limit.get() / self.code_step()) as usize
  }

  /// Bytes from the segment's start to the end of its carved blocks
  /// (owner only).
  #[cfg(test)]
  pub(crate) fn extent_of_carved(&self) -> usize {
    self.class().area_offset() + self.carved() * self.class().size()
  }

  /// Whether the untouched tail still has a block to carve, or a purged
  /// page one to revive (owner only).
  pub(crate) fn can_extend(&self) -> bool {
    // The limit of a fully carved segment, without the division `carved`
    // makes.
    self.code_limit.get() < self.class().blocks() as u64 * self.code_step()
      || self.has_purged()
  }
}
