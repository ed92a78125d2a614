//! The shared allocation workloads on the system allocator (glibc's malloc on Linux).
//! See `workloads/mod.rs` and `docs/BENCHMARKS.md`.

use std::alloc::System;

mod workloads;

/// The allocator under test.
#[global_allocator]
static GLOBAL: System = System;

fn main() {
  workloads::main("system");
}
