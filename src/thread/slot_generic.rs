//! The heap slot as a `thread_local!` cell, where no faster model is
//! written.

use core::cell::Cell;
use core::ptr::NonNull;

use tinyalloc_alloc::Heap;

thread_local! {
  static HEAP: Cell<Option<NonNull<Heap>>> = const { Cell::new(None) };
}

/// The calling thread's heap pointer.
#[inline]
pub(super) fn get() -> Option<NonNull<Heap>> {
  HEAP.with(Cell::get)
}

/// Sets the calling thread's heap pointer.
#[inline]
pub(super) fn set(heap: Option<NonNull<Heap>>) {
  HEAP.with(|slot| slot.set(heap));
}
