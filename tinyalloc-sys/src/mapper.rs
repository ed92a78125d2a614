//! Virtual memory from the OS: the [`Mapper`] trait and [`PosixMapper`].
//!
//! Invariants: every region a mapper hands out starts on a page boundary,
//! its length is a whole number of pages no larger than `isize::MAX`, and
//! the page size is read from the system once and then cached.

use core::{
  ffi::c_int,
  num::NonZeroUsize,
  ptr::{self, NonNull},
  sync::atomic::{AtomicUsize, Ordering},
};

use libc::{
  _SC_PAGESIZE, EFAULT, MADV_DONTNEED, MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE,
  MS_ASYNC, PROT_NONE, PROT_READ, PROT_WRITE, madvise, mmap, mprotect, msync,
  munmap, off_t, sysconf,
};

use crate::{MapError, os};

/// The largest mapping length: Rust objects (and slices) cannot exceed
/// `isize::MAX` bytes.
const MAX_MAPPING_LEN: usize = isize::MAX as usize;

/// The file descriptor of an anonymous mapping: none.
const ANONYMOUS_FD: c_int = -1;

/// The file offset of an anonymous mapping: ignored, and zero by convention.
const ANONYMOUS_OFFSET: off_t = 0;

/// The system page size in bytes, or zero before the first read.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// What a mapped range may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
  /// No access: any read or write faults (guard pages).
  None,
  /// Reads only: writes fault.
  Read,
  /// Reads and writes.
  ReadWrite,
}

impl Protection {
  /// The `PROT_*` flags of this protection.
  const fn flags(self) -> c_int {
    match self {
      Self::None => PROT_NONE,
      Self::Read => PROT_READ,
      Self::ReadWrite => PROT_READ | PROT_WRITE,
    }
  }
}

/// A source of page-granular virtual memory.
pub trait Mapper {
  /// The page size, read from the system (`sysconf(_SC_PAGESIZE)`) and
  /// cached in a static atomic after the first call; never a constant.
  fn page_size(&self) -> NonZeroUsize;

  /// A private anonymous read-write mapping (pages become resident only
  /// when touched). It is accounted against the kernel's commit limit, so
  /// a request the machine cannot back fails with `ENOMEM` up front, as
  /// glibc's own `mmap`-served allocations do. `size` is rounded up to the page
  /// size; the returned slice has the rounded length.
  ///
  /// # Errors
  /// [`MapError::InvalidSize`] when rounding overflows, [`MapError::Os`]
  /// (`mmap`) when the system refuses, e.g. `ENOMEM` for an impossible size.
  fn map(&self, size: NonZeroUsize) -> Result<NonNull<[u8]>, MapError>;

  /// Like [`Mapper::map`], but the start is aligned to `align`; alignments
  /// below the page size act as the page size. Over-maps by the alignment,
  /// then unmaps the excess head and tail.
  ///
  /// # Errors
  /// [`MapError::InvalidAlignment`] when `align` is not a power of two,
  /// [`MapError::InvalidSize`] when size plus alignment overflows, and
  /// [`MapError::Os`] when the system refuses.
  fn map_aligned(
    &self,
    size: NonZeroUsize,
    align: NonZeroUsize,
  ) -> Result<NonNull<[u8]>, MapError>;

  /// Unmaps `region`, its length rounded up to pages. Checks first with
  /// `msync(MS_ASYNC)` that the whole range is mapped, so unmapping memory
  /// that is not mapped fails instead of silently succeeding.
  ///
  /// # Errors
  /// [`MapError::Unaligned`] for a start off a page boundary,
  /// [`MapError::InvalidSize`] for an empty region,
  /// `Os { call: "msync", errno: ENOMEM }` when part of the range is not
  /// mapped, and [`MapError::Os`] (`munmap`) when unmapping fails.
  ///
  /// # Safety
  /// `region` was returned by [`Mapper::map`] or [`Mapper::map_aligned`] of
  /// this mapper, or is a page-aligned sub-range of such a mapping, and
  /// nothing uses it afterwards.
  unsafe fn unmap(&self, region: NonNull<[u8]>) -> Result<(), MapError>;

  /// Changes the protection of `region`, its length rounded up to pages.
  ///
  /// # Errors
  /// [`MapError::Unaligned`], [`MapError::InvalidSize`] for an empty region,
  /// and [`MapError::Os`] (`mprotect`), e.g. `ENOMEM` for unmapped pages.
  ///
  /// # Safety
  /// `region` lies in a mapping of this mapper and starts on a page; no
  /// live reference into it needs an access the new protection forbids.
  unsafe fn protect(
    &self,
    region: NonNull<[u8]>,
    protection: Protection,
  ) -> Result<(), MapError>;

