extern crate std;

use core::{
  cell::Cell,
  sync::atomic::{AtomicUsize, Ordering},
};
use std::{
  boxed::Box,
  format,
  panic::{self, AssertUnwindSafe},
  vec::Vec,
};

use proptest::{
  collection,
  prelude::{
    Just, Strategy, TestCaseError, any, prop_assert, prop_assert_eq,
    prop_oneof, proptest,
  },
};

use super::Array;
use crate::{
  ArrayError,
  test_support::{Tracked, counters, drop_counts},
};

/// Capacity of the arrays in most unit tests: small enough to fill by hand.
const SMALL: usize = 4;

/// Builds an array holding `values`, checking invariants after each push.
fn array_of<const N: usize>(values: &[u32]) -> Array<u32, N> {
  let mut array = Array::new();
  for &value in values {
    array.push(value).expect("test array overflow");
    array.check_invariants();
  }
  array
}

/// Builds an array of `Tracked` values with ids `0..COUNT`.
fn tracked_array<'drops, const N: usize>(
  drops: &'drops [Cell<usize>],
) -> Array<Tracked<'drops>, N> {
  let mut array = Array::new();
  for id in 0..drops.len() {
    array
      .push(Tracked::new(drops, id))
      .expect("test array overflow");
    array.check_invariants();
  }
  array
}

fn ids<'drops>(items: &[Tracked<'drops>]) -> Vec<usize> {
  items.iter().map(Tracked::id).collect()
}

#[test]
fn new_array_is_empty_with_capacity_n() {
  let array: Array<u32, SMALL> = Array::default();
  array.check_invariants();
  assert_eq!(array.len(), 0);
  assert_eq!(array.capacity(), SMALL);
  assert!(array.is_empty());
  assert!(!array.is_full());
  assert_eq!(array.as_slice(), &[] as &[u32]);
}

#[test]
fn push_fills_to_capacity_then_fails() {
  let mut array: Array<u32, SMALL> = array_of(&[1, 2, 3, 4]);
  assert!(array.is_full());
  assert_eq!(
    array.push(5),
    Err(ArrayError::InsufficientCapacity { capacity: SMALL })
  );
  array.check_invariants();
  assert_eq!(array.try_push(6), Err(6));
  array.check_invariants();
  assert_eq!(array.as_slice(), &[1, 2, 3, 4]);
}

#[test]
fn push_on_full_drops_value_but_try_push_returns_it() {
  let drops = counters::<3>();
  let mut array: Array<Tracked<'_>, 1> = Array::new();
  array.push(Tracked::new(&drops, 0)).unwrap();
  assert!(array.push(Tracked::new(&drops, 1)).is_err());
  assert_eq!(drop_counts(&drops), [0, 1, 0]);
  let rejected = array.try_push(Tracked::new(&drops, 2)).unwrap_err();
  assert_eq!(rejected.id(), 2);
  assert_eq!(drop_counts(&drops), [0, 1, 0]);
  drop(rejected);
  drop(array);
  assert_eq!(drop_counts(&drops), [1, 1, 1]);
}

#[test]
fn pop_is_lifo_and_none_when_empty() {
  let mut array: Array<u32, SMALL> = array_of(&[1, 2, 3]);
  for expected in [3, 2, 1] {
    assert_eq!(array.pop(), Some(expected));
    array.check_invariants();
  }
  assert_eq!(array.pop(), None);
  array.check_invariants();
  assert!(array.is_empty());
}

#[test]
fn insert_at_front_middle_and_end() {
  let mut array: Array<u32, SMALL> = array_of(&[2]);
  array.insert(0, 0).unwrap();
  array.check_invariants();
  array.insert(1, 1).unwrap();
  array.check_invariants();
  array.insert(3, 3).unwrap();
  array.check_invariants();
  assert_eq!(array.as_slice(), &[0, 1, 2, 3]);
}

