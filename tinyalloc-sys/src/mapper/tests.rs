//! Behaviour of `PosixMapper` against the real kernel. Checks that need
//! address space to stay unmapped, or a quiet resident set, run in a forked
//! child where no other test thread can interfere.

use core::{num::NonZeroUsize, ptr::NonNull, slice};
use std::{collections::BTreeMap, vec::Vec};

use libc::{
  _SC_PAGESIZE, EINVAL, ENOMEM, MS_ASYNC, SIGBUS, SIGSEGV, msync, sysconf,
};
use proptest::{collection, prelude::*};

use crate::{
  MapError, Mapper, PosixMapper, Protection,
  os::last_errno,
  test_support::{
    ChildExit, assert_in_child, resident_pages, run_in_child, virtual_pages,
  },
};

/// One mebibyte.
const MIB: usize = 1 << 20;

/// One gibibyte: the largest mapping the issue asks for.
const GIB: usize = 1 << 30;

/// The largest alignment tested: the engine's initial arena size.
const MAX_TEST_ALIGN: usize = 64 * MIB;

/// What the resident-set test touches and decommits.
const DECOMMIT_TEST_SIZE: usize = 64 * MIB;

/// Resident-set changes must reach all but 1/MARGIN_DIVISOR of the pages.
const MARGIN_DIVISOR: usize = 4;

/// Bytes checked per mapping in the pattern test, at most.
const PATTERN_SAMPLES: usize = 4096;

/// The period of the test pattern: a prime, so consecutive pages differ.
const PATTERN_PERIOD: usize = 251;

/// The byte the resident-set test writes.
const TOUCH_BYTE: u8 = 0xa5;

/// Exit code of a child that survived an access that should have faulted.
const NO_FAULT: i32 = 1;

/// Exit code of a child whose setup failed.
const SETUP_FAILED: i32 = 2;

/// `bytes` as a `NonZeroUsize`.
fn size(bytes: usize) -> NonZeroUsize {
  NonZeroUsize::new(bytes).expect("test sizes are not zero")
}

/// The system page size.
fn page() -> usize {
  PosixMapper::new().page_size().get()
}

/// The test pattern's byte at `offset`.
fn pattern(offset: usize) -> u8 {
  u8::try_from(offset % PATTERN_PERIOD).expect("the period fits a byte")
}

/// All but a margin of `pages`.
fn most_of(pages: usize) -> usize {
  pages - pages / MARGIN_DIVISOR
}

/// The errno of `msync(MS_ASYNC)` on the range, `None` when it succeeds
/// (all of it is mapped).
fn msync_errno(mapping: NonNull<[u8]>) -> Option<i32> {
  // SAFETY: MS_ASYNC touches no memory; an unmapped range only fails.
  let status =
    unsafe { msync(mapping.cast().as_ptr(), mapping.len(), MS_ASYNC) };
  (status != 0).then(last_errno)
}

/// The byte at `offset` of `mapping`; panics when out of bounds.
fn byte_at(mapping: NonNull<[u8]>, offset: usize) -> NonNull<u8> {
  assert!(offset < mapping.len(), "offset {offset} is in bounds");
  // SAFETY: in bounds of the mapping, checked above.
  unsafe { mapping.cast::<u8>().add(offset) }
}

/// The mapping as a mutable slice.
///
/// # Safety
/// The mapping is live, read-write, and not otherwise accessed while the
/// slice lives.
unsafe fn bytes<'mapping>(mapping: NonNull<[u8]>) -> &'mapping mut [u8] {
  // SAFETY: the caller guarantees a live read-write mapping with no other
  // access while the slice lives; mappings are at most isize::MAX long.
  unsafe { slice::from_raw_parts_mut(mapping.cast().as_ptr(), mapping.len()) }
}

/// Writes the pattern at sampled offsets and the last byte, then reads all
/// of them back.
///
/// # Safety
/// As [`bytes`].
unsafe fn write_and_verify(mapping: NonNull<[u8]>) {
  // SAFETY: the caller guarantees a live read-write mapping that nothing
  // else accesses.
  let bytes = unsafe { bytes(mapping) };
  let stride = (bytes.len() / PATTERN_SAMPLES).max(1);
  let last = bytes.len() - 1;
  let len = bytes.len();
  let offsets = || (0..len).step_by(stride).chain([last]);
  for offset in offsets() {
    bytes[offset] = pattern(offset);
  }
  for offset in offsets() {
    assert_eq!(bytes[offset], pattern(offset), "byte {offset} read back");
  }
}

