extern crate std;

use core::array::from_fn;
use core::ptr::NonNull;
use core::slice;

use super::*;
use crate::config::SEGMENT_SIZE;
use crate::manager::init;
use crate::segment::UNCOUNTED;

fn arena<'arena>() -> &'arena Arena {
  init();
  Arena::create(None).expect("an arena maps")
}

fn offset_of(arena: &Arena, span: &Span) -> usize {
  span.start.addr().get() - arena.start().addr().get()
}

#[test]
fn fresh_spans_are_zeroed_segment_aligned_and_past_the_header() {
  let arena = arena();
  let span = arena.claim(3, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert!(span.zeroed);
  assert_eq!(offset_of(arena, &span), HEADER_SEGMENTS * SEGMENT_SIZE);
  let next = arena.claim(1, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert_eq!(
    offset_of(arena, &next),
    (HEADER_SEGMENTS + 3) * SEGMENT_SIZE
  );
  assert_eq!(arena.in_use(), HEADER_SEGMENTS + 4);
}

#[test]
fn placement_puts_the_aligned_point_one_segment_in() {
  let arena = arena();
  let placement = Placement { align: 8, lead: 1 };
  let span = arena.claim(2, placement, 1, None).unwrap();
  arena.check_invariants();
  let aligned = offset_of(arena, &span) + SEGMENT_SIZE;
  assert_eq!(aligned % (8 * SEGMENT_SIZE), 0);
}

#[test]
fn released_spans_are_reused_dirty_until_purged() {
  let arena = arena();
  // Keeps the arena from becoming empty, which would purge at once.
  let _keep = arena.claim(1, Placement::ANY, 1, None).unwrap();
  let span = arena.claim(2, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  // SAFETY: the span is ours.
  unsafe { span.start.as_ptr().write_bytes(0xEE, 2 * SEGMENT_SIZE) };
  arena.release(span.start, 2, 1);
  let again = arena.claim(2, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert_eq!(again.start, span.start);
  assert!(!again.zeroed, "written memory is not reported zero");
  arena.release(again.start, 2, 1);
  arena.purge_now();
  let purged = arena.claim(2, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert!(purged.zeroed);
  // SAFETY: the span is ours and mapped.
  let bytes =
    unsafe { slice::from_raw_parts(purged.start.as_ptr(), 2 * SEGMENT_SIZE) };
  assert!(
    bytes.iter().all(|&byte| byte == 0),
    "purged pages read zero"
  );
}

/// Makes the single segment of `span` a small segment of `class` and
/// gives its header back, as a heap retiring it would.
fn released_small(span: &Span, class: usize) {
  // SAFETY: a segment just claimed, unused; the counters are never read.
  let segment = unsafe {
    Segment::init_small(
      span.start,
      class,
      NonNull::dangling(),
      NonNull::from(&UNCOUNTED),
      span.zeroed,
    )
  };
  segment.release(false);
}

#[test]
fn a_small_claim_takes_a_dirty_segment_its_class_last_used() {
  /// Two small classes.
  const FIRST_CLASS: usize = 3;
  const SECOND_CLASS: usize = 9;
  let arena = arena();
  let low = arena.claim(1, Placement::ANY, 1, None).unwrap();
  let high = arena.claim(1, Placement::ANY, 1, None).unwrap();
  // Keeps the arena from becoming empty, which would purge at once.
  let _keep = arena.claim(1, Placement::ANY, 1, None).unwrap();
  released_small(&low, FIRST_CLASS);
  released_small(&high, SECOND_CLASS);
  arena.release(low.start, 1, 1);
  arena.release(high.start, 1, 1);
  let again = arena
    .claim(1, Placement::ANY, 1, Some(SECOND_CLASS))
    .unwrap();
  arena.check_invariants();
  assert_eq!(again.start, high.start, "the segment its class used");
  assert!(!again.zeroed, "a dirty segment is not zeroed");
  let other = arena
    .claim(1, Placement::ANY, 1, Some(SECOND_CLASS))
    .unwrap();
  assert_eq!(other.start, low.start, "else the lowest free one");
}

#[test]
fn spans_grow_into_free_neighbours_only() {
  let arena = arena();
  let span = arena.claim(1, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert!(arena.try_grow(span.start, 1, 3));
  let blocker = arena.claim(1, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert_eq!(
    offset_of(arena, &blocker),
    offset_of(arena, &span) + 3 * SEGMENT_SIZE
  );
  assert!(!arena.try_grow(span.start, 3, 4));
  assert!(!arena.try_grow(span.start, 3, SEGMENTS_PER_ARENA));
}

#[test]
fn a_full_arena_refuses_and_recovers() {
  let arena = arena();
  let all = SEGMENTS_PER_ARENA - HEADER_SEGMENTS;
  let span = arena.claim(all, Placement::ANY, 1, None).unwrap();
  arena.check_invariants();
  assert!(arena.claim(1, Placement::ANY, 1, None).is_none());
  arena.release(span.start, all, 1);
  arena.check_invariants();
  assert_eq!(arena.in_use(), HEADER_SEGMENTS);
  assert!(arena.claim(all, Placement::ANY, 1, None).is_some());
}

#[test]
fn a_due_purge_spares_segments_freed_since_the_last_check() {
  let arena = arena();
  let delay = purge_delay();
  let _keep = arena.claim(1, Placement::ANY, 1, None).unwrap();
  let span = arena.claim(2, Placement::ANY, 1, None).unwrap();
  // SAFETY: the span is ours.
  unsafe { span.start.as_ptr().write_bytes(0xEE, 2 * SEGMENT_SIZE) };
  arena.release(span.start, 2, 1);
  // The first due check only ages the span...
  arena.purge_if_due_now(1 + delay);
  let again = arena.claim(2, Placement::ANY, 2 + delay, None).unwrap();
  arena.check_invariants();
  assert_eq!(again.start, span.start);
  assert!(!again.zeroed, "claimed again before the next check: kept");
  // ...and a segment left free across two checks is purged.
  let freed = 3 + delay;
  arena.release(again.start, 2, freed);
  arena.purge_if_due_now(freed + delay);
  arena.purge_if_due_now(freed + 2 * delay);
  let purged = arena
    .claim(2, Placement::ANY, freed + 2 * delay, None)
    .unwrap();
  arena.check_invariants();
  assert_eq!(purged.start, span.start);
  assert!(purged.zeroed, "free across two checks: purged");
}

#[test]
fn purging_everything_leaves_nothing_aged_to_purge_twice() {
  let arena = arena();
  let delay = purge_delay();
  let _keep = arena.claim(1, Placement::ANY, 1, None).unwrap();
  let first = arena.claim(1, Placement::ANY, 1, None).unwrap();
  let second = arena.claim(1, Placement::ANY, 1, None).unwrap();
  arena.release(first.start, 1, 1);
  arena.purge_now();
  {
    let state = arena.lock();
    let stale = state
      .aged
      .iter()
      .zip(state.dirty.iter())
      .any(|(aged, dirty)| aged & !dirty != 0);
    assert!(!stale, "only dirty segments are aged");
  }
  arena.release(second.start, 1, 2);
  // The first check after the release only ages the second segment; the
  // first, purged already, is not purged (nor uncounted) again. Read from
  // the arena's own bitmaps: the global counters move with other tests.
  arena.purge_if_due_now(2 + delay);
  let (first, second) =
    (arena.index_of(first.start), arena.index_of(second.start));
  let state = arena.lock();
  let set = |words: &[u64; ARENA_WORDS], index: usize| {
    words[index / u64::BITS as usize] >> (index % u64::BITS as usize) & 1 == 1
  };
  assert!(
    !set(&state.dirty, first) && !set(&state.aged, first),
    "purged once"
  );
  assert!(set(&state.dirty, second), "the second is not purged yet");
  assert!(
    set(&state.aged, second),
    "the second is aged for the next check"
  );
  drop(state);
  arena.check_invariants();
}

#[test]
fn purging_the_highest_takes_the_top_dirty_segments_and_counts_them() {
  let arena = arena();
  // Keeps the arena from becoming empty, which would purge at once.
  let _keep = arena.claim(1, Placement::ANY, 1, None).unwrap();
  let spans: [Span; 3] =
    from_fn(|_| arena.claim(2, Placement::ANY, 1, None).unwrap());
  for span in &spans {
    // SAFETY: the span is ours.
    unsafe { span.start.as_ptr().write_bytes(0xEE, 2 * SEGMENT_SIZE) };
    arena.release(span.start, 2, 1);
  }
  arena.check_invariants();
  // Six dirty segments: the three highest go, in two runs' worth.
  assert_eq!(arena.purge_highest(3), 3);
  arena.check_invariants();
  let lowest = arena.claim(3, Placement::ANY, 1, None).unwrap();
  assert_eq!(lowest.start, spans[0].start, "the lowest three stayed");
  assert!(!lowest.zeroed, "still dirty");
  let highest = arena.claim(3, Placement::ANY, 1, None).unwrap();
  // SAFETY: the span is ours, three segments long.
  let bytes =
    unsafe { slice::from_raw_parts(highest.start.as_ptr(), 3 * SEGMENT_SIZE) };
  assert!(
    bytes.iter().all(|&byte| byte == 0),
    "the highest were purged"
  );
  assert_eq!(arena.purge_highest(3), 0, "nothing dirty is left");
}
