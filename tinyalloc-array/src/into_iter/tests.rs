extern crate std;

use core::cell::Cell;
use std::{format, vec::Vec};

use crate::{
  Array,
  test_support::{Tracked, counters, drop_counts},
};

/// Capacity of the arrays in these tests.
const CAPACITY: usize = 6;

/// Number of elements pushed: fewer than the capacity, so the uninitialized
/// tail is exercised too.
const FILLED: usize = 5;

fn tracked_array<'drops>(
  drops: &'drops [Cell<usize>; FILLED],
) -> Array<Tracked<'drops>, CAPACITY> {
  let mut array = Array::new();
  for id in 0..FILLED {
    array.push(Tracked::new(drops, id)).unwrap();
  }
  array
}

#[test]
fn yields_front_to_back_then_fuses() {
  let mut array: Array<u32, CAPACITY> = Array::new();
  for value in 1..=3 {
    array.push(value).unwrap();
  }
  let mut iter = array.into_iter();
  assert_eq!(iter.len(), 3);
  assert_eq!(iter.next(), Some(1));
  assert_eq!(iter.next_back(), Some(3));
  iter.check_invariants();
  assert_eq!(iter.as_slice(), &[2]);
  assert_eq!(format!("{iter:?}"), "IntoIter([2])");
  assert_eq!(iter.next(), Some(2));
  assert_eq!(iter.next(), None);
  assert_eq!(iter.next_back(), None);
  iter.check_invariants();
}

#[test]
fn full_consumption_drops_each_once() {
  let drops = counters::<FILLED>();
  let seen: Vec<usize> = tracked_array(&drops)
    .into_iter()
    .map(|item| item.id())
    .collect();
  assert_eq!(seen, [0, 1, 2, 3, 4]);
  assert_eq!(drop_counts(&drops), [1; FILLED]);
}

#[test]
fn partial_consumption_drops_the_rest_once() {
  let drops = counters::<FILLED>();
  let mut iter = tracked_array(&drops).into_iter();
  let first = iter.next().unwrap();
  let last = iter.next_back().unwrap();
  iter.check_invariants();
  assert_eq!(drop_counts(&drops), [0; FILLED]);
  drop(iter);
  assert_eq!(drop_counts(&drops), [0, 1, 1, 1, 0]);
  drop((first, last));
  assert_eq!(drop_counts(&drops), [1; FILLED]);
}

#[test]
fn unconsumed_iterator_drops_everything_once() {
  let drops = counters::<FILLED>();
  drop(tracked_array(&drops).into_iter());
  assert_eq!(drop_counts(&drops), [1; FILLED]);
}