#[test]
fn insert_rejects_bad_index_before_full_and_keeps_contents() {
  let mut array: Array<u32, SMALL> = array_of(&[1, 2]);
  assert_eq!(
    array.insert(3, 9),
    Err(ArrayError::OutOfBounds { index: 3, len: 2 })
  );
  array.check_invariants();
  let mut full: Array<u32, SMALL> = array_of(&[1, 2, 3, 4]);
  assert_eq!(
    full.insert(5, 9),
    Err(ArrayError::OutOfBounds { index: 5, len: 4 })
  );
  assert_eq!(
    full.insert(4, 9),
    Err(ArrayError::InsufficientCapacity { capacity: SMALL })
  );
  full.check_invariants();
  assert_eq!(array.as_slice(), &[1, 2]);
  assert_eq!(full.as_slice(), &[1, 2, 3, 4]);
}

#[test]
fn failed_insert_drops_value_once() {
  let drops = counters::<2>();
  let mut array: Array<Tracked<'_>, 1> = Array::new();
  assert!(array.insert(1, Tracked::new(&drops, 0)).is_err());
  array.insert(0, Tracked::new(&drops, 1)).unwrap();
  assert!(array.insert(0, Tracked::new(&drops, 0)).is_err());
  assert_eq!(drop_counts(&drops), [2, 0]);
  assert_eq!(ids(&array), [1]);
}

#[test]
fn remove_shifts_left_and_rejects_bad_index() {
  let mut array: Array<u32, SMALL> = array_of(&[1, 2, 3, 4]);
  assert_eq!(array.remove(1), Ok(2));
  array.check_invariants();
  assert_eq!(array.as_slice(), &[1, 3, 4]);
  assert_eq!(array.remove(2), Ok(4));
  assert_eq!(
    array.remove(2),
    Err(ArrayError::OutOfBounds { index: 2, len: 2 })
  );
  array.check_invariants();
  assert_eq!(array.as_slice(), &[1, 3]);
}

#[test]
fn swap_remove_moves_last_into_hole() {
  let mut array: Array<u32, SMALL> = array_of(&[1, 2, 3, 4]);
  assert_eq!(array.swap_remove(0), Ok(1));
  array.check_invariants();
  assert_eq!(array.as_slice(), &[4, 2, 3]);
  assert_eq!(array.swap_remove(2), Ok(3));
  assert_eq!(
    array.swap_remove(2),
    Err(ArrayError::OutOfBounds { index: 2, len: 2 })
  );
  array.check_invariants();
  assert_eq!(array.as_slice(), &[4, 2]);
}

#[test]
fn removed_values_are_owned_by_the_caller() {
  let drops = counters::<SMALL>();
  let mut array: Array<Tracked<'_>, SMALL> = tracked_array(&drops);
  let popped = array.pop().unwrap();
  let removed = array.remove(0).unwrap();
  let swapped = array.swap_remove(0).unwrap();
  array.check_invariants();
  assert_eq!([popped.id(), removed.id(), swapped.id()], [3, 0, 1]);
  assert_eq!(drop_counts(&drops), [0; SMALL]);
  drop((popped, removed, swapped));
  assert_eq!(drop_counts(&drops), [1, 1, 0, 1]);
  drop(array);
  assert_eq!(drop_counts(&drops), [1; SMALL]);
}

#[test]
fn clear_drops_each_element_once() {
  let drops = counters::<SMALL>();
  let mut array: Array<Tracked<'_>, SMALL> = tracked_array(&drops);
  array.clear();
  array.check_invariants();
  assert!(array.is_empty());
  assert_eq!(drop_counts(&drops), [1; SMALL]);
  drop(array);
  assert_eq!(drop_counts(&drops), [1; SMALL]);
}

#[test]
fn dropping_a_partly_filled_array_drops_only_live_elements() {
  let drops = counters::<3>();
  let array: Array<Tracked<'_>, SMALL> = tracked_array(&drops);
  assert_eq!(array.len(), 3);
  drop(array);
  assert_eq!(drop_counts(&drops), [1; 3]);
}

