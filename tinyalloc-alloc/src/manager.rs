//! The static manager: process-wide state shared by every heap.
//!
//! - `OWNED`, the ownership map: one byte per arena-sized granule of the
//!   address space, set while the granule is wholly ours (an arena, or part
//!   of a huge mapping, which is always reserved in whole granules). A
//!   pointer whose granule byte is clear is foreign, found in O(1). Mapped
//!   at [`init`] rather than a static: the linker put the small statics
//!   after the 4 MiB array, on a page of their own in every process.
//! - `FIRST_ARENA`: the list of arenas, each linking the next in
//!   creation order. It only grows, under `GROW`; readers walk it without
//!   a lock. Arenas are never unmapped (their pages are purged instead),
//!   so a pointer read from the list stays valid. A list rather than a
//!   table: a static table's first page, and the page of small statics
//!   that the linker put after it, were two pages of every process.
//! - Heaps, from the first arena's header segment while it has room (see
//!   [`place_heap`]): the header takes a few hundred bytes of it, and the
//!   first heap then shares its page.
//! - `SECRET`: the per-process key mixed into header cookies.

#[cfg(test)]
mod tests;

use core::ffi::CStr;
use core::iter::successors;
use core::mem::forget;
use core::num::NonZeroUsize;
use core::ptr::{self, NonNull};

use spin::{Mutex, Once};
use tinyalloc_sys::{
  Mapper, PosixMapper, arm_fork_handlers, env_var, monotonic_nanos, random_u64,
};

use crate::arena::{Arena, Placement, Span};
use crate::config::{
  ARENA_MASK, ARENA_RESERVE, ARENA_SHIFT, ARENA_SIZE, DEFAULT_PURGE_DELAY_MS,
  GRANULES, MAX_WAITING_BYTES, NANOS_PER_MILLI, SEGMENT_SHIFT, SEGMENT_SIZE,
};
use crate::error::AllocError;
use crate::segment::{Kind, Segment};
use crate::stats::{Counter, GLOBAL};
use crate::sync::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// The OS boundary every mapping goes through.
static MAPPER: PosixMapper = PosixMapper::new();
/// The ownership map, `GRANULES` bytes, one per granule, non-zero while the
/// granule is ours; null until [`init`] (or, if that mapping failed, the
/// first arena or huge block) maps it.
static OWNED: AtomicPtr<AtomicU8> = AtomicPtr::new(ptr::null_mut());
/// Key of header cookies; set once before the first header is written.
static SECRET: AtomicUsize = AtomicUsize::new(0);
/// Purge delay in nanoseconds.
static PURGE_DELAY: AtomicU64 =
  AtomicU64::new(DEFAULT_PURGE_DELAY_MS * NANOS_PER_MILLI);
/// The system page size, read once.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
/// Runs the one-time setup.
static INIT: Once = Once::new();
/// The first arena created; each links the next (`Arena::next`).
static FIRST_ARENA: AtomicPtr<Arena> = AtomicPtr::new(ptr::null_mut());
/// The last arena created (written under `GROW`); each links the one
/// before (`Arena::previous`).
static LAST_ARENA: AtomicPtr<Arena> = AtomicPtr::new(ptr::null_mut());
/// The earliest time (ns) an arena has dirty segments due for purging, or
/// `NO_PURGE_DUE`.
static PURGE_DUE: AtomicU64 = AtomicU64::new(NO_PURGE_DUE);
/// The most bytes committed at once so far, less what the purges that
/// growth past it made took back (see [`purge_before_new_high`]). It only
/// goes down by those purges: a huge block freed leaves it high, as it
/// leaves the process's peak, and the purge delay gives back what waits
/// below it.
static COMMITTED_HIGH: AtomicUsize = AtomicUsize::new(0);
/// Serialises arena creation; holds the offset in the first arena where
/// the next heap placed there goes (0 before the first).
static GROW: Mutex<usize> = Mutex::new(0);

/// Environment variable holding the purge delay in milliseconds.
const PURGE_DELAY_VARIABLE: &CStr = c"TINYALLOC_PURGE_DELAY_MS";
/// `PURGE_DUE` when nothing is waiting to be purged.
const NO_PURGE_DUE: u64 = u64::MAX;
/// The ownership map value of a granule that is ours.
const GRANULE_OWNED: u8 = 1;

/// Sets up the process-wide state; cheap after the first call.
#[inline]
pub(crate) fn init() {
  INIT.call_once(init_slow);
}

