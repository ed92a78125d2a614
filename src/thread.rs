//! The calling thread's heap: found through a thread-local pointer, made on
//! the first allocation, abandoned when the thread exits.
//!
//! The thread-local slot holds a pointer, has no destructor and is reached
//! without allocating, so it stays readable while the thread is being torn
//! down. On x86-64 Linux it is an initial-exec TLS variable (two
//! instructions, also inside the `LD_PRELOAD` library, where Rust's own
//! thread-locals would call `__tls_get_addr` on every access); elsewhere it
//! is a `thread_local!` `Cell`. Exit is noticed
//! through a pthread key, whose destructor runs after those of Rust and
//! C++ thread-locals (which may still free memory).

use core::ffi::CStr;
use core::ptr::NonNull;

use spin::Once;
use tinyalloc_alloc::{
  AllocError, Heap, UNOWNED_HEAP, after_fork, before_fork,
};

use crate::purger;
use crate::report::print_stats;
use crate::stats;
use tinyalloc_sys::{
  MapError, ThreadExitKey, at_exit, env_flag, set_fork_handlers,
};

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[path = "thread/slot_x86_64.rs"]
mod slot;

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[path = "thread/slot_generic.rs"]
mod slot;

/// The key whose destructor abandons a thread's heap.
static EXIT_KEY: Once<Result<ThreadExitKey, MapError>> = Once::new();
/// Registers the exit report once, if asked for.
static STATS_AT_EXIT: Once<()> = Once::new();
/// Environment variable that asks for the counters on stderr at exit.
const SHOW_STATS_VARIABLE: &CStr = c"TINYALLOC_SHOW_STATS";

/// The calling thread's heap, or the unowned heap if it has none: for the
/// fast paths, which fall through to the slow ones on the unowned heap.
#[inline]
pub(crate) fn fast_heap() -> &'static Heap {
  // SAFETY: heaps live for the rest of the process.
  unsafe { slot::get().as_ref() }
}

/// The calling thread's heap, if it has one.
#[inline]
pub(crate) fn local_heap() -> Option<&'static Heap> {
  let heap = fast_heap();
  (!heap.is_unowned()).then_some(heap)
}

/// The calling thread's heap, made on first use.
#[inline]
pub(crate) fn heap() -> Result<&'static Heap, AllocError> {
  match local_heap() {
    Some(heap) => Ok(heap),
    None => heap_slow(),
  }
}

#[cold]
#[inline(never)]
fn heap_slow() -> Result<&'static Heap, AllocError> {
  // Before any lock is taken (allocations can come before the load-time
  // record below).
  record_fork_handlers();
  let heap = Heap::acquire()?;
  // Set before anything below can allocate (a pthread key set can call
  // calloc): a nested allocation then finds this heap.
  slot::set(heap);
  STATS_AT_EXIT.call_once(register_stats_at_exit);
  if let Ok(key) = EXIT_KEY.call_once(|| ThreadExitKey::create(on_thread_exit))
  {
    // SAFETY: heaps live for the rest of the process.
    let registered = unsafe { key.set(Some(heap.cast())) };
    debug_assert!(registered.is_ok(), "the exit key takes a value");
  }
  // SAFETY: heaps live for the rest of the process.
  Ok(unsafe { heap.as_ref() })
}

/// Records the fork handlers; the engine gives them to the C library
/// before its first lock once the process has a second thread. Later
/// calls are refused, which changes nothing.
extern "C" fn record_fork_handlers() {
  let _ = set_fork_handlers(before_fork, after_fork_handler, after_fork_child);
}

/// Records the fork handlers among the program's (or the preloaded
/// library's) constructors, before any thread of the program's: the
/// handlers are then known to every lock, even one taken before the first
/// heap.
#[used]
#[unsafe(link_section = ".init_array")]
static RECORD_AT_LOAD: extern "C" fn() = record_fork_handlers;

/// Releases the allocator's locks after `fork`, in parent and child.
fn after_fork_handler() {
  // SAFETY: pthread runs this after the prepare handler, `before_fork`, in
  // the forking thread or in the child's only thread, a copy of it.
  unsafe { after_fork() };
}

/// [`after_fork_handler`] in the child, which also has no purge thread.
fn after_fork_child() {
  after_fork_handler();
  purger::forget_in_child();
}

/// Registers the exit report. Whether to print is decided at exit: the
/// first allocation can come before the C library has set up the
/// environment.
fn register_stats_at_exit() {
  // Nothing to do if it fails: the report is a convenience.
  let _ = at_exit(print_stats_if_asked);
}

/// The exit hook: the counters, one per line, on stderr, when
/// `TINYALLOC_SHOW_STATS` is set to anything but `0`.
fn print_stats_if_asked() {
  if env_flag(SHOW_STATS_VARIABLE) {
    print_stats(&stats());
  }
}

/// Abandons the exiting thread's heap.
fn on_thread_exit(value: NonNull<u8>) {
  let heap = value.cast::<Heap>();
  if slot::get() == heap {
    slot::set(NonNull::from(&UNOWNED_HEAP));
  }
  // SAFETY: the exiting thread owned the heap and, with the thread-local
  // cleared, never touches it again.
  unsafe { Heap::abandon(heap) };
}
