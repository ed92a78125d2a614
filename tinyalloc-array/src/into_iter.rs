//! The owning iterator of an [`Array`](crate::Array).
//!
//! Invariants: `start <= end <= N`; the slots `items[start..end]` are
//! initialized and owned by the iterator; every other slot is uninitialized
//! or already moved out.

use core::{
  fmt::{self, Debug, Formatter},
  iter::FusedIterator,
  mem::MaybeUninit,
  ptr, slice,
};

#[cfg(test)]
mod tests;

/// An iterator that moves the elements out of an
/// [`Array`](crate::Array), front to back. Dropping it drops the elements
/// not yet yielded.
pub struct IntoIter<T, const N: usize> {
  items: [MaybeUninit<T>; N],
  /// Index of the next element to yield from the front.
  start: usize,
  /// One past the index of the next element to yield from the back.
  end: usize,
}

impl<T, const N: usize> IntoIter<T, N> {
  /// Takes ownership of `items[..len]`.
  ///
  /// # Safety
  /// `len <= N`, the slots `items[..len]` must be initialized, and nothing
  /// else may drop or use their values afterwards.
  pub(crate) unsafe fn new(items: [MaybeUninit<T>; N], len: usize) -> Self {
    debug_assert!(len <= N, "IntoIter::new: len <= N violated");
    Self {
      items,
      start: 0,
      end: len,
    }
  }

  /// The elements not yet yielded, as a slice.
  #[must_use]
  pub fn as_slice(&self) -> &[T] {
    let first = self.items[self.start..self.end].as_ptr().cast::<T>();
    // SAFETY: `items[start..end]` are initialized, `MaybeUninit<T>` has the
    // layout of `T`, and the shared borrow of `self` keeps them alive.
    unsafe { slice::from_raw_parts(first, self.end - self.start) }
  }

  /// Panics if a structural invariant is broken.
  #[cfg(any(test, debug_assertions))]
  pub fn check_invariants(&self) {
    assert!(self.start <= self.end, "IntoIter: start <= end violated");
    assert!(self.end <= N, "IntoIter: end <= N violated");
  }

  /// Moves the value out of a slot the caller has just excluded from the
  /// live range.
  ///
  /// # Safety
  /// `index` was in the live range before the caller shrank it, so the slot
  /// is initialized and will not be read or dropped again.
  unsafe fn take(&mut self, index: usize) -> T {
    // SAFETY: the caller guarantees the slot is initialized and that this
    // is its only read.
    unsafe { self.items[index].assume_init_read() }
  }
}

impl<T, const N: usize> Iterator for IntoIter<T, N> {
  type Item = T;

  #[inline]
  fn next(&mut self) -> Option<T> {
    if self.start == self.end {
      return None;
    }
    let index = self.start;
    self.start += 1;
    // SAFETY: `index` was the first live slot and is now excluded.
    Some(unsafe { self.take(index) })
  }

  #[inline]
  fn size_hint(&self) -> (usize, Option<usize>) {
    let remaining = self.end - self.start;
    (remaining, Some(remaining))
  }
}

impl<T, const N: usize> DoubleEndedIterator for IntoIter<T, N> {
  #[inline]
  fn next_back(&mut self) -> Option<T> {
    if self.start == self.end {
      return None;
    }
    self.end -= 1;
    let index = self.end;
    // SAFETY: `index` was the last live slot and is now excluded.
    Some(unsafe { self.take(index) })
  }
}

impl<T, const N: usize> ExactSizeIterator for IntoIter<T, N> {}

impl<T, const N: usize> FusedIterator for IntoIter<T, N> {}

impl<T, const N: usize> Drop for IntoIter<T, N> {
  fn drop(&mut self) {
    let live = &mut self.items[self.start..self.end];
    let live =
      ptr::slice_from_raw_parts_mut(live.as_mut_ptr().cast::<T>(), live.len());
    // Empty the live range before dropping: if a destructor panics, no
    // later access may see those slots as live again.
    self.start = self.end;
    // SAFETY: `live` covers exactly the initialized slots the iterator
    // still owned; the range is now empty, so each is dropped once.
    unsafe { ptr::drop_in_place(live) };
  }
}

impl<T: Debug, const N: usize> Debug for IntoIter<T, N> {
  fn fmt<'formatter>(&self, f: &mut Formatter<'formatter>) -> fmt::Result {
    f.debug_tuple("IntoIter").field(&self.as_slice()).finish()
  }
}
