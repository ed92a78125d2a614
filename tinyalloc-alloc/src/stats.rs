//! Counters: global ones for the slow paths, per-heap ones for the fast
//! paths, merged on demand by [`stats`](crate::stats()).

use getset::CopyGetters;

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// The counters of one class in one heap. Only the heap's owner writes
/// them (a plain load and store, no read-modify-write); anyone reads.
#[derive(Debug)]
pub(crate) struct ClassCounters {
  /// Blocks of the class allocated by the owner.
  allocations: AtomicU64,
  /// Blocks of the class freed by the owner.
  frees: AtomicU64,
}

impl ClassCounters {
  pub(crate) const fn new() -> Self {
    Self {
      allocations: AtomicU64::new(0),
      frees: AtomicU64::new(0),
    }
  }

  /// Adds a segment's flushed counts (owner only).
  pub(crate) fn add(&self, allocations: u64, frees: u64) {
    add(&self.allocations, allocations);
    add(&self.frees, frees);
  }

  /// Allocations so far.
  pub(crate) fn allocations(&self) -> u64 {
    self.allocations.load(Ordering::Relaxed)
  }

  /// Frees so far.
  pub(crate) fn frees(&self) -> u64 {
    self.frees.load(Ordering::Relaxed)
  }
}

/// Adds `amount` to a counter only its owner writes, modulo 2^64: a
/// segment's flushed frees can come as a wrapped difference (see
/// `Segment::flush_counts`), which still adds up right.
#[inline]
pub(crate) fn add(counter: &AtomicU64, amount: u64) {
  let total = counter.load(Ordering::Relaxed).wrapping_add(amount);
  counter.store(total, Ordering::Relaxed);
}

/// A process-wide counter, updated on slow paths only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Counter {
  /// Bytes of address space reserved (arenas and huge mappings).
  Mapped,
  /// Bytes that may be resident: segments in use or not yet purged.
  Committed,
  /// Bytes of freed segments not yet purged (part of `Committed`).
  Waiting,
  /// Arenas created.
  Arenas,
  /// Small segments in use.
  Segments,
  /// Large and huge blocks allocated.
  LargeAllocs,
  /// Large and huge blocks freed.
  LargeFrees,
  /// Usable bytes of live large and huge blocks.
  LargeLive,
  /// Runs of segments decommitted.
  Purges,
  /// Heaps created (one per concurrently live thread at the peak).
  Heaps,
  /// Free pages of small segments in use given back to the OS.
  SweptPages,
}

/// Number of [`Counter`]s.
const COUNTERS: usize = Counter::SweptPages as usize + 1;

/// A set of process-wide counters.
pub(crate) struct Counters {
  values: [AtomicUsize; COUNTERS],
}

impl Counters {
  /// Adds `amount` to `counter`.
  #[inline]
  pub(crate) fn add(&self, counter: Counter, amount: usize) {
    self.values[counter as usize].fetch_add(amount, Ordering::Relaxed);
  }

  /// Subtracts `amount` from `counter`.
  #[inline]
  pub(crate) fn sub(&self, counter: Counter, amount: usize) {
    self.values[counter as usize].fetch_sub(amount, Ordering::Relaxed);
  }

  /// The current value of `counter`.
  pub(crate) fn get(&self, counter: Counter) -> usize {
    self.values[counter as usize].load(Ordering::Relaxed)
  }
}

/// The process-wide counters.
pub(crate) static GLOBAL: Counters = Counters {
  values: [const { AtomicUsize::new(0) }; COUNTERS],
};

/// A snapshot of the allocator's counters.
///
/// Counts are merged from every heap without stopping the threads. The
/// fast paths count in segment headers, which reach their heap's counters
/// on the heap's slow paths, when its thread exits, and, for the calling
/// thread's own heap, when it takes the snapshot; a small block freed by
/// another thread counts as freed once its owner collects it. So the
/// counts of the calling thread and of exited threads are exact, and those
/// of threads still running are as of their last slow path. Allocations
/// from one segment between two slow paths are counted modulo 2^34.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, CopyGetters)]
#[getset(get_copy = "pub")]
pub struct Stats {
  /// Usable bytes of the blocks currently allocated.
  live_bytes: usize,
  /// Allocations served since the start.
  allocations: u64,
  /// Frees since the start.
  frees: u64,
  /// Bytes of address space reserved from the OS.
  mapped_bytes: usize,
  /// Bytes that may be resident (in use, or freed but not yet purged).
  /// A small segment in use counts whole, its swept pages included (see
  /// `swept_pages`).
  committed_bytes: usize,
  /// Bytes of freed segments waiting for the purge delay (part of
  /// `committed_bytes`).
  waiting_bytes: usize,
  /// Small segments in use.
  segments: usize,
  /// Arenas reserved.
  arenas: usize,
  /// Heaps created (threads that allocated, at the peak).
  heaps: usize,
  /// Frees of small blocks by a thread other than the owner (counted when
  /// the owner collects them).
  cross_thread_frees: u64,
  /// Runs of free segments given back to the OS.
  purges: usize,
  /// Free pages inside small segments still in use given back to the OS
  /// (by sweeps of sparse segments), since the start.
  swept_pages: usize,
}

/// Builds a [`Stats`] piece by piece.
#[derive(Debug, Default)]
pub(crate) struct StatsBuilder {
  stats: Stats,
  /// Usable bytes of small blocks allocated, over all heaps.
  allocated_bytes: u64,
  /// Usable bytes of small blocks freed, over all heaps.
  freed_bytes: u64,
}

impl StatsBuilder {
  /// Adds the small-block counts of one heap.
  pub(crate) fn add_small(
    &mut self,
    class_size: usize,
    allocations: u64,
    frees: u64,
  ) {
    self.allocated_bytes += allocations * class_size as u64;
    self.freed_bytes += frees * class_size as u64;
    self.stats.allocations += allocations;
    self.stats.frees += frees;
  }

  /// Adds the cross-thread frees of one heap.
  pub(crate) fn add_cross(&mut self, cross: u64) {
    self.stats.cross_thread_frees += cross;
  }

  /// Adds the global counters and returns the snapshot.
  pub(crate) fn finish(mut self) -> Stats {
    let small_live =
      self.allocated_bytes.saturating_sub(self.freed_bytes) as usize;
    let stats = &mut self.stats;
    stats.live_bytes = small_live + GLOBAL.get(Counter::LargeLive);
    stats.allocations += GLOBAL.get(Counter::LargeAllocs) as u64;
    stats.frees += GLOBAL.get(Counter::LargeFrees) as u64;
    stats.mapped_bytes = GLOBAL.get(Counter::Mapped);
    stats.committed_bytes = GLOBAL.get(Counter::Committed);
    // Read apart from `Committed`, it can be ahead of it (a release or a
    // purge between the two reads): waiting memory is committed memory.
    stats.waiting_bytes =
      GLOBAL.get(Counter::Waiting).min(stats.committed_bytes);
    stats.segments = GLOBAL.get(Counter::Segments);
    stats.arenas = GLOBAL.get(Counter::Arenas);
    stats.heaps = GLOBAL.get(Counter::Heaps);
    stats.purges = GLOBAL.get(Counter::Purges);
    stats.swept_pages = GLOBAL.get(Counter::SweptPages);
    self.stats
  }
}
