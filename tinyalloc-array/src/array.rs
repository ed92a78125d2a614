//! A fixed-capacity array with inline storage.
//!
//! Invariants: `len <= N`; the slots `items[..len]` are initialized and
//! owned by the array; the slots `items[len..]` are uninitialized (or hold
//! values that were moved out and must not be dropped again).

use core::{
  fmt::{self, Debug, Formatter},
  mem::{ManuallyDrop, MaybeUninit},
  ops::{Deref, DerefMut},
  ptr,
  slice::{self, Iter, IterMut},
};

use crate::{ArrayError, IntoIter};

#[cfg(test)]
mod tests;

/// Up to `N` values of `T`, stored inline with no heap allocation.
pub struct Array<T, const N: usize> {
  items: [MaybeUninit<T>; N],
  /// Number of initialized slots at the front of `items`; at most `N`.
  len: usize,
}

impl<T, const N: usize> Array<T, N> {
  /// An empty array.
  #[inline]
  #[must_use]
  pub const fn new() -> Self {
    Self {
      items: [const { MaybeUninit::uninit() }; N],
      len: 0,
    }
  }

  /// The number of elements.
  #[inline]
  #[must_use]
  pub const fn len(&self) -> usize {
    self.len
  }

  /// The fixed capacity, `N`.
  #[inline]
  #[must_use]
  pub const fn capacity(&self) -> usize {
    N
  }

  /// Whether the array holds no element.
  #[inline]
  #[must_use]
  pub const fn is_empty(&self) -> bool {
    self.len == 0
  }

  /// Whether the array holds `N` elements, so that `push` and `insert` fail.
  #[inline]
  #[must_use]
  pub const fn is_full(&self) -> bool {
    self.len == N
  }

  /// The elements as a slice.
  #[inline]
  #[must_use]
  pub fn as_slice(&self) -> &[T] {
    // SAFETY: the first `len` slots are initialized, `MaybeUninit<T>` has
    // the layout of `T`, and the shared borrow of `self` keeps them alive
    // and unmodified for the returned lifetime.
    unsafe { slice::from_raw_parts(self.items.as_ptr().cast::<T>(), self.len) }
  }

  /// The elements as a mutable slice.
  #[inline]
  #[must_use]
  pub fn as_mut_slice(&mut self) -> &mut [T] {
    let len = self.len;
    let base = self.items.as_mut_ptr().cast::<T>();
    // SAFETY: the first `len` slots are initialized, `MaybeUninit<T>` has
    // the layout of `T`, and the exclusive borrow of `self` makes the slice
    // the only access path for its lifetime.
    unsafe { slice::from_raw_parts_mut(base, len) }
  }

  /// Appends `value`, dropping it if the array is full.
  ///
  /// # Errors
  /// [`ArrayError::InsufficientCapacity`] if the array is full; `value` is
  /// then dropped. Use [`Array::try_push`] to get it back instead.
  #[inline]
  pub fn push(&mut self, value: T) -> Result<(), ArrayError> {
    self
      .try_push(value)
      .map_err(|_rejected| self.capacity_error())
  }

  /// Appends `value`, handing it back if the array is full.
  ///
  /// # Errors
  /// Returns `value` unchanged if the array is full.
  #[inline]
  pub fn try_push(&mut self, value: T) -> Result<(), T> {
    if self.is_full() {
      return Err(value);
    }
    self.items[self.len].write(value);
    self.len += 1;
    Ok(())
  }

  /// Removes and returns the last element, or `None` if the array is empty.
  #[inline]
  pub fn pop(&mut self) -> Option<T> {
    let last = self.len.checked_sub(1)?;
    self.len = last;
    // SAFETY: slot `last` was below the old length, so it is initialized;
    // the length now excludes it, so the value is read out exactly once.
    Some(unsafe { self.items[last].assume_init_read() })
  }

  /// A reference to the element at `index`, or `None` if out of bounds.
  #[inline]
  #[must_use]
  pub fn get(&self, index: usize) -> Option<&T> {
    self.as_slice().get(index)
  }

