//! A fixed-length bitmap over caller-provided words.
//!
//! Invariants:
//! - `words.len() == words_for_bits::<T>(len)`: the bitmap keeps exactly the
//!   words it needs;
//! - no bit at an index `>= len` is ever set, so word-wide scans and counts
//!   need no tail masking for set bits.

use crate::bits::{Bits, words_for_bits};
use crate::error::BitmapError;
use crate::masks::{WordMasks, position};

#[cfg(test)]
mod tests;

/// A bitmap of `len` bits stored in a borrowed slice of words.
///
/// Bit `i` lives in word `i / T::BITS` at bit `i % T::BITS`. Bits at or
/// beyond `len` in the last word are always clear: no operation sets them and
/// no search reports them. A length of zero is allowed (with any storage,
/// even an empty slice); such a bitmap is empty and every index is out of
/// bounds.
#[derive(Debug)]
pub struct Bitmap<'slice, T: Bits> {
  /// Exactly `words_for_bits::<T>(len)` words.
  words: &'slice mut [T],
  /// Length in bits.
  len: usize,
}

impl<'slice, T: Bits> Bitmap<'slice, T> {
  /// Wraps `words` as a bitmap of `len` bits.
  ///
  /// Bits below `len` keep their current values (the words are not
  /// cleared); the unused high bits of the last word are cleared to keep the
  /// invariant. Only the first `words_for_bits::<T>(len)` words are used;
  /// any further words are left untouched.
  ///
  /// # Errors
  /// [`BitmapError::TooSmall`] if `words` holds fewer than `len` bits.
  pub fn new(words: &'slice mut [T], len: usize) -> Result<Self, BitmapError> {
    let needed = words_for_bits::<T>(len);
    if words.len() < needed {
      return Err(BitmapError::TooSmall {
        bits: len,
        capacity: words.len().saturating_mul(T::BITS as usize),
      });
    }
    let (words, _) = words.split_at_mut(needed);
    let mut bitmap = Self { words, len };
    bitmap.clear_tail();
    Ok(bitmap)
  }

  /// Like [`new`](Self::new), then clears every bit.
  ///
  /// # Errors
  /// [`BitmapError::TooSmall`] if `words` holds fewer than `len` bits.
  pub fn new_cleared(
    words: &'slice mut [T],
    len: usize,
  ) -> Result<Self, BitmapError> {
    let mut bitmap = Self::new(words, len)?;
    bitmap.clear_all();
    Ok(bitmap)
  }

  /// Length in bits.
  #[inline]
  #[must_use]
  pub fn len(&self) -> usize {
    self.len
  }

  /// Whether the length is zero (not whether no bit is set: see
  /// [`is_clear`](Self::is_clear)).
  #[inline]
  #[must_use]
  pub fn is_empty(&self) -> bool {
    self.len == 0
  }

  /// The storage words in use (`words_for_bits::<T>(len)` of them).
  #[inline]
  #[must_use]
  pub fn as_words(&self) -> &[T] {
    self.words
  }

  /// Value of bit `index`.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] if `index >= len`.
  #[inline]
  pub fn get(&self, index: usize) -> Result<bool, BitmapError> {
    let (word, bit) = self.locate(index)?;
    Ok(self.words[word] & T::bit(bit) != T::ZERO)
  }

  /// Sets bit `index`.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] if `index >= len`.
  #[inline]
  pub fn set(&mut self, index: usize) -> Result<(), BitmapError> {
    let (word, bit) = self.locate(index)?;
    self.words[word] |= T::bit(bit);
    Ok(())
  }

  /// Clears bit `index`.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] if `index >= len`.
  #[inline]
  pub fn clear(&mut self, index: usize) -> Result<(), BitmapError> {
    let (word, bit) = self.locate(index)?;
    self.words[word] &= !T::bit(bit);
    Ok(())
  }

  /// Inverts bit `index`.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] if `index >= len`.
  #[inline]
  pub fn flip(&mut self, index: usize) -> Result<(), BitmapError> {
    let (word, bit) = self.locate(index)?;
    self.words[word] ^= T::bit(bit);
    Ok(())
  }

  /// Sets bits `start..start + count`, a word at a time.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] unless `start + count <= len`; nothing is
  /// changed then. An empty range is valid for any `start <= len`.
  pub fn set_range(
    &mut self,
    start: usize,
    count: usize,
  ) -> Result<(), BitmapError> {
    let end = self.range_end(start, count)?;
    for (word, mask) in WordMasks::<T>::new(start, end) {
      self.words[word] |= mask;
    }
    Ok(())
  }

  /// Clears bits `start..start + count`, a word at a time.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] unless `start + count <= len`; nothing is
  /// changed then. An empty range is valid for any `start <= len`.
  pub fn clear_range(
    &mut self,
    start: usize,
    count: usize,
  ) -> Result<(), BitmapError> {
    let end = self.range_end(start, count)?;
    for (word, mask) in WordMasks::<T>::new(start, end) {
      self.words[word] &= !mask;
    }
    Ok(())
  }