/// Maps `bytes`, checks the mapping and its contents, and unmaps it.
fn map_check_unmap(mapper: &PosixMapper, bytes: usize, align: usize) {
  let mapping = mapper.map_aligned(size(bytes), size(align)).expect("maps");
  assert_eq!(
    mapping.len(),
    bytes.next_multiple_of(page()),
    "rounded length"
  );
  assert_eq!(mapping.addr().get() % align.max(page()), 0, "aligned start");
  assert_eq!(msync_errno(mapping), None, "all of it is mapped");
  // SAFETY: a fresh read-write mapping, used by nothing else.
  unsafe { write_and_verify(mapping) };
  // SAFETY: ours, and not used any more.
  unsafe { mapper.unmap(mapping) }.expect("unmaps");
}

#[test]
fn page_size_is_the_system_page_size() {
  let mapper = PosixMapper::new();
  // SAFETY: sysconf only reads a constant.
  let system = unsafe { sysconf(_SC_PAGESIZE) };
  assert_eq!(i64::try_from(mapper.page_size().get()), Ok(system));
  assert!(mapper.page_size().is_power_of_two());
  assert_eq!(mapper.page_size(), PosixMapper.page_size());
}

#[test]
fn map_and_unmap_from_one_page_to_one_gib() {
  let mapper = PosixMapper::new();
  let page = page();
  for bytes in [
    1,
    page - 1,
    page,
    page + 1,
    3 * page + 7,
    MIB,
    64 * MIB + 1,
    GIB,
  ] {
    let mapping = mapper.map(size(bytes)).expect("maps");
    assert_eq!(
      mapping.len(),
      bytes.next_multiple_of(page),
      "rounded length"
    );
    assert_eq!(mapping.addr().get() % page, 0, "page-aligned start");
    // SAFETY: a fresh read-write mapping, used by nothing else.
    unsafe { write_and_verify(mapping) };
    // SAFETY: ours, and not used any more.
    unsafe { mapper.unmap(mapping) }.expect("unmaps");
  }
}

#[test]
fn map_aligned_from_the_page_size_to_64_mib() {
  let mapper = PosixMapper::new();
  let page = page();
  let mut align = page;
  while align <= MAX_TEST_ALIGN {
    for bytes in [1, 3 * page, align + page + 1] {
      map_check_unmap(&mapper, bytes, align);
    }
    align *= 2;
  }
}

#[test]
fn alignments_below_the_page_size_act_as_the_page_size() {
  let mapper = PosixMapper::new();
  for align in [1, 2, 64, page() / 2] {
    map_check_unmap(&mapper, 1, align);
  }
}

#[test]
fn map_aligned_unmaps_the_excess() {
  assert_in_child(|| {
    let mapper = PosixMapper::new();
    let before = virtual_pages().ok_or("statm unreadable")?;
    let mapping = mapper
      .map_aligned(size(page()), size(MAX_TEST_ALIGN))
      .map_err(|_| "map_aligned failed")?;
    let after = virtual_pages().ok_or("statm unreadable")?;
    if after - before != 1 {
      return Err("map_aligned left more than the one page mapped");
    }
    // SAFETY: ours, and not used any more.
    unsafe { mapper.unmap(mapping) }.map_err(|_| "unmap failed")
  });
}

