//! The crate's error type.

use thiserror::Error;

/// Why an [`Array`](crate::Array) operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ArrayError {
  /// The index does not name a live element (or, for `insert`, a position
  /// next to one).
  #[error("index {index} is out of bounds for length {len}")]
  OutOfBounds {
    /// The index that was asked for.
    index: usize,
    /// The array's length at the time.
    len: usize,
  },
  /// The array is full.
  #[error("array is full (capacity {capacity})")]
  InsufficientCapacity {
    /// The array's fixed capacity.
    capacity: usize,
  },
}
