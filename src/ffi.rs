//! The C ABI: glibc's malloc family, for `LD_PRELOAD` or static linking,
//! on the same engine and thread-local heaps as [`TinyAlloc`].
//!
//! The contract is the one glibc's manual states; where the manual is
//! silent, the one glibc 2.36 implements:
//! - every result is aligned to `max_align_t` ([`MIN_ALIGN`]), and
//!   `malloc(0)` returns a unique pointer;
//! - a failure returns null with `errno = ENOMEM`; a request no machine can
//!   serve (`SIZE_MAX`, an overflowing `calloc` or `reallocarray`) is a
//!   failure, never a crash;
//! - `realloc(p, 0)` frees `p` and returns null without touching `errno`
//!   (glibc's `REALLOC_ZERO_BYTES_FREES`), and `realloc(NULL, n)` is
//!   `malloc(n)`;
//! - `aligned_alloc` and `memalign` refuse an alignment that is not a power
//!   of two (zero included) with `EINVAL`, as the manual says (glibc 2.36
//!   itself rounds such an alignment up);
//! - `posix_memalign` returns `EINVAL` for an alignment that is not a power
//!   of two multiple of `sizeof(void *)`, and its errors leave `errno` and
//!   `*memptr` alone;
//! - `mallopt` accepts and ignores every parameter and returns 1, as glibc
//!   does for the ones it does not know.
//!
//! Nothing here may allocate, lock a lock that `malloc` needs, or panic (a
//! panic would allocate): the loader and the C library call these before
//! `main`, in `dlopen`, and at thread creation and exit.
//!
//! [`TinyAlloc`]: crate::TinyAlloc

mod failure;

#[cfg(test)]
mod tests;

use core::ptr::{self, NonNull};

use libc::{c_int, c_void, size_t};
use tinyalloc_alloc::{Heap, MIN_ALIGN};
use tinyalloc_sys::{Mapper, PosixMapper};

use crate::report::print_stats;
use crate::thread::heap;
use crate::{allocate, allocate_fast, collect, deallocate, stats};
use failure::{Failure, into_c, into_status};

/// The C result of a call that gives memory back.
type CPointer = *mut c_void;

/// `malloc_trim`'s answer when memory went back to the system.
const TRIM_RELEASED: c_int = 1;
/// `malloc_trim`'s answer when nothing could go back.
const TRIM_NOTHING: c_int = 0;
/// `mallopt`'s answer for a parameter it accepted.
const MALLOPT_ACCEPTED: c_int = 1;

/// The source of the page size.
static MAPPER: PosixMapper = PosixMapper::new();

/// `size` bytes aligned to `align` (a power of two).
fn aligned(size: usize, align: usize) -> Result<NonNull<u8>, Failure> {
  Ok(allocate(size, align)?)
}

/// `count * size` zeroed bytes.
fn zeroed(count: usize, size: usize) -> Result<NonNull<u8>, Failure> {
  let total = count.checked_mul(size).ok_or(Failure::OutOfMemory)?;
  let heap = heap()?;
  // SAFETY: the thread-local heap is owned by this thread.
  Ok(unsafe { heap.malloc_zeroed(total, MIN_ALIGN) }?)
}

/// `size` bytes aligned to `align`, which must be a power of two.
fn checked_aligned(size: usize, align: usize) -> Result<NonNull<u8>, Failure> {
  if !align.is_power_of_two() {
    return Err(Failure::InvalidAlignment);
  }
  aligned(size, align)
}

/// Whether `posix_memalign` takes `align`: a power of two multiple of
/// `sizeof(void *)`.
fn is_posix_alignment(align: usize) -> bool {
  align.is_power_of_two() && align.is_multiple_of(size_of::<CPointer>())
}

/// The system page size.
fn page_size() -> usize {
  MAPPER.page_size().get()
}

/// `size` rounded up to whole pages, at least one page.
fn page_rounded(size: usize) -> Result<usize, Failure> {
  let page = page_size();
  let size = size.max(page);
  size
    .checked_next_multiple_of(page)
    .ok_or(Failure::OutOfMemory)
}

