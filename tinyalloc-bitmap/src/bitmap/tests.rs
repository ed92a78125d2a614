use std::vec::Vec;

use super::Bitmap;
use crate::bits::Bits;
use crate::error::BitmapError;
use crate::test_support::word_tests;

mod model;

/// Storage words used by most tests: one more than [`ragged_len`] needs, so
/// that tests can check the spare word is left alone.
const STORAGE_WORDS: usize = 4;
/// Words [`ragged_len`] occupies.
const RAGGED_WORDS: usize = 3;
/// Bits used in the last word of [`ragged_len`], so that word is partial.
const RAGGED_TAIL_BITS: u32 = 3;

fn word_bits<T: Bits>() -> usize {
  T::BITS as usize
}

/// A length that ends inside its last word.
fn ragged_len<T: Bits>() -> usize {
  (RAGGED_WORDS - 1) * word_bits::<T>() + RAGGED_TAIL_BITS as usize
}

/// Every bit of `map`, after checking its invariants.
fn snapshot<'slice, T: Bits>(map: &Bitmap<'slice, T>) -> Vec<bool> {
  map.check_invariants();
  (0..map.len())
    .map(|index| map.get(index).unwrap())
    .collect()
}

/// The bits of a length-`len` bitmap with exactly `start..start + count` set.
fn range_pattern(len: usize, start: usize, count: usize) -> Vec<bool> {
  (0..len)
    .map(|index| (start..start + count).contains(&index))
    .collect()
}

/// Valid `(start, count)` ranges of a [`ragged_len`] bitmap: empty, inside a
/// word, whole words, across one and two word boundaries, to the end.
fn valid_ranges<T: Bits>() -> Vec<(usize, usize)> {
  let bits = word_bits::<T>();
  let len = ragged_len::<T>();
  std::vec![
    (0, 0),
    (1, 0),
    (len, 0),
    (1, 2),
    (0, bits),
    (bits, bits),
    (bits - 1, 2),
    (bits - 2, bits + 4),
    (1, len - 1),
    (len - 1, 1),
    (0, len),
  ]
}

/// Out-of-range `(start, count)` pairs of a [`ragged_len`] bitmap and the
/// index each error must name.
fn invalid_ranges<T: Bits>() -> Vec<(usize, usize, usize)> {
  let len = ragged_len::<T>();
  std::vec![
    (len, 1, len),
    (len - 1, 2, len),
    (0, len + 1, len),
    (len + 1, 0, len + 1),
    (1, usize::MAX, usize::MAX),
    (usize::MAX, 0, usize::MAX),
    (usize::MAX, 1, usize::MAX),
  ]
}

fn new_rejects_too_small<T: Bits>() {
  let bits = word_bits::<T>();
  let mut storage = [T::ZERO; 2];
  assert_eq!(
    Bitmap::new(&mut storage, 2 * bits + 1).unwrap_err(),
    BitmapError::TooSmall {
      bits: 2 * bits + 1,
      capacity: 2 * bits,
    }
  );
  assert_eq!(
    Bitmap::<T>::new(&mut [], 1).unwrap_err(),
    BitmapError::TooSmall {
      bits: 1,
      capacity: 0,
    }
  );
  let map = Bitmap::new(&mut storage, 2 * bits).unwrap();
  map.check_invariants();
  assert_eq!(map.len(), 2 * bits);
}

fn new_keeps_bits_and_clears_tail<T: Bits>() {
  let len = ragged_len::<T>();
  let mut storage = [T::ONES; STORAGE_WORDS];
  let map = Bitmap::new(&mut storage, len).unwrap();
  assert_eq!(snapshot(&map), std::vec![true; len]);
  assert_eq!(map.count_ones(), len);
  assert_eq!(map.as_words().len(), RAGGED_WORDS);
  assert_eq!(map.as_words()[0], T::ONES);
  assert_eq!(
    map.as_words()[RAGGED_WORDS - 1],
    T::low_mask(RAGGED_TAIL_BITS)
  );
  assert_eq!(storage[RAGGED_WORDS], T::ONES, "spare word left alone");
}

fn new_cleared_clears_used_words<T: Bits>() {
  let len = ragged_len::<T>();
  let mut storage = [T::ONES; STORAGE_WORDS];
  let map = Bitmap::new_cleared(&mut storage, len).unwrap();
  assert_eq!(snapshot(&map), std::vec![false; len]);
  assert!(map.is_clear());
  assert_eq!(storage[RAGGED_WORDS], T::ONES, "spare word left alone");
}