  /// Releases the physical pages of `region` (`madvise(MADV_DONTNEED)`); the
  /// range stays mapped and reads back as zero.
  ///
  /// # Errors
  /// As [`Mapper::protect`], with the call `madvise`.
  ///
  /// # Safety
  /// As [`Mapper::protect`]; the caller gives up the contents, and no live
  /// reference into the range may rely on them.
  unsafe fn decommit(&self, region: NonNull<[u8]>) -> Result<(), MapError>;
}

/// The [`Mapper`] over `mmap`, `munmap`, `mprotect` and `madvise`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PosixMapper;

impl PosixMapper {
  /// The mapper; it has no state.
  #[must_use]
  pub const fn new() -> Self {
    Self
  }

  /// `size` rounded up to pages, checked against [`MAX_MAPPING_LEN`].
  fn page_round(&self, size: usize) -> Result<NonZeroUsize, MapError> {
    round_up(size, self.page_size())
      .filter(|len| len.get() <= MAX_MAPPING_LEN)
      .ok_or(MapError::InvalidSize(size))
  }

  /// The page-aligned start and page-rounded length of `region`.
  fn page_range(
    &self,
    region: NonNull<[u8]>,
  ) -> Result<(NonNull<u8>, NonZeroUsize), MapError> {
    let start = region.cast::<u8>();
    let address = start.addr().get();
    if address % self.page_size() != 0 {
      return Err(MapError::Unaligned(address));
    }
    Ok((start, self.page_round(region.len())?))
  }
}

impl Mapper for PosixMapper {
  #[inline]
  fn page_size(&self) -> NonZeroUsize {
    match NonZeroUsize::new(PAGE_SIZE.load(Ordering::Relaxed)) {
      Some(page_size) => page_size,
      None => read_page_size_slow(),
    }
  }

  fn map(&self, size: NonZeroUsize) -> Result<NonNull<[u8]>, MapError> {
    let len = self.page_round(size.get())?;
    let start = map_anonymous(len)?;
    Ok(NonNull::slice_from_raw_parts(start, len.get()))
  }

  fn map_aligned(
    &self,
    size: NonZeroUsize,
    align: NonZeroUsize,
  ) -> Result<NonNull<[u8]>, MapError> {
    if !align.is_power_of_two() {
      return Err(MapError::InvalidAlignment(align.get()));
    }
    let page_size = self.page_size();
    let align = align.max(page_size);
    let len = self.page_round(size.get())?;
    // mmap returns page-aligned starts, so at most `align - page` bytes
    // precede the first aligned address.
    let total = len
      .checked_add(align.get() - page_size.get())
      .filter(|total| total.get() <= MAX_MAPPING_LEN)
      .ok_or(MapError::InvalidSize(size.get()))?;
    let start = map_anonymous(total)?;
    // SAFETY: `start..start + total` is the mapping just created, which
    // nothing else knows about.
    let aligned = unsafe { trim_to_alignment(start, total, len, align) }?;
    Ok(NonNull::slice_from_raw_parts(aligned, len.get()))
  }

  unsafe fn unmap(&self, region: NonNull<[u8]>) -> Result<(), MapError> {
    let (start, len) = self.page_range(region)?;
    ensure_mapped(start, len)?;
    // SAFETY: the caller hands the whole range over; it is page-aligned and
    // mapped (checked above).
    unsafe { unmap_range(start, len.get()) }
  }

  unsafe fn protect(
    &self,
    region: NonNull<[u8]>,
    protection: Protection,
  ) -> Result<(), MapError> {
    let (start, len) = self.page_range(region)?;
    // SAFETY: the range is page-aligned and, by the caller's contract, in a
    // mapping of ours that no reference needs more access to.
    let status =
      unsafe { mprotect(start.as_ptr().cast(), len.get(), protection.flags()) };
    check_status(status, "mprotect")
  }

  unsafe fn decommit(&self, region: NonNull<[u8]>) -> Result<(), MapError> {
    let (start, len) = self.page_range(region)?;
    // SAFETY: the range is page-aligned and, by the caller's contract, in a
    // private anonymous mapping of ours whose contents may be dropped.
    let status =
      unsafe { madvise(start.as_ptr().cast(), len.get(), MADV_DONTNEED) };
    check_status(status, "madvise")
  }
}

