//! Messages on standard error and the fatal stop, without allocation or
//! `core::fmt`: lines are assembled in stack buffers and written with
//! `write(2)`, retrying on `EINTR` and partial writes.

use core::mem::size_of;

use libc::{EINTR, STDERR_FILENO, abort, c_int, write};

use super::last_errno;

/// Room for one fatal line on the stack; a longer fault text is cut so that
/// the address and the newline still fit.
const FATAL_LINE_CAPACITY: usize = 256;

/// What every fatal line starts with.
const FATAL_PREFIX: &[u8] = b"tinyalloc: ";

/// What separates the fault from its address.
const FATAL_SEPARATOR: &[u8] = b": 0x";

/// The digits of lowercase hexadecimal.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The bits one hex digit stands for.
const HEX_DIGIT_BITS: u32 = HEX_DIGITS.len().trailing_zeros();

/// The most hex digits a `usize` needs.
const ADDRESS_HEX_DIGITS: usize =
  size_of::<usize>() * u8::BITS as usize / HEX_DIGIT_BITS as usize;

/// The longest fault text that fits in one fatal line.
const FATAL_FAULT_CAPACITY: usize = FATAL_LINE_CAPACITY
  - FATAL_PREFIX.len()
  - FATAL_SEPARATOR.len()
  - ADDRESS_HEX_DIGITS
  - 1;

/// Writes `message` to standard error as is. Errors other than `EINTR` are
/// ignored: there is nowhere left to report them.
pub fn write_stderr(message: &str) {
  write_all(STDERR_FILENO, message.as_bytes());
}

/// Writes exactly one line `tinyalloc: <fault>: 0x<address in lowercase
/// hex>` to standard error, then aborts the process (`SIGABRT`). A fault
/// text too long for the line buffer is cut.
pub fn fatal(fault: &str, address: usize) -> ! {
  let mut line = [0_u8; FATAL_LINE_CAPACITY];
  let len = format_fatal_line(&mut line, fault.as_bytes(), address);
  write_all(STDERR_FILENO, &line[..len]);
  // SAFETY: abort has no pre-conditions.
  unsafe { abort() }
}

/// Fills `line` with the fatal line and returns its length.
pub(super) fn format_fatal_line(
  line: &mut [u8; FATAL_LINE_CAPACITY],
  fault: &[u8],
  address: usize,
) -> usize {
  let fault = &fault[..fault.len().min(FATAL_FAULT_CAPACITY)];
  let (digits, first) = format_hex(address);
  let parts = [
    FATAL_PREFIX,
    fault,
    FATAL_SEPARATOR,
    &digits[first..],
    b"\n",
  ];
  let mut len = 0;
  for part in parts {
    line[len..len + part.len()].copy_from_slice(part);
    len += part.len();
  }
  len
}

/// The lowercase hex digits of `value` without leading zeros (but at least
/// one digit), as a buffer and the index of the first digit used.
pub(super) fn format_hex(value: usize) -> ([u8; ADDRESS_HEX_DIGITS], usize) {
  let mut digits = [HEX_DIGITS[0]; ADDRESS_HEX_DIGITS];
  let mut rest = value;
  let mut first = ADDRESS_HEX_DIGITS;
  loop {
    first -= 1;
    digits[first] = HEX_DIGITS[rest % HEX_DIGITS.len()];
    rest >>= HEX_DIGIT_BITS;
    if rest == 0 {
      return (digits, first);
    }
  }
}

/// Writes all of `bytes` to `fd`, retrying on `EINTR` and partial writes,
/// and giving up on any other error.
fn write_all(fd: c_int, mut bytes: &[u8]) {
  while !bytes.is_empty() {
    // SAFETY: `bytes` is valid for reading `bytes.len()` bytes.
    let written = unsafe { write(fd, bytes.as_ptr().cast(), bytes.len()) };
    match usize::try_from(written) {
      Ok(0) => return,
      Ok(count) => bytes = &bytes[count..],
      Err(_) if last_errno() == EINTR => {}
      Err(_) => return,
    }
  }
}
