//! Heaps: one per thread, owning small segments, queued per class.
//!
//! Invariants, for each class of a heap:
//! - every small segment the heap owns is on exactly one of the class's
//!   `partial` or `full` lists, and its `in_full` flag says which;
//! - the head of `partial` is the segment allocation pops from;
//! - a segment on `full` had no free block when it was moved there; a
//!   remote free into it sets the heap's notice for its class, and the
//!   class's next refill that finds no carved block moves such segments
//!   back (only that class's full list is looked at).
//!
//! A refill takes an already carved block if the class has one anywhere
//! (another partial segment's list, a full segment's remote frees) before
//! it carves a page, and carves before it claims a segment: memory already
//! touched is reused before new memory is.
//!
//! Only the owning thread touches the queues and the segments' owner
//! fields, without atomics. A thread that exits *abandons* its heap: the
//! heap goes to a pool from which the next new thread adopts it whole. While
//! abandoned, a thread freeing into the heap pushes the block as any remote
//! free, then takes the heap's `lock` and acts as its owner to bring the
//! segment's remote frees home (retiring it if that empties it), so memory
//! of dead threads is given back without waiting for an adopter.

#[cfg(test)]
mod tests;

use core::cell::{Cell, UnsafeCell};
use core::hint::spin_loop;
use core::iter::from_fn;
use core::mem::{align_of, forget, offset_of, size_of};
use core::num::NonZeroUsize;
use core::ptr::{self, NonNull};

use spin::{Mutex, MutexGuard};
use tinyalloc_list::{HasLink, Link, List};
use tinyalloc_sys::{Mapper, arm_fork_handlers};

use crate::arena::Placement;
use crate::class::{
  CLASS_COUNT, DIRECT_SLOTS, EXACT_MAX, EXACT_SIZES, class, class_of,
  class_of_aligned, direct_slot, direct_slots_of, exact_sizes_of,
  loose_class_of_aligned,
};
use crate::config::{
  ARENA_MASK, ARENA_SIZE, COLD_REUSE_KEPT_PAGES, LARGE_ALIGN_MAX,
  LARGE_MAX_SEGMENTS, LOOSE_ALIGN_STEPS, MIN_ALIGN, REVIVE_BEFORE_CARVE_MAX,
  SEGMENT_SIZE, SMALL_MAX, SWEEP_BUDGET_BLOCKS, WARM_POOL_HEAPS,
};
use crate::error::AllocError;
use crate::fault::Fault;
use crate::manager::{
  block_offset, claim_span, grow_span, init, map_huge, mapper, page_size,
  place_heap, purge_before_new_high, release_span, unmap_huge,
};
use crate::segment::{
  Block, FREE_LIST_OFFSET, Kind, Segment, header_at, header_of_raw, place_of,
  segment_of,
};
use crate::stats::{ClassCounters, Counter, GLOBAL, StatsBuilder, add};
use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// The segments of one class in a heap.
struct Queue {
  /// Segments with free blocks (or not yet known to be full).
  partial: List<Segment>,
  /// Segments that had no free block when last looked at.
  full: List<Segment>,
}

impl Queue {
  const fn new() -> Self {
    Self {
      partial: List::new(),
      full: List::new(),
    }
  }
}

/// One class of a heap: its queue and its counters on one cache line.
#[repr(C, align(64))]
struct ClassSlot {
  /// Touched only by the owner.
  queue: UnsafeCell<Queue>,
  /// Written only by the owner (its segments point here).
  counters: ClassCounters,
}

impl ClassSlot {
  const fn new() -> Self {
    Self {
      queue: UnsafeCell::new(Queue::new()),
      counters: ClassCounters::new(),
    }
  }
}

/// A thread's heap.
///
/// `repr(C)`, with the two size tables last: they are three quarters of
/// the heap, and a heap waiting empty in the pool gives their pages back
/// (see [`Heap::trim`]).
#[repr(C)]
pub struct Heap {
  /// The start of the arena this heap last claimed a segment in, or
  /// [`NO_ARENA`]: a pointer in it is in memory of ours for sure (arenas are
  /// never unmapped), so the fast free skips the ownership map for it.
  /// Written by the owner (and, for the unowned heap, by whoever claims a
  /// segment first).
  home_arena: AtomicUsize,
  /// Blocks of this heap freed by other threads (counted when they come
  /// home; written only by the owner).
  cross_frees: AtomicU64,
  /// Next heap in the registry of every heap ever created.
  next: AtomicPtr<Heap>,
  /// Always null, never written, at a header's [`FREE_LIST_OFFSET`]: a
  /// size-table slot of [`VACANT_SLOT`] names the heap itself, which the
  /// fast path then reads as a header with an empty free list.
  no_free_block: Option<NonNull<Block>>,
  classes: [ClassSlot; CLASS_COUNT],
  /// Per class: a remote free landed in a segment on its full list. Per
  /// class, so that a refill looks at its own class's full list only: a
  /// heap-wide notice made every refill that needed a page scan the full
  /// segments of every class.
  full_notices: [AtomicBool; CLASS_COUNT],
  /// The owning thread has exited; the heap waits in the pool.
  abandoned: AtomicBool,
  /// Held by whoever acts as owner of an abandoned heap.
  lock: AtomicBool,
  /// The size tables' pages were given back while the heap waited in the
  /// pool; the adopter writes them again (under the lock).
  trimmed: Cell<bool>,
  /// The owning thread is exiting or has exited: what the heap gives back
  /// now is cold.
  exiting: Cell<bool>,
  /// Link in the pool of abandoned heaps.
  link: UnsafeCell<Link<Heap>>,
  /// One bit per class whose only segment was kept empty (owner only).
  /// A bit may be stale (the segment has been used since): it is checked
  /// before anything is done with it.
  kept_empty: Cell<u64>,
  /// The classes that kept an empty segment at the last claim of a fresh
  /// one and have not emptied it again since (owner only): the next claim
  /// gives those back. Two claims, not one, so that two classes used one
  /// lone block at a time in turn do not take each other's segment on
  /// every allocation.
  kept_marked: Cell<u64>,
  /// The class whose partial segments the next claim of a fresh segment
  /// sweeps (owner only; see [`Heap::sweep_next_class`]).
  sweep_cursor: Cell<usize>,
  /// The segment to allocate from for each `DIRECT_STEP` of the request
  /// size (the head of its class's partial list, or none), so the fast
  /// path goes from the size to a segment in one load, without the class
  /// table in between. Touched only by the owner. Each slot holds the
  /// segment's address less the heap's, and [`VACANT_SLOT`] for none: a
  /// heap's tables hold no address, so the unowned heap, a static, needs
  /// no relocation from the dynamic linker (a slot per entry, 514 of them:
  /// 12 KiB of every binary's relocations, read at every start), and a
  /// heap's tables start as zeros, as a fresh or trimmed mapping reads.
  direct: [Cell<usize>; DIRECT_SLOTS],
  /// The same for each request size up to [`EXACT_MAX`], a slot per byte:
  /// the fast path's load takes the size as it comes. Right after
  /// `direct`, and last: [`Heap::trim`] gives back the pages of both.
  exact: [Cell<usize>; EXACT_SIZES],
}

/// A size-table slot naming no segment: the heap itself, whose word at a
/// header's free list is null (`Heap::no_free_block`).
const VACANT_SLOT: usize = 0;

const _: () = assert!(
  offset_of!(Heap, no_free_block) == FREE_LIST_OFFSET,
  "a heap read as a header has an empty free list"
);

// SAFETY: a heap moves between threads only through the pool, under its
// lock, after its owner has stopped touching it; the fields other threads
// touch meanwhile are atomics.
unsafe impl Send for Heap {}
// SAFETY: shared access from other threads reads and writes only atomics;
// the owner-only fields are reached through `unsafe fn`s whose contract
// is that the caller owns the heap.
unsafe impl Sync for Heap {}

// SAFETY: `link` is a field of `Heap`, at the same place every time.
unsafe impl HasLink<Heap> for Heap {
  fn link(item: NonNull<Heap>) -> NonNull<Link<Heap>> {
    // SAFETY: projecting to a field of a heap stays in its allocation.
    let cell = unsafe { &raw const (*item.as_ptr()).link };
    // SAFETY: a field pointer derived from a non-null pointer is non-null.
    unsafe { NonNull::new_unchecked(UnsafeCell::raw_get(cell)) }
  }
}

/// A block resized in place must keep more than its room divided by this
/// in use; a smaller size moves to a block that fits, so shrinking gives
/// memory back instead of pinning the old room.
const KEEP_IN_PLACE_DIVISOR: usize = 2;

// `Heap::kept_empty` has a bit per class.
const _: () = assert!(CLASS_COUNT <= u64::BITS as usize);

/// The cache line a class slot fills.
const CACHE_LINE_BYTES: usize = 64;

/// The heap of a thread that has none yet (or no more): it owns nothing,
/// so its fast paths always fall through to the slow ones, which give the
/// thread a heap of its own. A thread-local heap pointer starts here
/// rather than at null, which spares the fast paths a null test. Never
/// written but for its home arena (an atomic): only [`Heap::acquire`]d
/// heaps hold segments.
pub static UNOWNED_HEAP: Heap = Heap::new();