/// Moves or resizes the block at `block` to `size` bytes.
///
/// # Safety
/// `block` came from this allocator and is not used again if this
/// succeeds (a pointer not from us stops the process).
unsafe fn resize(
  block: NonNull<u8>,
  size: usize,
) -> Result<NonNull<u8>, Failure> {
  let heap = heap()?;
  // SAFETY: the thread-local heap is owned by this thread; the caller
  // gives the block up on success.
  Ok(unsafe { heap.realloc(block, size, MIN_ALIGN) }?)
}

/// `malloc(3)`: `size` bytes aligned to `max_align_t`.
///
/// # Safety
/// Callable from C at any time; the block is the caller's until freed.
#[unsafe(no_mangle)]
unsafe extern "C" fn malloc(size: size_t) -> CPointer {
  match allocate_fast(size, MIN_ALIGN) {
    Some(block) => block.as_ptr().cast(),
    None => malloc_slow(size),
  }
}

/// `malloc` beyond the fast path, with `errno` on failure; a tail call, so
/// the fast path needs no stack frame.
#[cold]
#[inline(never)]
fn malloc_slow(size: size_t) -> CPointer {
  into_c(aligned(size, MIN_ALIGN))
}

/// `free(3)`: gives `pointer` back; null does nothing.
///
/// # Safety
/// `pointer` is null or a live block from this allocator, not used again.
/// A pointer not from us, or freed twice, stops the process.
#[unsafe(no_mangle)]
unsafe extern "C" fn free(pointer: CPointer) {
  // SAFETY: the caller gives the block up (null does nothing).
  unsafe { deallocate(pointer.cast::<u8>()) };
}

/// `calloc(3)`: `count * size` zeroed bytes; an overflowing product fails
/// with `ENOMEM`.
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn calloc(count: size_t, size: size_t) -> CPointer {
  into_c(zeroed(count, size))
}

/// `realloc(3)`: resizes `pointer` to `size` bytes, keeping its contents.
/// Null `pointer` is `malloc(size)`; `size == 0` frees and returns null.
/// On failure the old block is untouched.
///
/// # Safety
/// `pointer` is null or a live block from this allocator; on success it
/// is not used again.
#[unsafe(no_mangle)]
unsafe extern "C" fn realloc(pointer: CPointer, size: size_t) -> CPointer {
  let Some(block) = NonNull::new(pointer.cast::<u8>()) else {
    return into_c(aligned(size, MIN_ALIGN));
  };
  if size == 0 {
    // SAFETY: the caller gives the block up.
    unsafe { deallocate(block.as_ptr()) };
    return ptr::null_mut();
  }
  // SAFETY: forwarded from the caller.
  into_c(unsafe { resize(block, size) })
}

/// `reallocarray(3)`: `realloc(pointer, count * size)`, failing with
/// `ENOMEM` if the product overflows.
///
/// # Safety
/// As [`realloc`].
#[unsafe(no_mangle)]
unsafe extern "C" fn reallocarray(
  pointer: CPointer,
  count: size_t,
  size: size_t,
) -> CPointer {
  match count.checked_mul(size) {
    // SAFETY: forwarded from the caller.
    Some(total) => unsafe { realloc(pointer, total) },
    None => into_c(Err(Failure::OutOfMemory)),
  }
}

/// `posix_memalign(3)`: stores in `*memptr` a block of `size` bytes aligned
/// to `align`; returns 0, `EINVAL` for a bad alignment or `ENOMEM`. On an
/// error neither `*memptr` nor `errno` changes.
///
/// # Safety
/// `memptr` is valid for writing a pointer.
#[unsafe(no_mangle)]
unsafe extern "C" fn posix_memalign(
  memptr: *mut CPointer,
  align: size_t,
  size: size_t,
) -> c_int {
  if !is_posix_alignment(align) {
    return Failure::InvalidAlignment.errno();
  }
  // SAFETY: forwarded from the caller.
  unsafe { into_status(aligned(size, align), memptr) }
}

/// `aligned_alloc(3)`: `size` bytes aligned to `align`, a power of two.
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> CPointer {
  into_c(checked_aligned(size, align))
}

