//! The intrusive doubly linked list.
//!
//! Invariants of a [`List`]:
//! - `head` is `None` exactly when `tail` is `None` exactly when `len == 0`;
//! - walking `next` from `head` visits `len` elements and ends at `tail`, and
//!   walking `prev` from `tail` visits the same elements in reverse;
//! - every element reached has `owner == Some(ListId::of(self))`.
//!
//! The owner check makes every checked operation O(1) and refuses to link an
//! element twice or to unlink it through a list that does not hold it.

use core::{
  fmt::{self, Debug, Formatter},
  ptr::NonNull,
};

use crate::{
  error::ListError,
  iter::{DrainIter, Iter, IterMut},
  link::{self, HasLink, ListId},
};

#[cfg(test)]
mod tests;

/// An intrusive doubly linked list of elements that embed a
/// [`Link`](crate::Link).
///
/// The list never allocates: it stores pointers to elements that live
/// elsewhere (for the allocator, in raw mapped memory). All operations are
/// O(1) except [`contains`](Self::contains), [`clear`](Self::clear) and
/// walking the iterators.
///
/// Dropping a list unlinks its remaining elements (their links become
/// unlinked), so they can be pushed into another list. Leaking a non-empty
/// list (`mem::forget`) leaves its elements marked as linked forever.
pub struct List<T: HasLink<T>> {
  head: Option<NonNull<T>>,
  tail: Option<NonNull<T>>,
  len: usize,
}

// SAFETY: a list is a set of pointers to elements whose links it alone
// writes, so it behaves like a collection of `&mut T`: sending it (or a
// `&mut List`) to another thread hands that thread access to the elements,
// which is sound exactly when `T: Send`. It has no thread-affine state.
unsafe impl<T: HasLink<T> + Send> Send for List<T> {}

impl<T: HasLink<T>> List<T> {
  /// An empty list.
  #[inline]
  pub const fn new() -> Self {
    Self {
      head: None,
      tail: None,
      len: 0,
    }
  }

  /// The number of linked elements.
  #[inline]
  pub const fn len(&self) -> usize {
    self.len
  }

  /// Whether the list has no elements.
  #[inline]
  pub const fn is_empty(&self) -> bool {
    self.len == 0
  }

  /// The first element.
  #[inline]
  pub const fn head(&self) -> Option<NonNull<T>> {
    self.head
  }

  /// The last element.
  #[inline]
  pub const fn tail(&self) -> Option<NonNull<T>> {
    self.tail
  }

