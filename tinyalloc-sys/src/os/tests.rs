//! Behaviour of the OS helpers. Fatal paths and fork handlers run in
//! forked children.

use core::{
  ptr::NonNull,
  sync::atomic::{AtomicU8, AtomicUsize, Ordering},
  time::Duration,
};
use std::{collections::BTreeSet, env, thread};

use libc::{EEXIST, SIGABRT, c_int, exit as exit_process};

use super::{
  ThreadExitKey, arm_fork_handlers, at_exit, env_flag, env_var,
  fallback_random, fatal, monotonic_nanos, random_u64, set_fork_handlers,
  stderr::{format_fatal_line, format_hex},
  write_stderr,
};
use crate::{
  MapError,
  test_support::{
    ChildExit, lock_forks, run_in_child_capturing_stderr, run_in_child_locked,
  },
};

/// How many random values must all differ.
const RANDOM_SAMPLES: usize = 64;

/// How long the clock test sleeps.
const CLOCK_SLEEP: Duration = Duration::from_millis(2);

/// Exit code of a child that saw the fork handlers misbehave.
const HANDLERS_WRONG: i32 = 1;

/// Room for a fatal line, as `fatal` uses.
const LINE_CAPACITY: usize = 256;

#[test]
fn fatal_writes_exactly_one_line_and_aborts() {
  let (exit, output) =
    run_in_child_capturing_stderr(|| fatal("double free", 0xdead_beef));
  assert_eq!(exit, ChildExit::Signaled(SIGABRT));
  assert_eq!(output, b"tinyalloc: double free: 0xdeadbeef\n");
}

#[test]
fn a_fatal_line_cuts_a_long_fault_but_keeps_the_address() {
  let mut line = [0; LINE_CAPACITY];
  let fault = [b'x'; 2 * LINE_CAPACITY];
  let len = format_fatal_line(&mut line, &fault, usize::MAX);
  assert_eq!(len, LINE_CAPACITY);
  assert!(line.starts_with(b"tinyalloc: xxx"));
  assert!(line.ends_with(b"x: 0xffffffffffffffff\n"));
  assert_eq!(line.iter().filter(|byte| **byte == b'\n').count(), 1);
}

#[test]
fn hex_has_no_leading_zeros_but_at_least_one_digit() {
  let hex = |value| {
    let (digits, first) = format_hex(value);
    digits[first..].to_vec()
  };
  assert_eq!(hex(0), b"0");
  assert_eq!(hex(0xa), b"a");
  assert_eq!(hex(0x1000), b"1000");
  assert_eq!(hex(0x0123_4567_89ab_cdef), b"123456789abcdef");
}

#[test]
fn write_stderr_writes_the_message_as_is() {
  let (exit, output) = run_in_child_capturing_stderr(|| {
    write_stderr("first\n");
    write_stderr("second, no newline");
    0
  });
  assert_eq!(exit, ChildExit::Exited(0));
  assert_eq!(output, b"first\nsecond, no newline");
}

#[test]
fn the_monotonic_clock_moves_forward() {
  let before = monotonic_nanos();
  thread::sleep(CLOCK_SLEEP);
  let after = monotonic_nanos();
  let slept = u64::try_from(CLOCK_SLEEP.as_nanos()).expect("fits");
  assert!(after - before >= slept, "{before} then {after}");
}

/// Whether `next` gives [`RANDOM_SAMPLES`] different values.
fn all_different(next: fn() -> u64) -> bool {
  let values: BTreeSet<u64> = (0..RANDOM_SAMPLES).map(|_| next()).collect();
  values.len() == RANDOM_SAMPLES
}

#[test]
fn random_values_differ_and_so_do_the_fallback_ones() {
  assert!(all_different(random_u64));
  assert!(all_different(fallback_random));
}

#[test]
fn env_var_reads_path_and_misses_an_unset_name() {
  let path = env::var_os("PATH").expect("the tests run with a PATH");
  let found = env_var(c"PATH").expect("PATH is set");
  assert_eq!(found.to_bytes(), path.as_encoded_bytes());
  assert_eq!(env_var(c"TINYALLOC_SYS_TEST_NEVER_SET"), None);
}

#[test]
fn env_flag_is_on_for_a_set_value_and_off_when_unset() {
  assert!(env_flag(c"PATH"), "PATH is set, not empty and not 0");
  assert!(!env_flag(c"TINYALLOC_SYS_TEST_NEVER_SET"));
}

/// How often [`count_exit`] ran.
static EXIT_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The address [`count_exit`] last saw.
static EXIT_HOOK_VALUE: AtomicUsize = AtomicUsize::new(0);

/// The value the thread-exit test hands to its hook.
static EXIT_TARGET: AtomicU8 = AtomicU8::new(0);

