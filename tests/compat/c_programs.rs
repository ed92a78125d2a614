//! The C programs of tests/c, compiled with gcc and run under `LD_PRELOAD`.

use std::process::Command;

use libc::SIGABRT;

use crate::support::{
  Allocator, Outcome, Scratch, assert_loaded, compare, compile, run,
};

/// Compiles `tests/c/<name>.c` and runs it on `allocator` with `args`.
fn run_program(name: &str, args: &[&str], allocator: Allocator) -> Outcome {
  let scratch = Scratch::new(name);
  let program = compile(&scratch, name, &[]);
  let mut command = Command::new(program);
  command.args(args);
  run(command, allocator)
}

/// Runs `tests/c/<name>.c` on TinyAlloc; it must pass all its checks.
fn passes_on_tinyalloc(name: &str) -> Outcome {
  let outcome = run_program(name, &[], Allocator::TinyAlloc);
  outcome.assert_success(name);
  assert_loaded(&outcome, Allocator::TinyAlloc, name);
  outcome
}

/// Runs `tests/c/<name>.c` on TinyAlloc; it must pass all its checks and
/// print `line`.
fn passes_and_prints(name: &str, line: &str) -> Outcome {
  let outcome = passes_on_tinyalloc(name);
  assert!(outcome.stdout().contains(line), "{}", outcome.describe());
  outcome
}

/// Compiles `tests/c/<name>.c` once and compares its runs on both
/// allocators.
fn same_as_system(name: &str) -> Outcome {
  let scratch = Scratch::new(name);
  let program = compile(&scratch, name, &[]);
  compare(name, |_| Command::new(&program))
}

#[test]
fn every_function_keeps_its_contract() {
  let outcome = passes_and_prints("contract", "contract: all checks passed");
  assert!(
    outcome.stderr().contains("tinyalloc: live bytes = ")
      && outcome.stderr().contains("tinyalloc: heaps = "),
    "malloc_stats printed its counters: {}",
    outcome.describe()
  );
}

#[test]
fn corner_cases_behave_as_on_glibc() {
  let outcome = same_as_system("glibc_same");
  assert!(outcome.stdout().contains("realloc(p, 0): null errno=0"));
}

#[test]
fn requests_beyond_the_machine_fail_with_enomem() {
  same_as_system("oversize");
}

#[test]
fn blocks_cross_threads_and_outlive_their_threads() {
  let outcome = same_as_system("threads");
  assert!(outcome.stdout().contains("items consumed: 40000"));
}

#[test]
fn fork_from_a_threaded_program_leaves_the_child_usable() {
  passes_and_prints("fork", "forks: 30");
}

#[test]
fn fork_from_a_thread_without_a_heap_while_another_holds_locks() {
  passes_and_prints(
    "fork_heapless",
    "forks from a thread without a heap: 40, failed: 0",
  );
}

#[test]
fn fork_while_another_thread_arms_the_fork_handlers() {
  passes_and_prints("fork_arming", "forks during arming: 16, failed: 0");
}

#[test]
fn dlopen_with_dynamic_tls_from_threads() {
  let scratch = Scratch::new("dlopen");
  // A path with a slash: dlopen loads it as is, whatever its name.
  let plugin = compile(&scratch, "plugin", &["-shared", "-fPIC"]);
  let program = compile(&scratch, "dlopen", &[]);
  compare("dlopen", |_| {
    let mut command = Command::new(&program);
    command.arg(&plugin);
    command
  });
}

/// Runs faults.c in `mode` on TinyAlloc: it must die of `SIGABRT` after
/// exactly one line `tinyalloc: <fault>: <address>` for the address it
/// announced.
fn aborts_with(mode: &str, fault: &str) {
  let outcome = run_program("faults", &[mode], Allocator::TinyAlloc);
  assert_loaded(&outcome, Allocator::TinyAlloc, mode);
  assert_eq!(outcome.signal(), Some(SIGABRT), "{}", outcome.describe());
  let address = outcome
    .stdout()
    .lines()
    .find_map(|line| line.strip_prefix("address: "))
    .unwrap_or_else(|| panic!("no address announced: {}", outcome.describe()));
  let expected = format!("tinyalloc: {fault}: {address}");
  let reports: Vec<&str> = outcome
    .stderr()
    .lines()
    .filter(|line| line.starts_with("tinyalloc: "))
    .collect();
  assert_eq!(reports, [expected.as_str()], "{}", outcome.describe());
}

#[test]
fn double_free_of_a_small_block_aborts() {
  aborts_with("double-free-small", "double free");
}

#[test]
fn double_free_of_a_large_block_aborts() {
  aborts_with("double-free-large", "double free");
}

#[test]
fn double_free_after_a_cross_thread_free_aborts() {
  aborts_with("double-free-cross-thread", "double free");
}

#[test]
fn free_of_a_stack_address_aborts() {
  aborts_with(
    "foreign-free-stack",
    "free of a pointer not allocated by tinyalloc",
  );
}

#[test]
fn free_of_a_foreign_mapping_aborts() {
  aborts_with(
    "foreign-free-mmap",
    "free of a pointer not allocated by tinyalloc",
  );
}

#[test]
fn realloc_of_a_foreign_pointer_aborts() {
  aborts_with(
    "foreign-realloc",
    "free of a pointer not allocated by tinyalloc",
  );
}

#[test]
fn free_inside_a_block_aborts() {
  aborts_with(
    "interior-free",
    "free of a pointer that is not the start of a block",
  );
}

/// The resident sizes `tests/c/idle.c` prints: busy, freed, rested (KiB).
fn idle_sizes(outcome: &Outcome) -> (u64, u64, u64) {
  let line = outcome
    .stdout()
    .lines()
    .find_map(|line| line.strip_prefix("idle: "))
    .unwrap_or_else(|| panic!("no sizes: {}", outcome.describe()));
  let sizes: Vec<u64> = line
    .split(' ')
    .map(|field| {
      let (_, value) = field.split_once('=').expect("name=value");
      value.parse().expect("a number")
    })
    .collect();
  (sizes[0], sizes[1], sizes[2])
}

/// Memory freed by a program that then stops calling the allocator: only
/// the purge thread can give it back; the program holds about 40 MB.
#[test]
fn the_purge_thread_gives_memory_back_while_the_program_sleeps() {
  const FREED_AT_LEAST_KIB: u64 = 30 * 1024;
  let scratch = Scratch::new("idle");
  let program = compile(&scratch, "idle", &[]);
  let mut command = Command::new(program);
  command.env("TINYALLOC_PURGE_THREAD", "1");
  let outcome = run(command, Allocator::TinyAlloc);
  outcome.assert_success("idle");
  assert_loaded(&outcome, Allocator::TinyAlloc, "idle");
  let (busy, freed, rested) = idle_sizes(&outcome);
  assert!(busy >= FREED_AT_LEAST_KIB, "{}", outcome.describe());
  assert!(
    freed.saturating_sub(rested) >= FREED_AT_LEAST_KIB,
    "the nap gave back {} KiB: {}",
    freed.saturating_sub(rested),
    outcome.describe()
  );
}
