//! Random operation sequences checked against a `Vec<bool>` model.

use std::vec;
use std::vec::Vec;

use proptest::collection;
use proptest::prelude::{Just, Strategy, any, prop_oneof, proptest};
use proptest::test_runner::TestCaseError;
use proptest::{prop_assert, prop_assert_eq};

use crate::bitmap::Bitmap;
use crate::bits::{Bits, words_for_bits};
use crate::error::BitmapError;

/// Longest bitmap generated: several words of every word type.
const MAX_LEN: usize = 200;
/// How far indices reach past the longest bitmap, to hit bounds errors.
const INDEX_SLACK: usize = 8;
/// Most spare words after the ones a bitmap needs.
const MAX_SPARE_WORDS: usize = 2;
/// Counts of "short" ranges and runs, the common case.
const SHORT_COUNT: usize = 8;
/// Most operations in one sequence.
const MAX_OPS: usize = 64;
/// Bits in one seed of the initial storage contents.
const SEED_BITS: usize = u64::BITS as usize;
/// Seeds covering the largest storage generated: the widest word type is
/// `u64`-sized, so one seed per word of it.
const SEEDS: usize = words_for_bits::<u64>(MAX_LEN) + MAX_SPARE_WORDS;

/// One operation on the bitmap and the model.
#[derive(Debug, Clone)]
enum Op {
  Get(usize),
  Set(usize),
  Clear(usize),
  Flip(usize),
  SetRange(usize, usize),
  ClearRange(usize, usize),
  IsRangeClear(usize, usize),
  CountOnesInRange(usize, usize),
  SetAll,
  ClearAll,
  FindSetFrom(usize),
  FindClearFrom(usize),
  FindClearRun(usize, usize),
}

/// Initial contents of the storage, before the bitmap wraps it.
#[derive(Debug, Clone)]
enum Fill {
  Zeros,
  Ones,
  Random(Vec<u64>),
}

impl Fill {
  fn bit(&self, index: usize) -> bool {
    match self {
      Self::Zeros => false,
      Self::Ones => true,
      Self::Random(seeds) => {
        seeds[index / SEED_BITS] >> (index % SEED_BITS) & 1 == 1
      }
    }
  }
}

/// One generated test case.
#[derive(Debug, Clone)]
struct Case {
  len: usize,
  spare_words: usize,
  fill: Fill,
  ops: Vec<Op>,
}

fn index() -> impl Strategy<Value = usize> {
  0..MAX_LEN + INDEX_SLACK
}

fn count() -> impl Strategy<Value = usize> {
  prop_oneof![0..SHORT_COUNT, 0..MAX_LEN + INDEX_SLACK]
}

fn op() -> impl Strategy<Value = Op> {
  prop_oneof![
    index().prop_map(Op::Get),
    index().prop_map(Op::Set),
    index().prop_map(Op::Clear),
    index().prop_map(Op::Flip),
    (index(), count()).prop_map(|(start, count)| Op::SetRange(start, count)),
    (index(), count()).prop_map(|(start, count)| Op::ClearRange(start, count)),
    (index(), count())
      .prop_map(|(start, count)| Op::IsRangeClear(start, count)),
    (index(), count())
      .prop_map(|(start, count)| Op::CountOnesInRange(start, count)),
    Just(Op::SetAll),
    Just(Op::ClearAll),
    index().prop_map(Op::FindSetFrom),
    index().prop_map(Op::FindClearFrom),
    (count(), index())
      .prop_map(|(count, start)| Op::FindClearRun(count, start)),
  ]
}

fn fill() -> impl Strategy<Value = Fill> {
  prop_oneof![
    Just(Fill::Zeros),
    Just(Fill::Ones),
    collection::vec(any::<u64>(), SEEDS).prop_map(Fill::Random),
  ]
}

fn case() -> impl Strategy<Value = Case> {
  (
    0..=MAX_LEN,
    0..=MAX_SPARE_WORDS,
    fill(),
    collection::vec(op(), 1..MAX_OPS),
  )
    .prop_map(|(len, spare_words, fill, ops)| Case {
      len,
      spare_words,
      fill,
      ops,
    })
}

/// Storage words holding `fill`'s bits.
fn storage<T: Bits>(words: usize, fill: &Fill) -> Vec<T> {
  let bits = T::BITS as usize;
  (0..words)
    .map(|word| {
      (0..T::BITS)
        .filter(|&bit| fill.bit(word * bits + bit as usize))
        .fold(T::ZERO, |acc, bit| acc | T::bit(bit))
    })
    .collect()
}

/// The model's answer to a range check.
fn model_range(
  len: usize,
  start: usize,
  count: usize,
) -> Result<usize, BitmapError> {
  match start.checked_add(count) {
    Some(end) if end <= len => Ok(end),
    _ => Err(BitmapError::OutOfBounds {
      index: start.saturating_add(count.saturating_sub(1)),
      len,
    }),
  }
}

fn model_index(model: &[bool], index: usize) -> Result<usize, BitmapError> {
  if index < model.len() {
    Ok(index)
  } else {
    Err(BitmapError::OutOfBounds {
      index,
      len: model.len(),
    })
  }
}

fn model_find(model: &[bool], start: usize, value: bool) -> Option<usize> {
  (start..model.len()).find(|&index| model[index] == value)
}