/// The thread-exit hook of the test.
fn count_exit(value: NonNull<u8>) {
  EXIT_HOOK_VALUE.store(value.addr().get(), Ordering::SeqCst);
  EXIT_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
}

/// A hook that never gets installed.
fn other_exit_hook(_: NonNull<u8>) {}

/// The value of the thread-exit test.
fn exit_target() -> NonNull<u8> {
  NonNull::from(&EXIT_TARGET).cast()
}

#[test]
fn the_thread_exit_hook_runs_with_the_value_of_the_exiting_thread() {
  let key = ThreadExitKey::create(count_exit).expect("creates");
  assert_eq!(ThreadExitKey::create(count_exit), Ok(key), "idempotent");
  assert_eq!(
    ThreadExitKey::create(other_exit_hook),
    Err(MapError::Os {
      call: "ThreadExitKey::create",
      errno: EEXIST
    }),
  );
  thread::spawn(move || {
    // SAFETY: the value is a static, valid forever.
    unsafe { key.set(Some(exit_target())) }.expect("sets");
    assert_eq!(key.get(), Some(exit_target()));
  })
  .join()
  .expect("the thread ran");
  assert_eq!(EXIT_HOOK_CALLS.load(Ordering::SeqCst), 1);
  assert_eq!(
    EXIT_HOOK_VALUE.load(Ordering::SeqCst),
    exit_target().addr().get()
  );
  thread::spawn(move || {
    // SAFETY: the value is a static, valid forever.
    unsafe { key.set(Some(exit_target())) }.expect("sets");
    // SAFETY: clearing needs nothing to stay valid.
    unsafe { key.set(None) }.expect("clears");
    assert_eq!(key.get(), None);
  })
  .join()
  .expect("the thread ran");
  assert_eq!(
    EXIT_HOOK_CALLS.load(Ordering::SeqCst),
    1,
    "cleared: no call"
  );
  assert_eq!(key.get(), None, "this thread never set a value");
}

/// Runs of the prepare handler.
static PREPARED: AtomicUsize = AtomicUsize::new(0);

/// Runs of the parent handler.
static IN_PARENT: AtomicUsize = AtomicUsize::new(0);

/// Runs of the child handler.
static IN_CHILD: AtomicUsize = AtomicUsize::new(0);

/// Counts [`PREPARED`].
fn count_prepare() {
  PREPARED.fetch_add(1, Ordering::SeqCst);
}

/// Counts [`IN_PARENT`].
fn count_parent() {
  IN_PARENT.fetch_add(1, Ordering::SeqCst);
}

/// Counts [`IN_CHILD`].
fn count_child() {
  IN_CHILD.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn fork_handlers_run_in_the_parent_and_in_the_child() {
  let forks = lock_forks();
  set_fork_handlers(count_prepare, count_parent, count_child).expect("records");
  assert_eq!(
    set_fork_handlers(count_prepare, count_parent, count_child),
    Err(MapError::Os {
      call: "set_fork_handlers",
      errno: EEXIST
    }),
  );
  // The handlers reach the C library once the process has a second
  // thread; the test harness may run this test on its main thread.
  thread::spawn(|| ())
    .join()
    .expect("a thread that does nothing");
  arm_fork_handlers();
  let prepared = PREPARED.load(Ordering::SeqCst);
  let in_parent = IN_PARENT.load(Ordering::SeqCst);
  let exit = run_in_child_locked(&forks, || {
    let right = IN_CHILD.load(Ordering::SeqCst) == 1
      && PREPARED.load(Ordering::SeqCst) == prepared + 1
      && IN_PARENT.load(Ordering::SeqCst) == in_parent;
    if right { 0 } else { HANDLERS_WRONG }
  });
  assert_eq!(exit, ChildExit::Exited(0), "the child saw its handler run");
  assert_eq!(PREPARED.load(Ordering::SeqCst), prepared + 1);
  assert_eq!(IN_PARENT.load(Ordering::SeqCst), in_parent + 1);
  assert_eq!(IN_CHILD.load(Ordering::SeqCst), 0, "never in the parent");
}

/// The exit hook of `the_exit_hook_runs_once_at_exit`.
fn say_goodbye() {
  write_stderr("goodbye\n");
}

/// Exit code of a child whose exit hook registration misbehaved.
const EXIT_HOOK_REFUSED: c_int = 2;

#[test]
fn the_exit_hook_runs_once_at_exit() {
  let (exit, output) = run_in_child_capturing_stderr(|| {
    let again = MapError::Os {
      call: "at_exit",
      errno: EEXIST,
    };
    if at_exit(say_goodbye).is_err() || at_exit(say_goodbye) != Err(again) {
      return EXIT_HOOK_REFUSED;
    }
    // SAFETY: `exit` runs the registered hooks and ends this child.
    unsafe { exit_process(0) }
  });
  assert_eq!(exit, ChildExit::Exited(0));
  assert_eq!(output, b"goodbye\n");
}
