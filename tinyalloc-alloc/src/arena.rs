//! Arenas: aligned 64 MiB reservations carved into segments.
//!
//! The header lives in the arena's first segment, which is never handed
//! out. Under the arena's lock, `used` has a bit per segment in use and
//! `dirty` a bit per free segment that may still hold pages (written since
//! the last purge). A segment is never both. Pages become resident only
//! when touched, so a run that was
//! never written or has been purged reads as zero.

#[cfg(test)]
mod tests;

use core::mem::{forget, offset_of, size_of};
use core::num::NonZeroUsize;
use core::ptr::{self, NonNull};

use spin::{Mutex, MutexGuard};
use tinyalloc_bitmap::{Bitmap, words_for_bits};
use tinyalloc_sys::{Mapper, arm_fork_handlers};

use crate::config::{
  ARENA_SIZE, SAME_CLASS_SCAN, SEGMENT_SHIFT, SEGMENTS_PER_ARENA,
};
use crate::manager::{
  is_spare, mapper, note_purge_deadline, purge_delay, secret,
};
use crate::segment::{LOCAL_FIELD_END, Segment};
use crate::stats::{Counter, GLOBAL};
use crate::sync::{AtomicPtr, Ordering};

/// Words of each per-arena bitmap.
const ARENA_WORDS: usize = words_for_bits::<u64>(SEGMENTS_PER_ARENA);
/// Mixed into an arena's cookie so its header never passes for a segment's.
const ARENA_TAG: usize = 0xA7E4A;
/// The arena size as the mapper takes it.
const ARENA_BYTES: NonZeroUsize = match NonZeroUsize::new(ARENA_SIZE) {
  Some(size) => size,
  None => panic!("ARENA_SIZE is not zero"),
};
/// Segments reserved for the arena header at the start.
const HEADER_SEGMENTS: usize = 1;

/// Where in an arena a run of segments may start: the run's index plus
/// `lead` must be a multiple of `align`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
  /// A power of two, in segments.
  pub(crate) align: usize,
  /// Segments between the run's start and the aligned point (0 or 1).
  pub(crate) lead: usize,
}

impl Placement {
  /// Any segment-aligned start.
  pub(crate) const ANY: Placement = Placement { align: 1, lead: 0 };

  /// The first index at or after `index` that satisfies the placement.
  fn next_at_or_after(self, index: usize) -> usize {
    (index + self.lead).next_multiple_of(self.align) - self.lead
  }
}

/// A run of segments handed out by an arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
  /// First byte of the run.
  pub(crate) start: NonNull<u8>,
  /// Whether every byte of the run reads as zero.
  pub(crate) zeroed: bool,
}

/// Bookkeeping guarded by the arena lock.
struct State {
  /// One bit per segment in use (the header segment included).
  used: [u64; ARENA_WORDS],
  /// One bit per free segment that may hold resident pages.
  dirty: [u64; ARENA_WORDS],
  /// The dirty segments that were already dirty at the last purge check:
  /// the ones a due purge gives back. A segment freed and claimed again
  /// within a purge delay keeps its pages, so a program that reuses its
  /// memory at a steady pace does not fault it back in after every purge.
  aged: [u64; ARENA_WORDS],
  /// When the delay before the next purge check started (ns): the first
  /// release into a clean arena, or the last check that left segments
  /// dirty; 0 when nothing is dirty.
  delay_start: u64,
  /// Segments in use, the header's included.
  in_use: usize,
}

/// The header of an arena.
#[repr(C)]
pub(crate) struct Arena {
  /// `address ^ secret ^ ARENA_TAG`: never equal to a segment cookie.
  cookie: usize,
  /// Zeros where a segment header keeps its `tally` and `local`: a free of
  /// a pointer into the arena's header segment reads this header as a
  /// segment's, and must find no heap there (so it takes the slow path,
  /// which refuses it by the cookie), whatever the lock and bitmaps hold.
  segment_guard: [usize; SEGMENT_GUARD_WORDS],
  state: Mutex<State>,
  /// The arena created after this one (see the manager's list).
  next: AtomicPtr<Arena>,
  /// The arena created before this one (fixed at creation).
  previous: Option<&'static Arena>,
}

/// Words of [`Arena::segment_guard`]: up to the end of a segment header's
/// `local` field.
const SEGMENT_GUARD_WORDS: usize =
  LOCAL_FIELD_END.div_ceil(size_of::<usize>()) - 1;

const _: () = assert!(
  offset_of!(Arena, segment_guard) == size_of::<usize>()
    && offset_of!(Arena, state) >= LOCAL_FIELD_END,
  "the arena header's guard covers a segment header's `local` field"
);