/// `Heap::home_arena` while no arena exists: the arena place just below
/// the top one of the address space. No arena of ours is there (it is
/// kernel space), nor null's `pointer - 1` (in the top one). A pointer
/// there is taken for home and read; it faults, a crash with no message
/// instead of the usual one. Only before the process's first allocation
/// can that happen: the unowned heap takes the first arena a heap claims
/// in (or is placed in) as its home, a new heap starts with the arena it
/// is placed in (or, placed in a mapping of its own, with the unowned
/// heap's), and a heap's first claim, small or large, makes that arena
/// home.
const NO_ARENA: usize = usize::MAX - (2 * ARENA_SIZE - 1);

/// Heaps whose threads have exited, waiting for adoption.
static POOL: Mutex<List<Heap>> = Mutex::new(List::new());

/// Locks [`POOL`] (arming the fork handlers first, see
/// [`arm_fork_handlers`]).
fn pool() -> MutexGuard<'static, List<Heap>> {
  arm_fork_handlers();
  POOL.lock()
}

/// Heaps in [`POOL`], readable without its lock (a heap lock holder may
/// not take the pool lock: `fork` takes them in the other order).
static POOLED: AtomicUsize = AtomicUsize::new(0);
/// Head of the registry of every heap, linked through `Heap::next`.
static HEAPS: AtomicPtr<Heap> = AtomicPtr::new(ptr::null_mut());

/// Dereferences a segment pointer from a queue.
///
/// # Safety
/// `segment` is on one of the queues of a heap the caller owns.
#[inline]
unsafe fn seg<'seg>(segment: NonNull<Segment>) -> &'seg Segment {
  // SAFETY: forwarded from the caller: queued segments are live.
  unsafe { segment.as_ref() }
}

impl Heap {
  const fn new() -> Self {
    Self {
      home_arena: AtomicUsize::new(NO_ARENA),
      cross_frees: AtomicU64::new(0),
      next: AtomicPtr::new(ptr::null_mut()),
      no_free_block: None,
      classes: [const { ClassSlot::new() }; CLASS_COUNT],
      full_notices: [const { AtomicBool::new(false) }; CLASS_COUNT],
      abandoned: AtomicBool::new(false),
      lock: AtomicBool::new(false),
      trimmed: Cell::new(false),
      exiting: Cell::new(false),
      link: UnsafeCell::new(Link::new()),
      kept_empty: Cell::new(0),
      kept_marked: Cell::new(0),
      sweep_cursor: Cell::new(0),
      direct: [const { Cell::new(VACANT_SLOT) }; DIRECT_SLOTS],
      exact: [const { Cell::new(VACANT_SLOT) }; EXACT_SIZES],
    }
  }

  /// Whether this is [`UNOWNED_HEAP`], which no thread owns.
  #[inline]
  pub fn is_unowned(&self) -> bool {
    ptr::eq(self, &UNOWNED_HEAP)
  }

  /// A heap for the calling thread: an abandoned one if any, else a new one.
  pub fn acquire() -> Result<NonNull<Heap>, AllocError> {
    init();
    let mut pool = pool();
    match pool.pop_front() {
      Some(heap) => {
        POOLED.store(pool.len(), Ordering::Relaxed);
        drop(pool);
        // SAFETY: heaps in the pool are live for the rest of the process.
        unsafe { heap.as_ref() }.adopt();
        Ok(heap)
      }
      None => {
        drop(pool);
        Self::create()
      }
    }
  }

  /// Takes over an abandoned heap, waiting for a thread that is freeing
  /// into it as its temporary owner.
  fn adopt(&self) {
    self.lock();
    self.exiting.set(false);
    // Trimmed tables read as zeros, every slot vacant: they are written
    // again slot by slot as the adopter's classes get segments.
    self.trimmed.set(false);
    self.abandoned.store(false, Ordering::Relaxed);
    self.unlock();
  }

  /// Makes the arena holding `claimed` this heap's home (the owner, after
  /// a claim there), and the unowned heap's if it has none yet: threads
  /// without a heap of their own (those that only free) get a home arena
  /// too, and any arena of ours will do.
  fn make_home(&self, claimed: NonNull<u8>) {
    let arena = claimed.addr().get() & !ARENA_MASK;
    self.home_arena.store(arena, Ordering::Relaxed);
    if UNOWNED_HEAP.home_arena.load(Ordering::Relaxed) == NO_ARENA {
      UNOWNED_HEAP.home_arena.store(arena, Ordering::Relaxed);
    }
  }

  /// Whether the heap owns no segment (owner, or the lock of an abandoned
  /// heap).
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn is_empty(&self) -> bool {
    (0..CLASS_COUNT).all(|index| {
      // SAFETY: forwarded from the caller.
      let queue = unsafe { self.queue(index) };
      queue.partial.is_empty() && queue.full.is_empty()
    })
  }

  /// Gives back the pages of the size tables of a heap that waits empty in
  /// the pool: the page they fill, half of the heap, which a burst of
  /// threads would otherwise keep for every heap it left behind. The
  /// adopter writes them again ([`Heap::adopt`]).
  ///
  /// # Safety
  /// The caller holds the lock of this abandoned heap, which owns no
  /// segment (so no free can reach its tables), and is not the unowned
  /// heap.
  unsafe fn trim(&self) {
    debug_assert!(!self.is_unowned(), "the unowned heap is static");
    let tables = self.direct.as_ptr().addr();
    let page = page_size();
    let start = tables.next_multiple_of(page);
    // The heap has the page its last byte is on to itself (see
    // `place_heap`, or its own mapping).
    let end =
      (ptr::from_ref(self).addr() + size_of::<Heap>()).next_multiple_of(page);
    if start >= end {
      return;
    }
    let Some(first) = NonNull::new(ptr::without_provenance_mut::<u8>(start))
    else {
      return;
    };
    let region = NonNull::slice_from_raw_parts(first, end - start);
    // SAFETY: the pages lie in the heap's tables or past them on its last
    // page, which nobody reads while the heap is abandoned and empty; they
    // read as zero afterwards, every slot vacant.
    if unsafe { mapper().decommit(region) }.is_ok() {
      self.trimmed.set(true);
    }
  }

