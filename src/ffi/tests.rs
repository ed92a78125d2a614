//! The pieces behind the C functions. The exported functions themselves
//! are tested through the built library by the compatibility suite
//! (tests/compat.rs): called by name here, they would be the ones a
//! memory checker such as valgrind puts in their place.

extern crate std;

use std::slice;
use std::vec::Vec;

use libc::{__errno_location, EINVAL, ENOMEM, c_void};

use super::failure::{Failure, into_c, into_status};
use super::*;
use crate::report::{Line, counter_line};

/// Sizes that cross every kind of block: tiny, small, large and huge.
const SIZES: [usize; 8] = [0, 1, 17, 1000, 8192, 100_000, 3 << 20, 40 << 20];
/// Byte written over blocks to check that contents survive.
const FILL: u8 = 0xa5;
/// An errno value no call sets, to see that one was left alone.
const UNTOUCHED: i32 = 1234;

fn errno() -> i32 {
  // SAFETY: no pre-conditions; this thread's errno slot.
  let slot = unsafe { __errno_location() };
  // SAFETY: valid for the life of the thread.
  unsafe { *slot }
}

fn set_errno(value: i32) {
  // SAFETY: no pre-conditions; this thread's errno slot.
  let slot = unsafe { __errno_location() };
  // SAFETY: valid for the life of the thread.
  unsafe { slot.write(value) };
}

/// The `len` bytes at `block`.
///
/// # Safety
/// `block` has `len` initialised bytes, unchanged while the slice lives.
unsafe fn bytes<'block>(block: NonNull<u8>, len: usize) -> &'block [u8] {
  // SAFETY: forwarded from the caller.
  unsafe { slice::from_raw_parts(block.as_ptr(), len) }
}

fn release(block: NonNull<u8>) {
  // SAFETY: the tests give up blocks they allocated, once.
  unsafe { deallocate(block.as_ptr()) };
}

#[test]
fn lines_format_decimal_values() {
  let line = counter_line("frees", 1_234_567);
  assert_eq!(line.as_bytes(), b"tinyalloc: frees = 1234567\n");
  let line = counter_line("x", u64::MAX);
  assert_eq!(line.as_bytes(), b"tinyalloc: x = 18446744073709551615\n");
  assert_eq!(counter_line("zero", 0).as_bytes(), b"tinyalloc: zero = 0\n");
}

#[test]
fn lines_cut_what_does_not_fit() {
  let mut line = Line::new();
  let long = [b'a'; 200];
  line.push(&long);
  line.push_decimal(42);
  assert_eq!(line.as_bytes(), &long[..80]);
}

#[test]
fn posix_alignments_are_power_of_two_pointer_multiples() {
  for align in [8, 16, 4096, 1 << 40] {
    assert!(is_posix_alignment(align), "{align}");
  }
  for align in [0, 1, 2, 4, 24, 48, 4097] {
    assert!(!is_posix_alignment(align), "{align}");
  }
}

#[test]
fn page_rounding_gives_at_least_one_page_and_fails_on_overflow() {
  let page = page_size();
  assert_eq!(page_rounded(0), Ok(page));
  assert_eq!(page_rounded(page), Ok(page));
  assert_eq!(page_rounded(page + 1), Ok(2 * page));
  assert_eq!(page_rounded(usize::MAX), Err(Failure::OutOfMemory));
}

#[test]
fn blocks_are_aligned_and_keep_contents_through_resizes() {
  let mut blocks = Vec::new();
  for size in SIZES {
    let block = aligned(size, MIN_ALIGN).expect("memory for the test");
    assert_eq!(block.addr().get() % MIN_ALIGN, 0);
    // SAFETY: the block is live.
    assert!(unsafe { Heap::usable_size(block) } >= size);
    // SAFETY: the block has `size` bytes.
    unsafe { block.write_bytes(FILL, size) };
    blocks.push((block, size));
  }
  for (block, size) in blocks {
    // SAFETY: the block is ours; it is given up on success.
    let moved = unsafe { resize(block, size * 2 + 1) }.expect("memory");
    // SAFETY: the first `size` bytes were filled.
    let kept = unsafe { bytes(moved, size) };
    assert!(kept.iter().all(|&byte| byte == FILL));
    release(moved);
  }
}

#[test]
fn alignments_are_checked_and_served() {
  assert_eq!(checked_aligned(16, 24), Err(Failure::InvalidAlignment));
  assert_eq!(checked_aligned(16, 0), Err(Failure::InvalidAlignment));
  for align in [1, 64, 4096, 1 << 21] {
    let block = checked_aligned(100, align).expect("memory for the test");
    assert_eq!(block.addr().get() % align, 0);
    release(block);
  }
}

#[test]
fn impossible_requests_fail_with_out_of_memory() {
  assert_eq!(aligned(usize::MAX, MIN_ALIGN), Err(Failure::OutOfMemory));
  assert_eq!(aligned(16, 1 << 62), Err(Failure::OutOfMemory));
  assert_eq!(zeroed(usize::MAX / 2, 3), Err(Failure::OutOfMemory));
  let block = aligned(10, MIN_ALIGN).expect("memory for the test");
  // SAFETY: the block is ours; a failure leaves it alone.
  let resized = unsafe { resize(block, usize::MAX) };
  assert_eq!(resized, Err(Failure::OutOfMemory));
  release(block);
}

#[test]
fn zeroed_blocks_are_zero_even_when_reused() {
  let size = 4000;
  let dirty = aligned(size, MIN_ALIGN).expect("memory for the test");
  // SAFETY: the block has `size` bytes.
  unsafe { dirty.write_bytes(FILL, size) };
  release(dirty);
  let block = zeroed(size, 1).expect("memory for the test");
  // SAFETY: the block has `size` zeroed bytes.
  assert!(unsafe { bytes(block, size) }.iter().all(|&byte| byte == 0));
  release(block);
}

#[test]
fn failures_become_null_and_errno() {
  set_errno(0);
  assert!(into_c(Err(Failure::OutOfMemory)).is_null());
  assert_eq!(errno(), ENOMEM);
  assert!(into_c(Err(Failure::InvalidAlignment)).is_null());
  assert_eq!(errno(), EINVAL);
  let block = aligned(8, MIN_ALIGN).expect("memory for the test");
  assert_eq!(into_c(Ok(block)), block.as_ptr().cast::<c_void>());
  release(block);
}

#[test]
fn statuses_leave_errno_and_the_pointer_alone_on_failure() {
  let mut out: *mut c_void = ptr::null_mut();
  set_errno(UNTOUCHED);
  for failure in [Failure::OutOfMemory, Failure::InvalidAlignment] {
    // SAFETY: `out` is writable.
    let status = unsafe { into_status(Err(failure), &raw mut out) };
    assert_eq!(status, failure.errno());
  }
  assert!(out.is_null());
  assert_eq!(errno(), UNTOUCHED);
  let block = aligned(8, MIN_ALIGN).expect("memory for the test");
  // SAFETY: `out` is writable.
  assert_eq!(unsafe { into_status(Ok(block), &raw mut out) }, 0);
  assert_eq!(out, block.as_ptr().cast::<c_void>());
  release(block);
}
