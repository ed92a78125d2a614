//! Behaviour of `Region`: ownership, contents, protection and the checks
//! that stop the process instead of handing out unusable slices.

use core::{num::NonZeroUsize, ptr::NonNull};
use std::{format, string::String};

use libc::{ENOMEM, MS_ASYNC, SIGABRT, msync};

use crate::{
  MapError, Mapper, PosixMapper, Protection, Region,
  os::last_errno,
  test_support::{ChildExit, assert_in_child, run_in_child_capturing_stderr},
};

/// The largest alignment tested: the engine's initial arena size.
const MAX_TEST_ALIGN: usize = 64 << 20;

/// A byte the tests write.
const FILL: u8 = 0x5a;

/// `bytes` as a `NonZeroUsize`.
fn size(bytes: usize) -> NonZeroUsize {
  NonZeroUsize::new(bytes).expect("test sizes are not zero")
}

/// The errno of `msync(MS_ASYNC)` on the range, `None` when all of it is
/// mapped.
fn msync_errno(mapping: NonNull<[u8]>) -> Option<i32> {
  // SAFETY: MS_ASYNC touches no memory; an unmapped range only fails.
  let status =
    unsafe { msync(mapping.cast().as_ptr(), mapping.len(), MS_ASYNC) };
  (status != 0).then(last_errno)
}

#[test]
fn a_region_rounds_up_and_keeps_its_contents() {
  let mapper = PosixMapper::new();
  let page = mapper.page_size().get();
  let mut region = Region::new(&mapper, size(2 * page + 1)).expect("maps");
  region.check_invariants();
  assert_eq!(region.len().get(), 3 * page);
  assert_eq!(region.as_non_null().len(), 3 * page);
  assert_eq!(region.protection(), Protection::ReadWrite);
  assert!(
    region.as_slice().iter().all(|byte| *byte == 0),
    "fresh is zero"
  );
  for (offset, byte) in region.as_mut_slice().iter_mut().enumerate() {
    *byte = offset.to_le_bytes()[0];
  }
  let contents = region.as_slice();
  assert!(
    contents
      .iter()
      .enumerate()
      .all(|(i, b)| *b == i.to_le_bytes()[0])
  );
}

#[test]
fn an_aligned_region_is_aligned_and_usable() {
  let mapper = PosixMapper::new();
  let mut align = mapper.page_size().get();
  while align <= MAX_TEST_ALIGN {
    let mut region =
      Region::new_aligned(&mapper, size(align), size(align)).expect("maps");
    region.check_invariants();
    assert_eq!(region.as_non_null().addr().get() % align, 0, "aligned");
    assert_eq!(region.len().get(), align);
    let contents = region.as_mut_slice();
    contents[0] = FILL;
    contents[align - 1] = FILL;
    assert_eq!((contents[0], contents[align - 1]), (FILL, FILL));
    align *= 2;
  }
}

#[test]
fn decommit_zeroes_and_protect_changes_access() {
  let mapper = PosixMapper::new();
  let mut region = Region::new(&mapper, size(1)).expect("maps");
  region.as_mut_slice().fill(FILL);
  region.decommit().expect("decommits");
  assert!(
    region.as_slice().iter().all(|byte| *byte == 0),
    "zero again"
  );
  region.as_mut_slice()[0] = FILL;
  region.protect(Protection::Read).expect("protects");
  assert_eq!(region.protection(), Protection::Read);
  assert_eq!(region.as_slice()[0], FILL, "contents survive read-only");
  region.protect(Protection::None).expect("protects");
  region.protect(Protection::ReadWrite).expect("protects");
  region.as_mut_slice()[1] = FILL;
  assert_eq!(&region.as_slice()[..2], &[FILL, FILL]);
  region.check_invariants();
}

#[test]
fn errors_of_the_mapper_come_through() {
  let mapper = PosixMapper::new();
  assert_eq!(
    Region::new(&mapper, size(usize::MAX)).err(),
    Some(MapError::InvalidSize(usize::MAX)),
  );
  assert_eq!(
    Region::new_aligned(&mapper, size(1), size(3)).err(),
    Some(MapError::InvalidAlignment(3)),
  );
  assert_eq!(
    Region::new(&mapper, size(1 << 60)).err(),
    Some(MapError::Os {
      call: "mmap",
      errno: ENOMEM
    }),
  );
}

#[test]
fn drop_unmaps_even_an_inaccessible_region() {
  assert_in_child(|| {
    let mapper = PosixMapper::new();
    for protection in [Protection::ReadWrite, Protection::None] {
      let mut region = Region::new(&mapper, size(1)).map_err(|_| "map")?;
      region.protect(protection).map_err(|_| "protect failed")?;
      let mapping = region.as_non_null();
      if msync_errno(mapping).is_some() {
        return Err("a live region is not mapped");
      }
      drop(region);
      // The child is single-threaded: nothing maps the range again.
      if msync_errno(mapping) != Some(ENOMEM) {
        return Err("the dropped region is still mapped");
      }
    }
    Ok(())
  });
}

#[test]
fn into_raw_keeps_the_mapping() {
  let mapper = PosixMapper::new();
  let mut region = Region::new(&mapper, size(1)).expect("maps");
  region.as_mut_slice()[0] = FILL;
  let mapping = region.into_raw();
  assert_eq!(msync_errno(mapping), None, "still mapped");
  // SAFETY: still mapped read-write, and ours alone.
  assert_eq!(unsafe { mapping.cast::<u8>().read() }, FILL);
  // SAFETY: ownership was handed over by into_raw; not used any more.
  unsafe { mapper.unmap(mapping) }.expect("unmaps");
}

/// Runs `access` on a one-page region under `protection` in a child, and
/// asserts that the child stopped with the fatal line for `fault`.
fn assert_access_is_fatal(
  protection: Protection,
  access: fn(&mut Region<'_, PosixMapper>),
  fault: &str,
) {
  let mapper = PosixMapper::new();
  let mut region = Region::new(&mapper, size(1)).expect("maps");
  let address = region.as_non_null().addr().get();
  region.protect(protection).expect("protects");
  let (exit, output) = run_in_child_capturing_stderr(|| {
    access(&mut region);
    0
  });
  assert_eq!(exit, ChildExit::Signaled(SIGABRT));
  let expected = format!("tinyalloc: {fault}: {address:#x}\n");
  assert_eq!(String::from_utf8_lossy(&output), expected);
}

#[test]
fn reading_an_inaccessible_region_is_fatal() {
  assert_access_is_fatal(
    Protection::None,
    |region| {
      let _ = region.as_slice();
    },
    "region is not readable",
  );
}

#[test]
fn writing_a_read_only_region_is_fatal() {
  assert_access_is_fatal(
    Protection::Read,
    |region| {
      let _ = region.as_mut_slice();
    },
    "region is not writable",
  );
}