  /// Writes a new heap at `heap` in place, field by field, as
  /// [`Heap::new`] makes it. Written whole, the value would be assembled
  /// on the stack first and then copied: 16 KiB of stack touched in every
  /// thread that creates a heap (the main thread's stack peak was 16 KiB
  /// above the system allocator's).
  ///
  /// The size tables are not written: the memory reads as zero, every
  /// slot [`VACANT_SLOT`], so their pages are touched only as the
  /// thread's classes get segments.
  ///
  /// # Safety
  /// `heap` is writable, aligned, not in use, and reads as zero.
  #[expect(
    clippy::multiple_unsafe_ops_per_block,
    reason = "one projection and one write per field, all under one argument"
  )]
  unsafe fn write_fresh(heap: NonNull<Heap>) {
    let this = heap.as_ptr();
    // SAFETY: every write below goes to a field of the caller's memory;
    // together with the tables, zero already, they are all of them (see
    // `every_field_of`).
    unsafe {
      (&raw mut (*this).home_arena).write(AtomicUsize::new(NO_ARENA));
      (&raw mut (*this).cross_frees).write(AtomicU64::new(0));
      (&raw mut (*this).next).write(AtomicPtr::new(ptr::null_mut()));
      (&raw mut (*this).no_free_block).write(None);
      for index in 0..CLASS_COUNT {
        (&raw mut (*this).classes[index]).write(ClassSlot::new());
        (&raw mut (*this).full_notices[index]).write(AtomicBool::new(false));
      }
      (&raw mut (*this).abandoned).write(AtomicBool::new(false));
      (&raw mut (*this).lock).write(AtomicBool::new(false));
      (&raw mut (*this).trimmed).write(Cell::new(false));
      (&raw mut (*this).exiting).write(Cell::new(false));
      (&raw mut (*this).link).write(UnsafeCell::new(Link::new()));
      (&raw mut (*this).kept_empty).write(Cell::new(0));
      (&raw mut (*this).kept_marked).write(Cell::new(0));
      (&raw mut (*this).sweep_cursor).write(Cell::new(0));
    }
  }

  /// Names every field of `Heap`, so that a field added to it without a
  /// write in [`Heap::write_fresh`] is noticed here: this stops compiling.
  #[cfg(test)]
  fn every_field_of(&self) {
    let Heap {
      home_arena: _,
      cross_frees: _,
      next: _,
      no_free_block: _,
      classes: _,
      full_notices: _,
      abandoned: _,
      lock: _,
      trimmed: _,
      exiting: _,
      link: _,
      kept_empty: _,
      kept_marked: _,
      sweep_cursor: _,
      direct: _,
      exact: _,
    } = self;
  }

  #[cold]
  fn create() -> Result<NonNull<Heap>, AllocError> {
    let placed = place_heap(size_of::<Heap>(), align_of::<Heap>());
    let heap = match placed {
      Some(place) => place.cast::<Heap>(),
      None => {
        let size = NonZeroUsize::new(size_of::<Heap>())
          .ok_or(AllocError::OutOfMemory)?;
        mapper()
          .map(size)
          .map_err(|_| AllocError::OutOfMemory)?
          .cast()
      }
    };
    // SAFETY: fresh memory of ours, aligned, large enough, and zeroed.
    unsafe { Heap::write_fresh(heap) };
    // SAFETY: just written; nobody else knows of it yet.
    let this = unsafe { heap.as_ref() };
    match placed {
      // Its arena is home until its first claim.
      Some(place) => this.make_home(place),
      // Until its first claim, any arena of ours is home (see `NO_ARENA`).
      None => this.home_arena.store(
        UNOWNED_HEAP.home_arena.load(Ordering::Relaxed),
        Ordering::Relaxed,
      ),
    }
    // Registered under the pool lock, which `fork` takes first: a heap is
    // then either in the registry before the fork locks every heap, or
    // registered (and used) only after the fork, never in between.
    let pool = pool();
    register(heap);
    drop(pool);
    GLOBAL.add(Counter::Heaps, 1);
    Ok(heap)
  }

  /// Gives the heap up when its thread exits.
  ///
  /// # Safety
  /// The caller owns `heap` and never touches it again.
  pub unsafe fn abandon(heap: NonNull<Heap>) {
    // SAFETY: heaps live for the rest of the process.
    let this = unsafe { heap.as_ref() };
    this.exiting.set(true);
    // SAFETY: forwarded from the caller: we own the heap.
    unsafe { this.collect() };
    // A heap beyond the warm ones in the pool may wait long for a thread
    // to adopt it: the free pages of its sparse segments go back now. The
    // warm ones keep theirs, which the next thread likely uses again (a
    // sweep at every exit cost `larson`, a fresh thread per generation,
    // 40% more time for 3% less peak).
    if POOLED.load(Ordering::Relaxed) >= WARM_POOL_HEAPS {
      // SAFETY: as above.
      unsafe { this.sweep_all() };
    }
    #[cfg(debug_assertions)]
    // SAFETY: forwarded from the caller: we own the heap; remote frees
    // meanwhile leave the checked state alone.
    unsafe {
      this.check_invariants()
    };
    this.abandoned.store(true, Ordering::SeqCst);
    // A remote free that read the flag clear before the store pushed its
    // block onto a segment; this last collection, after the store, takes it
    // (see `free_remote`). Under the lock: remote freers that saw the flag
    // set act as owners now.
    this.lock();
    // A thread freeing into the heap since the flag went up may have
    // emptied and trimmed it: then there is nothing to collect, and the
    // tables must stay untouched.
    if !this.trimmed.get() {
      // SAFETY: the lock of an abandoned heap makes us its owner.
      unsafe { this.collect() };
      // SAFETY: as above.
      unsafe { this.trim_if_idle() };
    }
    this.unlock();
    let mut pool = pool();
    // SAFETY: the heap is not linked anywhere else and outlives the pool.
    let pushed = unsafe { pool.push(heap) };
    debug_assert!(pushed.is_ok(), "an owned heap is in no pool");
    POOLED.store(pool.len(), Ordering::Relaxed);
  }

  /// Trims an abandoned heap that owns no segment if the pool already
  /// holds [`WARM_POOL_HEAPS`] heaps ready for new threads.
  ///
  /// # Safety
  /// The caller holds the lock of this abandoned heap.
  unsafe fn trim_if_idle(&self) {
    if POOLED.load(Ordering::Relaxed) >= WARM_POOL_HEAPS {
      // SAFETY: forwarded from the caller.
      unsafe { self.trim_if_empty() };
    }
  }

  /// Trims an abandoned heap that owns no segment and is not trimmed yet.
  ///
  /// # Safety
  /// The caller holds the lock of this abandoned heap.
  unsafe fn trim_if_empty(&self) {
    // SAFETY: forwarded from the caller.
    if !self.trimmed.get() && unsafe { self.is_empty() } {
      // SAFETY: forwarded from the caller; the heap is empty.
      unsafe { self.trim() };
    }
  }

  /// Takes the heap's lock, waiting for its holder (arming the fork
  /// handlers first, see [`arm_fork_handlers`]).
  fn lock(&self) {
    arm_fork_handlers();
    self.spin_lock();
  }

  /// Takes the heap's lock, waiting for its holder.
  fn spin_lock(&self) {
    while !self.try_lock() {
      spin_loop();
    }
  }

  fn try_lock(&self) -> bool {
    self
      .lock
      .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
      .is_ok()
  }

  fn unlock(&self) {
    self.lock.store(false, Ordering::Release);
  }

  /// The queue of class `index`.
  ///
  /// # Safety
  /// The caller owns the heap and holds no other reference to this queue.
  #[inline]
  #[allow(clippy::mut_from_ref)]
  unsafe fn queue(&self, index: usize) -> &mut Queue {
    // SAFETY: forwarded from the caller.
    unsafe { &mut *self.classes[index].queue.get() }
  }

  /// The segment allocation of class `index` pops from.
  ///
  /// # Safety
  /// The caller owns the heap.
  #[inline]
  unsafe fn current(&self, index: usize) -> Option<NonNull<Segment>> {
    debug_assert!(index < CLASS_COUNT, "class indices come from the table");
    // SAFETY: class indices are below `CLASS_COUNT`.
    let slot = unsafe { self.classes.get_unchecked(index) };
    // SAFETY: forwarded from the caller; a shared read of the list head.
    unsafe { &*slot.queue.get() }.partial.head()
  }

  /// Allocates `size` bytes aligned to [`MIN_ALIGN`].
  ///
  /// # Safety
  /// The caller owns the heap.
  #[inline]
  pub unsafe fn malloc(&self, size: usize) -> Result<NonNull<u8>, AllocError> {
    if size <= SMALL_MAX {
      // SAFETY: forwarded from the caller.
      return unsafe { self.malloc_class(class_of(size)) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { self.malloc_large(size, MIN_ALIGN) }.map(|(block, _)| block)
  }

  /// Allocates `size` bytes if the fast path can: a small size whose
  /// current segment has a free block. No call, no atomic, no lock.
  ///
  /// # Safety
  /// The caller owns the heap.
  #[inline]
  pub unsafe fn try_malloc(&self, size: usize) -> Option<NonNull<u8>> {
    if size <= EXACT_MAX {
      // SAFETY: the size is within the exact table.
      let slot = unsafe { self.exact.get_unchecked(size) };
      // SAFETY: forwarded from the caller.
      return unsafe { self.pop_at_slot(slot.get()) };
    }
    if size > SMALL_MAX {
      return None;
    }
    // SAFETY: a small size's slot is below `DIRECT_SLOTS`.
    let slot = unsafe { self.direct.get_unchecked(direct_slot(size)) };
    // SAFETY: forwarded from the caller.
    unsafe { self.pop_at_slot(slot.get()) }
  }

  /// Pops a block from the segment a size-table slot names.
  ///
  /// # Safety
  /// The caller owns the heap, and `slot` is the value of one of its
  /// size-table slots.
  #[inline]
  unsafe fn pop_at_slot(&self, slot: usize) -> Option<NonNull<u8>> {
    // Exposed, as segments are by `slot_of`, for a vacant slot's header
    // place is the heap itself.
    let heap = ptr::from_ref(self).expose_provenance();
    // SAFETY: a slot names a segment queued in our heap, or is
    // `VACANT_SLOT` and names this heap.
    unsafe {
      Segment::pop_at(ptr::with_exposed_provenance(heap.wrapping_add(slot)))
    }
  }

  /// The size-table slot value naming `head` (none: [`VACANT_SLOT`]).
  fn slot_of(&self, head: Option<NonNull<Segment>>) -> usize {
    head.map_or(VACANT_SLOT, |segment| {
      let heap = ptr::from_ref(self).expose_provenance();
      segment.as_ptr().expose_provenance().wrapping_sub(heap)
    })
  }

  /// Points the direct slots of class `index` at `head`, the head of its
  /// partial list; called after every change to that list.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn set_direct(&self, index: usize, head: Option<NonNull<Segment>>) {
    debug_assert!(
      !self.trimmed.get(),
      "a trimmed heap's tables stay given back"
    );
    let segment = self.slot_of(head);
    // Two plain loops: a chained iterator tests which half it is in at
    // every slot.
    for slot in &self.direct[direct_slots_of(index)] {
      slot.set(segment);
    }
    for slot in &self.exact[exact_sizes_of(index)] {
      slot.set(segment);
    }
  }

  /// Allocates a block of class `index`.
  ///
  /// # Safety
  /// The caller owns the heap.
  #[inline]
  unsafe fn malloc_class(
    &self,
    index: usize,
  ) -> Result<NonNull<u8>, AllocError> {
    // SAFETY: forwarded from the caller.
    if let Some(segment) = unsafe { self.current(index) } {
      // SAFETY: the current segment is queued in our heap.
      if let Some(block) = unsafe { seg(segment) }.pop() {
        return Ok(block);
      }
    }
    // SAFETY: forwarded from the caller.
    unsafe { self.malloc_class_slow(index) }
  }

  /// Allocates `size` bytes aligned to `align` (a power of two).
  ///
  /// # Safety
  /// The caller owns the heap.
  pub unsafe fn malloc_aligned(
    &self,
    size: usize,
    align: usize,
  ) -> Result<NonNull<u8>, AllocError> {
    // SAFETY: forwarded from the caller.
    unsafe { self.malloc_aligned_zeroed(size, align) }.map(|(block, _)| block)
  }

  /// Allocates `size` zeroed bytes aligned to `align` (a power of two),
  /// without clearing memory that is known to be zero.
  ///
  /// # Safety
  /// The caller owns the heap.
  pub unsafe fn malloc_zeroed(
    &self,
    size: usize,
    align: usize,
  ) -> Result<NonNull<u8>, AllocError> {
    // SAFETY: forwarded from the caller.
    let (block, zeroed) = unsafe { self.malloc_aligned_zeroed(size, align) }?;
    if !zeroed {
      // SAFETY: the block has at least `size` writable bytes.
      unsafe { block.write_bytes(0, size) };
    }
    Ok(block)
  }

  /// Allocates and says whether the block is known to be zero.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn malloc_aligned_zeroed(
    &self,
    size: usize,
    align: usize,
  ) -> Result<(NonNull<u8>, bool), AllocError> {
    let class = if align <= MIN_ALIGN {
      (size <= SMALL_MAX).then(|| class_of(size))
    } else {
      let strict = class_of_aligned(size, align);
      // SAFETY: forwarded from the caller.
      let loose =
        |strict| unsafe { self.pop_loosely_aligned(size, align, strict) };
      if let Some(block) = strict.and_then(loose) {
        return Ok((block, false));
      }
      strict
    };
    match class {
      Some(index) => {
        // SAFETY: forwarded from the caller.
        unsafe { self.malloc_class(index) }.map(|block| (block, false))
      }
      None => {
        let size = size.max(SMALL_MAX + 1);
        // SAFETY: forwarded from the caller.
        unsafe { self.malloc_large(size, align.max(MIN_ALIGN)) }
      }
    }
  }

  /// An aligned block from a smaller class than `strict`, the one whose
  /// every block is aligned, if the current segment of such a class has one
  /// aligned among the first free blocks: a 100-byte block aligned to
  /// 4 KiB then takes 1 KiB instead of 4 (`aligned`'s peak fell by 7%,
  /// for 30% more time there: a few cache misses per request). One in
  /// [`LOOSE_ALIGN_RATIO`](crate::class::LOOSE_ALIGN_RATIO) blocks or more
  /// of that class is aligned, so a few steps usually find one; else the
  /// caller takes the strict class.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn pop_loosely_aligned(
    &self,
    size: usize,
    align: usize,
    strict: usize,
  ) -> Option<NonNull<u8>> {
    let index = loose_class_of_aligned(size, align, strict)?;
    // SAFETY: forwarded from the caller.
    let segment = unsafe { self.current(index) }?;
    // SAFETY: the current segment is queued in our heap.
    unsafe { seg(segment) }.pop_aligned(align, LOOSE_ALIGN_STEPS)
  }

  /// The slow path of small allocation: find or make a segment with room.
  ///
  /// Blocks already carved come first, wherever they wait: on another
  /// partial segment's list, or freed by other threads into a full
  /// segment. A page is carved only when none is left, so that blocks
  /// freed remotely are reused before the heap touches new memory. Only a
  /// full list of up to [`REVIVE_BEFORE_CARVE_MAX`] segments is looked
  /// through before carving: a longer one is looked through once the
  /// partial segments have no page left to carve, so that a big heap
  /// with a trickle of remote frees does not scan thousands of segments
  /// for every page.
  ///
  /// # Safety
  /// The caller owns the heap.
  #[cold]
  #[inline(never)]
  unsafe fn malloc_class_slow(
    &self,
    index: usize,
  ) -> Result<NonNull<u8>, AllocError> {
    // SAFETY: forwarded from the caller.
    if let Some(block) = unsafe { self.pop_from_queue(index) } {
      return Ok(block);
    }
    // SAFETY: forwarded from the caller.
    let full = unsafe { self.queue(index) }.full.len();
    if full <= REVIVE_BEFORE_CARVE_MAX {
      // SAFETY: forwarded from the caller.
      if let Some(block) = unsafe { self.pop_revived(index) } {
        return Ok(block);
      }
    }
    // SAFETY: forwarded from the caller.
    if let Some(block) = unsafe { self.carve_in_queue(index) } {
      return Ok(block);
    }
    // SAFETY: forwarded from the caller.
    if let Some(block) = unsafe { self.pop_revived(index) } {
      return Ok(block);
    }
    // SAFETY: forwarded from the caller.
    let segment = unsafe { self.add_segment(index) }?;
    segment.extend(page_size());
    let block = segment.pop().ok_or(AllocError::OutOfMemory)?;
    Ok(block)
  }

  /// Pops a carved block from the partial segments of class `index`,
  /// collecting their remote frees, and moves the segment it came from to
  /// the head of the list. Segments with neither a free block nor a tail
  /// to carve move to the full list; those with a tail move behind the
  /// others, for [`Heap::carve_in_queue`] (left at the head, they would be
  /// stepped over on every refill).
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn pop_from_queue(&self, index: usize) -> Option<NonNull<u8>> {
    // SAFETY: forwarded from the caller.
    let queue = unsafe { self.queue(index) };
    let head = queue.partial.head();
    let mut cursor = head;
    let mut first_kept = None;
    let mut found = None;
    while let Some(pointer) = cursor {
      if first_kept == Some(pointer) {
        break;
      }
      // SAFETY: the segment is on this partial list.
      cursor = unsafe { queue.partial.next_of(pointer) };
      // SAFETY: queued in our heap.
      let segment = unsafe { seg(pointer) };
      self.collect_segment(segment);
      segment.flush_counts();
      if let Some(block) = segment.pop() {
        // SAFETY: the segment is on this partial list.
        unsafe { Self::bring_to_front(queue, pointer) };
        found = Some(block);
        break;
      }
      if !segment.can_extend() {
        // SAFETY: the segment is on this partial list.
        unsafe { Self::move_to_full(queue, segment) };
      } else if cursor.is_some() {
        first_kept.get_or_insert(pointer);
        // SAFETY: the segment is on this partial list.
        unsafe { Self::move_to_back(queue, pointer) };
      }
    }
    if queue.partial.head() != head {
      // SAFETY: forwarded from the caller.
      unsafe { self.set_direct(index, queue.partial.head()) };
    }
    found
  }

  /// Carves a page in the first partial segment of class `index` with an
  /// untouched tail, and pops a block from it.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn carve_in_queue(&self, index: usize) -> Option<NonNull<u8>> {
    // SAFETY: forwarded from the caller.
    let queue = unsafe { self.queue(index) };
    let head = queue.partial.head();
    let mut cursor = head;
    while let Some(pointer) = cursor {
      // SAFETY: the segment is on this partial list.
      cursor = unsafe { queue.partial.next_of(pointer) };
      // SAFETY: queued in our heap.
      let segment = unsafe { seg(pointer) };
      if segment.extend(page_size()) {
        // SAFETY: the segment is on this partial list.
        unsafe { Self::bring_to_front(queue, pointer) };
        if head != Some(pointer) {
          // SAFETY: forwarded from the caller.
          unsafe { self.set_direct(index, Some(pointer)) };
        }
        return segment.pop();
      }
    }
    None
  }

  /// Makes `pointer` the head of `queue`'s partial list; the caller points
  /// the direct slots at it.
  ///
  /// # Safety
  /// `pointer` is on `queue.partial`.
  unsafe fn bring_to_front(queue: &mut Queue, pointer: NonNull<Segment>) {
    if queue.partial.head() == Some(pointer) {
      return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { queue.partial.remove_unchecked(pointer) };
    // SAFETY: just unlinked; it stays valid while queued.
    let pushed = unsafe { queue.partial.push_front(pointer) };
    debug_assert!(pushed.is_ok(), "an unlinked segment links");
  }

  /// Moves `pointer` to the end of `queue`'s partial list; the caller
  /// points the direct slots at the new head.
  ///
  /// # Safety
  /// `pointer` is on `queue.partial`.
  unsafe fn move_to_back(queue: &mut Queue, pointer: NonNull<Segment>) {
    // SAFETY: forwarded from the caller.
    unsafe { queue.partial.remove_unchecked(pointer) };
    // SAFETY: just unlinked; it stays valid while queued.
    let pushed = unsafe { queue.partial.push(pointer) };
    debug_assert!(pushed.is_ok(), "an unlinked segment links");
  }

  /// Moves a segment without room from the partial to the full list, unless
  /// a remote free slipped in meanwhile; the caller points the direct
  /// slots at the new head.
  ///
  /// # Safety
  /// `segment` is on `queue.partial`.
  unsafe fn move_to_full(queue: &mut Queue, segment: &Segment) {
    segment.flush_counts();
    let pointer = NonNull::from(segment);
    // SAFETY: the segment is on the partial list of this queue.
    unsafe { queue.partial.remove_unchecked(pointer) };
    segment.set_full(true);
    // SAFETY: just unlinked; it stays valid while queued.
    let pushed = unsafe { queue.full.push(pointer) };
    debug_assert!(pushed.is_ok(), "an unlinked segment links");
    // A remote free that missed the flag left its block for us to see.
    if segment.has_thread_free() {
      // SAFETY: on the full list of this queue.
      unsafe { Self::move_to_partial(queue, segment) };
    }
  }

  /// Moves a segment from the full list to the end of the partial list.
  ///
  /// # Safety
  /// `segment` is on `queue.full`.
  unsafe fn move_to_partial(queue: &mut Queue, segment: &Segment) {
    let pointer = NonNull::from(segment);
    // SAFETY: forwarded from the caller.
    unsafe { queue.full.remove_unchecked(pointer) };
    segment.set_full(false);
    // SAFETY: just unlinked; it stays valid while queued.
    let pushed = unsafe { queue.partial.push(pointer) };
    debug_assert!(pushed.is_ok(), "an unlinked segment links");
  }

  /// Pops a block from the full segments of class `index` that other
  /// threads freed into, if the class's notice says there are some.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn pop_revived(&self, index: usize) -> Option<NonNull<u8>> {
    // SAFETY: forwarded from the caller.
    if unsafe { self.revive_class(index) } {
      // SAFETY: forwarded from the caller.
      unsafe { self.pop_from_queue(index) }
    } else {
      None
    }
  }

  /// If a remote free landed in a full segment of class `index`, moves
  /// the class's full segments with remote frees back to its partial
  /// list. Returns whether any moved.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn revive_class(&self, index: usize) -> bool {
    // A swap, not a store: a notice set after it survives, and one set
    // before it is read here, with the remote free it announces.
    if !self.full_notices[index].swap(false, Ordering::Acquire) {
      return false;
    }
    // SAFETY: forwarded from the caller.
    let queue = unsafe { self.queue(index) };
    // SAFETY: the queue is one of this heap's, which the caller owns.
    let moved = unsafe { Self::revive_queue(queue) };
    if moved {
      // SAFETY: forwarded from the caller.
      unsafe { self.set_direct(index, queue.partial.head()) };
    }
    moved
  }

  /// Moves the full segments of `queue` that other threads have freed
  /// into back to its partial list; returns whether any moved.
  ///
  /// # Safety
  /// The caller owns the heap the queue belongs to.
  unsafe fn revive_queue(queue: &mut Queue) -> bool {
    let mut moved = false;
    let mut cursor = queue.full.head();
    while let Some(pointer) = cursor {
      // SAFETY: the segment is on this full list.
      cursor = unsafe { queue.full.next_of(pointer) };
      // SAFETY: queued in the caller's heap.
      let segment = unsafe { seg(pointer) };
      // In the single total order with the remote free's push and its
      // look at `abandoned` (see `free_remote`).
      if segment.has_thread_free() {
        // SAFETY: on this queue's full list.
        unsafe { Self::move_to_partial(queue, segment) };
        moved = true;
      }
    }
    moved
  }

  /// Claims a fresh segment for class `index` and puts it at the head of
  /// the partial list.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn add_segment<'seg>(
    &self,
    index: usize,
  ) -> Result<&'seg Segment, AllocError> {
    if self.kept_empty.get() & !(1 << index) != 0 {
      // SAFETY: forwarded from the caller.
      unsafe { self.retire_kept_empty(index) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { self.sweep_next_class() };
    let span = claim_span(1, Placement::ANY, Some(index))?;
    if !span.zeroed {
      // SAFETY: the span is a segment we just claimed.
      unsafe { give_back_cold_pages(span.start) };
    }
    self.make_home(span.start);
    // SAFETY: the span is a fresh segment nobody else knows of.
    let segment = unsafe {
      Segment::init_small(
        span.start,
        index,
        NonNull::from(self),
        NonNull::from(&self.classes[index].counters),
        span.zeroed,
      )
    };
    GLOBAL.add(Counter::Segments, 1);
    // SAFETY: forwarded from the caller.
    let queue = unsafe { self.queue(index) };
    // SAFETY: the segment lives until it is released, after unlinking.
    let pushed = unsafe { queue.partial.push_front(NonNull::from(segment)) };
    debug_assert!(pushed.is_ok(), "a fresh segment links");
    // SAFETY: forwarded from the caller.
    unsafe { self.set_direct(index, queue.partial.head()) };
    Ok(segment)
  }

  /// Frees a block of a small segment this heap owns, beyond the fast
  /// path (a fault, the segment's last block, or a full segment).
  ///
  /// # Safety
  /// The caller owns the heap, and `segment` is one of its segments.
  #[inline]
  unsafe fn free_local(&self, segment: &Segment, pointer: NonNull<u8>) {
    if let Err(fault) = segment.push_local(pointer) {
      fault.report(pointer.addr().get());
    }
    // SAFETY: forwarded from the caller.
    unsafe { self.settle(segment) };
  }

  /// Brings a segment's remote frees home and updates its place: requeued
  /// if it was full, retired if it is empty (the heap is abandoned).
  ///
  /// # Safety
  /// The caller owns the heap (holding the lock of an abandoned one), and
  /// `segment` is one of its segments.
  unsafe fn tend(&self, segment: &Segment) {
    self.collect_segment(segment);
    // SAFETY: forwarded from the caller.
    unsafe { self.settle(segment) };
  }

  /// After blocks came back to a segment: flushes its counts, and moves it
  /// if it was full or became empty.
  ///
  /// # Safety
  /// As [`Heap::tend`].
  #[inline]
  unsafe fn settle(&self, segment: &Segment) {
    segment.flush_counts();
    if segment.used() == 0 || segment.is_full() {
      // SAFETY: forwarded from the caller.
      unsafe { self.free_local_slow(segment) };
    }
  }

  /// Requeues a segment that was full, and retires one that became empty.
  ///
  /// # Safety
  /// As [`Heap::free_local`].
  #[cold]
  #[inline(never)]
  unsafe fn free_local_slow(&self, segment: &Segment) {
    let index = segment.class_index();
    // SAFETY: forwarded from the caller.
    let queue = unsafe { self.queue(index) };
    let head = queue.partial.head();
    if segment.is_full() {
      // SAFETY: the flag says it is on the full list.
      unsafe { Self::move_to_partial(queue, segment) };
    }
    // SAFETY: forwarded from the caller; the segment is on the partial
    // list now.
    unsafe { self.retire_unless_kept(queue, index, segment) };
    // The slots are rewritten only if the head changed: a lone block
    // allocated and freed in turn empties its segment every time, and a
    // class up to 1 KiB has up to 136 slots.
    if queue.partial.head() != head {
      // SAFETY: forwarded from the caller.
      unsafe { self.set_direct(index, queue.partial.head()) };
    }
  }

  /// Retires `segment`, of class `index`, if it is empty, unless it is the
  /// one empty segment an owned heap keeps per class, so that a thread that
  /// frees and allocates one block in turn does not claim a segment each
  /// time; an abandoned heap keeps none.
  ///
  /// # Safety
  /// The caller owns the heap, and `segment` is on `queue.partial`.
  unsafe fn retire_unless_kept(
    &self,
    queue: &mut Queue,
    index: usize,
    segment: &Segment,
  ) {
    if segment.used() != 0 {
      return;
    }
    let keep = !self.abandoned.load(Ordering::Relaxed);
    if queue.partial.len() > 1 || !keep {
      // SAFETY: forwarded from the caller; the segment is empty.
      unsafe { self.retire(queue, segment) };
    } else {
      self.keep_empty(index);
    }
  }

  /// Records that class `index` keeps its (only) segment empty: given back
  /// if it is still kept when the heap claims fresh segments twice.
  fn keep_empty(&self, index: usize) {
    let bit = 1 << index;
    self.kept_empty.set(self.kept_empty.get() | bit);
    self.kept_marked.set(self.kept_marked.get() & !bit);
  }

  /// Gives back the empty segments that classes other than `except` have
  /// kept since before the previous claim of a fresh segment, and marks
  /// the others for the next one: the claim then reuses their pages
  /// (resident already) instead of touching new ones, so memory moves
  /// between classes as a program's sizes shift. Classes that stay busy
  /// are not affected: their segment is not empty, or it emptied again
  /// since the last claim; and a heap that claims no segment never gets
  /// here.
  ///
  /// # Safety
  /// The caller owns the heap.
  #[cold]
  #[inline(never)]
  unsafe fn retire_kept_empty(&self, except: usize) {
    let kept = self.kept_empty.get() & !(1 << except);
    let mut due = kept & self.kept_marked.get();
    self.kept_marked.set(kept & !due);
    self.kept_empty.set(self.kept_empty.get() & !due);
    while due != 0 {
      let other = due.trailing_zeros() as usize;
      due &= due - 1;
      // SAFETY: forwarded from the caller.
      let queue = unsafe { self.queue(other) };
      let Some(head) = queue.partial.head() else {
        continue;
      };
      // SAFETY: queued in our heap.
      let segment = unsafe { seg(head) };
      // The bit may be stale: the class may have been used again since.
      if queue.partial.len() == 1 && segment.used() == 0 {
        // SAFETY: the segment is empty and on the partial list.
        unsafe { self.retire(queue, segment) };
        // SAFETY: forwarded from the caller.
        unsafe { self.set_direct(other, None) };
      }
    }
  }

  /// Sweeps the sparse partial segments of the next class in turn (see
  /// `segment/sweep.rs`): the heap is taking fresh memory, so the whole
  /// free pages that other classes hold go back to the OS first. One class
  /// per claim, and at most [`SWEEP_BUDGET_BLOCKS`] free blocks walked,
  /// keep the cost of a claim bounded (a class cut short is taken up again
  /// at its next turn, and the segments swept meanwhile are not due any
  /// more); a heap that claims no segment sweeps nothing.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn sweep_next_class(&self) {
    let index = self.sweep_cursor.get();
    self.sweep_cursor.set((index + 1) % CLASS_COUNT);
    // SAFETY: forwarded from the caller.
    unsafe { self.sweep_class(index, false, SWEEP_BUDGET_BLOCKS) };
  }

  /// Sweeps every partial segment that is due, heads included (for
  /// [`collect`](crate::collect()), which gives back whatever can go, and
  /// for a heap pooled cold); returns the bytes given back.
  ///
  /// # Safety
  /// The caller owns the heap.
  pub(crate) unsafe fn sweep_all(&self) -> usize {
    (0..CLASS_COUNT)
      // SAFETY: forwarded from the caller.
      .map(|index| unsafe { self.sweep_class(index, true, usize::MAX) })
      .sum()
  }

  /// Sweeps the partial segments of class `index` that are due, but for
  /// the head (the one allocation pops from, whose frees would all take
  /// the slow path while a page is purged) unless `head` says otherwise,
  /// until about `budget` free blocks have been walked; returns the bytes
  /// given back.
  ///
  /// # Safety
  /// The caller owns the heap.
  unsafe fn sweep_class(
    &self,
    index: usize,
    head: bool,
    budget: usize,
  ) -> usize {
    // SAFETY: forwarded from the caller.
    let queue = unsafe { self.queue(index) };
    let page = page_size();
    let first = queue.partial.head();
    let mut cursor = if head {
      first
    } else {
      // SAFETY: the head is on this partial list.
      first.and_then(|pointer| unsafe { queue.partial.next_of(pointer) })
    };
    let mut swept = 0;
    let mut walked = 0_usize;
    while let Some(pointer) = cursor
      && walked < budget
    {
      // SAFETY: the segment is on this partial list.
      cursor = unsafe { queue.partial.next_of(pointer) };
      // SAFETY: queued in our heap.
      let segment = unsafe { seg(pointer) };
      self.collect_segment(segment);
      if segment.sweep_due(page) {
        walked = walked.saturating_add(segment.unused_blocks());
        swept += decommit_pages(segment, segment.sweep(page), page);
      }
    }
    swept
  }

  /// Gives an empty segment back to its arena.
  ///
  /// # Safety
  /// `segment` is empty and on `queue.partial`.
  unsafe fn retire(&self, queue: &mut Queue, segment: &Segment) {
    #[cfg(debug_assertions)]
    segment.check_invariants();
    segment.flush_counts();
    // SAFETY: forwarded from the caller.
    unsafe { queue.partial.remove_unchecked(NonNull::from(segment)) };
    segment
      .release(self.exiting.get() || self.abandoned.load(Ordering::Relaxed));
    GLOBAL.sub(Counter::Segments, 1);
    release_span(segment.start(), 1);
  }

  /// Brings the counts of every segment of the heap up to date in its
  /// counters: collects the blocks other threads freed (so they count as
  /// frees), then flushes.
  ///
  /// # Safety
  /// The caller owns the heap.
  pub(crate) unsafe fn flush_counts(&self) {
    for index in 0..CLASS_COUNT {
      // SAFETY: forwarded from the caller.
      let queue = unsafe { self.queue(index) };
      // SAFETY: forwarded from the caller.
      unsafe { Self::revive_queue(queue) };
      for pointer in queue.full.iter() {
        // SAFETY: queued in our heap.
        unsafe { seg(pointer) }.flush_counts();
      }
      let mut cursor = queue.partial.head();
      while let Some(pointer) = cursor {
        // SAFETY: the segment is on this partial list.
        cursor = unsafe { queue.partial.next_of(pointer) };
        // SAFETY: queued in our heap.
        let segment = unsafe { seg(pointer) };
        self.collect_segment(segment);
        segment.flush_counts();
        // Collected remote frees may have emptied it.
        // SAFETY: forwarded from the caller; on the partial list.
        unsafe { self.retire_unless_kept(queue, index, segment) };
      }
      // SAFETY: forwarded from the caller.
      unsafe { self.set_direct(index, queue.partial.head()) };
    }
  }

  /// Moves remote frees home in every segment and retires the empty ones
  /// (all but none: the caller is giving memory back).
  ///
  /// # Safety
  /// The caller owns the heap.
  pub unsafe fn collect(&self) {
    for index in 0..CLASS_COUNT {
      // A swap, not a store: a notice set after it survives, and one set
      // before it is read here, with the remote free it announces.
      self.full_notices[index].swap(false, Ordering::Acquire);
      // SAFETY: forwarded from the caller.
      let queue = unsafe { self.queue(index) };
      // SAFETY: forwarded from the caller.
      unsafe { self.collect_queue(queue) };
      // SAFETY: forwarded from the caller.
      unsafe { self.set_direct(index, queue.partial.head()) };
    }
    // SAFETY: forwarded from the caller.
    unsafe { self.flush_counts() };
  }

  /// [`Heap::collect`] for one class.
  ///
  /// # Safety
  /// The caller owns the heap the queue belongs to.
  unsafe fn collect_queue(&self, queue: &mut Queue) {
    // SAFETY: forwarded from the caller.
    unsafe { Self::revive_queue(queue) };
    let mut cursor = queue.partial.head();
    while let Some(pointer) = cursor {
      // SAFETY: the segment is on this partial list.
      cursor = unsafe { queue.partial.next_of(pointer) };
      // SAFETY: queued in the caller's heap.
      let segment = unsafe { seg(pointer) };
      self.collect_segment(segment);
      if segment.used() == 0 {
        // SAFETY: empty and on the partial list.
        unsafe { self.retire(queue, segment) };
      }
    }
  }

  /// Frees `pointer`, from the thread owning `heap` (or from any thread
  /// with [`UNOWNED_HEAP`]).
  ///
  /// # Safety
  /// `heap` is owned by the caller or is the unowned heap. `pointer` is any
  /// non-null value: a pointer not from us stops the process.
  #[inline]
  pub unsafe fn free(heap: &Heap, pointer: NonNull<u8>) {
    // SAFETY: forwarded from the caller.
    unsafe { Self::free_raw(heap, pointer.as_ptr()) }
  }

  /// [`Heap::free`] of any pointer: null does nothing (as C's `free`), at
  /// no cost on the fast path.
  ///
  /// # Safety
  /// As [`Heap::free`], null allowed.
  #[inline]
  pub unsafe fn free_raw(heap: &Heap, pointer: *mut u8) {
    let Some(place) = heap.home_place(pointer) else {
      // SAFETY: forwarded from the caller.
      return unsafe { Self::free_away(pointer, heap) };
    };
    // SAFETY: the home arena is ours.
    let header = unsafe { header_at(pointer) };
    // SAFETY: null is never in the home arena (see `home_place`).
    let pointer = unsafe { NonNull::new_unchecked(pointer) };
    // SAFETY: forwarded from the caller.
    unsafe { Self::free_at(pointer, header, heap, place) }
  }

  /// [`Heap::free_raw`] of a pointer outside the home arena: the ownership
  /// map finds whether it is ours at all. Out of line, so that the home
  /// path runs straight through.
  ///
  /// # Safety
  /// As [`Heap::free_raw`].
  #[cold]
  #[inline(never)]
  unsafe fn free_away(pointer: *mut u8, heap: &Heap) {
    // SAFETY: forwarded from the caller.
    let header = match unsafe { header_of_raw(pointer) } {
      Ok(header) => header,
      Err(fault) => return refuse(fault, pointer),
    };
    let place = place_of(pointer);
    // SAFETY: null is never ours, so it was refused above.
    let pointer = unsafe { NonNull::new_unchecked(pointer) };
    // SAFETY: forwarded from the caller; the header place is the
    // pointer's.
    unsafe { Self::free_at(pointer, header, heap, place) }
  }

  /// Frees `pointer`, whose header place is `header` (in memory of ours,
  /// not checked to be live) and whose [`place_of`] is `place`.
  ///
  /// # Safety
  /// As [`Heap::free`], with `header` the header place of `pointer`.
  #[inline]
  unsafe fn free_at(
    pointer: NonNull<u8>,
    header: &Segment,
    heap: &Heap,
    place: usize,
  ) {
    // Only live small segments on a partial list name a heap there, so
    // finding ours picks the fast path without the cookie check (see
    // `header_of`); the unowned heap is never named.
    if header.is_local_to(heap)
      && let Some(tag) = header.quick_tag(pointer, place, heap)
    {
      return header.push_quick(pointer, tag);
    }
    // SAFETY: forwarded from the caller.
    unsafe { Self::free_slow(pointer, header, heap) }
  }

  /// The [`place_of`] `pointer` if it lies in this heap's home arena:
  /// memory of ours for sure (arenas are never unmapped), so its header
  /// place can be read without the ownership map. Never for null (it wraps
  /// to the top of the address space, and `NO_ARENA` is not there).
  #[inline]
  fn home_place(&self, pointer: *mut u8) -> Option<usize> {
    let last = pointer.addr().wrapping_sub(1);
    // An exclusive or with the arena start is the place in it exactly when
    // it is below the arena size; the loaded field is consumed in place,
    // where a mask and an equality test would need a copy.
    let place = last ^ self.home_arena.load(Ordering::Relaxed);
    (place < ARENA_SIZE).then_some(place)
  }

  /// [`Heap::free`] beyond the fast path, with every check.
  ///
  /// # Safety
  /// As [`Heap::free`], with `segment` the header place of `pointer`.
  #[inline(never)]
  unsafe fn free_slow(pointer: NonNull<u8>, segment: &Segment, heap: &Heap) {
    let kind = segment
      .check_live()
      .unwrap_or_else(|fault| fault.report(pointer.addr().get()));
    if kind != Kind::Small {
      return free_single(segment, pointer);
    }
    // The unowned heap owns no segment, so it never matches.
    if ptr::eq(segment.heap(), heap) {
      // SAFETY: the caller owns the heap, which owns the segment.
      return unsafe { heap.free_local(segment, pointer) };
    }
    free_remote(segment, pointer)
  }

  /// The usable size of the block at `pointer`.
  ///
  /// # Safety
  /// `pointer` is any non-null value; one not from us stops the process.
  pub unsafe fn usable_size(pointer: NonNull<u8>) -> usize {
    // SAFETY: forwarded from the caller.
    match unsafe { live_block(pointer) } {
      (segment, Kind::Small) => segment.class().size(),
      (segment, _) => segment.usable(),
    }
  }

  /// Resizes the block at `pointer` to `size` bytes aligned to `align`,
  /// in place where it can, else by moving it.
  ///
  /// # Safety
  /// The caller owns the heap; `pointer` is any non-null value (one not
  /// from us stops the process) and is not used again if this succeeds.
  pub unsafe fn realloc(
    &self,
    pointer: NonNull<u8>,
    size: usize,
    align: usize,
  ) -> Result<NonNull<u8>, AllocError> {
    // SAFETY: forwarded from the caller.
    let (segment, kind) = unsafe { live_block(pointer) };
    let usable = match kind {
      Kind::Small => segment.class().size(),
      _ => segment.usable(),
    };
    let fits = match kind {
      Kind::Small => {
        size <= usable
          && (size > usable / KEEP_IN_PLACE_DIVISOR || usable <= MIN_ALIGN)
      }
      Kind::Large => resize_large(segment, size),
      _ => resize_huge(segment, size),
    };
    if fits && pointer.addr().get().is_multiple_of(align.max(1)) {
      return Ok(pointer);
    }
    // SAFETY: forwarded from the caller.
    let moved = unsafe { self.malloc_aligned(size, align) }?;
    // SAFETY: both blocks are live and distinct; the copy stays within the
    // smaller of them.
    unsafe { moved.copy_from_nonoverlapping(pointer, size.min(usable)) };
    // SAFETY: forwarded from the caller.
    unsafe { Self::free(self, pointer) };
    Ok(moved)
  }

  /// Allocates a large or huge block; says whether it is known zero.
  ///
  /// # Safety
  /// The caller owns the heap.
  #[cold]
  #[inline(never)]
  unsafe fn malloc_large(
    &self,
    size: usize,
    align: usize,
  ) -> Result<(NonNull<u8>, bool), AllocError> {
    let offset = block_offset(align);
    let total = size.checked_add(offset).ok_or(AllocError::OutOfMemory)?;
    let count = total.div_ceil(SEGMENT_SIZE);
    if count > LARGE_MAX_SEGMENTS
      || align > LARGE_ALIGN_MAX
      || size > isize::MAX as usize
    {
      return malloc_huge(size, align);
    }
    let placement = Placement {
      align: (align / SEGMENT_SIZE).max(1),
      lead: usize::from(align > SEGMENT_SIZE),
    };
    let span = claim_span(count, placement, None)?;
    if self.home_arena.load(Ordering::Relaxed) == NO_ARENA {
      self.make_home(span.start);
    }
    let usable = total.next_multiple_of(page_size()) - offset;
    // SAFETY: the span is fresh and ours.
    let segment = unsafe {
      Segment::init_single(
        span.start,
        Kind::Large,
        span.start.addr().get(),
        count,
        offset,
        usable,
      )
    };
    let block = segment.block();
    if !span.zeroed {
      // The span may have been a small segment whose free blocks carried
      // free tags; a block shrunk by `realloc` into a small one copies its
      // first words there, and a stale tag in the second would make that
      // block's free look like a double free (a reviewer's finding).
      // SAFETY: a large block is far longer than a free block's two words.
      unsafe { block.write_bytes(0, size_of::<Block>()) };
    }
    GLOBAL.add(Counter::LargeAllocs, 1);
    GLOBAL.add(Counter::LargeLive, usable);
    Ok((block, span.zeroed))
  }

  /// Checks the heap's invariants (owner only): every queued segment is
  /// small, of the queue's class, owned by this heap, flagged full exactly
  /// when on the full list, and consistent itself.
  ///
  /// # Safety
  /// The caller owns the heap (remote frees meanwhile only push onto
  /// thread-free lists, which leave the checked state alone).
  #[cfg(any(test, debug_assertions))]
  pub(crate) unsafe fn check_invariants(&self) {
    for index in 0..CLASS_COUNT {
      // SAFETY: forwarded from the caller.
      let queue = unsafe { self.queue(index) };
      let lists = [(&queue.partial, false), (&queue.full, true)];
      for (list, full) in lists {
        for pointer in list.iter() {
          // SAFETY: queued segments are live.
          let segment = unsafe { seg(pointer) };
          assert_eq!(segment.kind(), Kind::Small, "queued segments are small");
          assert_eq!(segment.class_index(), index, "queued by their class");
          assert!(ptr::eq(segment.heap(), self), "owned by this heap");
          assert_eq!(segment.is_full(), full, "flagged as their list");
          // A sweep's purged pages take a partial segment off the fast
          // free too (`Segment::check_invariants` checks that part).
          let local = if full || segment.has_purged() {
            ptr::null()
          } else {
            ptr::from_ref(self)
          };
          assert!(
            ptr::eq(segment.local_heap(), local),
            "named as local heap exactly on the partial list, unswept"
          );
          segment.check_invariants();
        }
      }
      let slots = &self.direct[direct_slots_of(index)];
      for slot in slots.iter().chain(&self.exact[exact_sizes_of(index)]) {
        assert_eq!(
          slot.get(),
          self.slot_of(queue.partial.head()),
          "direct slots name the head of their class's partial list"
        );
      }
    }
  }

  /// Collects a segment's remote frees (owner only), counting them;
  /// stops the process on a fault.
  fn collect_segment(&self, segment: &Segment) {
    match segment.collect() {
      Ok(0) => {}
      Ok(count) => add(&self.cross_frees, u64::from(count)),
      Err((fault, address)) => fault.report(address),
    }
  }

  /// The heap's small-block counters, into `builder`.
  fn report(&self, builder: &mut StatsBuilder) {
    for index in 0..CLASS_COUNT {
      builder.add_small(
        class(index).size(),
        self.classes[index].counters.allocations(),
        self.classes[index].counters.frees(),
      );
    }
    builder.add_cross(self.cross_frees.load(Ordering::Relaxed));
  }
}

