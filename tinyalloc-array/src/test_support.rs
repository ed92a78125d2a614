//! Helpers shared by the unit tests.

use core::cell::Cell;

/// A value that records its own drops in its slot of a counter table, so a
/// test can check that every element was dropped exactly once.
#[derive(Debug)]
pub(crate) struct Tracked<'drops> {
  drops: &'drops [Cell<usize>],
  id: usize,
}

impl<'drops> Tracked<'drops> {
  pub(crate) fn new(drops: &'drops [Cell<usize>], id: usize) -> Self {
    Self { drops, id }
  }

  pub(crate) fn id(&self) -> usize {
    self.id
  }
}

impl<'drops> Clone for Tracked<'drops> {
  fn clone(&self) -> Self {
    Self::new(self.drops, self.id)
  }
}

impl<'drops> Drop for Tracked<'drops> {
  fn drop(&mut self) {
    let counter = &self.drops[self.id];
    counter.set(counter.get() + 1);
  }
}

/// The drop count of each id, for comparing against an expected table.
pub(crate) fn drop_counts<const COUNT: usize>(
  drops: &[Cell<usize>; COUNT],
) -> [usize; COUNT] {
  drops.each_ref().map(Cell::get)
}

/// A fresh table of zero drop counts.
pub(crate) fn counters<const COUNT: usize>() -> [Cell<usize>; COUNT] {
  [const { Cell::new(0) }; COUNT]
}