#[cold]
fn init_slow() {
  // A zero secret would make an all-zero page pass for a header at 0.
  SECRET.store(random_u64() as usize | 1, Ordering::Relaxed);
  PAGE_SIZE.store(MAPPER.page_size().get(), Ordering::Relaxed);
  if let Some(millis) = env_var(PURGE_DELAY_VARIABLE).and_then(parse_decimal) {
    PURGE_DELAY
      .store(millis.saturating_mul(NANOS_PER_MILLI), Ordering::Relaxed);
  }
  let page = MAPPER.page_size().get();
  assert!(
    SEGMENT_SIZE.is_multiple_of(page) && ARENA_SIZE.is_multiple_of(page),
    "segments and arenas are whole pages"
  );
  // Mapped here if it can be; if not, the first arena or huge block
  // tries again.
  let _mapped = owned_map_or_map();
}

/// The ownership map, mapped now if it is not yet (a mapping that failed
/// once, for a moment's lack of memory, is tried again rather than leaving
/// the process unable to allocate for good).
fn owned_map_or_map() -> Option<&'static [AtomicU8; GRANULES]> {
  if let Some(map) = owned_map() {
    return Some(map);
  }
  let bytes = NonZeroUsize::new(GRANULES)?;
  let region = MAPPER.map(bytes).ok()?;
  let fresh = region.cast::<AtomicU8>().as_ptr();
  let raced = OWNED.compare_exchange(
    ptr::null_mut(),
    fresh,
    Ordering::AcqRel,
    Ordering::Acquire,
  );
  if raced.is_err() {
    // SAFETY: our mapping lost the race, so nothing refers to it.
    let unmapped = unsafe { MAPPER.unmap(region) };
    debug_assert!(unmapped.is_ok(), "an unused map unmaps");
  }
  owned_map()
}

/// The ownership map, once mapped.
#[inline]
fn owned_map() -> Option<&'static [AtomicU8; GRANULES]> {
  let map = OWNED.load(Ordering::Acquire).cast::<[AtomicU8; GRANULES]>();
  // SAFETY: a non-null map is a zeroed mapping of `GRANULES` bytes that
  // lives for the rest of the process; its bytes are only ever accessed
  // as atomics.
  unsafe { map.as_ref() }
}

/// Parses a decimal number without allocating.
fn parse_decimal(text: &CStr) -> Option<u64> {
  let bytes = text.to_bytes();
  if bytes.is_empty() {
    return None;
  }
  bytes.iter().try_fold(0u64, |value, &byte| {
    let digit = (byte as char).to_digit(10)?;
    value.checked_mul(10)?.checked_add(u64::from(digit))
  })
}

/// The mapper.
#[inline]
pub(crate) fn mapper() -> &'static PosixMapper {
  &MAPPER
}

/// The cookie key.
#[inline]
pub(crate) fn secret() -> usize {
  SECRET.load(Ordering::Relaxed)
}

/// The page size (after [`init`]).
#[inline]
pub(crate) fn page_size() -> usize {
  PAGE_SIZE.load(Ordering::Relaxed)
}

/// The purge delay in nanoseconds.
pub(crate) fn purge_delay() -> u64 {
  PURGE_DELAY.load(Ordering::Relaxed)
}

/// Sets the purge delay in nanoseconds.
pub(crate) fn set_purge_delay(nanos: u64) {
  PURGE_DELAY.store(nanos, Ordering::Relaxed);
}

/// The clock purges are timed by.
pub(crate) fn now() -> u64 {
  monotonic_nanos()
}

/// Whether the byte at `address` lies in a granule that is ours.
#[inline]
pub(crate) fn owns(address: usize) -> bool {
  let granule = address >> ARENA_SHIFT;
  owned_map().is_some_and(|map| {
    map
      .get(granule)
      .is_some_and(|byte| byte.load(Ordering::Relaxed) == GRANULE_OWNED)
  })
}

/// Marks the granules of `[start, start + len)` as ours or not.
fn mark_granules(
  map: &[AtomicU8; GRANULES],
  start: usize,
  len: usize,
  value: u8,
) {
  let first = start >> ARENA_SHIFT;
  let last = (start + len - 1) >> ARENA_SHIFT;
  let end = last.min(GRANULES - 1);
  map[first..=end]
    .iter()
    .for_each(|granule| granule.store(value, Ordering::Relaxed));
}