/// A free of a pointer that is not ours: nothing for null, else the fault.
#[cold]
fn refuse(fault: Fault, pointer: *mut u8) {
  if !pointer.is_null() {
    fault.report(pointer.addr());
  }
}

/// The live block at `pointer` with its segment; stops the process if the
/// pointer is not a live block of ours.
///
/// # Safety
/// `pointer` is not null.
unsafe fn live_block<'seg>(pointer: NonNull<u8>) -> (&'seg Segment, Kind) {
  // SAFETY: forwarded from the caller.
  let segment = unsafe { segment_of(pointer) }
    .unwrap_or_else(|fault| fault.report(pointer.addr().get()));
  let kind = segment.kind();
  let valid = match kind {
    Kind::Small => segment.is_allocated(pointer),
    Kind::Released => false,
    _ => single_block(segment) == pointer.addr().get(),
  };
  if !valid {
    Fault::NotABlock.report(pointer.addr().get());
  }
  (segment, kind)
}

/// Address of the block of a large or huge header.
fn single_block(segment: &Segment) -> usize {
  segment.block().addr().get()
}

/// Frees a block of a small segment owned by another heap (or by no live
/// thread).
fn free_remote(segment: &Segment, pointer: NonNull<u8>) {
  // Read before the push: once the block is pushed, the owner may collect
  // it and retire the segment, whose header then belongs to someone else.
  // SAFETY: a small segment always has an owning heap, live forever.
  let owner = unsafe { &*segment.heap() };
  if let Err(fault) = segment.push_remote(pointer) {
    fault.report(pointer.addr().get());
  }
  // Pushed, then looked at, both in the single total order: either this
  // sees the owner's `abandoned` flag and tends the segment, or the owner's
  // last collection, made after it set the flag, takes the block.
  if owner.abandoned.load(Ordering::SeqCst) {
    return tend_abandoned(owner, segment);
  }
  // The owner may have retired the segment by now, but its header stays
  // mapped, and a stale notice only costs the owner a look at that class's
  // full list.
  if segment.is_full_seq_cst() {
    owner.full_notices[segment.class_index()].store(true, Ordering::Release);
  }
}

