//! Behaviour tests of `List`, and a model test of random operation
//! sequences over two lists against `VecDeque`s.

extern crate std;

mod model;

use core::ptr::NonNull;
use std::{boxed::Box, format, string::ToString, vec::Vec};

use crate::{HasLink, Link, List, ListError, impl_has_link};

/// A test element: `value` names it, `link` threads it.
struct Node {
  value: u32,
  link: Link<Node>,
}
impl_has_link!(Node, link);

/// Heap nodes reached only through raw pointers, freed when the pool drops.
/// Tests declare the pool before their lists, so the lists drop (and unlink)
/// while the nodes are still live.
struct Pool {
  nodes: Vec<NonNull<Node>>,
}

impl Pool {
  fn new(count: u32) -> Self {
    let new_node = |value| {
      Box::new(Node {
        value,
        link: Link::new(),
      })
    };
    let nodes = (0..count).map(|v| NonNull::from(Box::leak(new_node(v))));
    Self {
      nodes: nodes.collect(),
    }
  }

  fn node(&self, value: u32) -> NonNull<Node> {
    self.nodes[usize::try_from(value).unwrap()]
  }

  fn nodes<const N: usize>(&self) -> [NonNull<Node>; N] {
    self.nodes[..N].try_into().unwrap()
  }
}

impl Drop for Pool {
  fn drop(&mut self) {
    for node in &self.nodes {
      // SAFETY: the node came from `Box::leak` and is freed only here.
      drop(unsafe { Box::from_raw(node.as_ptr()) });
    }
  }
}

// The wrappers below are safe for pool nodes only: they are live and never
// move until the pool drops, and the lists using them are not moved while
// non-empty.

fn value(node: NonNull<Node>) -> u32 {
  // SAFETY: pool nodes are live.
  unsafe { node.as_ref() }.value
}

fn push(list: &mut List<Node>, node: NonNull<Node>) -> Result<(), ListError> {
  // SAFETY: pool nodes are live and pinned; the list stays in place.
  unsafe { list.push(node) }
}

fn push_front(
  list: &mut List<Node>,
  node: NonNull<Node>,
) -> Result<(), ListError> {
  // SAFETY: pool nodes are live and pinned; the list stays in place.
  unsafe { list.push_front(node) }
}

fn insert_before(
  list: &mut List<Node>,
  anchor: NonNull<Node>,
  node: NonNull<Node>,
) -> Result<(), ListError> {
  // SAFETY: pool nodes are live and pinned; the list stays in place.
  unsafe { list.insert_before(anchor, node) }
}

fn insert_after(
  list: &mut List<Node>,
  anchor: NonNull<Node>,
  node: NonNull<Node>,
) -> Result<(), ListError> {
  // SAFETY: pool nodes are live and pinned; the list stays in place.
  unsafe { list.insert_after(anchor, node) }
}

fn remove(list: &mut List<Node>, node: NonNull<Node>) -> Result<(), ListError> {
  // SAFETY: pool nodes are live.
  unsafe { list.remove(node) }
}

fn is_linked(node: NonNull<Node>) -> bool {
  // SAFETY: pool nodes are live.
  unsafe { List::is_linked(node) }
}

/// Checks the invariants of `list` and that it holds `expected` in order.
fn check(list: &List<Node>, expected: &[u32]) {
  list.check_invariants();
  let values: Vec<u32> = list.iter().map(value).collect();
  assert_eq!(values, expected);
  assert_eq!(list.len(), expected.len());
  assert_eq!(list.is_empty(), expected.is_empty());
  assert_eq!(list.head().map(value), expected.first().copied());
  assert_eq!(list.tail().map(value), expected.last().copied());
  assert_eq!(list.iter().len(), expected.len());
}

/// Pushes the first `N` pool nodes in order. (A list filled elsewhere and
/// returned would have moved while non-empty.)
fn fill<const N: usize>(list: &mut List<Node>, pool: &Pool) {
  for node in pool.nodes::<N>() {
    push(list, node).unwrap();
  }
}

#[test]
fn new_list_is_empty() {
  let mut list = List::<Node>::default();
  check(&list, &[]);
  assert_eq!(list.pop(), None);
  assert_eq!(list.pop_front(), None);
  assert_eq!(list.drain().next(), None);
  check(&list, &[]);
}

#[test]
fn push_and_push_front_order_elements() {
  let pool = Pool::new(4);
  let [a, b, c, d] = pool.nodes();
  let mut list = List::new();
  push(&mut list, b).unwrap();
  check(&list, &[1]);
  push_front(&mut list, a).unwrap();
  check(&list, &[0, 1]);
  push(&mut list, c).unwrap();
  check(&list, &[0, 1, 2]);
  push_front(&mut list, d).unwrap();
  check(&list, &[3, 0, 1, 2]);
  assert!(pool.nodes::<4>().into_iter().all(is_linked));
}

