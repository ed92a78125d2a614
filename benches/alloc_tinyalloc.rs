//! The shared allocation workloads on TinyAlloc, this crate.
//! See `workloads/mod.rs` and `docs/BENCHMARKS.md`.

use tinyalloc::TinyAlloc;

mod workloads;

/// The allocator under test.
#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

fn main() {
  workloads::main("tinyalloc");
}