/// After a remote free into a heap whose thread has exited: takes the
/// heap's lock and, as its temporary owner, brings the segment's remote
/// frees home and retires the segment if that emptied it, so memory of
/// dead threads does not wait for a new thread to adopt their heaps.
#[cold]
#[inline(never)]
fn tend_abandoned(owner: &Heap, segment: &Segment) {
  // Waiting is short: a holder tends one segment, and never waits for a
  // heap lock while holding one.
  owner.lock();
  // Another temporary owner may have retired the segment meanwhile; its
  // header stays mapped, and then names no live small segment of `owner`.
  // Acquire: pairs with the abandoning thread's store, so what it did as
  // the heap's owner is visible here (the lock alone may not say so: it
  // can have been taken last by an earlier adopter).
  let still_ours = owner.abandoned.load(Ordering::Acquire)
    && segment.check_live() == Ok(Kind::Small)
    && ptr::eq(segment.heap(), owner);
  if still_ours {
    // SAFETY: holding the lock of an abandoned heap makes us its owner,
    // and the segment is one of its own.
    unsafe { owner.tend(segment) };
    if segment.check_live() != Ok(Kind::Small) {
      // The segment was retired: perhaps the heap's last.
      // SAFETY: as above.
      unsafe { owner.trim_if_idle() };
    }
  }
  owner.unlock();
}

