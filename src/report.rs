//! `malloc_stats` output: one `tinyalloc: <counter> = <value>` line per
//! counter, assembled in a stack buffer (no allocation, no `core::fmt`).

use core::str;

use tinyalloc_sys::write_stderr;

use crate::Stats;

/// Room for one line: the longest label and a `u64` in decimal fit.
const LINE_CAPACITY: usize = 80;
/// What every line starts with.
const PREFIX: &[u8] = b"tinyalloc: ";
/// Between the label and the value.
const SEPARATOR: &[u8] = b" = ";
/// The base numbers are printed in.
const RADIX: u64 = 10;
/// Counters `malloc_stats` prints.
const COUNTERS: usize = 12;
/// Decimal digits of the largest `u64`.
const MAX_DIGITS: usize = u64::MAX.ilog10() as usize + 1;

/// One line under construction; bytes past the capacity are dropped.
pub(crate) struct Line {
  bytes: [u8; LINE_CAPACITY],
  /// Bytes used, at most `LINE_CAPACITY`.
  len: usize,
}

impl Line {
  /// An empty line.
  pub(crate) const fn new() -> Self {
    Self {
      bytes: [0; LINE_CAPACITY],
      len: 0,
    }
  }

  /// Appends `text`, cut to the room left.
  pub(crate) fn push(&mut self, text: &[u8]) {
    let room = LINE_CAPACITY - self.len;
    let text = &text[..text.len().min(room)];
    self.bytes[self.len..self.len + text.len()].copy_from_slice(text);
    self.len += text.len();
  }

  /// Appends `value` in decimal.
  pub(crate) fn push_decimal(&mut self, value: u64) {
    let mut digits = [0_u8; MAX_DIGITS];
    let mut first = MAX_DIGITS;
    let mut rest = value;
    loop {
      first -= 1;
      digits[first] = b'0' + (rest % RADIX) as u8;
      rest /= RADIX;
      if rest == 0 {
        break;
      }
    }
    self.push(&digits[first..]);
  }

  /// The line so far.
  pub(crate) fn as_bytes(&self) -> &[u8] {
    &self.bytes[..self.len]
  }
}

/// The line `tinyalloc: <label> = <value>\n`.
pub(crate) fn counter_line(label: &str, value: u64) -> Line {
  let mut line = Line::new();
  line.push(PREFIX);
  line.push(label.as_bytes());
  line.push(SEPARATOR);
  line.push_decimal(value);
  line.push(b"\n");
  line
}

/// Widens a byte or object count for printing.
fn wide(value: usize) -> u64 {
  value as u64
}

/// The counters of `stats`, labelled.
fn counters(stats: &Stats) -> [(&'static str, u64); COUNTERS] {
  [
    ("live bytes", wide(stats.live_bytes())),
    ("allocations", stats.allocations()),
    ("frees", stats.frees()),
    ("cross-thread frees", stats.cross_thread_frees()),
    ("mapped bytes", wide(stats.mapped_bytes())),
    ("committed bytes", wide(stats.committed_bytes())),
    ("waiting bytes", wide(stats.waiting_bytes())),
    ("segments", wide(stats.segments())),
    ("arenas", wide(stats.arenas())),
    ("heaps", wide(stats.heaps())),
    ("purges", wide(stats.purges())),
    ("swept pages", wide(stats.swept_pages())),
  ]
}

/// Writes every counter of `stats` to standard error.
pub(crate) fn print_stats(stats: &Stats) {
  for (label, value) in counters(stats) {
    let line = counter_line(label, value);
    // Every byte pushed is ASCII, so the line is always UTF-8.
    if let Ok(text) = str::from_utf8(line.as_bytes()) {
      write_stderr(text);
    }
  }
}