#[test]
fn decommit_reads_back_zero_and_releases_resident_pages() {
  assert_in_child(|| {
    let mapper = PosixMapper::new();
    let page = page();
    let mapping = mapper
      .map(size(DECOMMIT_TEST_SIZE))
      .map_err(|_| "map failed")?;
    let pages = mapping.len() / page;
    let before = resident_pages().ok_or("statm unreadable")?;
    // SAFETY: a fresh read-write mapping; the slice ends before decommit.
    for chunk in unsafe { bytes(mapping) }.chunks_mut(page) {
      chunk[0] = TOUCH_BYTE;
    }
    let touched = resident_pages().ok_or("statm unreadable")?;
    if touched.saturating_sub(before) < most_of(pages) {
      return Err("touching the pages did not make them resident");
    }
    // SAFETY: ours; no slice of it is alive.
    unsafe { mapper.decommit(mapping) }.map_err(|_| "decommit failed")?;
    let after = resident_pages().ok_or("statm unreadable")?;
    if touched.saturating_sub(after) < most_of(pages) {
      return Err("decommit did not release the resident pages");
    }
    // SAFETY: still mapped read-write, and ours.
    if unsafe { bytes(mapping) }.iter().any(|byte| *byte != 0) {
      return Err("decommitted memory did not read back as zero");
    }
    // SAFETY: ours, and not used any more.
    unsafe { mapper.unmap(mapping) }.map_err(|_| "unmap failed")
  });
}

#[test]
fn decommit_of_a_sub_range_keeps_the_rest() {
  let mapper = PosixMapper::new();
  let page = page();
  let mapping = mapper.map(size(4 * page)).expect("maps");
  // SAFETY: a fresh read-write mapping; the slice ends before decommit.
  unsafe { bytes(mapping) }.fill(TOUCH_BYTE);
  let middle = NonNull::slice_from_raw_parts(
    // SAFETY: one page in, inside the four-page mapping.
    unsafe { mapping.cast::<u8>().add(page) },
    2 * page - 1,
  );
  // SAFETY: a page-aligned sub-range of our mapping; no slice is alive.
  unsafe { mapper.decommit(middle) }.expect("decommits");
  // SAFETY: still mapped read-write, and ours.
  let contents = unsafe { bytes(mapping) };
  assert!(contents[..page].iter().all(|byte| *byte == TOUCH_BYTE));
  assert!(contents[page..3 * page].iter().all(|byte| *byte == 0));
  assert!(contents[3 * page..].iter().all(|byte| *byte == TOUCH_BYTE));
  // SAFETY: ours, and not used any more.
  unsafe { mapper.unmap(mapping) }.expect("unmaps");
}

/// Maps a page in a child, protects it, then accesses it with `access`;
/// returns how the child ended.
fn access_in_child(
  protection: Protection,
  access: fn(NonNull<u8>),
) -> ChildExit {
  run_in_child(|| {
    let mapper = PosixMapper::new();
    let Ok(mapping) = mapper.map(size(1)) else {
      return SETUP_FAILED;
    };
    // SAFETY: our fresh mapping; no slice of it exists.
    if unsafe { mapper.protect(mapping, protection) }.is_err() {
      return SETUP_FAILED;
    }
    access(mapping.cast());
    NO_FAULT
  })
}

#[test]
fn a_write_into_a_read_only_region_faults() {
  let exit = access_in_child(Protection::Read, |start| {
    // SAFETY: deliberately writes a read-only page to take the fault.
    unsafe { start.write_volatile(TOUCH_BYTE) };
  });
  assert!(
    matches!(exit, ChildExit::Signaled(SIGSEGV | SIGBUS)),
    "the write did not fault: {exit:?}",
  );
}

#[test]
fn a_read_of_an_inaccessible_region_faults() {
  let exit = access_in_child(Protection::None, |start| {
    // SAFETY: deliberately reads an inaccessible page to take the fault.
    let _ = unsafe { start.read_volatile() };
  });
  assert!(
    matches!(exit, ChildExit::Signaled(SIGSEGV | SIGBUS)),
    "the read did not fault: {exit:?}",
  );
}

#[test]
fn read_only_keeps_contents_and_read_write_restores_writes() {
  let mapper = PosixMapper::new();
  let mapping = mapper.map(size(2 * page())).expect("maps");
  let start = mapping.cast::<u8>();
  // SAFETY: our fresh read-write mapping.
  unsafe { start.write_volatile(TOUCH_BYTE) };
  for protection in [Protection::Read, Protection::None, Protection::Read] {
    // SAFETY: ours, and no slice of it is alive.
    unsafe { mapper.protect(mapping, protection) }.expect("protects");
  }
  // SAFETY: readable again.
  assert_eq!(unsafe { start.read_volatile() }, TOUCH_BYTE);
  // SAFETY: ours, and no slice of it is alive.
  unsafe { mapper.protect(mapping, Protection::ReadWrite) }.expect("protects");
  // SAFETY: writable again.
  unsafe { write_and_verify(mapping) };
  // SAFETY: ours, and not used any more.
  unsafe { mapper.unmap(mapping) }.expect("unmaps");
}

