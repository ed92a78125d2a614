extern crate std;

use std::format;
use std::string::String;

use super::*;
use crate::config::MIN_BLOCKS_PER_SEGMENT;
use crate::segment::{code_step_of, multiplier_of};

/// The worst internal waste any class may have beyond `MIN_ALIGN`
/// rounding: one eighth, as a fraction of the block size.
const MAX_INTERNAL_WASTE: f64 = 0.125;
/// The worst share of a segment lost to its header, alignment
/// padding and tail.
const MAX_SEGMENT_OVERHEAD: f64 = 0.0625;

/// The smallest request served by each class, rounded up to `MIN_ALIGN`.
fn smallest_request(index: usize) -> usize {
  if index == 0 {
    return MIN_ALIGN;
  }
  (CLASSES[index - 1].size() + 1).next_multiple_of(MIN_ALIGN)
}

fn internal_waste(index: usize) -> f64 {
  let size = CLASSES[index].size();
  (size - smallest_request(index)) as f64 / size as f64
}

fn segment_overhead(class: &Class) -> f64 {
  (SEGMENT_SIZE - class.blocks() * class.size()) as f64 / SEGMENT_SIZE as f64
}

#[test]
fn sizes_increase_in_min_align_steps_up_to_small_max() {
  assert_eq!(CLASSES[0].size(), MIN_ALIGN);
  assert_eq!(CLASSES[CLASS_COUNT - 1].size(), SMALL_MAX);
  for pair in CLASSES.windows(2) {
    assert!(pair[0].size() < pair[1].size());
    assert_eq!(pair[1].size() % MIN_ALIGN, 0);
  }
}

#[test]
fn lookup_gives_the_smallest_fitting_class_for_every_size() {
  for size in 0..=SMALL_MAX {
    let index = class_of(size);
    assert!(CLASSES[index].size() >= size, "class too small for {size}");
    if index > 0 {
      assert!(CLASSES[index - 1].size() < size, "class too big for {size}");
    }
  }
}

#[test]
fn internal_waste_is_at_most_one_eighth() {
  for index in 0..CLASS_COUNT {
    let waste = internal_waste(index);
    assert!(waste <= MAX_INTERNAL_WASTE, "class {index}: waste {waste}");
  }
}

#[test]
fn segments_hold_enough_blocks_with_little_overhead() {
  for (index, class) in CLASSES.iter().enumerate() {
    assert!(class.blocks() >= MIN_BLOCKS_PER_SEGMENT, "class {index}");
    let overhead = segment_overhead(class);
    assert!(
      overhead <= MAX_SEGMENT_OVERHEAD,
      "class {index}: {overhead}"
    );
    let header = size_of::<Segment>();
    assert!(
      class.area_offset() >= header,
      "class {index}: header overlap"
    );
    let end = class.area_offset() + class.blocks() * class.size();
    assert!(end <= SEGMENT_SIZE, "class {index}: blocks overflow");
  }
}

#[test]
fn blocks_are_aligned_to_the_class_alignment() {
  for class in &CLASSES {
    assert!(class.align() >= MIN_ALIGN);
    assert_eq!(class.size() % class.align(), 0);
    assert_eq!(class.area_offset() % class.align(), 0);
  }
}

#[test]
fn exact_sizes_cover_every_size_once_with_its_class() {
  let mut next = 0;
  for index in 0..CLASS_COUNT {
    let sizes = exact_sizes_of(index);
    assert_eq!(sizes.start, next.min(EXACT_SIZES), "class {index}");
    for size in sizes.clone() {
      assert_eq!(class_of(size), index, "size {size}");
    }
    next = next.max(sizes.end);
  }
  assert_eq!(next, EXACT_SIZES, "every exact size has a class");
}

#[test]
fn block_codes_are_exact_for_every_offset_of_every_class() {
  for class in &CLASSES {
    let size = class.size() as i64;
    let multiplier = multiplier_of(class.size());
    let step = code_step_of(class.size());
    let highest_limit = class.blocks() as u64 * step;
    assert!(step >= size as u64 && step < 2 * size as u64);
    // Pointers of the segment itself and of the one before (a pointer is
    // looked up from `pointer - 1`), as offsets from the block area.
    let segment = SEGMENT_SIZE as i64;
    for offset in -segment..segment {
      let code = (offset as u64).wrapping_mul(multiplier);
      if offset >= 0 && offset % size == 0 {
        assert_eq!(
          code,
          (offset / size) as u64 * step,
          "size {size} offset {offset}"
        );
      } else {
        assert!(code >= highest_limit, "size {size} offset {offset}");
      }
    }
  }
}

