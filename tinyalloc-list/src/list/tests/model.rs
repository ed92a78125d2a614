//! Random operation sequences over two lists sharing one pool of nodes,
//! checked after every step against one `VecDeque` per list.

extern crate std;

use std::{collections::VecDeque, vec::Vec};

use proptest::{collection, prelude::*, sample::Index};

use super::{
  Node, Pool, insert_after, insert_before, is_linked, push, push_front, remove,
  value,
};
use crate::{List, ListError};

/// Nodes shared by the two lists: few enough that operations often hit
/// linked nodes, and so exercise the refusals.
const NODES: u32 = 12;
/// Lists under test: two, so that an element can be in the wrong one.
const LISTS: usize = 2;
/// Longest operation sequence of a case.
const MAX_OPS: usize = 64;

/// Where to insert relative to.
#[derive(Debug, Clone)]
enum Anchor {
  /// The element at a random position of the list (if it has any).
  At(Index),
  /// Any pool node, which may be unlinked or in the other list.
  Node(u32),
}

#[derive(Debug, Clone)]
enum Op {
  Push {
    list: usize,
    node: u32,
  },
  PushFront {
    list: usize,
    node: u32,
  },
  Pop {
    list: usize,
  },
  PopFront {
    list: usize,
  },
  Insert {
    list: usize,
    anchor: Anchor,
    node: u32,
    after: bool,
  },
  Remove {
    list: usize,
    node: u32,
  },
  RemoveAt {
    list: usize,
    at: Index,
  },
  Drain {
    list: usize,
    take: usize,
  },
}

fn anchor() -> impl Strategy<Value = Anchor> {
  prop_oneof![
    any::<Index>().prop_map(Anchor::At),
    (0..NODES).prop_map(Anchor::Node),
  ]
}

fn op() -> impl Strategy<Value = Op> {
  let (list, node) = (0..LISTS, 0..NODES);
  let take = 0..=usize::try_from(NODES).unwrap();
  prop_oneof![
    3 => (list.clone(), node.clone()).prop_map(|(list, node)| Op::Push { list, node }),
    2 => (list.clone(), node.clone())
      .prop_map(|(list, node)| Op::PushFront { list, node }),
    1 => list.clone().prop_map(|list| Op::Pop { list }),
    1 => list.clone().prop_map(|list| Op::PopFront { list }),
    3 => (list.clone(), anchor(), node.clone(), any::<bool>()).prop_map(
      |(list, anchor, node, after)| Op::Insert { list, anchor, node, after }
    ),
    2 => (list.clone(), node).prop_map(|(list, node)| Op::Remove { list, node }),
    2 => (list.clone(), any::<Index>())
      .prop_map(|(list, at)| Op::RemoveAt { list, at }),
    1 => (list, take).prop_map(|(list, take)| Op::Drain { list, take }),
  ]
}

/// The expected contents of each list.
#[derive(Default)]
struct Model {
  lists: [VecDeque<u32>; LISTS],
}

impl Model {
  /// Which list holds `node`, and where.
  fn locate(&self, node: u32) -> Option<(usize, usize)> {
    self.lists.iter().enumerate().find_map(|(list, values)| {
      values.iter().position(|&v| v == node).map(|at| (list, at))
    })
  }
}

/// The lists under test, the pool they link and the model they follow.
struct Harness {
  // Declared before `pool`, so that the lists drop while nodes are live.
  lists: [List<Node>; LISTS],
  pool: Pool,
  model: Model,
}

impl Harness {
  fn new() -> Self {
    let lists = [List::new(), List::new()];
    Self {
      lists,
      pool: Pool::new(NODES),
      model: Model::default(),
    }
  }

  fn apply(&mut self, op: &Op) {
    match *op {
      Op::Push { list, node } => self.push(list, node, false),
      Op::PushFront { list, node } => self.push(list, node, true),
      Op::Pop { list } => self.pop(list, false),
      Op::PopFront { list } => self.pop(list, true),
      Op::Insert {
        list,
        ref anchor,
        node,
        after,
      } => {
        self.insert(list, anchor, node, after);
      }
      Op::Remove { list, node } => self.remove(list, node),
      Op::RemoveAt { list, at } => self.remove_at(list, at),
      Op::Drain { list, take } => self.drain(list, take),
    }
  }