#[test]
fn memory_that_is_not_mapped_is_refused() {
  assert_in_child(|| {
    let mapper = PosixMapper::new();
    let mapping = mapper.map(size(2 * page())).map_err(|_| "map failed")?;
    // SAFETY: ours, and not used any more.
    unsafe { mapper.unmap(mapping) }.map_err(|_| "first unmap failed")?;
    let not_mapped = |call| {
      Err(MapError::Os {
        call,
        errno: ENOMEM,
      })
    };
    // SAFETY: deliberately misuses the unmapped range; the child is
    // single-threaded, so nothing has mapped it again.
    if unsafe { mapper.unmap(mapping) } != not_mapped("msync") {
      return Err("a second unmap did not fail with msync ENOMEM");
    }
    // SAFETY: deliberately misuses the unmapped range, which nothing in
    // this single-threaded child has mapped again.
    if unsafe { mapper.protect(mapping, Protection::Read) }
      != not_mapped("mprotect")
    {
      return Err("protect of unmapped memory did not fail with ENOMEM");
    }
    // SAFETY: deliberately misuses the unmapped range, which nothing in
    // this single-threaded child has mapped again.
    if unsafe { mapper.decommit(mapping) } != not_mapped("madvise") {
      return Err("decommit of unmapped memory did not fail with ENOMEM");
    }
    Ok(())
  });
}

#[test]
fn unaligned_and_empty_regions_are_refused() {
  let mapper = PosixMapper::new();
  let mapping = mapper.map(size(2 * page())).expect("maps");
  // SAFETY: one byte into the mapping.
  let inside = unsafe { mapping.cast::<u8>().add(1) };
  let unaligned = NonNull::slice_from_raw_parts(inside, page());
  let expected = Err(MapError::Unaligned(inside.addr().get()));
  // SAFETY: refused before any system call.
  let unmapped = unsafe { mapper.unmap(unaligned) };
  // SAFETY: refused before any system call.
  let protected = unsafe { mapper.protect(unaligned, Protection::None) };
  // SAFETY: refused before any system call.
  let decommitted = unsafe { mapper.decommit(unaligned) };
  assert_eq!([unmapped, protected, decommitted], [expected; 3]);
  let empty = NonNull::slice_from_raw_parts(mapping.cast::<u8>(), 0);
  // SAFETY: refused before any system call.
  let unmapped = unsafe { mapper.unmap(empty) };
  assert_eq!(unmapped, Err(MapError::InvalidSize(0)));
  assert_eq!(
    msync_errno(mapping),
    None,
    "still mapped after the refusals"
  );
  // SAFETY: ours, and not used any more.
  unsafe { mapper.unmap(mapping) }.expect("unmaps");
}

#[test]
fn sizes_near_usize_max_are_invalid() {
  let mapper = PosixMapper::new();
  let page = page();
  let beyond_isize = isize::MAX.unsigned_abs() + 1;
  for bytes in [usize::MAX, usize::MAX - page + 2, beyond_isize] {
    assert_eq!(mapper.map(size(bytes)), Err(MapError::InvalidSize(bytes)));
    assert_eq!(
      mapper.map_aligned(size(bytes), size(page)),
      Err(MapError::InvalidSize(bytes)),
    );
  }
  let huge_align = size(beyond_isize);
  assert_eq!(
    mapper.map_aligned(size(page), huge_align),
    Err(MapError::InvalidSize(page)),
  );
}

#[test]
fn alignments_that_are_not_powers_of_two_are_invalid() {
  let mapper = PosixMapper::new();
  for align in [3, page() + 1, usize::MAX] {
    let error = mapper.map_aligned(size(1), size(align));
    assert_eq!(error, Err(MapError::InvalidAlignment(align)));
    assert_eq!(error.map_err(|error| error.errno()), Err(EINVAL));
  }
}

