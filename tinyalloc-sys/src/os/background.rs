//! A detached background thread and a sleep, both without allocating in
//! Rust (the C library allocates the thread's bookkeeping through `malloc`,
//! so the caller must hold no lock that `malloc` needs).

use core::{mem::MaybeUninit, ptr};

use libc::{
  EINTR, PTHREAD_CREATE_DETACHED, c_void, nanosleep, pthread_attr_destroy,
  pthread_attr_init, pthread_attr_setdetachstate, pthread_attr_t,
  pthread_create, pthread_t, time_t, timespec,
};

use super::{NANOS_PER_SECOND, last_errno};
use crate::MapError;

/// The body of a background thread: runs until the process ends.
pub type Background = extern "C" fn(*mut c_void) -> *mut c_void;

/// Starts a detached thread running `body` (with a null argument).
///
/// # Errors
/// `Os { call, errno }` naming the `pthread_*` call that failed.
pub fn spawn_detached(body: Background) -> Result<(), MapError> {
  let mut attributes = MaybeUninit::<pthread_attr_t>::uninit();
  // SAFETY: `attributes` is valid for writing one attribute object.
  let status = unsafe { pthread_attr_init(attributes.as_mut_ptr()) };
  check("pthread_attr_init", status)?;
  let result = spawn_with(attributes.as_mut_ptr(), body);
  // SAFETY: initialised above and not used after this.
  unsafe { pthread_attr_destroy(attributes.as_mut_ptr()) };
  result
}

/// [`spawn_detached`] with initialised attributes.
fn spawn_with(
  attributes: *mut pthread_attr_t,
  body: Background,
) -> Result<(), MapError> {
  // SAFETY: the caller initialised the attributes.
  let status =
    unsafe { pthread_attr_setdetachstate(attributes, PTHREAD_CREATE_DETACHED) };
  check("pthread_attr_setdetachstate", status)?;
  let mut thread = MaybeUninit::<pthread_t>::uninit();
  // SAFETY: the attributes are initialised, `thread` is writable, and the
  // body takes the null argument it is given.
  let status = unsafe {
    pthread_create(thread.as_mut_ptr(), attributes, body, ptr::null_mut())
  };
  check("pthread_create", status)
}

/// The error for a `pthread_*` status (they return the error number).
fn check(call: &'static str, status: i32) -> Result<(), MapError> {
  match status {
    0 => Ok(()),
    errno => Err(MapError::Os { call, errno }),
  }
}

/// Sleeps for `nanos` nanoseconds, resuming after signals.
pub fn sleep_nanos(nanos: u64) {
  let seconds = nanos / NANOS_PER_SECOND;
  let mut request = timespec {
    tv_sec: time_t::try_from(seconds).unwrap_or(time_t::MAX),
    // Below one second, so it fits any `c_long`.
    tv_nsec: (nanos % NANOS_PER_SECOND) as _,
  };
  loop {
    let mut remaining = MaybeUninit::<timespec>::uninit();
    // SAFETY: `request` is a valid duration; `remaining` is writable.
    let status = unsafe { nanosleep(&request, remaining.as_mut_ptr()) };
    if status == 0 || last_errno() != EINTR {
      return;
    }
    // SAFETY: nanosleep wrote the remaining time when it was interrupted.
    request = unsafe { remaining.assume_init() };
  }
}

#[cfg(test)]
mod tests {
  extern crate std;

  use core::sync::atomic::{AtomicBool, Ordering};

  use super::*;
  use crate::os::monotonic_nanos;

  static RAN: AtomicBool = AtomicBool::new(false);

  extern "C" fn mark(_: *mut c_void) -> *mut c_void {
    RAN.store(true, Ordering::Release);
    ptr::null_mut()
  }

  /// Nanoseconds the tests sleep.
  const NAP: u64 = 20_000_000;
  /// How long the test waits for the background thread, in naps.
  const PATIENCE: usize = 250;

  #[test]
  fn a_detached_thread_runs() {
    spawn_detached(mark).expect("a thread starts");
    let ran = (0..PATIENCE).any(|_| {
      sleep_nanos(NAP);
      RAN.load(Ordering::Acquire)
    });
    assert!(ran, "the background thread ran");
  }

  #[test]
  fn sleeping_takes_at_least_the_time_asked() {
    let start = monotonic_nanos();
    sleep_nanos(NAP);
    assert!(monotonic_nanos() - start >= NAP);
  }
}
