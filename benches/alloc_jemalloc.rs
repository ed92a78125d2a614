//! The shared allocation workloads on jemalloc, through the `tikv-jemallocator` crate.
//! See `workloads/mod.rs` and `docs/BENCHMARKS.md`.

use tikv_jemallocator::Jemalloc;

mod workloads;

/// The allocator under test.
#[global_allocator]
static GLOBAL: Jemalloc = Jemalloc;

fn main() {
  workloads::main("jemalloc");
}
