//! Splitting a bit range into per-word masks, so range operations go a word
//! at a time.

use core::marker::PhantomData;

use crate::bits::Bits;

/// Word index and in-word bit index of bit `index` in words of `T`.
#[inline]
pub(crate) fn position<T: Bits>(index: usize) -> (usize, u32) {
  let word_bits = T::BITS as usize;
  // The remainder is below `T::BITS`, a `u32`, so the cast is lossless.
  (index / word_bits, (index % word_bits) as u32)
}

/// Iterator over `(word index, mask)` covering bits `next..end`, one item per
/// touched word, in increasing word order.
///
/// Invariant: `next <= end`; every yielded mask is non-zero.
pub(crate) struct WordMasks<T: Bits> {
  /// First bit not yet covered.
  next: usize,
  /// One past the last bit to cover.
  end: usize,
  /// The word type the masks are built in.
  word: PhantomData<T>,
}

impl<T: Bits> WordMasks<T> {
  /// Masks covering bits `start..end`; empty when `start >= end`.
  #[inline]
  pub(crate) fn new(start: usize, end: usize) -> Self {
    Self {
      next: start.min(end),
      end,
      word: PhantomData,
    }
  }
}

impl<T: Bits> Iterator for WordMasks<T> {
  type Item = (usize, T);

  #[inline]
  fn next(&mut self) -> Option<Self::Item> {
    if self.next >= self.end {
      return None;
    }
    let (word, shift) = position::<T>(self.next);
    let room = T::BITS - shift;
    let remaining = self.end - self.next;
    // `room` is at most `T::BITS`, so the smaller value fits in a `u32`.
    let count = if remaining < room as usize {
      remaining as u32
    } else {
      room
    };
    self.next += count as usize;
    Some((word, T::field_mask(shift, count)))
  }
}