/// `memalign(3)`: as [`aligned_alloc`].
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn memalign(align: size_t, size: size_t) -> CPointer {
  into_c(checked_aligned(size, align))
}

/// `valloc(3)`: `size` bytes aligned to the page size.
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn valloc(size: size_t) -> CPointer {
  into_c(aligned(size, page_size()))
}

/// `pvalloc(3)`: `size` rounded up to whole pages (at least one),
/// page-aligned.
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn pvalloc(size: size_t) -> CPointer {
  into_c(page_rounded(size).and_then(|size| aligned(size, page_size())))
}

/// `malloc_usable_size(3)`: the bytes usable at `pointer`; 0 for null.
///
/// # Safety
/// `pointer` is null or a live block from this allocator (any other value
/// stops the process).
#[unsafe(no_mangle)]
unsafe extern "C" fn malloc_usable_size(pointer: CPointer) -> size_t {
  match NonNull::new(pointer.cast::<u8>()) {
    // SAFETY: forwarded from the caller.
    Some(block) => unsafe { Heap::usable_size(block) },
    None => 0,
  }
}

/// `cfree(3)`: the obsolete alias of [`free`].
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
unsafe extern "C" fn cfree(pointer: CPointer) {
  // SAFETY: forwarded from the caller.
  unsafe { free(pointer) }
}

/// `malloc_trim(3)`: gives back every page that can go now (`pad` is
/// ignored); 1 if memory went back to the system, else 0.
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn malloc_trim(_pad: size_t) -> c_int {
  // Measured by the collection itself: a statistics snapshot before it
  // could already give memory back, and then nothing would seem to go.
  if collect() > 0 {
    TRIM_RELEASED
  } else {
    TRIM_NOTHING
  }
}

/// `mallopt(3)`: accepts and ignores every tunable, returning 1 (glibc
/// also returns 1 for parameters it does not know).
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn mallopt(_param: c_int, _value: c_int) -> c_int {
  MALLOPT_ACCEPTED
}

/// `malloc_stats(3)`: the allocator's counters on standard error, one per
/// line, written without allocating.
///
/// # Safety
/// Callable from C at any time.
#[unsafe(no_mangle)]
unsafe extern "C" fn malloc_stats() {
  print_stats(&stats());
}

/// glibc's internal name of [`malloc`], called by some programs.
///
/// # Safety
/// As [`malloc`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_malloc(size: size_t) -> CPointer {
  // SAFETY: forwarded from the caller.
  unsafe { malloc(size) }
}

/// glibc's internal name of [`free`].
///
/// # Safety
/// As [`free`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_free(pointer: CPointer) {
  // SAFETY: forwarded from the caller.
  unsafe { free(pointer) }
}

/// glibc's internal name of [`calloc`].
///
/// # Safety
/// As [`calloc`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_calloc(count: size_t, size: size_t) -> CPointer {
  // SAFETY: forwarded from the caller.
  unsafe { calloc(count, size) }
}

/// glibc's internal name of [`realloc`].
///
/// # Safety
/// As [`realloc`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_realloc(
  pointer: CPointer,
  size: size_t,
) -> CPointer {
  // SAFETY: forwarded from the caller.
  unsafe { realloc(pointer, size) }
}

/// glibc's internal name of [`memalign`].
///
/// # Safety
/// As [`memalign`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_memalign(align: size_t, size: size_t) -> CPointer {
  // SAFETY: forwarded from the caller.
  unsafe { memalign(align, size) }
}

/// glibc's internal name of [`valloc`].
///
/// # Safety
/// As [`valloc`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_valloc(size: size_t) -> CPointer {
  // SAFETY: forwarded from the caller.
  unsafe { valloc(size) }
}

/// glibc's internal name of [`pvalloc`].
///
/// # Safety
/// As [`pvalloc`].
#[unsafe(no_mangle)]
unsafe extern "C" fn __libc_pvalloc(size: size_t) -> CPointer {
  // SAFETY: forwarded from the caller.
  unsafe { pvalloc(size) }
}