/// Gives back the old pages of a claimed segment that an exiting thread's
/// heap gave back (cold) after carving more than
/// [`COLD_REUSE_KEPT_PAGES`] pages past the header's: its new class
/// carves lazily, from the start, and would leave the rest resident and
/// unused until the segment next goes back to its arena and ages there.
/// Memory of live threads is left alone: it is warm, and a class that
/// takes a segment another one just gave back is likely to carve as far
/// again (refaulting pages cost `realloc` 30% and `trees` 12% when this
/// was done for every segment).
///
/// # Safety
/// `start` is a segment the caller has just claimed, not zeroed.
unsafe fn give_back_cold_pages(start: NonNull<u8>) {
  // SAFETY: forwarded from the caller.
  let Some(end) = (unsafe { Segment::cold_touched_end(start) }) else {
    return;
  };
  let page = page_size();
  let end = end.next_multiple_of(page);
  if end <= page * (COLD_REUSE_KEPT_PAGES + 1) {
    return;
  }
  // SAFETY: past the header's page and within the segment.
  let first = unsafe { start.byte_add(page) };
  let stale = NonNull::slice_from_raw_parts(first, end - page);
  // SAFETY: the segment is ours and unused beyond its header, which is
  // rewritten next; its pages may be dropped (it is cleared as it is
  // carved anyway, not being fresh).
  let given_back = unsafe { mapper().decommit(stale) };
  debug_assert!(given_back.is_ok(), "a claimed segment decommits");
}

