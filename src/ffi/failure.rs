//! Why a C call fails, and the one place where a failure becomes a null
//! pointer and `errno`, or a returned error number.

use core::ptr::{self, NonNull};

use libc::{__errno_location, EINVAL, ENOMEM, c_int, c_void};
use tinyalloc_alloc::AllocError;

/// What `posix_memalign` returns when it stored a block.
const SUCCESS: c_int = 0;

/// Why a call of the malloc family failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
  /// No memory for the request, or a size no allocation can have.
  OutOfMemory,
  /// An alignment the function does not take.
  InvalidAlignment,
}

impl Failure {
  /// The `errno` value C reports this failure with.
  pub(super) const fn errno(self) -> c_int {
    match self {
      Self::OutOfMemory => ENOMEM,
      Self::InvalidAlignment => EINVAL,
    }
  }
}

impl From<AllocError> for Failure {
  fn from(error: AllocError) -> Self {
    match error {
      AllocError::OutOfMemory => Self::OutOfMemory,
    }
  }
}

/// Sets the calling thread's `errno`.
fn set_errno(value: c_int) {
  // SAFETY: __errno_location has no pre-conditions; it returns this
  // thread's errno slot.
  let slot = unsafe { __errno_location() };
  // SAFETY: the slot is valid and aligned for the life of the thread.
  unsafe { slot.write(value) };
}

/// The block as C returns it: its address, or null with `errno` set.
#[inline]
pub(super) fn into_c(result: Result<NonNull<u8>, Failure>) -> *mut c_void {
  match result {
    Ok(block) => block.as_ptr().cast(),
    Err(failure) => {
      set_errno(failure.errno());
      ptr::null_mut()
    }
  }
}

/// The block as `posix_memalign` returns it: stored in `*memptr` with 0
/// returned, or the error number returned with `*memptr` and `errno` left
/// alone.
///
/// # Safety
/// `memptr` is valid for writing a pointer.
pub(super) unsafe fn into_status(
  result: Result<NonNull<u8>, Failure>,
  memptr: *mut *mut c_void,
) -> c_int {
  match result {
    Ok(block) => {
      // SAFETY: forwarded from the caller.
      unsafe { memptr.write(block.as_ptr().cast()) };
      SUCCESS
    }
    Err(failure) => failure.errno(),
  }
}
