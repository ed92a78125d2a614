#![no_std]
#![doc = include_str!("../README.md")]

mod arena;
mod class;
mod config;
mod error;
mod fault;
mod heap;
mod manager;
mod segment;
mod stats;
mod sync;

pub use error::AllocError;
use heap::trim_pool;
pub use heap::{Heap, UNOWNED_HEAP};
pub use stats::Stats;

use manager::{
  init, lock_for_fork, next_purge_due, now, purge_all, purge_due,
  set_purge_delay, unlock_after_fork,
};
use stats::{Counter, GLOBAL, StatsBuilder};

/// Alignment of every block: the C `max_align_t`. Requests aligned to at
/// most this take the plain paths.
pub const MIN_ALIGN: usize = config::MIN_ALIGN;

/// A snapshot of the allocator's counters, with the counts of `heap` (the
/// calling thread's, if it has one) brought up to date first: the fast
/// paths leave a segment's counts in its header until a slow path, an
/// exit or a snapshot moves them to the heap.
///
/// # Safety
/// `heap`, if given, is owned by the calling thread.
pub unsafe fn stats(heap: Option<&Heap>) -> Stats {
  if let Some(heap) = heap {
    // SAFETY: forwarded from the caller.
    unsafe { heap.flush_counts() };
  }
  let mut builder = StatsBuilder::default();
  heap::report_all(&mut builder);
  builder.finish()
}

/// Gives back to the OS whatever can go: the calling thread's empty
/// segments and the free pages of its sparse ones (if it has a heap), and
/// every arena's free pages, now. Returns how many bytes went back
/// meanwhile (other threads may commit or give back some at the same
/// time).
///
/// # Safety
/// `heap`, if given, is owned by the calling thread.
pub unsafe fn collect(heap: Option<&Heap>) -> usize {
  let before = GLOBAL.get(Counter::Committed);
  let mut swept = 0;
  if let Some(heap) = heap {
    // SAFETY: forwarded from the caller.
    unsafe { heap.collect() };
    // SAFETY: as above.
    swept = unsafe { heap.sweep_all() };
  }
  trim_pool();
  purge_all();
  // Swept pages belong to segments still in use, which count as
  // committed whole: they are not in the committed count's drop.
  before.saturating_sub(GLOBAL.get(Counter::Committed)) + swept
}

/// Runs the purge checks that are due now, as any slow-path call of the
/// allocator would, and says when the next one is due (monotonic
/// nanoseconds, the clock of [`now_nanos`]), if any segment waits for one.
/// A background thread calling this gives freed memory back within two
/// purge delays even when the program stops calling the allocator.
pub fn purge_pending() -> Option<u64> {
  init();
  purge_due(now());
  next_purge_due()
}

/// The monotonic clock purges are timed by, in nanoseconds.
pub fn now_nanos() -> u64 {
  now()
}

/// Sets how long freed segments wait before their pages are purged.
pub fn set_purge_delay_ms(millis: u64) {
  set_purge_delay(millis.saturating_mul(config::NANOS_PER_MILLI));
}

/// Takes every global lock; call right before `fork`.
pub fn before_fork() {
  heap::lock_for_fork();
  lock_for_fork();
}

/// Releases the locks [`before_fork`] took, in the parent or the child.
///
/// # Safety
/// [`before_fork`] ran in this thread (in the child: in the parent's
/// forking thread) and the locks were not released since.
pub unsafe fn after_fork() {
  // SAFETY: forwarded from the caller.
  unsafe { unlock_after_fork() };
  // SAFETY: forwarded from the caller.
  unsafe { heap::unlock_after_fork() };
}
