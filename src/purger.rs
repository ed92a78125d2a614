//! The optional purge thread: gives freed memory back to the OS within two
//! purge delays even when the program stops calling the allocator (without
//! it, purges run on the allocator's slow paths, so a program that frees a
//! lot and then sleeps keeps the pages).
//!
//! Off by default, as jemalloc's background threads are: an allocator
//! that starts a thread of its own surprises programs that count their
//! threads or fork without exec. `TINYALLOC_PURGE_THREAD=1` starts it when
//! the library (or the Rust program) is loaded; [`start_purge_thread`]
//! starts it from Rust. A child process after `fork` has no purge thread
//! unless it starts one.

use core::ffi::{CStr, c_void};
use core::sync::atomic::{AtomicBool, Ordering};

use tinyalloc_alloc::{now_nanos, purge_pending};
use tinyalloc_sys::{MapError, env_flag, sleep_nanos, spawn_detached};

/// Environment variable that starts the purge thread at load time.
const PURGE_THREAD_VARIABLE: &CStr = c"TINYALLOC_PURGE_THREAD";
/// How long the thread sleeps when no segment waits for a purge: it wakes
/// this often to look, which costs a few microseconds a time.
const IDLE_SLEEP_NANOS: u64 = 100_000_000;
/// The shortest sleep between two checks, so a deadline in the past does
/// not make the thread spin.
const MIN_SLEEP_NANOS: u64 = 1_000_000;

/// Whether the purge thread has been started in this process.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Starts the purge thread, once per process; later calls do nothing.
///
/// # Errors
/// The [`MapError`] of the `pthread_*` call that failed; a later call may
/// try again.
pub fn start_purge_thread() -> Result<(), MapError> {
  if STARTED.swap(true, Ordering::AcqRel) {
    return Ok(());
  }
  let started = spawn_detached(run);
  if started.is_err() {
    STARTED.store(false, Ordering::Release);
  }
  started
}

/// Whether the purge thread runs (or is starting).
pub fn purge_thread_started() -> bool {
  STARTED.load(Ordering::Acquire)
}

/// Records, in a child after `fork`, that the parent's purge thread did not
/// come along (so [`start_purge_thread`] can start one).
pub(crate) fn forget_in_child() {
  STARTED.store(false, Ordering::Release);
}

/// The thread's body: purge what is due, sleep until the next deadline.
extern "C" fn run(_: *mut c_void) -> *mut c_void {
  loop {
    let sleep = match purge_pending() {
      Some(due) => due.saturating_sub(now_nanos()).max(MIN_SLEEP_NANOS),
      None => IDLE_SLEEP_NANOS,
    };
    sleep_nanos(sleep);
  }
}

/// Starts the purge thread at load time if `TINYALLOC_PURGE_THREAD` asks
/// for it (anything but empty or `0`). A failure to start is ignored: the
/// allocator works without the thread.
extern "C" fn start_if_asked() {
  if env_flag(PURGE_THREAD_VARIABLE) {
    let _ = start_purge_thread();
  }
}

/// Runs [`start_if_asked`] among the program's (or the preloaded
/// library's) constructors, after the C library is set up.
#[used]
#[unsafe(link_section = ".init_array")]
static START_IF_ASKED: extern "C" fn() = start_if_asked;