/// A view of a bitmap word array, which always has the arena's length.
fn bits<'words>(words: &'words mut [u64; ARENA_WORDS]) -> Bitmap<'words, u64> {
  match Bitmap::new(words, SEGMENTS_PER_ARENA) {
    Ok(bitmap) => bitmap,
    Err(_) => unreachable!("ARENA_WORDS holds SEGMENTS_PER_ARENA bits"),
  }
}

impl State {
  /// Claims a run of `count` free segments, if one fits the placement.
  fn claim(
    &mut self,
    count: usize,
    placement: Placement,
  ) -> Option<(usize, bool)> {
    let mut from = placement.next_at_or_after(HEADER_SEGMENTS);
    let index = loop {
      let found = bits(&mut self.used).find_clear_run(count, from)?;
      let placed = placement.next_at_or_after(found);
      if placed == found {
        break found;
      }
      from = placed;
    };
    let zeroed = bits(&mut self.dirty)
      .is_range_clear(index, count)
      .unwrap_or(false);
    let fresh = self.mark_used(index, count);
    GLOBAL.add(Counter::Committed, fresh << SEGMENT_SHIFT);
    Some((index, zeroed))
  }

  /// Marks `count` segments from `index` as in use.
  /// Returns how many of them were not committed (neither in use nor
  /// dirty) before.
  fn mark_used(&mut self, index: usize, count: usize) -> usize {
    let dirty = bits(&mut self.dirty)
      .count_ones_in_range(index, count)
      .unwrap_or(0);
    let marked = bits(&mut self.used).set_range(index, count);
    let cleaned = bits(&mut self.dirty).clear_range(index, count);
    let young = bits(&mut self.aged).clear_range(index, count);
    debug_assert!(young.is_ok(), "run inside the arena");
    debug_assert!(marked.is_ok() && cleaned.is_ok(), "run inside the arena");
    self.in_use += count;
    GLOBAL.sub(Counter::Waiting, dirty << SEGMENT_SHIFT);
    count - dirty
  }

  /// Gives back `count` segments from `index`, now dirty.
  fn release(&mut self, index: usize, count: usize, now: u64) {
    let cleared = bits(&mut self.used).clear_range(index, count);
    let dirtied = bits(&mut self.dirty).set_range(index, count);
    debug_assert!(cleared.is_ok() && dirtied.is_ok(), "run inside the arena");
    self.in_use -= count;
    GLOBAL.add(Counter::Waiting, count << SEGMENT_SHIFT);
    if self.delay_start == 0 {
      self.delay_start = now.max(1);
    }
  }

  /// Whether `count` segments from `index` are all free.
  fn is_free(&mut self, index: usize, count: usize) -> bool {
    index + count <= SEGMENTS_PER_ARENA
      && bits(&mut self.used)
        .is_range_clear(index, count)
        .unwrap_or(false)
  }
}