#[test]
fn get_and_get_mut_respect_length() {
  let mut array: Array<u32, SMALL> = array_of(&[1, 2]);
  assert_eq!(array.get(1), Some(&2));
  assert_eq!(array.get(2), None);
  *array.get_mut(0).unwrap() = 7;
  assert_eq!(array.get_mut(2), None);
  // SAFETY: index 1 < len 2.
  let second = unsafe { array.get_unchecked_mut(1) };
  *second += 1;
  // SAFETY: index 0 < len 2.
  let first = unsafe { array.get_unchecked(0) };
  assert_eq!(*first, 7);
  array.check_invariants();
  assert_eq!(array.as_slice(), &[7, 3]);
}

#[test]
fn borrowed_iteration_and_slice_methods() {
  let mut array: Array<u32, SMALL> = array_of(&[3, 1, 2]);
  for value in &mut array {
    *value *= 10;
  }
  array.sort_unstable();
  let seen: Vec<u32> = (&array).into_iter().copied().collect();
  assert_eq!(seen, [10, 20, 30]);
  assert_eq!(array.last(), Some(&30));
  assert!(array.contains(&20));
  array.check_invariants();
}

#[test]
fn clone_is_equal_and_independent() {
  let original: Array<u32, SMALL> = array_of(&[1, 2, 3]);
  let mut copy = original.clone();
  copy.check_invariants();
  assert_eq!(copy, original);
  copy.push(4).unwrap();
  assert_ne!(copy, original);
  assert_eq!(original.as_slice(), &[1, 2, 3]);
}

#[test]
fn clone_of_tracked_elements_drops_both_sets() {
  let drops = counters::<3>();
  let original: Array<Tracked<'_>, SMALL> = tracked_array(&drops);
  let copy = original.clone();
  assert_eq!(ids(&copy), [0, 1, 2]);
  drop(original);
  assert_eq!(drop_counts(&drops), [1; 3]);
  drop(copy);
  assert_eq!(drop_counts(&drops), [2; 3]);
}

/// An element whose `clone` panics once a shared budget runs out.
struct FragileClone<'drops> {
  budget: &'drops Cell<usize>,
  tracked: Tracked<'drops>,
}

impl<'drops> Clone for FragileClone<'drops> {
  fn clone(&self) -> Self {
    let left = self.budget.get();
    assert!(left > 0, "clone budget exhausted");
    self.budget.set(left - 1);
    Self {
      budget: self.budget,
      tracked: self.tracked.clone(),
    }
  }
}

#[test]
fn panicking_clone_drops_the_partial_copy() {
  /// Clones that succeed before the panic.
  const CLONES_BEFORE_PANIC: usize = 2;
  let drops = counters::<SMALL>();
  let budget = Cell::new(CLONES_BEFORE_PANIC);
  let mut array: Array<FragileClone<'_>, SMALL> = Array::new();
  for id in 0..SMALL {
    let tracked = Tracked::new(&drops, id);
    array
      .push(FragileClone {
        budget: &budget,
        tracked,
      })
      .unwrap();
  }
  let outcome = panic::catch_unwind(AssertUnwindSafe(|| array.clone()));
  assert!(outcome.is_err());
  assert_eq!(drop_counts(&drops), [1, 1, 0, 0]);
  drop(array);
  assert_eq!(drop_counts(&drops), [2, 2, 1, 1]);
}

#[test]
fn debug_equality_and_error_messages() {
  let array: Array<u32, SMALL> = array_of(&[1, 2]);
  let wider: Array<u32, 8> = array_of(&[1, 2]);
  assert_eq!(format!("{array:?}"), "[1, 2]");
  assert!(array == wider);
  let bounds = ArrayError::OutOfBounds { index: 5, len: 2 };
  assert_eq!(format!("{bounds}"), "index 5 is out of bounds for length 2");
  let full = ArrayError::InsufficientCapacity { capacity: SMALL };
  assert_eq!(format!("{full}"), "array is full (capacity 4)");
}