#[test]
fn aligned_lookup_finds_aligned_classes_or_none() {
  let mut align = MIN_ALIGN;
  while align <= SMALL_MAX * 2 {
    for size in [0, 1, 17, 100, 1000, 4096, SMALL_MAX] {
      match class_of_aligned(size, align) {
        Some(index) => {
          let class = &CLASSES[index];
          assert!(class.size() >= size && class.align() >= align);
        }
        None => assert!(
          CLASSES
            .iter()
            .all(|class| class.size() < size || class.align() < align),
          "size {size} align {align} has a class"
        ),
      }
    }
    align *= 2;
  }
}

#[test]
fn loose_aligned_classes_are_smaller_with_aligned_blocks_recurring() {
  let mut align = 2 * MIN_ALIGN;
  let mut found = 0;
  while align <= SMALL_MAX {
    for size in (0..=SMALL_MAX).step_by(MIN_ALIGN / 2) {
      let Some(strict) = class_of_aligned(size, align) else {
        continue;
      };
      let Some(index) = loose_class_of_aligned(size, align, strict) else {
        continue;
      };
      found += 1;
      let class = &CLASSES[index];
      assert!(class.size() >= size, "size {size} align {align}");
      assert!(class.size() * LOOSE_MIN_SAVING <= CLASSES[strict].size());
      assert!(
        class.align() < align && class.align() * LOOSE_ALIGN_RATIO >= align
      );
      // One block in `align / class.align()` is aligned, in every run of
      // that many consecutive blocks of a segment.
      let period = align / class.align();
      let aligned = (0..period)
        .filter(|&block| {
          (class.area_offset() + block * class.size()).is_multiple_of(align)
        })
        .count();
      assert_eq!(aligned, 1, "size {size} align {align}");
    }
    align *= 2;
  }
  assert!(found > 0, "some requests have a loose class");
  assert_eq!(
    class_of_aligned(100, 4096)
      .and_then(|strict| loose_class_of_aligned(100, 4096, strict))
      .map(|index| CLASSES[index].size()),
    Some(1024),
    "a 100-byte block aligned to 4 KiB can take 1 KiB"
  );
}

/// The class table as the README prints it.
fn table_markdown() -> String {
  let mut table = String::from(
    "| class | block size | align | blocks/segment | worst waste | segment overhead |\n|---:|---:|---:|---:|---:|---:|\n",
  );
  for (index, class) in CLASSES.iter().enumerate() {
    table += &format!(
      "| {index} | {} | {} | {} | {:.1}% | {:.1}% |\n",
      class.size(),
      class.align(),
      class.blocks(),
      internal_waste(index) * 100.0,
      segment_overhead(class) * 100.0,
    );
  }
  table
}

#[test]
fn readme_prints_the_current_class_table() {
  let readme = include_str!("../../../README.md");
  let table = table_markdown();
  if !readme.contains(&table) {
    std::println!("{table}");
    panic!("README.md's size-class table is stale; the current one is above");
  }
}

/// Checks that `runs_of` gives the classes, in order, runs of a table of
/// `slots` slots that together cover it once.
fn assert_runs_partition(runs_of: fn(usize) -> Range<usize>, slots: usize) {
  let mut covered = 0;
  for index in 0..CLASS_COUNT {
    let run = runs_of(index);
    assert_eq!(
      run.start, covered,
      "class {index} starts where the last ended"
    );
    covered = run.end;
  }
  assert_eq!(covered, slots, "every slot belongs to a class");
}

#[test]
fn size_steps_of_each_class_cover_exactly_the_sizes_it_serves() {
  assert_runs_partition(size_steps_of, SIZE_STEPS);
  for index in 0..CLASS_COUNT {
    let steps = size_steps_of(index);
    assert!(!steps.is_empty(), "class {index} serves some size");
    for step in steps {
      let size = (step << MIN_ALIGN_SHIFT).min(SMALL_MAX);
      assert_eq!(size_step(size), step);
      assert_eq!(class_of(size), index, "size {size}");
    }
  }
}

#[test]
fn direct_slots_of_each_class_cover_exactly_the_large_sizes_it_serves() {
  assert_runs_partition(direct_slots_of, DIRECT_SLOTS);
  for size in EXACT_MAX + 1..=SMALL_MAX {
    let slots = direct_slots_of(class_of(size));
    assert!(
      slots.contains(&direct_slot(size)),
      "size {size} reads a slot of its own class"
    );
  }
}
