extern crate std;

use core::slice;
use std::vec::Vec;

use super::*;
use crate::config::{LARGE_MAX_SEGMENTS, SEGMENT_MASK};

#[test]
fn decimal_parsing_rejects_junk() {
  assert_eq!(parse_decimal(c"0"), Some(0));
  assert_eq!(parse_decimal(c"250"), Some(250));
  assert_eq!(parse_decimal(c""), None);
  assert_eq!(parse_decimal(c"12ms"), None);
  assert_eq!(parse_decimal(c"99999999999999999999999"), None);
}

#[test]
fn foreign_addresses_are_not_ours() {
  init();
  let local = 0u64;
  assert!(!owns(&raw const local as usize));
  assert!(!owns(usize::MAX));
  assert!(!owns(0));
}

#[test]
fn arena_spans_are_ours() {
  init();
  let span = claim_span(1, Placement::ANY, None).unwrap();
  assert!(owns(span.start.addr().get()));
  assert!(owns(span.start.addr().get() + SEGMENT_SIZE - 1));
  release_span(span.start, 1);
}

#[test]
fn huge_blocks_are_aligned_owned_zeroed_and_unmapped_on_free() {
  init();
  let mut align = 1 << 4;
  while align <= ARENA_SIZE * 2 {
    let segment = map_huge(3 << 20, align).unwrap();
    let block = segment.block();
    assert_eq!(block.addr().get() % align, 0, "align {align}");
    assert!(owns(block.addr().get() - 1));
    let last = block.addr().get() + (3 << 20) - 1;
    assert!(owns(last));
    let header = (block.addr().get() - 1) & !SEGMENT_MASK;
    assert_eq!(header, segment.start().addr().get());
    // SAFETY: the block has 3 MiB of fresh memory.
    let bytes = unsafe { slice::from_raw_parts(block.as_ptr(), 3 << 20) };
    assert!(bytes.iter().step_by(4096).all(|&byte| byte == 0));
    // SAFETY: nothing uses the block.
    unsafe { unmap_huge(segment) };
    assert!(!owns(block.addr().get()));
    align <<= 3;
  }
}

#[test]
fn impossible_huge_requests_fail_cleanly() {
  init();
  assert!(map_huge(usize::MAX - 4096, 16).is_err());
  assert!(map_huge(1 << 62, 16).is_err());
}

#[test]
fn due_purges_happen_on_any_later_operation() {
  /// Another test may claim the dirty segment between the two checks,
  /// and then it is not purged: try again.
  const ATTEMPTS: usize = 10;
  init();
  let keep = claim_span(1, Placement::ANY, None).unwrap();
  let purged = (0..ATTEMPTS).any(|_| {
    let span = claim_span(1, Placement::ANY, None).unwrap();
    // SAFETY: the span is ours.
    unsafe { span.start.as_ptr().write_bytes(0xAB, SEGMENT_SIZE) };
    let purges = GLOBAL.get(Counter::Purges);
    release_span(span.start, 1);
    // The first due check ages what is dirty, the next purges it if it has
    // not been claimed meanwhile. Times from the clock, a few delays
    // ahead, so a later attempt (and other tests) still see checks due.
    let delay = purge_delay().max(1);
    purge_due(now() + 2 * delay);
    purge_due(now() + 4 * delay);
    GLOBAL.get(Counter::Purges) > purges
  });
  assert!(purged, "the dirty segment was purged");
  release_span(keep.start, 1);
}

#[test]
fn freed_memory_waiting_for_the_purge_delay_stays_below_the_cap() {
  /// Spans released at once: four times the cap, so that the releases
  /// cross arenas and the waiting bytes would pass the cap plus the slack
  /// without it.
  const SPANS: usize = 4 * MAX_WAITING_BYTES / SPAN_BYTES;
  /// Segments per span.
  const SPAN_SEGMENTS: usize = LARGE_MAX_SEGMENTS / 4;
  /// Bytes per span.
  const SPAN_BYTES: usize = SPAN_SEGMENTS * SEGMENT_SIZE;
  /// What other tests may release between our last release and the read
  /// (the arena tests release up to a whole arena into arenas of their
  /// own, and purge it soon after).
  const OTHERS_SLACK: usize = ARENA_SIZE;
  init();
  let spans: Vec<Span> = (0..SPANS)
    .map(|_| claim_span(SPAN_SEGMENTS, Placement::ANY, None).unwrap())
    .collect();
  for span in &spans {
    release_span(span.start, SPAN_SEGMENTS);
    let waiting = GLOBAL.get(Counter::Waiting);
    assert!(
      waiting <= MAX_WAITING_BYTES + OTHERS_SLACK,
      "{waiting} bytes wait for the purge delay"
    );
  }
}

#[test]
fn heaps_fill_the_first_arenas_header_segment_in_order_then_go_elsewhere() {
  /// A heap-sized request that fills the segment in a few hundred steps.
  const SIZE: usize = 1000;
  /// The alignment asked for.
  const ALIGN: usize = 64;
  init();
  let mut places = Vec::new();
  while let Some(place) = place_heap(SIZE, ALIGN) {
    places.push(place.addr().get());
    assert!(places.len() <= SEGMENT_SIZE / page_size(), "it fills up");
  }
  assert!(
    place_heap(SIZE, ALIGN).is_none(),
    "a full segment stays full"
  );
  let first = arenas().next().expect("placing made the first arena");
  let start = first.start().addr().get();
  for pair in places.windows(2) {
    let last_page = (pair[0] + SIZE - 1) & !(page_size() - 1);
    assert!(
      last_page + page_size() <= pair[1],
      "places follow one another, none on the last page of another"
    );
  }
  for &place in &places {
    assert_eq!(place % ALIGN, 0, "aligned");
    assert!(place >= start + Arena::header_end(), "after the header");
    assert!(
      place + SIZE <= start + SEGMENT_SIZE,
      "in the header segment"
    );
    // SAFETY: the place is ours, `SIZE` bytes of the header segment.
    let bytes = unsafe { slice::from_raw_parts(place as *const u8, SIZE) };
    assert!(bytes.iter().all(|&byte| byte == 0), "zeroed");
  }
}

#[test]
fn arenas_list_in_creation_order_and_only_the_first_is_kept_warm() {
  init();
  let (before, added) = {
    let _grow = GROW.lock();
    let before = arenas().count();
    (before, add_arena().expect("an arena"))
  };
  let listed: Vec<&Arena> = arenas().collect();
  assert!(listed.len() > before, "the new arena is listed");
  assert!(
    listed.iter().any(|arena| ptr::eq(*arena, added)),
    "listed once published"
  );
  assert!(owns(added.start().addr().get()), "its granule is ours");
  assert!(!is_spare(listed[0]), "the first arena is the reserve");
  assert!(is_spare(added), "a later one is spare");
  // Newest first walks the same arenas back (others may have been added
  // meanwhile, only ever at the end).
  let backwards: Vec<&Arena> = arenas_newest_first().collect();
  let oldest = backwards.last().expect("arenas exist");
  assert!(ptr::eq(*oldest, listed[0]), "it ends at the first arena");
  let position =
    |arena: &Arena| backwards.iter().position(|listed| ptr::eq(*listed, arena));
  for pair in listed.windows(2) {
    let (older, newer) = (position(pair[0]), position(pair[1]));
    assert!(newer < older, "a newer arena comes before an older one");
  }
}