#[test]
fn an_impossible_size_fails_with_enomem() {
  let mapper = PosixMapper::new();
  let impossible = size(1 << 60);
  let expected = Err(MapError::Os {
    call: "mmap",
    errno: ENOMEM,
  });
  assert_eq!(mapper.map(impossible), expected);
  assert_eq!(
    mapper.map_aligned(impossible, size(MAX_TEST_ALIGN)),
    expected
  );
}

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
  /// Maps `pages` pages less `short` bytes.
  Map { pages: usize, short: usize },
  /// Maps `pages` pages aligned to `1 << align_shift`.
  MapAligned { pages: usize, align_shift: u32 },
  /// Writes `byte` at `offset` (modulo the length) of a live mapping.
  Write {
    slot: usize,
    offset: usize,
    byte: u8,
  },
  /// Protects a whole live mapping.
  Protect { slot: usize, protection: Protection },
  /// Decommits `pages` pages from `first_page` of a live mapping.
  Decommit {
    slot: usize,
    first_page: usize,
    pages: usize,
  },
  /// Unmaps a live mapping.
  Unmap { slot: usize },
}

/// A live mapping of the model test and what it must contain.
#[derive(Debug)]
struct Live {
  /// The mapping.
  mapping: NonNull<[u8]>,
  /// The alignment asked for.
  align: usize,
  /// Its current protection.
  protection: Protection,
  /// Every byte ever written, with what it must read now (zero after a
  /// decommit); all others read zero.
  written: BTreeMap<usize, u8>,
}

/// The live mappings of one model test case; unmapped on drop.
#[derive(Debug, Default)]
struct Model {
  /// The mapper under test.
  mapper: PosixMapper,
  /// The live mappings.
  live: Vec<Live>,
}

/// The most pages a model mapping has.
const MODEL_MAX_PAGES: usize = 8;

/// The largest alignment shift of the model test (16 MiB).
const MODEL_MAX_ALIGN_SHIFT: u32 = 24;

/// The most operations in one model test case.
const MODEL_MAX_OPS: usize = 48;

impl Model {
  /// Applies `op` to the mapper and the model.
  fn apply(&mut self, op: &Op) {
    let page = page();
    match *op {
      Op::Map { pages, short } => {
        let bytes = pages * page - short % page;
        let mapping = self.mapper.map(size(bytes)).expect("maps");
        assert_eq!(mapping.len(), pages * page);
        self.push(mapping, page);
      }
      Op::MapAligned { pages, align_shift } => {
        let align = 1 << align_shift;
        let mapping = self.mapper.map_aligned(size(pages * page), size(align));
        self.push(mapping.expect("maps aligned"), align);
      }
      Op::Write { slot, offset, byte } => self.write(slot, offset, byte),
      Op::Protect { slot, protection } => self.protect(slot, protection),
      Op::Decommit {
        slot,
        first_page,
        pages,
      } => {
        self.decommit(slot, first_page, pages);
      }
      Op::Unmap { slot } => {
        if let Some(index) = self.index(slot) {
          let live = self.live.swap_remove(index);
          // SAFETY: ours, and not used any more.
          unsafe { self.mapper.unmap(live.mapping) }.expect("unmaps");
        }
      }
    }
  }

  /// Adds a fresh mapping.
  fn push(&mut self, mapping: NonNull<[u8]>, align: usize) {
    let protection = Protection::ReadWrite;
    let written = BTreeMap::new();
    self.live.push(Live {
      mapping,
      align,
      protection,
      written,
    });
  }

  /// The index of the live mapping that `slot` picks, if any is live.
  fn index(&self, slot: usize) -> Option<usize> {
    (!self.live.is_empty()).then(|| slot % self.live.len())
  }

  /// Writes a byte where the protection allows it.
  fn write(&mut self, slot: usize, offset: usize, byte: u8) {
    let Some(index) = self.index(slot) else {
      return;
    };
    let live = &mut self.live[index];
    if live.protection != Protection::ReadWrite {
      return;
    }
    let offset = offset % live.mapping.len();
    // SAFETY: in bounds of a live read-write mapping of ours.
    unsafe { byte_at(live.mapping, offset).write_volatile(byte) };
    live.written.insert(offset, byte);
  }