#[test]
fn zero_capacity_rejects_everything_cleanly() {
  let mut array: Array<u32, 0> = Array::new();
  assert!(array.is_empty() && array.is_full());
  assert_eq!(
    array.push(1),
    Err(ArrayError::InsufficientCapacity { capacity: 0 })
  );
  assert_eq!(array.try_push(1), Err(1));
  assert_eq!(
    array.insert(0, 1),
    Err(ArrayError::InsufficientCapacity { capacity: 0 })
  );
  assert_eq!(
    array.insert(1, 1),
    Err(ArrayError::OutOfBounds { index: 1, len: 0 })
  );
  assert_eq!(array.pop(), None);
  assert_eq!(
    array.remove(0),
    Err(ArrayError::OutOfBounds { index: 0, len: 0 })
  );
  assert_eq!(array.get(0), None);
  array.clear();
  array.check_invariants();
  assert_eq!(array.into_iter().next(), None);
}

/// Drops of `Unit` values, counted in a static because a zero-sized type
/// cannot carry a reference to a counter. Only one test uses it.
static UNIT_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A zero-sized element type that counts its drops.
struct Unit;

impl Drop for Unit {
  fn drop(&mut self) {
    UNIT_DROPS.fetch_add(1, Ordering::Relaxed);
  }
}

#[test]
fn zero_sized_elements_are_counted_and_dropped_once() {
  let mut array: Array<Unit, SMALL> = Array::new();
  for _ in 0..SMALL {
    array.push(Unit).unwrap();
    array.check_invariants();
  }
  assert!(array.push(Unit).is_err());
  assert_eq!(UNIT_DROPS.load(Ordering::Relaxed), 1);
  array.insert(0, Unit).unwrap_err();
  array.remove(1).unwrap();
  array.swap_remove(0).unwrap();
  assert_eq!(UNIT_DROPS.load(Ordering::Relaxed), 4);
  array.check_invariants();
  assert_eq!(array.len(), SMALL - 2);
  let mut rest = array.into_iter();
  assert!(rest.next().is_some());
  assert_eq!(UNIT_DROPS.load(Ordering::Relaxed), 5);
  drop(rest);
  assert_eq!(UNIT_DROPS.load(Ordering::Relaxed), SMALL + 2);
}

/// Capacity of the arrays in the main model test.
const MODEL_CAPACITY: usize = 8;

/// Indices range this far past the capacity, so out-of-bounds calls occur.
const INDEX_SLACK: usize = 2;

/// Longest random operation sequence.
const MAX_OPS: usize = 64;

/// One step of the model test.
#[derive(Debug, Clone)]
enum Op {
  Push(u32),
  Pop,
  Insert(usize, u32),
  Remove(usize),
  SwapRemove(usize),
  Clear,
  Get(usize),
  GetMut(usize, u32),
}

fn op_strategy(capacity: usize) -> impl Strategy<Value = Op> {
  let index = 0..capacity + INDEX_SLACK;
  prop_oneof![
    3 => any::<u32>().prop_map(Op::Push),
    2 => Just(Op::Pop),
    2 => (index.clone(), any::<u32>()).prop_map(|(i, v)| Op::Insert(i, v)),
    1 => index.clone().prop_map(Op::Remove),
    1 => index.clone().prop_map(Op::SwapRemove),
    1 => Just(Op::Clear),
    1 => index.clone().prop_map(Op::Get),
    1 => (index, any::<u32>()).prop_map(|(i, v)| Op::GetMut(i, v)),
  ]
}

/// Heap-allocated elements, so valgrind sees any lost or doubly-dropped one.
type Element = Box<u32>;

