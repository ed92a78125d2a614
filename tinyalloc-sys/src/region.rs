//! [`Region`]: one mapping owned by a value and unmapped when it drops.
//!
//! Invariants: `start..start + len` is a live mapping of `mapper`, page
//! aligned and a whole number of pages long, and `protection` is the
//! protection it currently has.

use core::{mem::ManuallyDrop, num::NonZeroUsize, ptr::NonNull, slice};

use getset::CopyGetters;

use crate::{MapError, Mapper, Protection, os};

/// An owned mapping of a [`Mapper`], unmapped on drop.
#[derive(Debug, CopyGetters)]
pub struct Region<'mapper, M: Mapper> {
  /// The mapper that made the mapping and will unmap it.
  #[getset(get_copy = "pub")]
  mapper: &'mapper M,
  /// The first byte; page-aligned.
  start: NonNull<u8>,
  /// The length in bytes; a multiple of the page size.
  len: NonZeroUsize,
  /// The current protection of the whole region.
  #[getset(get_copy = "pub")]
  protection: Protection,
}

impl<'mapper, M: Mapper> Region<'mapper, M> {
  /// Maps at least `size` bytes (see [`Mapper::map`]).
  ///
  /// # Errors
  /// Those of [`Mapper::map`].
  pub fn new(mapper: &'mapper M, size: NonZeroUsize) -> Result<Self, MapError> {
    Ok(Self::from_mapping(mapper, mapper.map(size)?))
  }

  /// Maps at least `size` bytes aligned to `align` (see
  /// [`Mapper::map_aligned`]).
  ///
  /// # Errors
  /// Those of [`Mapper::map_aligned`].
  pub fn new_aligned(
    mapper: &'mapper M,
    size: NonZeroUsize,
    align: NonZeroUsize,
  ) -> Result<Self, MapError> {
    Ok(Self::from_mapping(mapper, mapper.map_aligned(size, align)?))
  }

  /// Takes ownership of a fresh read-write mapping made by `mapper`.
  fn from_mapping(mapper: &'mapper M, mapping: NonNull<[u8]>) -> Self {
    let Some(len) = NonZeroUsize::new(mapping.len()) else {
      os::fatal("mapper returned an empty mapping", mapping.addr().get())
    };
    let region = Self {
      mapper,
      start: mapping.cast(),
      len,
      protection: Protection::ReadWrite,
    };
    #[cfg(debug_assertions)]
    region.check_invariants();
    region
  }

  /// The whole mapping.
  #[inline]
  #[must_use]
  pub fn as_non_null(&self) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(self.start, self.len.get())
  }

  /// The length in bytes: the requested size rounded up to pages.
  #[inline]
  #[must_use]
  pub fn len(&self) -> NonZeroUsize {
    self.len
  }

  /// Changes the protection of the whole region.
  ///
  /// # Errors
  /// Those of [`Mapper::protect`]; the protection is unchanged then.
  pub fn protect(&mut self, protection: Protection) -> Result<(), MapError> {
    // SAFETY: the region is a page-aligned mapping of `mapper`, and `&mut
    // self` guarantees that no slice of it is alive.
    unsafe { self.mapper.protect(self.as_non_null(), protection) }?;
    self.protection = protection;
    Ok(())
  }

  /// Releases the physical pages; the region stays mapped and reads back as
  /// zero.
  ///
  /// # Errors
  /// Those of [`Mapper::decommit`].
  pub fn decommit(&mut self) -> Result<(), MapError> {
    // SAFETY: the region is a page-aligned mapping of `mapper`, and `&mut
    // self` guarantees that no slice of it is alive.
    unsafe { self.mapper.decommit(self.as_non_null()) }
  }

  /// The contents.
  ///
  /// A reference to memory that cannot be read would be undefined
  /// behaviour, so under [`Protection::None`] this stops the process with
  /// [`os::fatal`] instead of returning (the moral equivalent of the fault a
  /// raw read would take).
  #[must_use]
  pub fn as_slice(&self) -> &[u8] {
    if self.protection == Protection::None {
      os::fatal("region is not readable", self.start.addr().get());
    }
    // SAFETY: the mapping is live and readable for `len` bytes while `self`
    // is borrowed, and `len <= isize::MAX` (mapper invariant).
    unsafe { slice::from_raw_parts(self.start.as_ptr(), self.len.get()) }
  }

  /// The contents, writable.
  ///
  /// Unless the protection is [`Protection::ReadWrite`] this stops the
  /// process with [`os::fatal`] instead of returning (the moral equivalent
  /// of the fault a raw write would take).
  #[must_use]
  pub fn as_mut_slice(&mut self) -> &mut [u8] {
    if self.protection != Protection::ReadWrite {
      os::fatal("region is not writable", self.start.addr().get());
    }
    // SAFETY: the mapping is live, writable and exclusively borrowed for
    // `len` bytes, and `len <= isize::MAX` (mapper invariant).
    unsafe { slice::from_raw_parts_mut(self.start.as_ptr(), self.len.get()) }
  }

  /// Gives up ownership without unmapping; the caller unmaps the result
  /// with [`Mapper::unmap`] of the same mapper, or leaks it.
  #[must_use]
  pub fn into_raw(self) -> NonNull<[u8]> {
    ManuallyDrop::new(self).as_non_null()
  }

  /// Checks the module invariants that can be checked cheaply.
  #[cfg(any(test, debug_assertions))]
  pub(crate) fn check_invariants(&self) {
    let page_size = self.mapper.page_size().get();
    debug_assert!(
      self.start.addr().get().is_multiple_of(page_size),
      "region start is page-aligned"
    );
    debug_assert!(
      self.len.get().is_multiple_of(page_size),
      "region length is a whole number of pages"
    );
  }
}

// SAFETY: a region owns its mapping like a `Box<[u8]>` owns its buffer, so
// moving it to another thread is sound as long as its `&M` may go along.
unsafe impl<'mapper, M: Mapper + Sync> Send for Region<'mapper, M> {}

// SAFETY: through `&Region` the mapping is only read (`as_slice`), and the
// shared `&M` is usable from other threads when `M: Sync`.
unsafe impl<'mapper, M: Mapper + Sync> Sync for Region<'mapper, M> {}

impl<'mapper, M: Mapper> Drop for Region<'mapper, M> {
  fn drop(&mut self) {
    // SAFETY: the region owns this mapping of `mapper`, and `&mut self` in
    // drop means no slice of it is alive or will be.
    let unmapped = unsafe { self.mapper.unmap(self.as_non_null()) };
    if unmapped.is_err() {
      os::fatal("region unmap failed", self.start.addr().get());
    }
  }
}

#[cfg(test)]
mod tests;