fn model_run(model: &[bool], count: usize, start: usize) -> Option<usize> {
  if count == 0 || count > model.len() {
    return None;
  }
  (start..=model.len() - count)
    .find(|&at| model[at..at + count].iter().all(|&bit| !bit))
}

/// Applies `op` to both, comparing every result.
fn step<'slice, T: Bits>(
  map: &mut Bitmap<'slice, T>,
  model: &mut [bool],
  op: &Op,
) -> Result<(), TestCaseError> {
  let len = model.len();
  match *op {
    Op::Get(index) => {
      let expected = model_index(model, index).map(|index| model[index]);
      prop_assert_eq!(map.get(index), expected);
    }
    Op::Set(index) => write_bit(map.set(index), model, index, |_| true)?,
    Op::Clear(index) => write_bit(map.clear(index), model, index, |_| false)?,
    Op::Flip(index) => write_bit(map.flip(index), model, index, |bit| !bit)?,
    Op::SetRange(start, count) => {
      write_range(map.set_range(start, count), model, start, count, true)?;
    }
    Op::ClearRange(start, count) => {
      write_range(map.clear_range(start, count), model, start, count, false)?;
    }
    Op::IsRangeClear(start, count) => {
      let expected = model_range(len, start, count)
        .map(|end| model[start..end].iter().all(|&bit| !bit));
      prop_assert_eq!(map.is_range_clear(start, count), expected);
    }
    Op::CountOnesInRange(start, count) => {
      let expected = model_range(len, start, count)
        .map(|end| model[start..end].iter().filter(|&&bit| bit).count());
      prop_assert_eq!(map.count_ones_in_range(start, count), expected);
    }
    Op::SetAll => {
      map.set_all();
      model.fill(true);
    }
    Op::ClearAll => {
      map.clear_all();
      model.fill(false);
    }
    Op::FindSetFrom(start) => {
      prop_assert_eq!(
        map.find_first_set_from(start),
        model_find(model, start, true)
      );
    }
    Op::FindClearFrom(start) => {
      prop_assert_eq!(
        map.find_first_clear_from(start),
        model_find(model, start, false)
      );
    }
    Op::FindClearRun(count, start) => {
      prop_assert_eq!(
        map.find_clear_run(count, start),
        model_run(model, count, start)
      );
    }
  }
  Ok(())
}

/// Checks a single-bit write's result and mirrors it in the model.
fn write_bit(
  result: Result<(), BitmapError>,
  model: &mut [bool],
  index: usize,
  update: impl Fn(bool) -> bool,
) -> Result<(), TestCaseError> {
  let expected = model_index(model, index).map(|index| {
    model[index] = update(model[index]);
  });
  prop_assert_eq!(result, expected);
  Ok(())
}

/// Checks a range write's result and mirrors it in the model.
fn write_range(
  result: Result<(), BitmapError>,
  model: &mut [bool],
  start: usize,
  count: usize,
  value: bool,
) -> Result<(), TestCaseError> {
  let expected = model_range(model.len(), start, count).map(|end| {
    model[start..end].fill(value);
  });
  prop_assert_eq!(result, expected);
  Ok(())
}

/// Compares every query with the model, after checking the invariants.
fn compare<'slice, T: Bits>(
  map: &Bitmap<'slice, T>,
  model: &[bool],
) -> Result<(), TestCaseError> {
  map.check_invariants();
  prop_assert_eq!(map.len(), model.len());
  prop_assert_eq!(map.is_empty(), model.is_empty());
  prop_assert_eq!(map.as_words().len(), words_for_bits::<T>(model.len()));
  for (index, &bit) in model.iter().enumerate() {
    prop_assert_eq!(map.get(index), Ok(bit), "bit {}", index);
  }
  let ones = model.iter().filter(|&&bit| bit).count();
  prop_assert_eq!(map.count_ones(), ones);
  prop_assert_eq!(map.is_clear(), ones == 0);
  prop_assert_eq!(map.find_first_set(), model_find(model, 0, true));
  prop_assert_eq!(map.find_first_clear(), model_find(model, 0, false));
  Ok(())
}

/// Runs `case` with words of `T`, then checks the spare words were untouched.
fn run<T: Bits>(case: &Case) -> Result<(), TestCaseError> {
  let used = words_for_bits::<T>(case.len);
  let initial = storage::<T>(used + case.spare_words, &case.fill);
  let mut words = initial.clone();
  let mut model: Vec<bool> =
    (0..case.len).map(|index| case.fill.bit(index)).collect();
  let mut map = Bitmap::new(&mut words, case.len).unwrap();
  compare(&map, &model)?;
  for op in &case.ops {
    step(&mut map, &mut model, op)?;
    compare(&map, &model)?;
  }
  prop_assert!(words[used..] == initial[used..], "spare words changed");
  Ok(())
}

proptest! {
  #[test]
  fn model_u8(case in case()) {
    run::<u8>(&case)?;
  }

  #[test]
  fn model_u16(case in case()) {
    run::<u16>(&case)?;
  }

  #[test]
  fn model_u32(case in case()) {
    run::<u32>(&case)?;
  }

  #[test]
  fn model_u64(case in case()) {
    run::<u64>(&case)?;
  }

  #[test]
  fn model_usize(case in case()) {
    run::<usize>(&case)?;
  }
}