/// Trims every heap waiting empty in the pool (for `collect`).
pub(crate) fn trim_pool() {
  let pool = pool();
  for pointer in pool.iter() {
    // SAFETY: heaps live for the rest of the process.
    let heap = unsafe { pointer.as_ref() };
    // A heap whose lock is held is being tended or adopted: skip it.
    if heap.try_lock() {
      // SAFETY: we hold the lock of a heap in the pool, so abandoned.
      unsafe { heap.trim_if_empty() };
      heap.unlock();
    }
  }
}

/// Frees a large or huge block.
fn free_single(segment: &Segment, pointer: NonNull<u8>) {
  match segment.kind() {
    Kind::Released => Fault::DoubleFree.report(pointer.addr().get()),
    _ if single_block(segment) != pointer.addr().get() => {
      Fault::NotABlock.report(pointer.addr().get())
    }
    Kind::Large => {
      GLOBAL.add(Counter::LargeFrees, 1);
      GLOBAL.sub(Counter::LargeLive, segment.usable());
      segment.release(false);
      release_span(segment.start(), segment.extent());
    }
    _ => {
      GLOBAL.add(Counter::LargeFrees, 1);
      GLOBAL.sub(Counter::LargeLive, segment.usable());
      // SAFETY: a live huge header whose block the caller frees.
      unsafe { unmap_huge(segment) };
    }
  }
}