  /// Links `item` at the back.
  ///
  /// # Errors
  /// [`ListError::AlreadyLinked`] if `item` is in a list (this one or
  /// another).
  ///
  /// # Safety
  /// - `item` points to a live element that stays valid and is not moved
  ///   while linked; its link is not overwritten while linked (not even by
  ///   assigning or swapping the whole element through a `&mut T`);
  /// - while an [`IterMut`] of this list yields `&mut T` to it, no other
  ///   reference to it is in use;
  /// - the list itself is not moved while non-empty (elements record its
  ///   address as their owner).
  #[inline]
  pub unsafe fn push(&mut self, item: NonNull<T>) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `item` is live.
    unsafe { Self::ensure_unlinked(item) }?;
    // SAFETY: `item` is live and unlinked; `tail` is this list's last
    // element.
    unsafe { self.link_between(self.tail, None, item) };
    Ok(())
  }

  /// Links `item` at the front.
  ///
  /// # Errors
  /// [`ListError::AlreadyLinked`] if `item` is in a list.
  ///
  /// # Safety
  /// As for [`push`](Self::push).
  #[inline]
  pub unsafe fn push_front(
    &mut self,
    item: NonNull<T>,
  ) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `item` is live.
    unsafe { Self::ensure_unlinked(item) }?;
    // SAFETY: `item` is live and unlinked; `head` is this list's first
    // element.
    unsafe { self.link_between(None, self.head, item) };
    Ok(())
  }

  /// Unlinks and returns the last element.
  #[inline]
  pub fn pop(&mut self) -> Option<NonNull<T>> {
    let item = self.tail?;
    // SAFETY: `tail` is linked into this list, hence live (contract of
    // `push`).
    unsafe { self.remove_unchecked(item) };
    Some(item)
  }

  /// Unlinks and returns the first element.
  #[inline]
  pub fn pop_front(&mut self) -> Option<NonNull<T>> {
    let item = self.head?;
    // SAFETY: `head` is linked into this list, hence live (contract of
    // `push`).
    unsafe { self.remove_unchecked(item) };
    Some(item)
  }

  /// Links `item` just before `anchor`.
  ///
  /// # Errors
  /// [`ListError::NotOwner`] if `anchor` is not in this list, else
  /// [`ListError::AlreadyLinked`] if `item` is in a list.
  ///
  /// # Safety
  /// `anchor` points to a live element; for `item`, as for
  /// [`push`](Self::push).
  #[inline]
  pub unsafe fn insert_before(
    &mut self,
    anchor: NonNull<T>,
    item: NonNull<T>,
  ) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `anchor` and `item` are live.
    unsafe { self.ensure_insertable(anchor, item) }?;
    // SAFETY: `anchor` is in this list, hence live, and so is its
    // predecessor.
    let prev = unsafe { link::prev(anchor) };
    // SAFETY: `item` is live and unlinked, and `prev`, `anchor` are
    // adjacent in this list.
    unsafe { self.link_between(prev, Some(anchor), item) };
    Ok(())
  }

  /// Links `item` just after `anchor`.
  ///
  /// # Errors
  /// [`ListError::NotOwner`] if `anchor` is not in this list, else
  /// [`ListError::AlreadyLinked`] if `item` is in a list.
  ///
  /// # Safety
  /// `anchor` points to a live element; for `item`, as for
  /// [`push`](Self::push).
  #[inline]
  pub unsafe fn insert_after(
    &mut self,
    anchor: NonNull<T>,
    item: NonNull<T>,
  ) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `anchor` and `item` are live.
    unsafe { self.ensure_insertable(anchor, item) }?;
    // SAFETY: `anchor` is in this list, hence live.
    let next = unsafe { link::next(anchor) };
    // SAFETY: `item` is live and unlinked, and `anchor`, `next` are
    // adjacent in this list.
    unsafe { self.link_between(Some(anchor), next, item) };
    Ok(())
  }

  /// Unlinks `item` in O(1).
  ///
  /// # Errors
  /// [`ListError::NotLinked`] if `item` is in no list,
  /// [`ListError::NotOwner`] if it is in another list.
  ///
  /// # Safety
  /// `item` points to a live element.
  #[inline]
  pub unsafe fn remove(&mut self, item: NonNull<T>) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `item` is live.
    match unsafe { link::owner(item) } {
      None => Err(ListError::NotLinked),
      Some(owner) if owner != self.id() => Err(ListError::NotOwner),
      Some(_) => {
        // SAFETY: `item` is live and its owner is this list.
        unsafe { self.remove_unchecked(item) };
        Ok(())
      }
    }
  }

  /// Unlinks `item` without checking which list holds it.
  ///
  /// # Safety
  /// `item` points to a live element linked into this list.
  #[inline]
  pub unsafe fn remove_unchecked(&mut self, item: NonNull<T>) {
    debug_assert!(
      // SAFETY: the caller guarantees `item` is live.
      unsafe { link::owner(item) } == Some(self.id()),
      "list invariant broken: remove_unchecked of an element not owned"
    );
    // SAFETY: `item` is live.
    let prev = unsafe { link::prev(item) };
    // SAFETY: `item` is live.
    let next = unsafe { link::next(item) };
    // SAFETY: the neighbours of an element of this list are in this list.
    unsafe { self.join(prev, next) };
    // SAFETY: `item` is live; unlinked, it keeps no neighbours nor owner.
    unsafe { link::set(item, None, None, None) };
    self.len -= 1;
  }

  /// Whether `item` is in this list. O(n): walks the list and never reads
  /// `item` itself, so it is safe for any pointer.
  pub fn contains(&self, item: NonNull<T>) -> bool {
    self.iter().any(|element| element == item)
  }

  /// The element after `item`, which lets a walk unlink the element it
  /// stands on (read the successor first, then remove).
  ///
  /// # Safety
  /// `item` points to a live element of this list.
  #[inline]
  pub unsafe fn next_of(&self, item: NonNull<T>) -> Option<NonNull<T>> {
    debug_assert!(
      // SAFETY: forwarded from the caller.
      unsafe { link::owner(item) } == Some(ListId::of(self)),
      "next_of takes an element of this list"
    );
    // SAFETY: forwarded from the caller.
    unsafe { link::next(item) }
  }

  /// Whether `item` is in any list.
  ///
  /// # Safety
  /// `item` points to a live element.
  #[inline]
  pub unsafe fn is_linked(item: NonNull<T>) -> bool {
    // SAFETY: the caller guarantees `item` is live.
    unsafe { link::owner(item) }.is_some()
  }

  /// Iterates over the elements, front to back.
  #[inline]
  pub fn iter<'list>(&'list self) -> Iter<'list, T> {
    // SAFETY: `head` starts this list, of `len` elements, and the borrow
    // of the list keeps it unchanged for `'list`.
    unsafe { Iter::new(self.head, self.len) }
  }

  /// Iterates over mutable references to the elements, front to back.
  ///
  /// Do not assign or swap whole elements through these references: that
  /// would move their links, which the contract of [`push`](Self::push)
  /// forbids while they are linked.
  #[inline]
  pub fn iter_mut<'list>(&'list mut self) -> IterMut<'list, T> {
    // SAFETY: as for `iter`, and the exclusive borrow of the list, with
    // the contract of `push`, makes the yielded references unique.
    unsafe { IterMut::new(self.head, self.len) }
  }

  /// Pops the elements from the front, each unlinked as it is yielded;
  /// dropping the iterator unlinks the rest.
  #[inline]
  pub fn drain<'list>(&'list mut self) -> DrainIter<'list, T> {
    DrainIter::new(self)
  }

  /// Unlinks every element. O(n).
  pub fn clear(&mut self) {
    while self.pop_front().is_some() {}
  }

  /// The identity elements record as their owner.
  #[inline]
  fn id(&self) -> ListId {
    ListId::of(self)
  }

  /// # Safety
  /// `item` points to a live element.
  #[inline]
  unsafe fn ensure_unlinked(item: NonNull<T>) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `item` is live.
    if unsafe { Self::is_linked(item) } {
      return Err(ListError::AlreadyLinked);
    }
    Ok(())
  }

  /// # Safety
  /// `anchor` and `item` point to live elements.
  #[inline]
  unsafe fn ensure_insertable(
    &self,
    anchor: NonNull<T>,
    item: NonNull<T>,
  ) -> Result<(), ListError> {
    // SAFETY: the caller guarantees `anchor` is live.
    if unsafe { link::owner(anchor) } != Some(self.id()) {
      return Err(ListError::NotOwner);
    }
    // SAFETY: the caller guarantees `item` is live.
    unsafe { Self::ensure_unlinked(item) }
  }

  /// Links the unlinked `item` between the adjacent `prev` and `next`
  /// (`None` meaning the list's ends).
  ///
  /// # Safety
  /// `item` points to a live unlinked element; `prev` and `next` are
  /// adjacent in this list (`prev` is `None` only if `next` is the head,
  /// `next` is `None` only if `prev` is the tail).
  #[inline]
  unsafe fn link_between(
    &mut self,
    prev: Option<NonNull<T>>,
    next: Option<NonNull<T>>,
    item: NonNull<T>,
  ) {
    // SAFETY: the caller guarantees `item` is live and unlinked.
    unsafe { link::set(item, prev, next, Some(self.id())) };
    let item = Some(item);
    // SAFETY: `prev` and `next` are elements of this list, hence live.
    unsafe { self.join(prev, item) };
    // SAFETY: as above.
    unsafe { self.join(item, next) };
    self.len += 1;
  }

  /// Makes `next` follow `prev`, updating the ends for `None`.
  ///
  /// # Safety
  /// `prev` and `next`, where `Some`, are live elements of this list (or
  /// being linked into it).
  #[inline]
  unsafe fn join(
    &mut self,
    prev: Option<NonNull<T>>,
    next: Option<NonNull<T>>,
  ) {
    match prev {
      // SAFETY: the caller guarantees `prev` is live.
      Some(prev) => unsafe { link::set_next(prev, next) },
      None => self.head = next,
    }
    match next {
      // SAFETY: the caller guarantees `next` is live.
      Some(next) => unsafe { link::set_prev(next, prev) },
      None => self.tail = prev,
    }
  }
}