/// The arena `pointer` lies in (it must lie in one).
pub(crate) fn arena_of<'arena>(pointer: NonNull<u8>) -> &'arena Arena {
  let start = pointer
    .as_ptr()
    .with_addr(pointer.addr().get() & !ARENA_MASK);
  // SAFETY: the caller's pointer lies in an arena, whose header is at its
  // aligned start and lives for the rest of the process.
  unsafe { &*start.cast::<Arena>() }
}

/// An arena from a pointer read from the list.
fn arena_at<'arena>(pointer: *mut Arena) -> Option<&'arena Arena> {
  // SAFETY: published arenas are initialised and never unmapped.
  unsafe { pointer.as_ref() }
}

/// The arenas created so far, in creation order.
fn arenas<'arena>() -> impl Iterator<Item = &'arena Arena> {
  successors(arena_at(FIRST_ARENA.load(Ordering::Acquire)), |arena| {
    arena_at(arena.next())
  })
}

/// The arenas created so far, the last first: the ones the lowest-first
/// claims (which walk them in creation order) reach last.
fn arenas_newest_first<'arena>() -> impl Iterator<Item = &'arena Arena> {
  successors(arena_at(LAST_ARENA.load(Ordering::Acquire)), |arena| {
    arena.previous()
  })
}

/// Whether an empty `arena` is beyond the reserve kept warm.
pub(crate) fn is_spare(arena: &Arena) -> bool {
  !arenas()
    .take(ARENA_RESERVE)
    .any(|reserved| ptr::eq(reserved, arena))
}

/// Creates an arena and adds it to the list (the caller holds `GROW`).
fn add_arena<'arena>() -> Result<&'arena Arena, AllocError> {
  let map = owned_map_or_map().ok_or(AllocError::OutOfMemory)?;
  let last = arena_at(LAST_ARENA.load(Ordering::Relaxed));
  let arena = Arena::create(last).ok_or(AllocError::OutOfMemory)?;
  mark_granules(map, arena.start().addr().get(), ARENA_SIZE, GRANULE_OWNED);
  let pointer = NonNull::from(arena).as_ptr();
  match last {
    Some(last) => last.set_next(pointer),
    None => FIRST_ARENA.store(pointer, Ordering::Release),
  }
  LAST_ARENA.store(pointer, Ordering::Release);
  Ok(arena)
}

/// Room for a heap of `size` bytes aligned to `align` in the first
/// arena's header segment (made now if no arena exists yet), which the
/// arena header leaves unused but for a few hundred bytes: the first heap
/// shares the header's page, and the next ones need no mapping each. The
/// page a heap ends on is its own (the next one starts on a fresh page),
/// so that a heap waiting in the pool can give back its tables' pages as
/// one in a mapping of its own does (`Heap::trim`). None once the segment
/// is full. The memory reads as zero; it is never purged nor reused.
pub(crate) fn place_heap(size: usize, align: usize) -> Option<NonNull<u8>> {
  init();
  arm_fork_handlers();
  let mut next = GROW.lock();
  let arena = match arena_at(FIRST_ARENA.load(Ordering::Relaxed)) {
    Some(arena) => arena,
    None => add_arena().ok()?,
  };
  let offset = (*next).max(Arena::header_end()).next_multiple_of(align);
  let end = offset.checked_add(size)?;
  if end > Arena::header_segments_bytes() {
    return None;
  }
  *next = end.next_multiple_of(page_size());
  // SAFETY: `offset` lies inside the arena's header segment.
  Some(unsafe { arena.start().byte_add(offset) })
}

/// Claims a run of `count` segments from some arena, creating one if none
/// has room. A single segment for a small `class` comes, if one is at
/// hand, from a dirty segment that class last used.
pub(crate) fn claim_span(
  count: usize,
  placement: Placement,
  class: Option<usize>,
) -> Result<Span, AllocError> {
  let now = now();
  purge_due(now);
  let span = match arenas()
    .find_map(|arena| arena.claim(count, placement, now, class))
  {
    Some(span) => span,
    None => claim_span_slow(count, placement, now)?,
  };
  purge_before_new_high();
  Ok(span)
}