  /// Whether every bit of `start..start + count` is clear (true when
  /// `count == 0`).
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] unless `start + count <= len`.
  pub fn is_range_clear(
    &self,
    start: usize,
    count: usize,
  ) -> Result<bool, BitmapError> {
    let end = self.range_end(start, count)?;
    Ok(
      WordMasks::<T>::new(start, end)
        .all(|(word, mask)| self.words[word] & mask == T::ZERO),
    )
  }

  /// Number of set bits in `start..start + count`, a word at a time.
  ///
  /// # Errors
  /// [`BitmapError::OutOfBounds`] unless `start + count <= len`.
  pub fn count_ones_in_range(
    &self,
    start: usize,
    count: usize,
  ) -> Result<usize, BitmapError> {
    let end = self.range_end(start, count)?;
    Ok(
      WordMasks::<T>::new(start, end)
        .map(|(word, mask)| (self.words[word] & mask).count_ones() as usize)
        .sum(),
    )
  }

  /// Sets every bit below `len`; bits beyond stay clear.
  pub fn set_all(&mut self) {
    self.words.fill(T::ONES);
    self.clear_tail();
  }

  /// Clears every bit.
  pub fn clear_all(&mut self) {
    self.words.fill(T::ZERO);
  }

  /// Whether no bit is set.
  #[must_use]
  pub fn is_clear(&self) -> bool {
    self.words.iter().all(|&word| word == T::ZERO)
  }

  /// Number of set bits.
  #[must_use]
  pub fn count_ones(&self) -> usize {
    self
      .words
      .iter()
      .map(|&word| word.count_ones() as usize)
      .sum()
  }

  /// Index of the lowest set bit, if any.
  #[inline]
  #[must_use]
  pub fn find_first_set(&self) -> Option<usize> {
    self.find_first_set_from(0)
  }

  /// Index of the lowest clear bit, if any.
  #[inline]
  #[must_use]
  pub fn find_first_clear(&self) -> Option<usize> {
    self.find_first_clear_from(0)
  }

  /// Index of the lowest set bit at or after `start`, if any (`None` when
  /// `start >= len`).
  #[inline]
  #[must_use]
  pub fn find_first_set_from(&self, start: usize) -> Option<usize> {
    self.scan(start, self.len, T::ZERO)
  }

  /// Index of the lowest clear bit at or after `start`, if any (`None` when
  /// `start >= len`).
  #[inline]
  #[must_use]
  pub fn find_first_clear_from(&self, start: usize) -> Option<usize> {
    self.scan(start, self.len, T::ONES)
  }

  /// Index of the first run of `count` clear bits starting at or after
  /// `start`, if one fits below `len`.
  ///
  /// Returns `None` when `count == 0` (an empty run is never a useful
  /// answer). Alternates word-wide scans for the next clear bit and for the
  /// next set bit inside the candidate run, so no bit is tested alone and no
  /// scan goes past the candidate run's end.
  #[must_use]
  pub fn find_clear_run(&self, count: usize, start: usize) -> Option<usize> {
    if count == 0 {
      return None;
    }
    let mut from = start;
    loop {
      let run_start = self.find_first_clear_from(from)?;
      let run_end = run_start.checked_add(count)?;
      if run_end > self.len {
        return None;
      }
      match self.scan(run_start, run_end, T::ZERO) {
        Some(blocker) => from = blocker,
        None => return Some(run_start),
      }
    }
  }

  /// Panics if an invariant is broken: a set bit at or beyond `len`, or a
  /// storage slice of the wrong size.
  #[cfg(any(test, debug_assertions))]
  pub fn check_invariants(&self) {
    assert_eq!(
      self.words.len(),
      words_for_bits::<T>(self.len),
      "bitmap keeps exactly the words its length needs"
    );
    let (last_word, used) = position::<T>(self.len);
    if used != 0 {
      let tail = !T::low_mask(used);
      assert_eq!(
        self.words[last_word] & tail,
        T::ZERO,
        "no bit at or beyond len is set"
      );
    }
  }

  /// Word and in-word bit of `index`, checked against `len`.
  #[inline]
  fn locate(&self, index: usize) -> Result<(usize, u32), BitmapError> {
    if index < self.len {
      Ok(position::<T>(index))
    } else {
      Err(BitmapError::OutOfBounds {
        index,
        len: self.len,
      })
    }
  }

  /// Exclusive end of `start..start + count`, checked against `len`.
  ///
  /// The error names the range's last index, or `start` for an empty range.
  #[inline]
  fn range_end(
    &self,
    start: usize,
    count: usize,
  ) -> Result<usize, BitmapError> {
    match start.checked_add(count) {
      Some(end) if end <= self.len => Ok(end),
      _ => Err(BitmapError::OutOfBounds {
        index: start.saturating_add(count.saturating_sub(1)),
        len: self.len,
      }),
    }
  }

  /// First index in `start..end` whose bit, XORed with `invert`'s bit, is
  /// set; `invert` is `ZERO` to find set bits and `ONES` to find clear ones.
  /// `end` must be at most `len`.
  #[inline]
  fn scan(&self, start: usize, end: usize, invert: T) -> Option<usize> {
    debug_assert!(end <= self.len, "scan: end within len");
    if start >= end {
      return None;
    }
    let (mut word, shift) = position::<T>(start);
    let mut bits = (self.words[word] ^ invert) & !T::low_mask(shift);
    while bits == T::ZERO {
      word += 1;
      if word * T::BITS as usize >= end {
        return None;
      }
      bits = self.words[word] ^ invert;
    }
    let found = word * T::BITS as usize + bits.trailing_zeros() as usize;
    // Bits from `end` on may match too (inverted tail bits look clear):
    // they are not part of the answer.
    (found < end).then_some(found)
  }

  /// Clears the bits at or beyond `len` in the last word.
  fn clear_tail(&mut self) {
    let (last_word, used) = position::<T>(self.len);
    if used != 0 {
      self.words[last_word] &= T::low_mask(used);
    }
  }
}