/// Maps a huge block.
#[cold]
fn malloc_huge(
  size: usize,
  align: usize,
) -> Result<(NonNull<u8>, bool), AllocError> {
  let segment = map_huge(size, align)?;
  GLOBAL.add(Counter::LargeAllocs, 1);
  GLOBAL.add(Counter::LargeLive, segment.usable());
  Ok((segment.block(), true))
}

/// Resizes a large block in place if its span can hold `size` (growing
/// the span into free neighbours if need be). Small sizes do not stay.
fn resize_large(segment: &Segment, size: usize) -> bool {
  if size <= SMALL_MAX {
    return false;
  }
  let offset = segment.block().addr().get() - segment.start().addr().get();
  let Some(total) = size.checked_add(offset) else {
    return false;
  };
  let needed = total.div_ceil(SEGMENT_SIZE);
  let extent = segment.extent();
  if needed > LARGE_MAX_SEGMENTS
    || (needed > extent && !grow_span(segment.start(), extent, needed))
  {
    return false;
  }
  if needed < extent {
    // SAFETY: the tail segments lie in the span, past the block's new end.
    let tail = unsafe { segment.start().byte_add(needed * SEGMENT_SIZE) };
    release_span(tail, extent - needed);
  }
  segment.set_extent(needed);
  let usable = total.next_multiple_of(page_size()) - offset;
  GLOBAL.add(Counter::LargeLive, usable);
  GLOBAL.sub(Counter::LargeLive, segment.usable());
  segment.set_usable(usable);
  true
}

/// Resizes a huge block in place if its reservation holds `size` and the
/// block would stay more than half full.
fn resize_huge(segment: &Segment, size: usize) -> bool {
  let block = segment.block().addr().get();
  let room = segment.base() + segment.extent() - block;
  if size > room
    || size <= room / KEEP_IN_PLACE_DIVISOR
    || size <= LARGE_MAX_SEGMENTS * SEGMENT_SIZE / KEEP_IN_PLACE_DIVISOR
  {
    return false;
  }
  // The block starts mid-page (after its header); usable bytes run to the
  // end of the page holding its last byte, so the tail starts on a page.
  let in_page = block % page_size();
  let usable = (in_page + size).next_multiple_of(page_size()) - in_page;
  let old = segment.usable();
  if usable < old {
    decommit_tail(segment, usable, old);
  }
  // The difference in one step each: a reader between an add and a
  // subtract would see the old and the new size committed together (and
  // `purge_before_new_high` would take that for growth).
  if usable >= old {
    GLOBAL.add(Counter::LargeLive, usable - old);
    GLOBAL.add(Counter::Committed, usable - old);
  } else {
    GLOBAL.sub(Counter::LargeLive, old - usable);
    GLOBAL.sub(Counter::Committed, old - usable);
  }
  segment.set_usable(usable);
  if usable > old {
    purge_before_new_high();
  }
  true
}

/// Decommits the pages of `segment` whose bits are set in `pages` (pages
/// of `page` bytes, which a sweep took every block off), one call per run;
/// returns the bytes.
fn decommit_pages(segment: &Segment, pages: u64, page: usize) -> usize {
  GLOBAL.add(Counter::SweptPages, pages.count_ones() as usize);
  let mut rest = pages;
  while rest != 0 {
    let first = rest.trailing_zeros() as usize;
    let run = (rest >> first).trailing_ones() as usize;
    rest &= !((u64::MAX >> (u64::BITS as usize - run)) << first);
    // SAFETY: the pages lie within the segment (the sweep names no other).
    let start = unsafe { segment.start().byte_add(first * page) };
    let region = NonNull::slice_from_raw_parts(start, run * page);
    // SAFETY: every block on these pages is dead: on no list and in no
    // one's hands, so their contents may go.
    let decommitted = unsafe { mapper().decommit(region) };
    debug_assert!(decommitted.is_ok(), "swept pages decommit");
  }
  pages.count_ones() as usize * page
}

/// Gives back the pages of a huge block between `keep` and `old` bytes.
fn decommit_tail(segment: &Segment, keep: usize, old: usize) {
  // SAFETY: `keep < old`, both within the reservation.
  let start = unsafe { segment.block().byte_add(keep) };
  let region = NonNull::slice_from_raw_parts(start, old - keep);
  // SAFETY: the tail is past the block's new end; nobody uses it.
  let decommitted = unsafe { mapper().decommit(region) };
  debug_assert!(decommitted.is_ok(), "a huge tail decommits");
}

/// Adds a heap to the registry.
fn register(heap: NonNull<Heap>) {
  let mut head = HEAPS.load(Ordering::Relaxed);
  loop {
    // SAFETY: the heap is fresh; only this thread knows it.
    unsafe { heap.as_ref() }.next.store(head, Ordering::Relaxed);
    match HEAPS.compare_exchange_weak(
      head,
      heap.as_ptr(),
      Ordering::Release,
      Ordering::Relaxed,
    ) {
      Ok(_) => return,
      Err(seen) => head = seen,
    }
  }
}

/// Every heap ever created.
fn heaps<'heap>() -> impl Iterator<Item = &'heap Heap> {
  let mut cursor = HEAPS.load(Ordering::Acquire);
  from_fn(move || {
    // SAFETY: registered heaps are initialised and live forever.
    let heap = unsafe { cursor.as_ref() }?;
    cursor = heap.next.load(Ordering::Acquire);
    Some(heap)
  })
}

/// Adds every heap's counters to `builder`.
pub(crate) fn report_all(builder: &mut StatsBuilder) {
  heaps().for_each(|heap| heap.report(builder));
}

/// Holds the pool lock and every heap's lock across `fork`, so no heap is
/// caught half-changed by a thread freeing into it as temporary owner.
/// Order: pool, then heaps (then the manager takes its own locks).
pub(crate) fn lock_for_fork() {
  forget(POOL.lock());
  heaps().for_each(Heap::spin_lock);
}

/// Releases the pool lock after `fork`.
///
/// # Safety
/// [`lock_for_fork`] ran in this thread (or the parent before `fork`).
pub(crate) unsafe fn unlock_after_fork() {
  heaps().for_each(Heap::unlock);
  // SAFETY: forwarded from the caller.
  unsafe { POOL.force_unlock() };
}

const _: () = assert!(LARGE_ALIGN_MAX <= ARENA_SIZE);
const _: () = assert!(size_of::<ClassSlot>() == CACHE_LINE_BYTES);