/// Purges as many dirty segments as the memory committed has just grown
/// past its high-water mark, the highest first: memory freed and waiting
/// for the purge delay would otherwise add to a new peak of the process's
/// resident memory, while the program takes fresh memory instead of
/// reusing it (a block too large for any hole). The highest are the ones
/// a lowest-first claim would reach last; the lower ones stay for reuse
/// without a fault. Below the mark, the waiting memory is reused or
/// purged in time as usual. On `mixed` (blocks of 4 KiB to 4 MiB replaced
/// at random, medians of 5): no purge 57.5 MiB at 0.06 s; every dirty
/// segment at each growth past the mark 48.9 MiB at 0.54 s (1.8x
/// mimalloc's time); every one once past the mark by an eighth 53.6 MiB
/// at 0.18 s; as many as the growth, highest first, 49.3 MiB at 0.18 s
/// (glibc 53.2 MiB at 0.85 s, mimalloc 122 MiB at 0.30 s).
pub(crate) fn purge_before_new_high() {
  let Some((high, claimed)) = claim_growth() else {
    return;
  };
  // Another thread's purge may have taken back part of what was read for
  // the claim (and lowered the mark, which let the claim succeed): only
  // what is still committed is growth, and the mark gives back the rest.
  let present = GLOBAL.get(Counter::Committed).clamp(high, claimed);
  let growth = present - high;
  let mut given_back = claimed - present;
  if growth > 0 && GLOBAL.get(Counter::Waiting) > 0 {
    let wanted = growth.div_ceil(SEGMENT_SIZE);
    let mut left = wanted;
    for arena in arenas_newest_first() {
      if left == 0 {
        break;
      }
      left -= arena.purge_highest(left);
    }
    // The mark follows what the purge took back.
    given_back += ((wanted - left) << SEGMENT_SHIFT).min(growth);
  }
  if given_back > 0 {
    COMMITTED_HIGH.fetch_sub(given_back, Ordering::Relaxed);
  }
}

/// Raises the mark to the memory committed now, if that is above it;
/// returns the mark before and after. Threads growing at once each take
/// their own share of the growth, so none purges another's.
fn claim_growth() -> Option<(usize, usize)> {
  let mut high = COMMITTED_HIGH.load(Ordering::Relaxed);
  loop {
    let committed = GLOBAL.get(Counter::Committed);
    if committed <= high {
      return None;
    }
    match COMMITTED_HIGH.compare_exchange_weak(
      high,
      committed,
      Ordering::Relaxed,
      Ordering::Relaxed,
    ) {
      Ok(_) => return Some((high, committed)),
      Err(current) => high = current,
    }
  }
}

#[cold]
fn claim_span_slow(
  count: usize,
  placement: Placement,
  now: u64,
) -> Result<Span, AllocError> {
  arm_fork_handlers();
  let _grow = GROW.lock();
  // Another thread may have added an arena while we waited.
  if let Some(span) =
    arenas().find_map(|arena| arena.claim(count, placement, now, None))
  {
    return Ok(span);
  }
  add_arena()?
    .claim(count, placement, now, None)
    .ok_or(AllocError::OutOfMemory)
}

/// Gives back the `count` segments at `start`; purges every arena if
/// that makes more than [`MAX_WAITING_BYTES`] wait for the purge delay.
pub(crate) fn release_span(start: NonNull<u8>, count: usize) {
  let now = now();
  arena_of(start).release(start, count, now);
  if GLOBAL.get(Counter::Waiting) > MAX_WAITING_BYTES {
    purge_all();
  } else {
    purge_due(now);
  }
}

/// Records that some arena has segments due for purging at `deadline`.
pub(crate) fn note_purge_deadline(deadline: u64) {
  PURGE_DUE.fetch_min(deadline, Ordering::Relaxed);
}

/// When the next purge check is due (monotonic nanoseconds), if any
/// segment is waiting for one.
pub(crate) fn next_purge_due() -> Option<u64> {
  let due = PURGE_DUE.load(Ordering::Relaxed);
  (due != NO_PURGE_DUE).then_some(due)
}

/// Purges every arena whose dirty segments are due, so freed memory goes
/// back within the purge delay of any later slow-path operation, whichever
/// thread or arena it concerns.
pub(crate) fn purge_due(now: u64) {
  if now < PURGE_DUE.load(Ordering::Relaxed) {
    return;
  }
  PURGE_DUE.store(NO_PURGE_DUE, Ordering::Relaxed);
  arenas().for_each(|arena| arena.purge_if_due_now(now));
}

/// Grows the span at `start` in place from `old` to `new` segments.
pub(crate) fn grow_span(start: NonNull<u8>, old: usize, new: usize) -> bool {
  let grown = arena_of(start).try_grow(start, old, new);
  if grown {
    purge_before_new_high();
  }
  grown
}

/// Purges every arena's dirty segments now.
pub(crate) fn purge_all() {
  arenas().for_each(Arena::purge_now);
}