/// Applies `op` to both, comparing results.
fn step<const N: usize>(
  array: &mut Array<Element, N>,
  model: &mut Vec<u32>,
  op: &Op,
) -> Result<(), TestCaseError> {
  let len = model.len();
  let out_of_bounds = |index| ArrayError::OutOfBounds { index, len };
  let full = ArrayError::InsufficientCapacity { capacity: N };
  match *op {
    Op::Push(value) => {
      let expected = if len < N { Ok(()) } else { Err(full) };
      prop_assert_eq!(array.push(Box::new(value)), expected);
      if len < N {
        model.push(value);
      }
    }
    Op::Pop => prop_assert_eq!(array.pop().map(|b| *b), model.pop()),
    Op::Insert(index, value) => {
      let expected = if index > len {
        Err(out_of_bounds(index))
      } else if len == N {
        Err(full)
      } else {
        model.insert(index, value);
        Ok(())
      };
      prop_assert_eq!(array.insert(index, Box::new(value)), expected);
    }
    Op::Remove(index) => {
      let expected = if index < len {
        Ok(model.remove(index))
      } else {
        Err(out_of_bounds(index))
      };
      prop_assert_eq!(array.remove(index).map(|b| *b), expected);
    }
    Op::SwapRemove(index) => {
      let expected = if index < len {
        Ok(model.swap_remove(index))
      } else {
        Err(out_of_bounds(index))
      };
      prop_assert_eq!(array.swap_remove(index).map(|b| *b), expected);
    }
    Op::Clear => {
      array.clear();
      model.clear();
    }
    Op::Get(index) => {
      prop_assert_eq!(array.get(index).map(|b| **b), model.get(index).copied());
    }
    Op::GetMut(index, value) => {
      match (array.get_mut(index), model.get_mut(index)) {
        (Some(slot), Some(expected)) => {
          **slot = value;
          *expected = value;
        }
        (None, None) => {}
        (got, _) => prop_assert!(false, "get_mut({index}) gave {got:?}"),
      }
    }
  }
  Ok(())
}

fn contents<const N: usize>(array: &Array<Element, N>) -> Vec<u32> {
  array.iter().map(|b| **b).collect()
}

/// Runs `ops`, then drains part of the array from both ends by value and
/// drops the rest of the iterator.
fn run_model<const N: usize>(
  ops: &[Op],
  front: usize,
  back: usize,
) -> Result<(), TestCaseError> {
  let mut array: Array<Element, N> = Array::new();
  let mut model = Vec::new();
  for op in ops {
    step(&mut array, &mut model, op)?;
    array.check_invariants();
    prop_assert_eq!(array.len(), model.len());
    prop_assert_eq!(contents(&array), model.clone());
  }
  let mut rest = array.into_iter();
  let mut expected = model.into_iter();
  for _ in 0..front {
    prop_assert_eq!(rest.next().map(|b| *b), expected.next());
    rest.check_invariants();
  }
  for _ in 0..back {
    prop_assert_eq!(rest.next_back().map(|b| *b), expected.next_back());
    rest.check_invariants();
  }
  prop_assert_eq!(rest.len(), expected.len());
  let left: Vec<u32> = rest.as_slice().iter().map(|b| **b).collect();
  prop_assert_eq!(left, expected.collect::<Vec<u32>>());
  Ok(())
}

proptest! {
  #[test]
  fn operations_match_vec_model(
    ops in collection::vec(op_strategy(MODEL_CAPACITY), 0..MAX_OPS),
    front in 0..MODEL_CAPACITY + INDEX_SLACK,
    back in 0..MODEL_CAPACITY + INDEX_SLACK,
  ) {
    run_model::<MODEL_CAPACITY>(&ops, front, back)?;
  }

  #[test]
  fn operations_match_vec_model_capacity_one(
    ops in collection::vec(op_strategy(1), 0..MAX_OPS),
    front in 0..1 + INDEX_SLACK,
    back in 0..1 + INDEX_SLACK,
  ) {
    run_model::<1>(&ops, front, back)?;
  }

  #[test]
  fn operations_match_vec_model_capacity_zero(
    ops in collection::vec(op_strategy(0), 0..MAX_OPS),
  ) {
    run_model::<0>(&ops, 0, 0)?;
  }
}
