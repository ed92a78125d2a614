//! The crate's error type.

use thiserror::Error;

/// Errors of [`Bitmap`](crate::Bitmap) operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BitmapError {
  /// The storage holds fewer bits than the bitmap's requested length.
  #[error("storage of {capacity} bits is too small for {bits} bits")]
  TooSmall {
    /// Requested length in bits.
    bits: usize,
    /// Bits the storage can hold.
    capacity: usize,
  },
  /// An index, or the last index of a range, is not below the length.
  #[error("bit index {index} is out of bounds for length {len}")]
  OutOfBounds {
    /// The offending index (for a range: its last index, saturated).
    index: usize,
    /// The bitmap's length in bits.
    len: usize,
  },
}
