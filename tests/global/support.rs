//! Shared helpers: a small deterministic random generator, fill patterns
//! that can be checked with `memcmp` (fast even in debug builds), and a few
//! facts about the process read from the OS.

use std::fs;

use libc::{_SC_PAGESIZE, sysconf};

/// Bytes in a KiB.
pub(crate) const KIB: usize = 1 << 10;
/// Bytes in a MiB.
pub(crate) const MIB: usize = 1 << 20;
/// Bytes in a GiB.
pub(crate) const GIB: usize = 1 << 30;

/// Bytes of the id written at both ends of a patterned block.
const ID_BYTES: usize = size_of::<u64>();
/// Blocks shorter than this hold only the fill byte: there is no room for
/// the id at both ends.
const MIN_FRAMED: usize = 2 * ID_BYTES;

/// Golden-ratio increment of SplitMix64.
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
/// First multiplier of the SplitMix64 finaliser.
const SPLITMIX_MUL1: u64 = 0xbf58_476d_1ce4_e5b9;
/// Second multiplier of the SplitMix64 finaliser.
const SPLITMIX_MUL2: u64 = 0x94d0_49bb_1331_11eb;

/// SplitMix64: tiny, deterministic, good enough to pick sizes and ops.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
  state: u64,
}

impl Rng {
  /// A generator whose sequence depends only on `seed`.
  pub(crate) fn new(seed: u64) -> Self {
    Self { state: seed }
  }

  /// The next 64 random bits.
  pub(crate) fn next_u64(&mut self) -> u64 {
    self.state = self.state.wrapping_add(SPLITMIX_GAMMA);
    mix(self.state)
  }

  /// A value in `0..bound` (`bound > 0`).
  pub(crate) fn below(&mut self, bound: usize) -> usize {
    (self.next_u64() % bound as u64) as usize
  }

  /// A value in `low..=high`.
  pub(crate) fn between(&mut self, low: usize, high: usize) -> usize {
    low + self.below(high - low + 1)
  }

  /// True with probability `percent` / 100.
  pub(crate) fn percent(&mut self, percent: usize) -> bool {
    self.below(100) < percent
  }

  /// A value in `low..=high` whose logarithm is roughly uniform, so small
  /// and big sizes are both common (`0 < low <= high`).
  pub(crate) fn log_uniform(&mut self, low: usize, high: usize) -> usize {
    let bits = self.between(low.ilog2() as usize, high.ilog2() as usize);
    let base = 1_usize << bits;
    (base + self.below(base)).clamp(low, high)
  }
}

/// The SplitMix64 finaliser: a bijective scramble of `value`.
pub(crate) fn mix(value: u64) -> u64 {
  let value = (value ^ (value >> 30)).wrapping_mul(SPLITMIX_MUL1);
  let value = (value ^ (value >> 27)).wrapping_mul(SPLITMIX_MUL2);
  value ^ (value >> 31)
}

/// The fill byte of the pattern of block `id`: never zero, so a patterned
/// block is told apart from a zeroed one.
pub(crate) fn fill_byte(id: u64) -> u8 {
  mix(id).to_le_bytes()[0] | 1
}

/// True if every byte of `bytes` is `byte`, with one `memcmp`.
pub(crate) fn uniform(bytes: &[u8], byte: u8) -> bool {
  match bytes.split_first() {
    None => true,
    Some((first, rest)) => *first == byte && rest == &bytes[..rest.len()],
  }
}

/// Writes the pattern of block `id` into `block`: the fill byte, with the
/// id at both ends when there is room.
pub(crate) fn fill(block: &mut [u8], id: u64) {
  block.fill(fill_byte(id));
  let len = block.len();
  if len >= MIN_FRAMED {
    block[..ID_BYTES].copy_from_slice(&id.to_le_bytes());
    block[len - ID_BYTES..].copy_from_slice(&id.to_le_bytes());
  }
}

/// True if `block` holds the whole pattern of block `id`.
pub(crate) fn holds(block: &[u8], id: u64) -> bool {
  holds_prefix(block, id, block.len())
}

/// True if `prefix` is the start of the pattern [`fill`] wrote for block
/// `id` of `len` bytes (`prefix.len() <= len`): what a realloc keeps.
pub(crate) fn holds_prefix(prefix: &[u8], id: u64, len: usize) -> bool {
  assert!(prefix.len() <= len, "a prefix is no longer than its block");
  let byte = fill_byte(id);
  if len < MIN_FRAMED {
    return uniform(prefix, byte);
  }
  let id = id.to_le_bytes();
  let end = prefix.len();
  let head = end.min(ID_BYTES);
  let middle = end.min(len - ID_BYTES).max(head);
  let tail = &prefix[middle..];
  prefix[..head] == id[..head]
    && uniform(&prefix[head..middle], byte)
    && *tail == id[..tail.len()]
}

/// The page size, read from the OS.
pub(crate) fn page_size() -> usize {
  // SAFETY: sysconf has no pre-conditions.
  let size = unsafe { sysconf(_SC_PAGESIZE) };
  usize::try_from(size).expect("the page size is known")
}

/// Resident bytes of this process, from `/proc/self/statm`.
pub(crate) fn resident_bytes() -> usize {
  let statm = fs::read_to_string("/proc/self/statm").expect("statm readable");
  let pages: usize = statm
    .split_whitespace()
    .nth(1)
    .and_then(|field| field.parse().ok())
    .expect("statm has a resident field");
  pages * page_size()
}

#[test]
fn patterns_detect_a_changed_byte_anywhere() {
  for len in [1, 7, 15, 16, 17, 100, 4096] {
    let mut block = vec![0; len];
    fill(&mut block, 42);
    assert!(holds(&block, 42), "len {len}");
    assert!(!holds(&block, 43), "len {len}");
    for at in [0, len / 2, len - 1] {
      block[at] ^= 0x10;
      assert!(!holds(&block, 42), "len {len}, changed at {at}");
      block[at] ^= 0x10;
    }
    for end in 0..=len {
      assert!(holds_prefix(&block[..end], 42, len), "len {len}, end {end}");
    }
  }
}

#[test]
fn log_uniform_stays_in_range_and_reaches_both_ends() {
  let mut rng = Rng::new(7);
  let values: Vec<usize> =
    (0..10_000).map(|_| rng.log_uniform(16, MIB)).collect();
  assert!(values.iter().all(|value| (16..=MIB).contains(value)));
  assert!(values.iter().any(|value| *value < 64));
  assert!(values.iter().any(|value| *value > MIB / 2));
}
