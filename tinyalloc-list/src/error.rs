//! The crate's error type.

use thiserror::Error;

/// Why a [`List`](crate::List) refused an operation. A refused operation
/// leaves every list and element exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ListError {
  /// The element to link is already linked into a list (this one or
  /// another).
  #[error("element is already linked into a list")]
  AlreadyLinked,
  /// The element (or anchor) is not linked into the list the operation was
  /// called on.
  #[error("element is not linked into this list")]
  NotOwner,
  /// The element to remove is not linked into any list.
  #[error("element is not linked into any list")]
  NotLinked,
}