/// A step along a walk: `link::next` or `link::prev`.
#[cfg(any(test, debug_assertions))]
type Step<T> = unsafe fn(NonNull<T>) -> Option<NonNull<T>>;

#[cfg(any(test, debug_assertions))]
impl<T: HasLink<T>> List<T> {
  /// Panics unless every invariant of the list holds: forward and backward
  /// walks agree with each other and with `len`, every element's owner is
  /// this list, the head has no predecessor and the tail no successor. O(n).
  pub fn check_invariants(&self) {
    assert_eq!(
      self.head.is_none(),
      self.len == 0,
      "list invariant broken: head is None exactly when len is 0"
    );
    self.check_walk(self.head, self.tail, link::next, link::prev);
    self.check_walk(self.tail, self.head, link::prev, link::next);
  }

  /// Walks from `start` by `step`, checking that `back` undoes each step,
  /// that each element is owned here, and that the walk ends at `end` after
  /// `len` elements.
  fn check_walk(
    &self,
    start: Option<NonNull<T>>,
    end: Option<NonNull<T>>,
    step: Step<T>,
    back: Step<T>,
  ) {
    let (mut before, mut current, mut count) = (None, start, 0);
    while let Some(item) = current {
      assert!(count < self.len, "list invariant broken: walk exceeds len");
      // SAFETY: elements linked into this list are live (contract of
      // `push`).
      let owner = unsafe { link::owner(item) };
      assert_eq!(owner, Some(self.id()), "list invariant broken: owner");
      // SAFETY: as above.
      let behind = unsafe { back(item) };
      assert_eq!(behind, before, "list invariant broken: walks disagree");
      before = current;
      // SAFETY: as above.
      current = unsafe { step(item) };
      count += 1;
    }
    assert_eq!(before, end, "list invariant broken: walk misses the end");
    assert_eq!(count, self.len, "list invariant broken: len");
  }
}

impl<T: HasLink<T>> Default for List<T> {
  fn default() -> Self {
    Self::new()
  }
}

impl<T: HasLink<T>> Drop for List<T> {
  /// Unlinks the remaining elements, so they can be linked again.
  fn drop(&mut self) {
    self.clear();
  }
}

impl<T: HasLink<T>> Debug for List<T> {
  fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
    f.debug_struct("List")
      .field("len", &self.len)
      .field("head", &self.head)
      .field("tail", &self.tail)
      .finish()
  }
}

impl<'list, T: HasLink<T>> IntoIterator for &'list List<T> {
  type Item = NonNull<T>;
  type IntoIter = Iter<'list, T>;

  fn into_iter(self) -> Iter<'list, T> {
    self.iter()
  }
}
