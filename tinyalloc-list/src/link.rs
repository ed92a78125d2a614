//! The intrusive link embedded in every element, and the trait that finds it.
//!
//! Invariants of a [`Link`]:
//! - `owner` is `Some(id)` exactly while the element is linked into the list
//!   whose address is `id`, and `None` otherwise;
//! - while unlinked, `next` and `prev` are `None`;
//! - while linked, `next`/`prev` point to the neighbouring elements of the
//!   same list (`None` at the ends).
//!
//! Only [`List`](crate::List) writes links, always through the raw element
//! accessors below, so that no reference to an element is ever created
//! behind the caller's back.

use core::{
  fmt::{self, Debug, Formatter},
  ptr::NonNull,
};

/// Intrusive link embedded in an element of a [`List`](crate::List).
///
/// It records the element's neighbours and which list holds it, so that an
/// element can be removed in O(1) and can never be linked into two lists at
/// once.
pub struct Link<T> {
  next: Option<NonNull<T>>,
  prev: Option<NonNull<T>>,
  owner: Option<ListId>,
}

impl<T> Link<T> {
  /// An unlinked link, ready to be embedded in a new element.
  #[inline]
  pub const fn new() -> Self {
    Self {
      next: None,
      prev: None,
      owner: None,
    }
  }

  /// Whether the element holding this link is currently in a list.
  #[inline]
  pub const fn is_linked(&self) -> bool {
    self.owner.is_some()
  }
}

impl<T> Default for Link<T> {
  fn default() -> Self {
    Self::new()
  }
}

impl<T> Debug for Link<T> {
  fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
    f.debug_struct("Link")
      .field("next", &self.next)
      .field("prev", &self.prev)
      .field("owner", &self.owner)
      .finish()
  }
}

/// Finds the [`Link`] embedded in an element.
///
/// [`impl_has_link!`](crate::impl_has_link) implements it for a struct field
/// without any `unsafe` on the implementer's side.
///
/// # Safety
/// `link` must return a pointer to a `Link<T>` inside the element `item`
/// points to, the same one every time, and must not read or write through
/// `item`: lists call it on elements that other code may be borrowing.
pub unsafe trait HasLink<T> {
  /// The address of `item`'s link. Pure address arithmetic.
  fn link(item: NonNull<T>) -> NonNull<Link<T>>;
}

/// Implements [`HasLink`] for a struct whose field `$field` is a
/// `Link<$ty>`, by pure address arithmetic (`offset_of!`), so the
/// implementation is safe to call on any pointer.
///
/// ```rust
/// use tinyalloc_list::{Link, impl_has_link};
///
/// struct Segment {
///   used: usize,
///   queue: Link<Segment>,
/// }
/// impl_has_link!(Segment, queue);
/// ```
#[macro_export]
macro_rules! impl_has_link {
  ($ty:ty, $field:ident) => {
    // SAFETY: the field is checked to be a `Link<$ty>`, and `link` adds
    // its constant `offset_of!` to the element's address, so it returns the
    // same field of the same element every time and never dereferences.
    unsafe impl $crate::HasLink<$ty> for $ty {
      #[inline]
      fn link(
        item: ::core::ptr::NonNull<$ty>,
      ) -> ::core::ptr::NonNull<$crate::Link<$ty>> {
        const _: fn(&$ty) -> &$crate::Link<$ty> = |element| &element.$field;
        let offset = ::core::mem::offset_of!($ty, $field);
        item.map_addr(|addr| addr.saturating_add(offset)).cast()
      }
    }
  };
}

/// Identity of a list: its address, compared but never dereferenced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ListId(NonNull<()>);

impl ListId {
  /// The identity of the list `list` while it stays at its address.
  #[inline]
  pub(crate) fn of<L>(list: &L) -> Self {
    Self(NonNull::from(list).cast())
  }
}

/// The link of `item` as a raw place.
#[inline]
fn raw<T: HasLink<T>>(item: NonNull<T>) -> *mut Link<T> {
  T::link(item).as_ptr()
}

/// The element after `item` in its list.
///
/// # Safety
/// `item` points to a live element.
#[inline]
pub(crate) unsafe fn next<T: HasLink<T>>(
  item: NonNull<T>,
) -> Option<NonNull<T>> {
  // SAFETY: the caller guarantees `item` is live, and `HasLink` guarantees
  // its link lies inside it; the read creates no reference.
  unsafe { (*raw(item)).next }
}

/// The element before `item` in its list.
///
/// # Safety
/// `item` points to a live element.
#[inline]
pub(crate) unsafe fn prev<T: HasLink<T>>(
  item: NonNull<T>,
) -> Option<NonNull<T>> {
  // SAFETY: the caller guarantees `item` is live, and `HasLink` guarantees
  // its link lies inside it; the read creates no reference.
  unsafe { (*raw(item)).prev }
}

/// The list holding `item`, if any.
///
/// # Safety
/// `item` points to a live element.
#[inline]
pub(crate) unsafe fn owner<T: HasLink<T>>(item: NonNull<T>) -> Option<ListId> {
  // SAFETY: the caller guarantees `item` is live, and `HasLink` guarantees
  // its link lies inside it; the read creates no reference.
  unsafe { (*raw(item)).owner }
}

/// Sets the element after `item`.
///
/// # Safety
/// `item` points to a live element that no one else is accessing.
#[inline]
pub(crate) unsafe fn set_next<T: HasLink<T>>(
  item: NonNull<T>,
  next: Option<NonNull<T>>,
) {
  // SAFETY: the caller guarantees `item` is live and not being accessed,
  // and `HasLink` guarantees its link lies inside it.
  unsafe { (*raw(item)).next = next };
}

/// Sets the element before `item`.
///
/// # Safety
/// `item` points to a live element that no one else is accessing.
#[inline]
pub(crate) unsafe fn set_prev<T: HasLink<T>>(
  item: NonNull<T>,
  prev: Option<NonNull<T>>,
) {
  // SAFETY: the caller guarantees `item` is live and not being accessed,
  // and `HasLink` guarantees its link lies inside it.
  unsafe { (*raw(item)).prev = prev };
}

/// Overwrites `item`'s whole link.
///
/// # Safety
/// `item` points to a live element that no one else is accessing.
#[inline]
pub(crate) unsafe fn set<T: HasLink<T>>(
  item: NonNull<T>,
  prev: Option<NonNull<T>>,
  next: Option<NonNull<T>>,
  owner: Option<ListId>,
) {
  // SAFETY: the caller guarantees `item` is live and not being accessed,
  // and `HasLink` guarantees its link lies inside it. `Link` has no drop
  // glue, so overwriting in place is a plain write.
  unsafe { raw(item).write(Link { next, prev, owner }) };
}