/// Holds every global lock across `fork` so the child starts consistent.
pub(crate) fn lock_for_fork() {
  forget(GROW.lock());
  arenas().for_each(Arena::lock_for_fork);
}

/// Releases the locks taken by [`lock_for_fork`].
///
/// # Safety
/// [`lock_for_fork`] ran in this thread (or in the parent before `fork`).
pub(crate) unsafe fn unlock_after_fork() {
  // SAFETY: forwarded from the caller: every arena lock is held by us.
  arenas().for_each(|arena| unsafe { arena.unlock_after_fork() });
  // SAFETY: forwarded from the caller: the grow lock is held by us.
  unsafe { GROW.force_unlock() };
}

/// Layout of a huge mapping for a block.
struct HugeLayout {
  /// Bytes reserved, a whole number of granules.
  reserve: NonZeroUsize,
  /// Alignment of the reservation.
  align: NonZeroUsize,
  /// Offset of the block from the reservation start.
  offset: usize,
}

/// Offset of a block aligned to `align` from the start of its first
/// segment (the header's), or from the segment before it for alignments
/// beyond the segment size.
pub(crate) fn block_offset(align: usize) -> usize {
  if align > SEGMENT_SIZE {
    SEGMENT_SIZE
  } else {
    size_of::<Segment>().next_multiple_of(align)
  }
}

fn huge_layout(size: usize, align: usize) -> Option<HugeLayout> {
  let offset = if align > SEGMENT_SIZE {
    align
  } else {
    block_offset(align)
  };
  let reserve = size
    .checked_add(offset)?
    .checked_next_multiple_of(ARENA_SIZE)?;
  Some(HugeLayout {
    reserve: NonZeroUsize::new(reserve)?,
    align: NonZeroUsize::new(align.max(ARENA_SIZE))?,
    offset,
  })
}

/// Maps a huge block of `size` bytes aligned to `align`; returns its
/// header (zeroed memory follows).
pub(crate) fn map_huge<'seg>(
  size: usize,
  align: usize,
) -> Result<&'seg Segment, AllocError> {
  let layout = huge_layout(size, align).ok_or(AllocError::OutOfMemory)?;
  let map = owned_map_or_map().ok_or(AllocError::OutOfMemory)?;
  let region = MAPPER
    .map_aligned(layout.reserve, layout.align)
    .map_err(|_| AllocError::OutOfMemory)?;
  let base = region.cast::<u8>();
  let from_header = block_offset_from_header(layout.offset);
  // SAFETY: `offset - from_header` is 0 or `align - SEGMENT_SIZE`, inside
  // the reservation.
  let header = unsafe { base.byte_add(layout.offset - from_header) };
  let usable =
    (layout.offset + size).next_multiple_of(page_size()) - layout.offset;
  mark_granules(map, base.addr().get(), layout.reserve.get(), GRANULE_OWNED);
  GLOBAL.add(Counter::Mapped, layout.reserve.get());
  GLOBAL.add(Counter::Committed, usable);
  purge_before_new_high();
  // SAFETY: the header is segment-aligned in our fresh mapping.
  Ok(unsafe {
    Segment::init_single(
      header,
      Kind::Huge,
      base.addr().get(),
      layout.reserve.get(),
      from_header,
      usable,
    )
  })
}

/// Distance from a huge block's header to the block, given the block's
/// offset in its reservation.
fn block_offset_from_header(offset: usize) -> usize {
  if offset > SEGMENT_SIZE {
    SEGMENT_SIZE
  } else {
    offset
  }
}

/// Unmaps the huge block whose header is `segment`.
///
/// # Safety
/// `segment` is a live huge header, whose block is no longer used.
pub(crate) unsafe fn unmap_huge(segment: &Segment) {
  let base = segment.base();
  let reserve = segment.extent();
  GLOBAL.sub(Counter::Mapped, reserve);
  GLOBAL.sub(Counter::Committed, segment.usable());
  segment.erase();
  // A huge block exists, so the map does (it was marked in it).
  if let Some(map) = owned_map() {
    mark_granules(map, base, reserve, 0);
  }
  let start = segment.start().as_ptr().with_addr(base);
  let region = ptr::slice_from_raw_parts_mut(start, reserve);
  if let Some(region) = NonNull::new(region) {
    // SAFETY: the reservation is ours and nothing refers to it any more.
    let unmapped = unsafe { MAPPER.unmap(region) };
    debug_assert!(unmapped.is_ok(), "a huge reservation unmaps");
  }
}
