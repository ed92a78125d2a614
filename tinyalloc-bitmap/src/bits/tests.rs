use super::{Bits, BitsRequire, words_for_bits};
use crate::test_support::word_tests;

/// Storage sized in const context, to prove `words_for_bits` is const.
const SIZED_STORAGE: [u32; words_for_bits::<u32>(65)] = [0; 3];

fn constants<T: Bits>() {
  assert_eq!(T::ZERO.count_ones(), 0);
  assert_eq!(T::ONES.count_ones(), T::BITS);
  assert_eq!(T::ZERO.trailing_zeros(), T::BITS);
  assert_eq!(!T::ONES, T::ZERO);
}

fn single_bits<T: Bits>() {
  for index in 0..T::BITS {
    let word = T::bit(index);
    assert_eq!(word.count_ones(), 1);
    assert_eq!(word.trailing_zeros(), index);
  }
}

fn masks<T: Bits>() {
  assert_eq!(T::low_mask(0), T::ZERO);
  assert_eq!(T::low_mask(T::BITS), T::ONES);
  for count in 1..=T::BITS {
    let mask = T::low_mask(count);
    assert_eq!(mask.count_ones(), count);
    assert_eq!(mask.trailing_zeros(), 0);
    assert_eq!(mask & T::bit(count - 1), T::bit(count - 1));
  }
  for shift in 0..T::BITS {
    for count in 1..=T::BITS - shift {
      let mask = T::field_mask(shift, count);
      assert_eq!(mask.count_ones(), count, "shift {shift} count {count}");
      assert_eq!(mask.trailing_zeros(), shift, "shift {shift} count {count}");
    }
  }
}

fn sizing<T: Bits>() {
  let bits = T::BITS as usize;
  for (len, words) in [(0, 0), (1, 1), (bits - 1, 1), (bits, 1), (bits + 1, 2)]
  {
    assert_eq!(T::words_for(len), words, "len {len}");
    assert_eq!(words_for_bits::<T>(len), words, "len {len}");
  }
  assert_eq!(T::words_for(usize::MAX), usize::MAX / bits + 1);
}

word_tests!(constants, single_bits, masks, sizing);

#[test]
fn const_sizing_gives_array_length() {
  assert_eq!(SIZED_STORAGE.len(), 3);
  assert_eq!(words_for_bits::<u8>(17), 3);
  assert_eq!(words_for_bits::<u64>(128), 2);
}
