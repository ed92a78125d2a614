//! Iterators over a [`List`].
//!
//! [`Iter`] and [`IterMut`] borrow the list, so it cannot change while they
//! walk it; each reads the next pointer of an element before yielding it, so
//! a yielded `&mut T` is never aliased by the iterator's own reads.
//! [`DrainIter`] unlinks through the list itself.

use core::{iter::FusedIterator, marker::PhantomData, ptr::NonNull};

use crate::{
  link::{self, HasLink},
  list::List,
};

/// The cursor shared by [`Iter`] and [`IterMut`].
struct Cursor<T> {
  next: Option<NonNull<T>>,
  /// Elements not yet yielded; the walk stops after `remaining` of them.
  remaining: usize,
}

impl<T: HasLink<T>> Cursor<T> {
  /// Yields the current element and moves past it.
  ///
  /// # Safety
  /// The cursor walks a list that stays unchanged while it walks.
  #[inline]
  unsafe fn advance(&mut self) -> Option<NonNull<T>> {
    let item = self.next?;
    // SAFETY: `item` is linked into the list being walked, hence live.
    self.next = unsafe { link::next(item) };
    self.remaining -= 1;
    Some(item)
  }
}

/// Iterator over the elements of a [`List`], front to back, as pointers.
pub struct Iter<'list, T: HasLink<T>> {
  cursor: Cursor<T>,
  list: PhantomData<&'list List<T>>,
}

impl<'list, T: HasLink<T>> Iter<'list, T> {
  /// # Safety
  /// `head` starts a list of `len` elements that stays unchanged for
  /// `'list`.
  #[inline]
  pub(crate) unsafe fn new(head: Option<NonNull<T>>, len: usize) -> Self {
    Self {
      cursor: Cursor {
        next: head,
        remaining: len,
      },
      list: PhantomData,
    }
  }
}

impl<'list, T: HasLink<T>> Iterator for Iter<'list, T> {
  type Item = NonNull<T>;

  #[inline]
  fn next(&mut self) -> Option<NonNull<T>> {
    // SAFETY: the list is borrowed for `'list`, so it does not change.
    unsafe { self.cursor.advance() }
  }

  #[inline]
  fn size_hint(&self) -> (usize, Option<usize>) {
    (self.cursor.remaining, Some(self.cursor.remaining))
  }
}

impl<'list, T: HasLink<T>> ExactSizeIterator for Iter<'list, T> {}
impl<'list, T: HasLink<T>> FusedIterator for Iter<'list, T> {}

/// Iterator over mutable references to the elements of a [`List`], front to
/// back.
pub struct IterMut<'list, T: HasLink<T>> {
  cursor: Cursor<T>,
  list: PhantomData<&'list mut List<T>>,
}

impl<'list, T: HasLink<T>> IterMut<'list, T> {
  /// # Safety
  /// `head` starts a list of `len` elements that is exclusively borrowed
  /// for `'list`.
  #[inline]
  pub(crate) unsafe fn new(head: Option<NonNull<T>>, len: usize) -> Self {
    Self {
      cursor: Cursor {
        next: head,
        remaining: len,
      },
      list: PhantomData,
    }
  }
}

impl<'list, T: HasLink<T>> Iterator for IterMut<'list, T> {
  type Item = &'list mut T;

  #[inline]
  fn next(&mut self) -> Option<&'list mut T> {
    // SAFETY: the list is exclusively borrowed for `'list`, so it does not
    // change.
    let mut item = unsafe { self.cursor.advance() }?;
    // SAFETY: `item` is live (contract of `push`), each element is yielded
    // once, and the cursor already read past it, so this reference is the
    // only one in use for `'list`.
    Some(unsafe { item.as_mut() })
  }

  #[inline]
  fn size_hint(&self) -> (usize, Option<usize>) {
    (self.cursor.remaining, Some(self.cursor.remaining))
  }
}

impl<'list, T: HasLink<T>> ExactSizeIterator for IterMut<'list, T> {}
impl<'list, T: HasLink<T>> FusedIterator for IterMut<'list, T> {}

/// Draining iterator of a [`List`]: pops elements from the front, each
/// unlinked as it is yielded. Dropping it unlinks the rest.
pub struct DrainIter<'list, T: HasLink<T>> {
  list: &'list mut List<T>,
}

impl<'list, T: HasLink<T>> DrainIter<'list, T> {
  #[inline]
  pub(crate) fn new(list: &'list mut List<T>) -> Self {
    Self { list }
  }
}

impl<'list, T: HasLink<T>> Iterator for DrainIter<'list, T> {
  type Item = NonNull<T>;

  #[inline]
  fn next(&mut self) -> Option<NonNull<T>> {
    self.list.pop_front()
  }

  #[inline]
  fn size_hint(&self) -> (usize, Option<usize>) {
    (self.list.len(), Some(self.list.len()))
  }
}

impl<'list, T: HasLink<T>> ExactSizeIterator for DrainIter<'list, T> {}
impl<'list, T: HasLink<T>> FusedIterator for DrainIter<'list, T> {}

impl<'list, T: HasLink<T>> Drop for DrainIter<'list, T> {
  fn drop(&mut self) {
    self.list.clear();
  }
}
