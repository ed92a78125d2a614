//! The shared allocation workloads on mimalloc, through the `mimalloc` crate.
//! See `workloads/mod.rs` and `docs/BENCHMARKS.md`.

use mimalloc::MiMalloc;

mod workloads;

/// The allocator under test.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
  workloads::main("mimalloc");
}
