//! The faults a caller can commit, and how the process is stopped on one.
//!
//! A fault is never returned to the program: continuing after a double free
//! or a foreign pointer would corrupt the heap silently, so the process is
//! stopped with one line naming the fault and the address.

use tinyalloc_sys::fatal;

/// A misuse of the allocator detected on a pointer it was handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
  /// The pointer does not lie in memory this allocator manages.
  Foreign,
  /// The pointer lies in our memory but is not the start of a block.
  NotABlock,
  /// The block was already free.
  DoubleFree,
}

impl Fault {
  /// The words naming the fault in the one-line report.
  const fn describe(self) -> &'static str {
    match self {
      Self::Foreign => "free of a pointer not allocated by tinyalloc",
      Self::NotABlock => "free of a pointer that is not the start of a block",
      Self::DoubleFree => "double free",
    }
  }

  /// Stops the process, naming the fault and `address`.
  #[cold]
  #[inline(never)]
  pub(crate) fn report(self, address: usize) -> ! {
    fatal(self.describe(), address)
  }
}
