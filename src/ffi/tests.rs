extern crate std;

use std::slice;
use std::vec::Vec;

use libc::{__errno_location, EINVAL, ENOMEM, c_void};

use super::report::{Line, counter_line};
use super::*;

/// Sizes that cross every kind of block: tiny, small, large and huge.
const SIZES: [usize; 8] = [0, 1, 17, 1000, 8192, 100_000, 3 << 20, 40 << 20];
/// Byte written over blocks to check that contents survive.
const FILL: u8 = 0xa5;

fn errno() -> i32 {
  // SAFETY: no pre-conditions; this thread's errno slot.
  let slot = unsafe { __errno_location() };
  // SAFETY: valid for the life of the thread.
  unsafe { *slot }
}

fn clear_errno() {
  // SAFETY: no pre-conditions; this thread's errno slot.
  let slot = unsafe { __errno_location() };
  // SAFETY: valid for the life of the thread.
  unsafe { slot.write(0) };
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
  assert_eq!(page_rounded(page + 1), Ok(2 * page));
  assert_eq!(page_rounded(usize::MAX), Err(Failure::OutOfMemory));
}

#[test]
fn malloc_realloc_free_keep_contents_and_alignment() {
  let mut blocks = Vec::new();
  for size in SIZES {
    // SAFETY: plain C calls on blocks we own.
    let block = unsafe { malloc(size) }.cast::<u8>();
    assert!(!block.is_null());
    assert_eq!(block.addr() % MIN_ALIGN, 0);
    // SAFETY: the block is live.
    assert!(unsafe { malloc_usable_size(block.cast()) } >= size);
    // SAFETY: the block has `size` bytes.
    unsafe { block.write_bytes(FILL, size) };
    blocks.push((block, size));
  }
  for (block, size) in blocks {
    let grown = size * 2 + 1;
    // SAFETY: the block is live; it is given up on success.
    let moved = unsafe { realloc(block.cast(), grown) }.cast::<u8>();
    assert!(!moved.is_null());
    // SAFETY: the first `size` bytes were filled.
    let kept = unsafe { slice::from_raw_parts(moved, size) };
    assert!(kept.iter().all(|&byte| byte == FILL));
    // SAFETY: the block is live.
    unsafe { free(moved.cast()) };
  }
}

#[test]
fn failures_set_errno_and_return_null() {
  clear_errno();
  // SAFETY: plain C calls.
  assert!(unsafe { malloc(usize::MAX) }.is_null());
  assert_eq!(errno(), ENOMEM);
  clear_errno();
  // SAFETY: plain C calls.
  assert!(unsafe { calloc(usize::MAX / 2, 3) }.is_null());
  assert_eq!(errno(), ENOMEM);
  clear_errno();
  // SAFETY: plain C calls.
  assert!(unsafe { aligned_alloc(24, 16) }.is_null());
  assert_eq!(errno(), EINVAL);
  clear_errno();
  // SAFETY: plain C calls.
  assert!(unsafe { reallocarray(ptr::null_mut(), usize::MAX, 2) }.is_null());
  assert_eq!(errno(), ENOMEM);
}

#[test]
fn posix_memalign_reports_without_touching_errno_or_the_pointer() {
  let mut out: *mut c_void = ptr::null_mut();
  clear_errno();
  // SAFETY: `out` is writable.
  assert_eq!(unsafe { posix_memalign(&raw mut out, 24, 8) }, EINVAL);
  // SAFETY: `out` is writable.
  assert_eq!(unsafe { posix_memalign(&raw mut out, 1 << 62, 8) }, ENOMEM);
  assert!(out.is_null());
  assert_eq!(errno(), 0);
  // SAFETY: `out` is writable.
  assert_eq!(unsafe { posix_memalign(&raw mut out, 1 << 16, 8) }, 0);
  assert_eq!(out.addr() % (1 << 16), 0);
  // SAFETY: the block is live.
  unsafe { free(out) };
}

#[test]
fn calloc_zeroes_reused_memory() {
  let size = 4000;
  // SAFETY: a plain C call.
  let dirty = unsafe { malloc(size) }.cast::<u8>();
  // SAFETY: the block has `size` bytes.
  unsafe { dirty.write_bytes(FILL, size) };
  // SAFETY: the block is live.
  unsafe { free(dirty.cast()) };
  // SAFETY: a plain C call.
  let block = unsafe { calloc(size, 1) }.cast::<u8>();
  // SAFETY: the block has `size` bytes.
  let bytes = unsafe { slice::from_raw_parts(block, size) };
  assert!(bytes.iter().all(|&byte| byte == 0));
  // SAFETY: the block is live.
  unsafe { free(block.cast()) };
}

#[test]
fn realloc_zero_frees_and_returns_null() {
  // SAFETY: plain C calls on blocks we own.
  let block = unsafe { malloc(10) };
  clear_errno();
  // SAFETY: the block is live and given up.
  assert!(unsafe { realloc(block, 0) }.is_null());
  assert_eq!(errno(), 0);
}