#[test]
fn pop_and_pop_front_unlink_from_each_end() {
  let pool = Pool::new(4);
  let mut list = List::new();
  fill::<4>(&mut list, &pool);
  assert_eq!(list.pop(), Some(pool.node(3)));
  check(&list, &[0, 1, 2]);
  assert!(!is_linked(pool.node(3)));
  assert_eq!(list.pop_front(), Some(pool.node(0)));
  check(&list, &[1, 2]);
  assert!(!is_linked(pool.node(0)));
  assert_eq!(list.pop(), Some(pool.node(2)));
  assert_eq!(list.pop_front(), Some(pool.node(1)));
  check(&list, &[]);
  assert_eq!(list.pop(), None);
  push(&mut list, pool.node(3)).unwrap();
  check(&list, &[3]);
}

#[test]
fn insert_before_and_after_at_ends_and_middle() {
  let pool = Pool::new(6);
  let [a, b, c, d, e, f] = pool.nodes();
  let mut list = List::new();
  push(&mut list, a).unwrap();
  insert_before(&mut list, a, b).unwrap();
  check(&list, &[1, 0]);
  insert_after(&mut list, a, c).unwrap();
  check(&list, &[1, 0, 2]);
  insert_before(&mut list, a, d).unwrap();
  check(&list, &[1, 3, 0, 2]);
  insert_after(&mut list, b, e).unwrap();
  check(&list, &[1, 4, 3, 0, 2]);
  insert_after(&mut list, c, f).unwrap();
  check(&list, &[1, 4, 3, 0, 2, 5]);
}

#[test]
fn linking_a_linked_element_is_refused() {
  let pool = Pool::new(4);
  let [a, b, c, d] = pool.nodes();
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  let mut other = List::new();
  push(&mut other, c).unwrap();
  for node in [a, b, c] {
    assert_eq!(push(&mut list, node), Err(ListError::AlreadyLinked));
    assert_eq!(push_front(&mut list, node), Err(ListError::AlreadyLinked));
    assert_eq!(push(&mut other, node), Err(ListError::AlreadyLinked));
    let refused = Err(ListError::AlreadyLinked);
    assert_eq!(insert_before(&mut list, a, node), refused);
    assert_eq!(insert_after(&mut list, b, node), refused);
  }
  check(&list, &[0, 1]);
  check(&other, &[2]);
  assert!(!is_linked(d));
}

#[test]
fn inserting_next_to_a_foreign_anchor_is_refused() {
  let pool = Pool::new(4);
  let [a, b, c, d] = pool.nodes();
  let mut list = List::new();
  fill::<1>(&mut list, &pool);
  let mut other = List::new();
  push(&mut other, b).unwrap();
  for anchor in [b, c] {
    let refused = Err(ListError::NotOwner);
    assert_eq!(insert_before(&mut list, anchor, d), refused);
    assert_eq!(insert_after(&mut list, anchor, d), refused);
  }
  assert_eq!(insert_after(&mut other, a, c), Err(ListError::NotOwner));
  assert!(!is_linked(d) && !is_linked(c));
  check(&list, &[0]);
  check(&other, &[1]);
}

#[test]
fn remove_unlinks_head_middle_tail_and_only_element() {
  let pool = Pool::new(4);
  let mut list = List::new();
  fill::<4>(&mut list, &pool);
  remove(&mut list, pool.node(1)).unwrap();
  check(&list, &[0, 2, 3]);
  remove(&mut list, pool.node(0)).unwrap();
  check(&list, &[2, 3]);
  remove(&mut list, pool.node(3)).unwrap();
  check(&list, &[2]);
  remove(&mut list, pool.node(2)).unwrap();
  check(&list, &[]);
  assert!(!pool.nodes::<4>().into_iter().any(is_linked));
  push(&mut list, pool.node(1)).unwrap();
  check(&list, &[1]);
}

#[test]
fn remove_of_an_unlinked_element_is_refused() {
  let pool = Pool::new(3);
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  assert_eq!(remove(&mut list, pool.node(2)), Err(ListError::NotLinked));
  remove(&mut list, pool.node(0)).unwrap();
  assert_eq!(remove(&mut list, pool.node(0)), Err(ListError::NotLinked));
  check(&list, &[1]);
}

#[test]
fn remove_through_the_wrong_list_is_refused() {
  let pool = Pool::new(3);
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  let mut other = List::new();
  push(&mut other, pool.node(2)).unwrap();
  assert_eq!(remove(&mut other, pool.node(0)), Err(ListError::NotOwner));
  assert_eq!(remove(&mut list, pool.node(2)), Err(ListError::NotOwner));
  check(&list, &[0, 1]);
  check(&other, &[2]);
}