/// Reads the page size from the system and caches it.
#[cold]
#[inline(never)]
fn read_page_size_slow() -> NonZeroUsize {
  // SAFETY: sysconf only reads a system constant.
  let raw = unsafe { sysconf(_SC_PAGESIZE) };
  match usize::try_from(raw).ok().and_then(NonZeroUsize::new) {
    Some(page_size) if page_size.is_power_of_two() => {
      PAGE_SIZE.store(page_size.get(), Ordering::Relaxed);
      page_size
    }
    _ => os::fatal("sysconf(_SC_PAGESIZE) failed", raw as usize),
  }
}

/// `value` rounded up to a multiple of the power of two `align`; `None` when
/// it is zero or overflows.
fn round_up(value: usize, align: NonZeroUsize) -> Option<NonZeroUsize> {
  let mask = align.get() - 1;
  NonZeroUsize::new(value.checked_add(mask)? & !mask)
}

/// `Ok` for a zero status, else the errno of `call`.
fn check_status(status: c_int, call: &'static str) -> Result<(), MapError> {
  if status == 0 {
    Ok(())
  } else {
    Err(MapError::last_os_error(call))
  }
}

/// A fresh private anonymous read-write mapping of `len` bytes.
fn map_anonymous(len: NonZeroUsize) -> Result<NonNull<u8>, MapError> {
  // SAFETY: without MAP_FIXED, mmap only creates a new mapping and cannot
  // disturb existing memory.
  let start = unsafe {
    mmap(
      ptr::null_mut(),
      len.get(),
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
      ANONYMOUS_FD,
      ANONYMOUS_OFFSET,
    )
  };
  if start == MAP_FAILED {
    return Err(MapError::last_os_error("mmap"));
  }
  // Linux never maps page zero without MAP_FIXED; refuse it all the same,
  // since it cannot be a `NonNull`.
  NonNull::new(start.cast::<u8>()).ok_or(MapError::Os {
    call: "mmap",
    errno: EFAULT,
  })
}

/// Fails with msync's `ENOMEM` when part of the range is not mapped.
fn ensure_mapped(
  start: NonNull<u8>,
  len: NonZeroUsize,
) -> Result<(), MapError> {
  // SAFETY: MS_ASYNC on any page-aligned range only schedules write-back of
  // file pages; it reads and writes no memory.
  let status = unsafe { msync(start.as_ptr().cast(), len.get(), MS_ASYNC) };
  check_status(status, "msync")
}

/// Unmaps `len` bytes at `start`.
///
/// # Safety
/// The range is page-aligned, owned by the caller and unused afterwards.
unsafe fn unmap_range(start: NonNull<u8>, len: usize) -> Result<(), MapError> {
  // SAFETY: the caller owns the page-aligned range and never uses it again,
  // so removing it invalidates nothing.
  let status = unsafe { munmap(start.as_ptr().cast(), len) };
  check_status(status, "munmap")
}

/// Unmaps the head and the tail of the over-sized mapping `start..start +
/// total` around its first `align`-aligned run of `len` bytes, and returns
/// the start of that run. On failure the whole mapping is unmapped.
///
/// # Safety
/// `start..start + total` is a page-aligned mapping owned by the caller, and
/// `total >= len + align - page size`.
unsafe fn trim_to_alignment(
  start: NonNull<u8>,
  total: NonZeroUsize,
  len: NonZeroUsize,
  align: NonZeroUsize,
) -> Result<NonNull<u8>, MapError> {
  let head =
    start.addr().get().next_multiple_of(align.get()) - start.addr().get();
  let tail = total.get() - head - len.get();
  // SAFETY: `head + len <= total`, so both pointers stay in the mapping.
  let aligned = unsafe { start.add(head) };
  // SAFETY: `head + len <= total`: the end of the aligned run is at most
  // the end of the mapping.
  let tail_start = unsafe { aligned.add(len.get()) };
  // SAFETY: the head is page-aligned excess of the caller's mapping.
  let trimmed = unsafe { trim(start, head) }.and_then(|()| {
    // SAFETY: the tail is page-aligned excess of the caller's mapping.
    unsafe { trim(tail_start, tail) }
  });
  if let Err(error) = trimmed {
    // SAFETY: the mapping is ours and nothing has seen it; a range already
    // partly unmapped is still accepted by munmap.
    let _ = unsafe { unmap_range(start, total.get()) };
    return Err(error);
  }
  Ok(aligned)
}

/// Unmaps `len` bytes of excess at `start`, if any.
///
/// # Safety
/// As [`unmap_range`].
unsafe fn trim(start: NonNull<u8>, len: usize) -> Result<(), MapError> {
  if len == 0 {
    return Ok(());
  }
  // SAFETY: the caller hands over page-aligned excess that it owns and
  // never uses again.
  unsafe { unmap_range(start, len) }
}

#[cfg(test)]
mod tests;