  /// A mutable reference to the element at `index`, or `None` if out of
  /// bounds.
  #[inline]
  #[must_use]
  pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
    self.as_mut_slice().get_mut(index)
  }

  /// A reference to the element at `index`, without bounds checking.
  ///
  /// # Safety
  /// `index` must be less than `self.len()`.
  #[inline]
  #[must_use]
  pub unsafe fn get_unchecked(&self, index: usize) -> &T {
    debug_assert!(index < self.len, "get_unchecked: index < len violated");
    // SAFETY: the caller guarantees `index < len`, the slice's length.
    unsafe { self.as_slice().get_unchecked(index) }
  }

  /// A mutable reference to the element at `index`, without bounds
  /// checking.
  ///
  /// # Safety
  /// `index` must be less than `self.len()`.
  #[inline]
  #[must_use]
  pub unsafe fn get_unchecked_mut(&mut self, index: usize) -> &mut T {
    debug_assert!(index < self.len, "get_unchecked_mut: index < len violated");
    // SAFETY: the caller guarantees `index < len`, the slice's length.
    unsafe { self.as_mut_slice().get_unchecked_mut(index) }
  }

  /// Inserts `value` at `index`, shifting the later elements right.
  ///
  /// # Errors
  /// [`ArrayError::OutOfBounds`] if `index > len`, else
  /// [`ArrayError::InsufficientCapacity`] if the array is full. In both
  /// cases `value` is dropped and the array is unchanged.
  pub fn insert(&mut self, index: usize, value: T) -> Result<(), ArrayError> {
    if index > self.len {
      return Err(self.bounds_error(index));
    }
    if self.is_full() {
      return Err(self.capacity_error());
    }
    let old_len = self.len;
    self.items[old_len].write(value);
    self.len += 1;
    // Rotating `MaybeUninit` slots moves the new value into place and the
    // tail right by one without touching the values themselves.
    self.items[index..=old_len].rotate_right(1);
    Ok(())
  }

  /// Removes and returns the element at `index`, shifting the later
  /// elements left.
  ///
  /// # Errors
  /// [`ArrayError::OutOfBounds`] if `index >= len`.
  pub fn remove(&mut self, index: usize) -> Result<T, ArrayError> {
    if index >= self.len {
      return Err(self.bounds_error(index));
    }
    self.items[index..self.len].rotate_left(1);
    Ok(self.pop_live())
  }

  /// Removes and returns the element at `index`, moving the last element
  /// into its place: O(1), but does not keep the order.
  ///
  /// # Errors
  /// [`ArrayError::OutOfBounds`] if `index >= len`.
  pub fn swap_remove(&mut self, index: usize) -> Result<T, ArrayError> {
    if index >= self.len {
      return Err(self.bounds_error(index));
    }
    self.items.swap(index, self.len - 1);
    Ok(self.pop_live())
  }

  /// Drops every element, leaving the array empty.
  pub fn clear(&mut self) {
    let live = ptr::slice_from_raw_parts_mut(
      self.items.as_mut_ptr().cast::<T>(),
      self.len,
    );
    // Forget the elements before dropping them: if a destructor panics,
    // neither the array's own `Drop` nor later use may see them again.
    self.len = 0;
    // SAFETY: `live` covers the slots that were initialized and owned by
    // the array; the length no longer includes them, so each is dropped
    // exactly once.
    unsafe { ptr::drop_in_place(live) };
  }

  /// An iterator over references to the elements.
  #[inline]
  pub fn iter<'array>(&'array self) -> Iter<'array, T> {
    self.as_slice().iter()
  }

  /// An iterator over mutable references to the elements.
  #[inline]
  pub fn iter_mut<'array>(&'array mut self) -> IterMut<'array, T> {
    self.as_mut_slice().iter_mut()
  }

  /// Panics if a structural invariant is broken.
  #[cfg(any(test, debug_assertions))]
  pub fn check_invariants(&self) {
    assert!(self.len <= N, "Array: len <= N violated");
  }

  /// Pops an element the caller knows is there.
  fn pop_live(&mut self) -> T {
    match self.pop() {
      Some(value) => value,
      None => unreachable!("Array: removal from an empty array"),
    }
  }

  fn bounds_error(&self, index: usize) -> ArrayError {
    ArrayError::OutOfBounds {
      index,
      len: self.len,
    }
  }

  fn capacity_error(&self) -> ArrayError {
    ArrayError::InsufficientCapacity { capacity: N }
  }
}

impl<T, const N: usize> Default for Array<T, N> {
  #[inline]
  fn default() -> Self {
    Self::new()
  }
}

impl<T, const N: usize> Drop for Array<T, N> {
  fn drop(&mut self) {
    self.clear();
  }
}

impl<T, const N: usize> Deref for Array<T, N> {
  type Target = [T];

  #[inline]
  fn deref(&self) -> &[T] {
    self.as_slice()
  }
}

impl<T, const N: usize> DerefMut for Array<T, N> {
  #[inline]
  fn deref_mut(&mut self) -> &mut [T] {
    self.as_mut_slice()
  }
}

impl<T: Clone, const N: usize> Clone for Array<T, N> {
  fn clone(&self) -> Self {
    let mut copy = Self::new();
    for item in self {
      // Same capacity, so every clone fits; a panicking `clone` drops the
      // elements cloned so far through `copy`'s destructor.
      copy.items[copy.len].write(item.clone());
      copy.len += 1;
    }
    copy
  }
}

impl<T: Debug, const N: usize> Debug for Array<T, N> {
  fn fmt<'formatter>(&self, f: &mut Formatter<'formatter>) -> fmt::Result {
    f.debug_list().entries(self.iter()).finish()
  }
}

impl<T: PartialEq, const N: usize, const M: usize> PartialEq<Array<T, M>>
  for Array<T, N>
{
  #[inline]
  fn eq(&self, other: &Array<T, M>) -> bool {
    self.as_slice() == other.as_slice()
  }
}

impl<T: Eq, const N: usize> Eq for Array<T, N> {}

impl<'array, T, const N: usize> IntoIterator for &'array Array<T, N> {
  type Item = &'array T;
  type IntoIter = Iter<'array, T>;

  #[inline]
  fn into_iter(self) -> Iter<'array, T> {
    self.iter()
  }
}

impl<'array, T, const N: usize> IntoIterator for &'array mut Array<T, N> {
  type Item = &'array mut T;
  type IntoIter = IterMut<'array, T>;

  #[inline]
  fn into_iter(self) -> IterMut<'array, T> {
    self.iter_mut()
  }
}

impl<T, const N: usize> IntoIterator for Array<T, N> {
  type Item = T;
  type IntoIter = IntoIter<T, N>;

  #[inline]
  fn into_iter(self) -> IntoIter<T, N> {
    let this = ManuallyDrop::new(self);
    // SAFETY: `this` is never dropped, so the slots are moved out exactly
    // once, and `IntoIter` takes over ownership of `items[..len]`.
    let items = unsafe { ptr::read(&this.items) };
    // SAFETY: by the array's invariant, `items[..len]` are initialized and,
    // with `this` forgotten, owned by nobody else.
    unsafe { IntoIter::new(items, this.len) }
  }
}
