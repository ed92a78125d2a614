//! The compatibility suite of the C ABI, built with `--features ffi`.
//!
//! C programs (tests/c) check every function's contract, threads, fork,
//! dlopen and the fault reports; real programs (python3, node, gdb, git,
//! sqlite3, bash) run under `LD_PRELOAD` on the built library and must
//! print what they print on the system allocator. Every scenario proves
//! the library is in the tested process's maps. The library is
//! `target/release/libtinyalloc.so` (`cargo build --release --features
//! ffi`; scripts/test.sh builds it), or `$TINYALLOC_LIB`.
#![cfg(feature = "ffi")]

#[path = "compat/c_programs.rs"]
mod c_programs;
#[path = "compat/programs.rs"]
mod programs;
#[path = "compat/support.rs"]
mod support;