impl Arena {
  /// Reserves and initialises a new arena, created after `previous`.
  pub(crate) fn create<'arena>(
    previous: Option<&'static Arena>,
  ) -> Option<&'arena Arena> {
    let region = mapper().map_aligned(ARENA_BYTES, ARENA_BYTES).ok()?;
    let start = region.cast::<Arena>();
    let mut used = [0u64; ARENA_WORDS];
    let reserved = bits(&mut used).set_range(0, HEADER_SEGMENTS);
    debug_assert!(reserved.is_ok(), "the header segments fit");
    let header = Arena {
      cookie: start.addr().get() ^ secret() ^ ARENA_TAG,
      segment_guard: [0; SEGMENT_GUARD_WORDS],
      state: Mutex::new(State {
        used,
        dirty: [0; ARENA_WORDS],
        aged: [0; ARENA_WORDS],
        delay_start: 0,
        in_use: HEADER_SEGMENTS,
      }),
      next: AtomicPtr::new(ptr::null_mut()),
      previous,
    };
    // SAFETY: the fresh mapping is ours, aligned and large enough.
    unsafe { start.write(header) };
    GLOBAL.add(Counter::Mapped, ARENA_SIZE);
    GLOBAL.add(Counter::Committed, HEADER_SEGMENTS << SEGMENT_SHIFT);
    GLOBAL.add(Counter::Arenas, 1);
    // SAFETY: just initialised; arenas are never unmapped.
    Some(unsafe { start.as_ref() })
  }

  /// The arena created after this one, or null.
  pub(crate) fn next(&self) -> *mut Arena {
    self.next.load(Ordering::Acquire)
  }

  /// The arena created before this one, if any.
  pub(crate) fn previous(&self) -> Option<&'static Arena> {
    self.previous
  }

  /// Links the arena created after this one (once, under the manager's
  /// grow lock), publishing it to readers of the list.
  pub(crate) fn set_next(&self, next: *mut Arena) {
    self.next.store(next, Ordering::Release);
  }

  /// Bytes at the arena's start that its header takes.
  pub(crate) const fn header_end() -> usize {
    size_of::<Arena>()
  }

  /// Bytes of the segments reserved for the header, which hold nothing
  /// else but heaps (see the manager's `place_heap`).
  pub(crate) const fn header_segments_bytes() -> usize {
    HEADER_SEGMENTS << SEGMENT_SHIFT
  }

  /// First byte of the arena.
  pub(crate) fn start(&self) -> NonNull<u8> {
    NonNull::from(self).cast()
  }

  /// Index of the segment at `pointer`, which lies in this arena.
  fn index_of(&self, pointer: NonNull<u8>) -> usize {
    (pointer.addr().get() - self.start().addr().get()) >> SEGMENT_SHIFT
  }

  /// Pointer to segment `index`.
  fn segment(&self, index: usize) -> NonNull<u8> {
    // SAFETY: `index < SEGMENTS_PER_ARENA`, inside the reservation.
    unsafe { self.start().byte_add(index << SEGMENT_SHIFT) }
  }

  /// Locks the arena's bookkeeping (arming the fork handlers first, see
  /// [`arm_fork_handlers`]).
  fn lock(&self) -> MutexGuard<'_, State> {
    arm_fork_handlers();
    self.state.lock()
  }

  /// Takes the lock without releasing it (before `fork`).
  pub(crate) fn lock_for_fork(&self) {
    forget(self.state.lock());
  }

  /// Releases the lock taken by [`Arena::lock_for_fork`].
  ///
  /// # Safety
  /// The lock is held by `lock_for_fork` of this thread (or of the thread
  /// that forked this process).
  pub(crate) unsafe fn unlock_after_fork(&self) {
    // SAFETY: forwarded from the caller: the guard was forgotten.
    unsafe { self.state.force_unlock() };
  }

  /// Claims `count` segments placed as asked, if they fit.
  pub(crate) fn claim(
    &self,
    count: usize,
    placement: Placement,
    now: u64,
    class: Option<usize>,
  ) -> Option<Span> {
    let mut state = self.lock();
    let same_class = class
      .filter(|_| count == 1 && placement == Placement::ANY)
      .and_then(|class| self.dirty_of_class(&mut state, class));
    let (index, zeroed) = match same_class {
      Some(index) => {
        let fresh = state.mark_used(index, 1);
        debug_assert_eq!(fresh, 0, "a dirty segment is committed");
        (index, false)
      }
      None => state.claim(count, placement)?,
    };
    self.purge_if_due(&mut state, now, false);
    Some(Span {
      start: self.segment(index),
      zeroed,
    })
  }

  /// Among the first [`SAME_CLASS_SCAN`] dirty segments, one that last
  /// served as a small segment of class `class`: its resident pages are
  /// where that class's blocks lie, so reusing it for the same class
  /// leaves no stale page resident (another class carves less or more of
  /// it), and saves the faults.
  fn dirty_of_class(&self, state: &mut State, class: usize) -> Option<usize> {
    let mut from = HEADER_SEGMENTS;
    for _ in 0..SAME_CLASS_SCAN {
      let index = bits(&mut state.dirty).find_first_set_from(from)?;
      // SAFETY: a dirty segment of this arena: free, mapped, and not
      // purged (its header page reads as it was left), and we hold the
      // lock that any claim of it takes.
      if unsafe { Segment::released_class(self.segment(index)) } == Some(class)
      {
        return Some(index);
      }
      from = index + 1;
    }
    None
  }

  /// Gives back the `count` segments starting at `start`.
  pub(crate) fn release(&self, start: NonNull<u8>, count: usize, now: u64) {
    #[cfg(debug_assertions)]
    self.check_invariants();
    let mut state = self.lock();
    state.release(self.index_of(start), count, now);
    let empty = state.in_use == HEADER_SEGMENTS;
    let spare = empty && is_spare(self);
    self.purge_if_due(&mut state, now, spare);
  }

  /// Grows the span at `start` from `old` to `new` segments in place.
  pub(crate) fn try_grow(
    &self,
    start: NonNull<u8>,
    old: usize,
    new: usize,
  ) -> bool {
    let mut state = self.lock();
    let index = self.index_of(start);
    if !state.is_free(index + old, new - old) {
      return false;
    }
    let fresh = state.mark_used(index + old, new - old);
    GLOBAL.add(Counter::Committed, fresh << SEGMENT_SHIFT);
    true
  }

  /// Purges dirty segments if the oldest has waited the purge delay, or
  /// if `force`; otherwise tells the manager when they will be due.
  fn purge_if_due(&self, state: &mut State, now: u64, force: bool) {
    if state.delay_start == 0 {
      return;
    }
    let deadline = state.delay_start.saturating_add(purge_delay());
    if force {
      state.aged = state.dirty;
    } else if now < deadline {
      note_purge_deadline(deadline);
      return;
    }
    self.purge(state);
    // What is still dirty was freed since the last check: it is purged at
    // the next one if it has not been claimed by then.
    state.aged = state.dirty;
    if state.dirty.iter().any(|&word| word != 0) {
      state.delay_start = now.max(1);
      note_purge_deadline(now.saturating_add(purge_delay()));
    }
  }

  /// Purges if due, without waiting for a lock another thread holds.
  pub(crate) fn purge_if_due_now(&self, now: u64) {
    arm_fork_handlers();
    if let Some(mut state) = self.state.try_lock() {
      self.purge_if_due(&mut state, now, false);
    } else {
      note_purge_deadline(now);
    }
  }

  /// Purges every dirty segment now, if anything is dirty.
  pub(crate) fn purge_now(&self) {
    let mut state = self.lock();
    if state.delay_start != 0 {
      state.aged = state.dirty;
      self.purge(&mut state);
    }
  }

  /// Decommits the aged dirty segments, run by run.
  fn purge(&self, state: &mut State) {
    let mut from = 0;
    while let Some(first) = bits(&mut state.aged).find_first_set_from(from) {
      let end = bits(&mut state.aged)
        .find_first_clear_from(first)
        .unwrap_or(SEGMENTS_PER_ARENA);
      self.decommit_run(state, first, end);
      from = end;
    }
    state.delay_start = 0;
  }

  /// Decommits the free dirty segments from `first` to `end`; whether
  /// the system took them back.
  fn decommit_run(&self, state: &mut State, first: usize, end: usize) -> bool {
    let run = NonNull::slice_from_raw_parts(
      self.segment(first),
      (end - first) << SEGMENT_SHIFT,
    );
    // SAFETY: the run is free (not handed out) and inside our mapping.
    let decommitted = unsafe { mapper().decommit(run) };
    if decommitted.is_ok() {
      let cleared = bits(&mut state.dirty).clear_range(first, end - first);
      let unaged = bits(&mut state.aged).clear_range(first, end - first);
      debug_assert!(cleared.is_ok() && unaged.is_ok(), "run inside the arena");
      GLOBAL.sub(Counter::Committed, (end - first) << SEGMENT_SHIFT);
      GLOBAL.sub(Counter::Waiting, (end - first) << SEGMENT_SHIFT);
      GLOBAL.add(Counter::Purges, 1);
    }
    decommitted.is_ok()
  }

  /// Purges up to `segments` dirty segments, the highest first (the ones
  /// a lowest-first claim reaches last); returns how many it purged.
  pub(crate) fn purge_highest(&self, segments: usize) -> usize {
    let mut state = self.lock();
    let dirty = bits(&mut state.dirty).count_ones();
    let take = segments.min(dirty);
    if take == 0 {
      return 0;
    }
    let mut skip = dirty - take;
    let mut purged = 0;
    let mut from = HEADER_SEGMENTS;
    while let Some(first) = bits(&mut state.dirty).find_first_set_from(from) {
      let end = bits(&mut state.dirty)
        .find_first_clear_from(first)
        .unwrap_or(SEGMENTS_PER_ARENA);
      from = end;
      let length = end - first;
      if skip >= length {
        skip -= length;
        continue;
      }
      let start = first + skip;
      skip = 0;
      if self.decommit_run(&mut state, start, end) {
        purged += end - start;
      }
    }
    if !state.dirty.iter().any(|&word| word != 0) {
      state.delay_start = 0;
    }
    purged
  }

  /// Segments in use, the header's included (for tests and stats).
  #[cfg(test)]
  pub(crate) fn in_use(&self) -> usize {
    self.lock().in_use
  }

  /// Checks the arena's invariants: the header segments are in use,
  /// `in_use` counts the used bits, and no segment is both used and dirty.
  #[cfg(any(test, debug_assertions))]
  pub(crate) fn check_invariants(&self) {
    let mut state = self.lock();
    let used = bits(&mut state.used);
    assert!(
      used.count_ones_in_range(0, HEADER_SEGMENTS) == Ok(HEADER_SEGMENTS),
      "the header segments are in use"
    );
    assert_eq!(used.count_ones(), state.in_use, "in_use counts used bits");
    let overlap = state
      .used
      .iter()
      .zip(state.dirty.iter())
      .any(|(used, dirty)| used & dirty != 0);
    assert!(!overlap, "no segment is both in use and dirty");
  }
}