#[test]
fn remove_unchecked_unlinks_an_owned_element() {
  let pool = Pool::new(3);
  let mut list = List::new();
  fill::<3>(&mut list, &pool);
  // SAFETY: node 1 is a live pool node linked into `list`.
  unsafe { list.remove_unchecked(pool.node(1)) };
  check(&list, &[0, 2]);
  assert!(!is_linked(pool.node(1)));
}

#[test]
fn contains_finds_only_own_elements() {
  let pool = Pool::new(4);
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  let mut other = List::new();
  push(&mut other, pool.node(2)).unwrap();
  let found = |list: &List<Node>| -> Vec<bool> {
    pool.nodes.iter().map(|&node| list.contains(node)).collect()
  };
  assert_eq!(found(&list), [true, true, false, false]);
  assert_eq!(found(&other), [false, false, true, false]);
  assert!(!list.contains(NonNull::dangling()));
}

#[test]
fn link_reports_its_state() {
  let pool = Pool::new(2);
  let link = Link::<Node>::default();
  assert!(!link.is_linked());
  assert_eq!(
    format!("{link:?}"),
    "Link { next: None, prev: None, owner: None }"
  );
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  // SAFETY: pool nodes are live; the shared borrow ends before any write.
  let link = &unsafe { pool.node(0).as_ref() }.link;
  assert!(link.is_linked());
  let printed = format!("{link:?}");
  assert!(printed.contains("next: Some(0x") && printed.contains("prev: None"));
  assert!(format!("{list:?}").starts_with("List { len: 2"));
}

#[test]
fn iter_and_iter_mut_walk_front_to_back() {
  let pool = Pool::new(3);
  let mut list = List::new();
  fill::<3>(&mut list, &pool);
  let pointers: Vec<NonNull<Node>> = (&list).into_iter().collect();
  assert_eq!(pointers, pool.nodes::<3>());
  let mut iter = list.iter_mut();
  assert_eq!(iter.len(), 3);
  for node in iter.by_ref() {
    node.value += 10;
  }
  assert_eq!(iter.next().map(|node| node.value), None);
  check(&list, &[10, 11, 12]);
}

#[test]
fn drain_unlinks_each_yielded_element_and_the_rest_on_drop() {
  let pool = Pool::new(4);
  let mut list = List::new();
  fill::<4>(&mut list, &pool);
  let mut drain = list.drain();
  assert_eq!(drain.len(), 4);
  let first = drain.next().unwrap();
  assert_eq!(first, pool.node(0));
  assert!(!is_linked(first));
  assert_eq!(drain.next(), Some(pool.node(1)));
  drop(drain);
  check(&list, &[]);
  assert!(!pool.nodes::<4>().into_iter().any(is_linked));
}

#[test]
fn clear_and_drop_unlink_every_element() {
  let pool = Pool::new(3);
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  list.clear();
  check(&list, &[]);
  {
    let mut dropped = List::new();
    fill::<3>(&mut dropped, &pool);
  }
  assert!(!pool.nodes::<3>().into_iter().any(is_linked));
  push(&mut list, pool.node(2)).unwrap();
  check(&list, &[2]);
}

#[test]
fn errors_have_messages() {
  let errors = [ListError::AlreadyLinked, ListError::NotOwner];
  for error in errors.into_iter().chain([ListError::NotLinked]) {
    assert!(error.to_string().starts_with("element is"));
  }
}

#[test]
fn list_is_send_when_elements_are() {
  struct Shared {
    link: Link<Shared>,
  }
  impl_has_link!(Shared, link);
  // SAFETY: `Shared` holds only its link, touched only by its list.
  unsafe impl Send for Shared {}
  fn assert_send<S: Send>() {}
  assert_send::<List<Shared>>();
  assert!(!Shared { link: Link::new() }.link.is_linked());
}

#[test]
fn has_link_finds_the_field() {
  let pool = Pool::new(1);
  let node = pool.node(0);
  // SAFETY: pool nodes are live.
  let field = NonNull::from(&unsafe { node.as_ref() }.link);
  assert_eq!(Node::link(node), field);
}

#[test]
#[should_panic(expected = "list invariant broken")]
fn check_invariants_catches_a_wrong_len() {
  let pool = Pool::new(2);
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  list.len = 3;
  list.check_invariants();
}

#[test]
#[should_panic(expected = "list invariant broken")]
fn check_invariants_catches_a_wrong_tail() {
  let pool = Pool::new(2);
  let mut list = List::new();
  fill::<2>(&mut list, &pool);
  list.tail = list.head;
  list.check_invariants();
}
