//! Machine words used as bitmap storage, and the sizing helpers built on them.
//!
//! Invariant: for every implementor, `BITS` is the width of the type in bits,
//! `ZERO` has no bit set and `ONES` has all `BITS` bits set. The trait is
//! sealed so that no outside type can break this.

use core::fmt::Debug;
use core::mem;
use core::ops::{
  BitAnd, BitAndAssign, BitOr, BitOrAssign, BitXor, BitXorAssign, Not, Shl, Shr,
};

#[cfg(test)]
mod tests;

/// Bits in one byte, the unit `size_of` counts in.
const BITS_PER_BYTE: usize = u8::BITS as usize;

mod sealed {
  /// Closes [`Bits`](super::Bits) to the word types implemented here.
  pub trait Sealed {}
}

/// A machine word usable as bitmap storage.
///
/// Implemented for `u8`, `u16`, `u32`, `u64` and `usize`; sealed. Bit `i`
/// of a word is the bit of value `1 << i`, so `trailing_zeros` finds the
/// lowest-numbered set bit.
pub trait Bits:
  sealed::Sealed
  + Copy
  + Eq
  + Debug
  + Default
  + Not<Output = Self>
  + BitAnd<Output = Self>
  + BitOr<Output = Self>
  + BitXor<Output = Self>
  + BitAndAssign
  + BitOrAssign
  + BitXorAssign
  + Shl<u32, Output = Self>
  + Shr<u32, Output = Self>
{
  /// Width of the word in bits.
  const BITS: u32;
  /// The word with no bit set.
  const ZERO: Self;
  /// The word with every bit set.
  const ONES: Self;

  /// Number of zero bits below the lowest set bit (`BITS` for zero).
  fn trailing_zeros(self) -> u32;

  /// Number of set bits.
  fn count_ones(self) -> u32;

  /// The word with only bit `index` set; `index` must be below `BITS`.
  fn bit(index: u32) -> Self;

  /// The word with bits `0..count` set; `count` must be at most `BITS`.
  #[inline]
  fn low_mask(count: u32) -> Self {
    debug_assert!(count <= Self::BITS, "low_mask: count exceeds word width");
    if count == 0 {
      Self::ZERO
    } else {
      Self::ONES >> (Self::BITS - count)
    }
  }

  /// The word with bits `shift..shift + count` set; the field must fit.
  #[inline]
  fn field_mask(shift: u32, count: u32) -> Self {
    debug_assert!(
      shift < Self::BITS && count <= Self::BITS - shift,
      "field_mask: field exceeds word width"
    );
    Self::low_mask(count) << shift
  }
}

/// Implements [`Bits`] for primitive unsigned integers.
macro_rules! impl_bits {
  ($($word:ty),* $(,)?) => {
    $(
      impl sealed::Sealed for $word {}

      impl Bits for $word {
        const BITS: u32 = <$word>::BITS;
        const ZERO: Self = 0;
        const ONES: Self = <$word>::MAX;

        #[inline]
        fn trailing_zeros(self) -> u32 {
          <$word>::trailing_zeros(self)
        }

        #[inline]
        fn count_ones(self) -> u32 {
          <$word>::count_ones(self)
        }

        #[inline]
        fn bit(index: u32) -> Self {
          debug_assert!(index < Self::BITS, "bit: index exceeds word width");
          1 << index
        }
      }
    )*
  };
}

impl_bits!(u8, u16, u32, u64, usize);

/// Compile-time sizing of bitmap storage; implemented for every [`Bits`].
pub trait BitsRequire {
  /// Words needed to hold `bits` bits.
  fn words_for(bits: usize) -> usize;
}

impl<T: Bits> BitsRequire for T {
  #[inline]
  fn words_for(bits: usize) -> usize {
    words_for_bits::<T>(bits)
  }
}

/// Words of `T` needed to hold `bits` bits, usable in const context (array
/// lengths).
///
/// The word width is `size_of::<T>()` bytes of eight bits each, which equals
/// [`Bits::BITS`] for every [`Bits`] type.
///
/// # Panics
/// If `T` is zero-sized (at compile time when evaluated in const context).
///
/// ```
/// use tinyalloc_bitmap::words_for_bits;
///
/// const WORDS: usize = words_for_bits::<u64>(100);
/// let storage = [0u64; WORDS];
/// assert_eq!(storage.len(), 2);
/// ```
#[must_use]
pub const fn words_for_bits<T>(bits: usize) -> usize {
  let word_bits = mem::size_of::<T>() * BITS_PER_BYTE;
  assert!(word_bits > 0, "words_for_bits: zero-sized word type");
  bits.div_ceil(word_bits)
}
