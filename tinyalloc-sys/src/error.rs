//! The crate's one error type: every failure of an OS call or of its
//! arguments, each with the errno a C caller would see.

use libc::EINVAL;
use thiserror::Error;

use crate::os;

/// Every OS failure of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MapError {
  /// A size of zero, or one that overflows when rounded up to pages (or to
  /// the alignment) or exceeds `isize::MAX`.
  #[error("invalid size {0}: zero or overflowing")]
  InvalidSize(usize),
  /// An alignment that is not a power of two.
  #[error("invalid alignment {0}: not a power of two")]
  InvalidAlignment(usize),
  /// An address that should start a page but does not.
  #[error("address {0:#x} is not page-aligned")]
  Unaligned(usize),
  /// A system call failed.
  #[error("{call} failed with errno {errno}")]
  Os {
    /// The name of the failed call.
    call: &'static str,
    /// The errno it reported.
    errno: i32,
  },
}

impl MapError {
  /// The errno that describes this error: `EINVAL` for bad arguments, the
  /// call's own errno for [`MapError::Os`].
  #[must_use]
  pub const fn errno(&self) -> i32 {
    match self {
      Self::InvalidSize(_) | Self::InvalidAlignment(_) | Self::Unaligned(_) => {
        EINVAL
      }
      Self::Os { errno, .. } => *errno,
    }
  }

  /// An [`MapError::Os`] for `call` with the calling thread's current errno.
  /// Call it right after the failed call, before anything can change errno.
  #[cold]
  pub(crate) fn last_os_error(call: &'static str) -> Self {
    Self::Os {
      call,
      errno: os::last_errno(),
    }
  }
}

#[cfg(test)]
mod tests;
