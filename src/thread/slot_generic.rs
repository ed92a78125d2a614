//! The heap slot as a `thread_local!` cell, where no faster model is
//! written.

use core::cell::Cell;
use core::ptr::{NonNull, addr_of};

use tinyalloc_alloc::{Heap, UNOWNED_HEAP};

thread_local! {
  static HEAP: Cell<*const Heap> = const { Cell::new(addr_of!(UNOWNED_HEAP)) };
}

/// The calling thread's heap pointer (the unowned heap until it has one).
#[inline]
pub(super) fn get() -> NonNull<Heap> {
  let heap = HEAP.with(Cell::get).cast_mut();
  // SAFETY: the slot only ever holds a heap's address.
  unsafe { NonNull::new_unchecked(heap) }
}

/// Sets the calling thread's heap pointer.
#[inline]
pub(super) fn set(heap: NonNull<Heap>) {
  let heap = heap.as_ptr().cast_const();
  HEAP.with(|slot| slot.set(heap));
}