  /// Protects a whole mapping.
  fn protect(&mut self, slot: usize, protection: Protection) {
    let Some(index) = self.index(slot) else {
      return;
    };
    let live = &mut self.live[index];
    // SAFETY: ours, and no slice of it is alive.
    unsafe { self.mapper.protect(live.mapping, protection) }.expect("protects");
    live.protection = protection;
  }

  /// Decommits a page range of a mapping.
  fn decommit(&mut self, slot: usize, first_page: usize, pages: usize) {
    let Some(index) = self.index(slot) else {
      return;
    };
    let page = page();
    let live = &mut self.live[index];
    let total = live.mapping.len() / page;
    let first = first_page % total;
    let count = pages.clamp(1, total - first);
    let range = NonNull::slice_from_raw_parts(
      // SAFETY: `first < total` pages into the mapping.
      unsafe { live.mapping.cast::<u8>().add(first * page) },
      count * page,
    );
    // SAFETY: a page-aligned sub-range of ours; no slice of it is alive.
    unsafe { self.mapper.decommit(range) }.expect("decommits");
    let decommitted = first * page..(first + count) * page;
    for (_, byte) in live.written.range_mut(decommitted) {
      *byte = 0;
    }
  }

  /// Checks every live mapping against the model.
  fn check_invariants(&self) {
    let page = page();
    let mut spans: Vec<_> = self
      .live
      .iter()
      .map(|live| {
        let start = live.mapping.addr().get();
        (start, start + live.mapping.len())
      })
      .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
      assert!(pair[0].1 <= pair[1].0, "live mappings do not overlap");
    }
    for live in &self.live {
      let start = live.mapping.addr().get();
      assert_eq!(start % live.align.max(page), 0, "aligned start");
      assert_eq!(live.mapping.len() % page, 0, "whole pages");
      assert_eq!(msync_errno(live.mapping), None, "still mapped");
      if live.protection != Protection::None {
        check_contents(live);
      }
    }
  }
}

/// Checks the written bytes, and the first and last byte, of a readable
/// mapping.
fn check_contents(live: &Live) {
  let read = |offset: usize| {
    // SAFETY: in bounds of a live readable mapping of ours.
    unsafe { byte_at(live.mapping, offset).read_volatile() }
  };
  for (&offset, &byte) in &live.written {
    assert_eq!(read(offset), byte, "written byte {offset} kept");
  }
  for offset in [0, live.mapping.len() - 1] {
    let expected = live.written.get(&offset).copied().unwrap_or(0);
    assert_eq!(read(offset), expected, "byte {offset} as modelled");
  }
}

impl Drop for Model {
  fn drop(&mut self) {
    for live in self.live.drain(..) {
      // SAFETY: ours, and not used any more.
      let _ = unsafe { self.mapper.unmap(live.mapping) };
    }
  }
}

/// Any protection.
fn protection() -> impl Strategy<Value = Protection> {
  prop_oneof![
    Just(Protection::None),
    Just(Protection::Read),
    Just(Protection::ReadWrite),
  ]
}

/// Any operation of the model test.
fn op() -> impl Strategy<Value = Op> {
  let pages = 1..=MODEL_MAX_PAGES;
  prop_oneof![
    1 => (pages.clone(), any::<usize>())
      .prop_map(|(pages, short)| Op::Map { pages, short }),
    1 => (pages.clone(), 0..=MODEL_MAX_ALIGN_SHIFT)
      .prop_map(|(pages, align_shift)| Op::MapAligned { pages, align_shift }),
    3 => (any::<usize>(), any::<usize>(), any::<u8>())
      .prop_map(|(slot, offset, byte)| Op::Write { slot, offset, byte }),
    1 => (any::<usize>(), protection())
      .prop_map(|(slot, protection)| Op::Protect { slot, protection }),
    1 => (any::<usize>(), any::<usize>(), pages)
      .prop_map(|(slot, first_page, pages)| Op::Decommit {
        slot,
        first_page,
        pages
      }),
    1 => any::<usize>().prop_map(|slot| Op::Unmap { slot }),
  ]
}

proptest! {
  #[test]
  fn random_operations_match_the_model(
    ops in collection::vec(op(), 1..MODEL_MAX_OPS),
  ) {
    let mut model = Model::default();
    for op in &ops {
      model.apply(op);
      model.check_invariants();
    }
  }
}
