#![doc = include_str!("../README.md")]

mod purger;
mod report;
mod thread;

#[cfg(feature = "ffi")]
mod ffi;

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};

use tinyalloc_alloc::{Heap, MIN_ALIGN};

pub use purger::{purge_thread_started, start_purge_thread};
use thread::{fast_heap, heap, local_heap};
pub use tinyalloc_alloc::{AllocError, Stats};
pub use tinyalloc_sys::MapError;

/// The TinyAlloc global allocator:
/// `#[global_allocator] static GLOBAL: TinyAlloc = TinyAlloc;`
#[derive(Debug, Clone, Copy, Default)]
pub struct TinyAlloc;

/// A snapshot of the allocator's counters: live bytes, allocation and free
/// counts, mapped and committed bytes, segments, arenas, heaps,
/// cross-thread frees, purges and swept pages.
pub fn stats() -> Stats {
  // SAFETY: the thread-local heap is owned by this thread.
  unsafe { tinyalloc_alloc::stats(local_heap()) }
}

/// Gives back to the OS all the memory that can go: the calling thread's
/// empty segments and the free pages of its sparse ones, and every arena's
/// free pages without waiting for the purge delay. Returns how many bytes
/// went back (other threads may commit or give back memory at the same
/// time).
pub fn collect() -> usize {
  let heap = local_heap();
  // SAFETY: the thread-local heap is owned by this thread.
  unsafe { tinyalloc_alloc::collect(heap) }
}

/// Allocates `size` bytes aligned to `align` (a power of two).
#[inline]
fn allocate(size: usize, align: usize) -> Result<NonNull<u8>, AllocError> {
  match allocate_fast(size, align) {
    Some(block) => Ok(block),
    None => allocate_slow(size, align),
  }
}

/// The fast path of [`allocate`]: a small block of the calling thread's
/// heap, if it has one at hand. No call, no atomic, no lock.
#[inline]
fn allocate_fast(size: usize, align: usize) -> Option<NonNull<u8>> {
  if align > MIN_ALIGN {
    return None;
  }
  // SAFETY: the thread-local heap is owned by this thread (or is the
  // unowned heap, which has no block to give).
  unsafe { fast_heap().try_malloc(size) }
}

/// [`allocate`] beyond the fast path: first allocation of the thread,
/// alignment, a segment to refill, a large block.
#[cold]
#[inline(never)]
fn allocate_slow(size: usize, align: usize) -> Result<NonNull<u8>, AllocError> {
  let heap = heap()?;
  if align <= MIN_ALIGN {
    // SAFETY: the thread-local heap is owned by this thread.
    unsafe { heap.malloc(size) }
  } else {
    // SAFETY: the thread-local heap is owned by this thread.
    unsafe { heap.malloc_aligned(size, align) }
  }
}

/// Frees a block from any thread; null does nothing.
///
/// # Safety
/// `pointer` is null or not used again; one not from us stops the process.
#[inline]
unsafe fn deallocate(pointer: *mut u8) {
  // SAFETY: the thread-local heap is owned by this thread (or is the
  // unowned heap); the pointer is the caller's to give up.
  unsafe { Heap::free_raw(fast_heap(), pointer) };
}

/// [`GlobalAlloc::alloc`] beyond the fast path; a tail call, so the fast
/// path needs no stack frame.
#[cold]
#[inline(never)]
fn alloc_slow(size: usize, align: usize) -> *mut u8 {
  or_null(allocate_slow(size, align))
}

/// The null pointer an allocation failure returns.
fn or_null(result: Result<NonNull<u8>, AllocError>) -> *mut u8 {
  result.map_or(ptr::null_mut(), NonNull::as_ptr)
}

// `alloc` and `dealloc` are kept out of line (`#[inline(never)]`): inlined,
// their fast paths are copied into every caller that LTO reaches (about
// 1000 allocating and 3800 freeing call sites in the bench binary, 330 KiB
// of text), and a program's resident text grows with the code it is spread
// over: the bench binary's start-up peak fell by about 0.1 MiB, `threads`
// and `larson` by 0.15 to 0.4 MiB, for one call per allocation (`churn`
// 7% slower, the other workloads within noise). See docs/ENGINE.md.
//
// SAFETY: every block returned is fresh, at least `layout.size()` bytes and
// aligned to `layout.align()`; blocks are freed only through `dealloc`.
unsafe impl GlobalAlloc for TinyAlloc {
  #[inline(never)]
  unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
    match allocate_fast(layout.size(), layout.align()) {
      Some(block) => block.as_ptr(),
      None => alloc_slow(layout.size(), layout.align()),
    }
  }

  #[inline(never)]
  unsafe fn dealloc(&self, pointer: *mut u8, _layout: Layout) {
    // SAFETY: the caller gives the block up.
    unsafe { deallocate(pointer) };
  }

  unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
    let result = heap().and_then(|heap| {
      // SAFETY: the thread-local heap is owned by this thread.
      unsafe { heap.malloc_zeroed(layout.size(), layout.align()) }
    });
    or_null(result)
  }

  unsafe fn realloc(
    &self,
    pointer: *mut u8,
    layout: Layout,
    new_size: usize,
  ) -> *mut u8 {
    let Some(pointer) = NonNull::new(pointer) else {
      return or_null(allocate(new_size, layout.align()));
    };
    let result = heap().and_then(|heap| {
      // SAFETY: the thread-local heap is owned by this thread; the caller
      // gives the old block up on success.
      unsafe { heap.realloc(pointer, new_size, layout.align()) }
    });
    or_null(result)
  }
}
