//! The engine's error type.

use thiserror::Error;

/// Why an allocation could not be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AllocError {
  /// The system has no memory (or address space) left for the request, or
  /// the request is larger than any allocation can be.
  #[error("out of memory")]
  OutOfMemory,
}
