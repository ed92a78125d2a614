//! Binary trees, as in the benchmarks game: many short-lived trees of
//! 16-byte nodes built and walked while one long-lived tree stays alive.

use super::scaled;

/// Depth of the long-lived tree.
const MAX_DEPTH: u32 = 16;
/// Depth of the smallest short-lived trees.
const MIN_DEPTH: u32 = 4;
/// Step between the depths of short-lived trees.
const DEPTH_STEP: usize = 2;

/// A tree node: two optional children, 16 bytes.
struct Node {
  /// Left subtree.
  left: Option<Box<Node>>,
  /// Right subtree.
  right: Option<Box<Node>>,
}

/// Builds a complete tree of `depth` levels below the root.
fn build(depth: u32) -> Box<Node> {
  if depth == 0 {
    return Box::new(Node {
      left: None,
      right: None,
    });
  }
  Box::new(Node {
    left: Some(build(depth - 1)),
    right: Some(build(depth - 1)),
  })
}

/// Counts the nodes of `node`'s tree.
fn count(node: &Node) -> u64 {
  let left = node.left.as_deref().map_or(0, count);
  let right = node.right.as_deref().map_or(0, count);
  1 + left + right
}

/// Runs the workload.
pub(super) fn run(scale: f64) -> u64 {
  let mut checksum = count(&build(MAX_DEPTH + 1));
  let long_lived = build(MAX_DEPTH);
  for depth in (MIN_DEPTH..=MAX_DEPTH).step_by(DEPTH_STEP) {
    let trees = scaled(1 << (MAX_DEPTH - depth + MIN_DEPTH), scale);
    for _ in 0..trees {
      checksum = checksum.wrapping_add(count(&build(depth)));
    }
  }
  checksum.wrapping_add(count(&long_lived))
}