  fn push(&mut self, list: usize, node: u32, front: bool) {
    let (target, item) = (&mut self.lists[list], self.pool.node(node));
    let result = if front {
      push_front(target, item)
    } else {
      push(target, item)
    };
    if self.model.locate(node).is_some() {
      assert_eq!(result, Err(ListError::AlreadyLinked));
    } else {
      result.unwrap();
      let values = &mut self.model.lists[list];
      if front {
        values.push_front(node)
      } else {
        values.push_back(node)
      }
    }
  }

  fn pop(&mut self, list: usize, front: bool) {
    let target = &mut self.lists[list];
    let popped = if front {
      target.pop_front()
    } else {
      target.pop()
    };
    let values = &mut self.model.lists[list];
    let expected = if front {
      values.pop_front()
    } else {
      values.pop_back()
    };
    assert_eq!(popped.map(value), expected);
  }

  fn insert(&mut self, list: usize, anchor: &Anchor, node: u32, after: bool) {
    let anchor = match *anchor {
      Anchor::Node(anchor) => anchor,
      Anchor::At(at) if self.model.lists[list].is_empty() => {
        u32::try_from(at.index(self.pool.nodes.len())).unwrap()
      }
      Anchor::At(at) => {
        let values = &self.model.lists[list];
        values[at.index(values.len())]
      }
    };
    let (target, pool) = (&mut self.lists[list], &self.pool);
    let (anchor_item, item) = (pool.node(anchor), pool.node(node));
    let result = if after {
      insert_after(target, anchor_item, item)
    } else {
      insert_before(target, anchor_item, item)
    };
    match (self.model.locate(anchor), self.model.locate(node)) {
      (Some((owner, _)), _) if owner != list => {
        assert_eq!(result, Err(ListError::NotOwner));
      }
      (None, _) => assert_eq!(result, Err(ListError::NotOwner)),
      (_, Some(_)) => assert_eq!(result, Err(ListError::AlreadyLinked)),
      (Some((_, at)), None) => {
        result.unwrap();
        self.model.lists[list].insert(at + usize::from(after), node);
      }
    }
  }

  fn remove(&mut self, list: usize, node: u32) {
    let result = remove(&mut self.lists[list], self.pool.node(node));
    match self.model.locate(node) {
      None => assert_eq!(result, Err(ListError::NotLinked)),
      Some((owner, _)) if owner != list => {
        assert_eq!(result, Err(ListError::NotOwner));
      }
      Some((_, at)) => {
        result.unwrap();
        self.model.lists[list].remove(at);
      }
    }
  }

  fn remove_at(&mut self, list: usize, at: Index) {
    let values = &self.model.lists[list];
    if !values.is_empty() {
      let node = values[at.index(values.len())];
      self.remove(list, node);
    }
  }

  fn drain(&mut self, list: usize, take: usize) {
    let drained = self.lists[list].drain().take(take).map(value);
    let drained: Vec<u32> = drained.collect();
    let values = &mut self.model.lists[list];
    let expected: Vec<u32> = values.drain(..).take(take).collect();
    assert_eq!(drained, expected);
  }

  /// Checks both lists against the model, and every node's linked state.
  fn check(&self) {
    for (list, values) in self.lists.iter().zip(&self.model.lists) {
      let expected: Vec<u32> = values.iter().copied().collect();
      super::check(list, &expected);
    }
    for node in 0..NODES {
      let item = self.pool.node(node);
      let place = self.model.locate(node);
      assert_eq!(is_linked(item), place.is_some());
      for (index, list) in self.lists.iter().enumerate() {
        assert_eq!(list.contains(item), place.map(|(l, _)| l) == Some(index));
      }
    }
  }
}

proptest! {
  #[test]
  fn random_operations_match_the_model(
    ops in collection::vec(op(), 0..=MAX_OPS)
  ) {
    let mut harness = Harness::new();
    for op in &ops {
      harness.apply(op);
      harness.check();
    }
  }
}