fn zero_length<T: Bits>() {
  let mut spare = [T::ONES];
  let map = Bitmap::new(&mut spare, 0).unwrap();
  assert!(map.as_words().is_empty());
  assert_eq!(spare[0], T::ONES, "storage of an empty bitmap left alone");

  let mut map = Bitmap::<T>::new(&mut [], 0).unwrap();
  let out = BitmapError::OutOfBounds { index: 0, len: 0 };
  assert!(map.is_empty());
  assert_eq!(map.get(0), Err(out));
  assert_eq!(map.set(0), Err(out));
  assert_eq!(map.clear(0), Err(out));
  assert_eq!(map.flip(0), Err(out));
  assert_eq!(map.set_range(0, 0), Ok(()));
  assert_eq!(map.set_range(0, 1), Err(out));
  assert_eq!(map.clear_range(0, 0), Ok(()));
  assert_eq!(map.is_range_clear(0, 0), Ok(true));
  map.set_all();
  map.check_invariants();
  assert!(map.is_clear());
  assert_eq!(map.count_ones(), 0);
  assert_eq!(map.find_first_set(), None);
  assert_eq!(map.find_first_clear(), None);
  assert_eq!(map.find_clear_run(1, 0), None);
  map.clear_all();
  map.check_invariants();
}

fn single_bit_operations<T: Bits>() {
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  for index in 0..len {
    let only = range_pattern(len, index, 1);
    map.set(index).unwrap();
    assert_eq!(snapshot(&map), only, "set {index}");
    map.set(index).unwrap();
    assert_eq!(snapshot(&map), only, "set twice {index}");
    map.flip(index).unwrap();
    assert!(map.is_clear(), "flip off {index}");
    map.flip(index).unwrap();
    assert_eq!(snapshot(&map), only, "flip on {index}");
    map.clear(index).unwrap();
    assert!(map.is_clear(), "clear {index}");
    map.check_invariants();
  }
}

fn single_bit_out_of_bounds<T: Bits>() {
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  for index in [len, len + 1, usize::MAX] {
    let out = Err(BitmapError::OutOfBounds { index, len });
    assert_eq!(map.get(index), out.map(|()| false));
    assert_eq!(map.set(index), out);
    assert_eq!(map.flip(index), out);
    assert_eq!(map.clear(index), out);
    assert!(map.is_clear());
    map.check_invariants();
  }
  assert_eq!(storage, [T::ZERO; STORAGE_WORDS]);
}

fn set_range_sets_exactly_the_range<T: Bits>() {
  let len = ragged_len::<T>();
  for (start, count) in valid_ranges::<T>() {
    let mut storage = [T::ZERO; STORAGE_WORDS];
    let mut map = Bitmap::new(&mut storage, len).unwrap();
    map.set_range(start, count).unwrap();
    assert_eq!(snapshot(&map), range_pattern(len, start, count));
    assert_eq!(map.count_ones(), count, "range {start}+{count}");
  }
}

fn clear_range_clears_exactly_the_range<T: Bits>() {
  let len = ragged_len::<T>();
  for (start, count) in valid_ranges::<T>() {
    let mut storage = [T::ZERO; STORAGE_WORDS];
    let mut map = Bitmap::new(&mut storage, len).unwrap();
    map.set_all();
    map.clear_range(start, count).unwrap();
    let expected: Vec<bool> = range_pattern(len, start, count)
      .into_iter()
      .map(|inside| !inside)
      .collect();
    assert_eq!(snapshot(&map), expected, "range {start}+{count}");
  }
}

fn is_range_clear_sees_only_the_range<T: Bits>() {
  let len = ragged_len::<T>();
  for (start, count) in valid_ranges::<T>() {
    let mut storage = [T::ZERO; STORAGE_WORDS];
    let mut map = Bitmap::new(&mut storage, len).unwrap();
    map.set_all();
    map.clear_range(start, count).unwrap();
    assert_eq!(map.is_range_clear(start, count), Ok(true));
    for inside in [start, start + count / 2, start + count.saturating_sub(1)] {
      if count > 0 {
        map.set(inside).unwrap();
        assert_eq!(map.is_range_clear(start, count), Ok(false));
        map.clear(inside).unwrap();
      }
    }
    map.check_invariants();
  }
}

fn ranges_out_of_bounds_change_nothing<T: Bits>() {
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  for (start, count, index) in invalid_ranges::<T>() {
    let out = BitmapError::OutOfBounds { index, len };
    assert_eq!(map.set_range(start, count), Err(out));
    assert!(map.is_clear());
    assert_eq!(map.is_range_clear(start, count), Err(out));
    map.set_all();
    assert_eq!(map.clear_range(start, count), Err(out));
    assert_eq!(map.count_ones(), len);
    map.clear_all();
    map.check_invariants();
  }
}

fn set_all_stops_at_len<T: Bits>() {
  let bits = word_bits::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, ragged_len::<T>()).unwrap();
  map.set_all();
  assert_eq!(snapshot(&map), std::vec![true; ragged_len::<T>()]);
  assert_eq!(
    map.as_words()[RAGGED_WORDS - 1],
    T::low_mask(RAGGED_TAIL_BITS)
  );
  assert_eq!(map.find_first_clear(), None);
  map.clear_all();
  assert!(map.is_clear());
  assert_eq!(map.as_words(), [T::ZERO; RAGGED_WORDS]);
  assert_eq!(storage[RAGGED_WORDS], T::ZERO, "spare word left alone");

  let mut map = Bitmap::new(&mut storage, 2 * bits).unwrap();
  map.set_all();
  map.check_invariants();
  assert_eq!(map.as_words(), [T::ONES; 2]);
  assert_eq!(map.count_ones(), 2 * bits);
}

