//! Integration tests of TinyAlloc serving a whole Rust program: this test
//! binary, the test harness included, runs on it as its global allocator.
//!
//! Tests that read the allocator's counters, or that must crash, run in a
//! child process (this binary re-executed with one exact test name), so
//! the other tests running in parallel cannot disturb them.

use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// A test whose body runs alone in a child process: the parent re-executes
/// this binary for that test only and asserts the child succeeded.
macro_rules! isolated_test {
  ($(#[$meta:meta])* fn $name:ident() $body:block) => {
    $(#[$meta])*
    #[test]
    fn $name() {
      $crate::child::isolated(module_path!(), stringify!($name), || $body);
    }
  };
}

/// A test whose body runs in a child process that must die of `SIGABRT`
/// after printing exactly the one fault line for the address the body
/// announced with [`child::announce`].
macro_rules! fault_test {
  ($(#[$meta:meta])* fn $name:ident() -> $fault:literal $body:block) => {
    $(#[$meta])*
    #[test]
    fn $name() {
      $crate::child::expect_fault(
        module_path!(),
        stringify!($name),
        $fault,
        || $body,
      );
    }
  };
}

// The modules live in tests/global/, which cargo does not take for test
// binaries of their own.
#[path = "global/alignment.rs"]
mod alignment;
#[path = "global/child.rs"]
mod child;
#[path = "global/collections.rs"]
mod collections;
#[path = "global/faults.rs"]
mod faults;
#[path = "global/huge.rs"]
mod huge;
#[path = "global/peak.rs"]
mod peak;
#[path = "global/realloc.rs"]
mod realloc;
#[path = "global/stats.rs"]
mod stats;
#[path = "global/support.rs"]
mod support;
#[path = "global/sweep.rs"]
mod sweep;
#[path = "global/threads.rs"]
mod threads;