fn count_ones_and_is_clear<T: Bits>() {
  let bits = word_bits::<T>();
  let len = ragged_len::<T>();
  let scattered = [0, bits - 1, bits, len - 1];
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  assert!(map.is_clear());
  for (done, &index) in scattered.iter().enumerate() {
    map.set(index).unwrap();
    map.check_invariants();
    assert_eq!(map.count_ones(), done + 1);
    assert!(!map.is_clear());
  }
  for &index in &scattered {
    map.clear(index).unwrap();
    map.check_invariants();
  }
  assert!(map.is_clear());
  assert_eq!(map.count_ones(), 0);
}

fn find_first_set_scans_words<T: Bits>() {
  let bits = word_bits::<T>();
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  assert_eq!(map.find_first_set(), None);
  for index in [bits - 1, bits + 2, len - 1] {
    map.set(index).unwrap();
  }
  map.check_invariants();
  assert_eq!(map.find_first_set(), Some(bits - 1));
  assert_eq!(map.find_first_set_from(bits - 1), Some(bits - 1));
  assert_eq!(map.find_first_set_from(bits), Some(bits + 2));
  assert_eq!(map.find_first_set_from(bits + 3), Some(len - 1));
  assert_eq!(map.find_first_set_from(len), None);
  assert_eq!(map.find_first_set_from(usize::MAX), None);
}

fn find_first_clear_scans_words<T: Bits>() {
  let bits = word_bits::<T>();
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  assert_eq!(map.find_first_clear(), Some(0));
  map.set_all();
  assert_eq!(map.find_first_clear(), None, "tail bits are not reported");
  assert_eq!(map.find_first_clear_from(bits), None);
  for index in [bits - 1, bits + 2, len - 1] {
    map.clear(index).unwrap();
  }
  map.check_invariants();
  assert_eq!(map.find_first_clear(), Some(bits - 1));
  assert_eq!(map.find_first_clear_from(bits - 1), Some(bits - 1));
  assert_eq!(map.find_first_clear_from(bits), Some(bits + 2));
  assert_eq!(map.find_first_clear_from(bits + 3), Some(len - 1));
  assert_eq!(map.find_first_clear_from(len), None);
  assert_eq!(map.find_first_clear_from(usize::MAX), None);
}

fn find_clear_run_in_empty_map<T: Bits>() {
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let map = Bitmap::new(&mut storage, len).unwrap();
  assert_eq!(map.find_clear_run(0, 0), None, "empty runs are not found");
  assert_eq!(map.find_clear_run(len, 0), Some(0));
  assert_eq!(map.find_clear_run(len + 1, 0), None);
  assert_eq!(map.find_clear_run(1, len - 1), Some(len - 1));
  assert_eq!(map.find_clear_run(2, len - 1), None);
  assert_eq!(map.find_clear_run(1, len), None);
  assert_eq!(map.find_clear_run(usize::MAX, 1), None);
  assert_eq!(map.find_clear_run(1, usize::MAX), None);
}

fn find_clear_run_skips_blocked_runs<T: Bits>() {
  let bits = word_bits::<T>();
  let len = ragged_len::<T>();
  let mut storage = [T::ZERO; STORAGE_WORDS];
  let mut map = Bitmap::new(&mut storage, len).unwrap();
  // Clear runs: 3..bits + 1 (crossing a word boundary) and bits + 2..len.
  map.set_range(0, 3).unwrap();
  map.set(bits + 1).unwrap();
  map.check_invariants();
  let tail_run = len - (bits + 2);
  assert_eq!(map.find_clear_run(1, 0), Some(3));
  assert_eq!(map.find_clear_run(1, 1), Some(3));
  assert_eq!(map.find_clear_run(2, 4), Some(4));
  assert_eq!(map.find_clear_run(bits - 2, 0), Some(3));
  assert_eq!(map.find_clear_run(bits - 1, 0), Some(bits + 2));
  assert_eq!(map.find_clear_run(tail_run, 0), Some(bits + 2));
  assert_eq!(map.find_clear_run(tail_run + 1, 0), None);
  assert_eq!(map.find_clear_run(2, bits), Some(bits + 2));
  map.set(len - 1).unwrap();
  assert_eq!(map.find_clear_run(tail_run, 0), None, "run no longer fits");
  assert_eq!(map.find_clear_run(tail_run - 1, 0), Some(bits + 2));
}

word_tests!(
  new_rejects_too_small,
  new_keeps_bits_and_clears_tail,
  new_cleared_clears_used_words,
  zero_length,
  single_bit_operations,
  single_bit_out_of_bounds,
  set_range_sets_exactly_the_range,
  clear_range_clears_exactly_the_range,
  is_range_clear_sees_only_the_range,
  ranges_out_of_bounds_change_nothing,
  set_all_stops_at_len,
  count_ones_and_is_clear,
  find_first_set_scans_words,
  find_first_clear_scans_words,
  find_clear_run_in_empty_map,
  find_clear_run_skips_blocked_runs,
);
