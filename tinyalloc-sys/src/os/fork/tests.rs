//! The arming state machine, on instances of its own with a stand-in for
//! `pthread_atfork`; the real registration is tested in `os::tests`.

use core::{
  cell::Cell,
  sync::atomic::{AtomicBool, AtomicUsize, Ordering},
  time::Duration,
};
use std::{sync::Barrier, thread};

use libc::ENOMEM;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use super::{FIRST_GLIBC_UNLOCKED_HANDLERS, parse_version};
use super::{
  ForkHandlers, NO_THREAD, RECORDED, SETTING, arming_in, current_process,
  current_thread, single_threaded,
};
use crate::MapError;

/// A thread identity for the tests (any value but [`NO_THREAD`]).
const ME: usize = NO_THREAD + 1;
/// Another thread's identity.
const OTHER: usize = ME + 1;
/// A process id for the tests.
const PARENT: u32 = 100;
/// A child of [`PARENT`].
const CHILD: u32 = PARENT + 1;
/// How long a stand-in registration lasts, so that another thread finds
/// the state `ARMING` and waits.
const ARMING_PAUSE: Duration = Duration::from_millis(20);

/// A handler that is never run here.
fn unused() {}

/// Handlers recorded on a fresh instance.
fn recorded() -> ForkHandlers {
  let handlers = ForkHandlers::new();
  handlers.set(unused, unused, unused).expect("records");
  handlers
}

/// A stand-in registration that counts its calls and answers `answer`.
fn counting<'calls>(
  calls: &'calls Cell<usize>,
  answer: Result<(), MapError>,
) -> impl FnOnce() -> Result<(), MapError> + 'calls {
  move || {
    calls.set(calls.get() + 1);
    answer
  }
}

#[test]
fn nothing_is_registered_before_the_handlers_are_set() {
  let handlers = ForkHandlers::new();
  let calls = Cell::new(0);
  assert!(!handlers.needs_arming());
  let armed =
    handlers.arm(|| ME, || PARENT, || false, counting(&calls, Ok(())));
  assert_eq!(armed, Ok(()));
  assert_eq!(calls.get(), 0);
  assert!(!handlers.is_armed());
}

#[test]
fn a_single_threaded_process_waits_and_a_threaded_one_registers_once() {
  let handlers = recorded();
  let calls = Cell::new(0);
  assert!(handlers.needs_arming());
  let waited =
    handlers.arm(|| ME, || PARENT, || true, counting(&calls, Ok(())));
  assert_eq!(waited, Ok(()));
  assert_eq!(calls.get(), 0, "one thread: nothing to guard yet");
  assert!(handlers.needs_arming(), "still to do");
  let armed =
    handlers.arm(|| ME, || PARENT, || false, counting(&calls, Ok(())));
  assert_eq!(armed, Ok(()));
  assert_eq!(calls.get(), 1);
  assert!(handlers.is_armed());
  assert!(!handlers.needs_arming());
  let again =
    handlers.arm(|| OTHER, || PARENT, || false, counting(&calls, Ok(())));
  assert_eq!(again, Ok(()));
  assert_eq!(calls.get(), 1, "registered once per process");
}

#[test]
fn a_refused_registration_is_tried_again() {
  let handlers = recorded();
  let calls = Cell::new(0);
  let refused = MapError::Os {
    call: "pthread_atfork",
    errno: ENOMEM,
  };
  assert_eq!(
    handlers.arm(|| ME, || PARENT, || false, counting(&calls, Err(refused))),
    Err(refused)
  );
  assert!(!handlers.is_armed());
  assert!(handlers.needs_arming());
  let armed =
    handlers.arm(|| ME, || PARENT, || false, counting(&calls, Ok(())));
  assert_eq!(armed, Ok(()));
  assert_eq!(calls.get(), 2);
  assert!(handlers.is_armed());
}

#[test]
fn the_arming_thread_does_not_wait_for_itself() {
  let handlers = recorded();
  let nested = Cell::new(None);
  let armed = handlers.arm(
    || ME,
    || PARENT,
    || false,
    || {
      // What an allocation inside `pthread_atfork` would do.
      let inner = handlers.arm(|| ME, || PARENT, || false, || unreachable!());
      nested.set(Some(inner));
      Ok(())
    },
  );
  assert_eq!(armed, Ok(()));
  assert_eq!(nested.get(), Some(Ok(())), "returned without waiting");
  assert!(handlers.is_armed());
}

#[test]
fn other_threads_wait_until_the_handlers_are_registered() {
  let handlers = recorded();
  let inside = Barrier::new(2);
  let other_returned = AtomicBool::new(false);
  thread::scope(|scope| {
    let arming = scope.spawn(|| {
      handlers.arm(
        || ME,
        || PARENT,
        || false,
        || {
          inside.wait();
          thread::sleep(ARMING_PAUSE);
          // The other thread has had the pause to get through `arm`: it
          // must still be in it.
          assert!(!other_returned.load(Ordering::SeqCst), "did not wait");
          Ok(())
        },
      )
    });
    inside.wait();
    let second = handlers.arm(|| OTHER, || PARENT, || false, || unreachable!());
    other_returned.store(true, Ordering::SeqCst);
    assert_eq!(second, Ok(()));
    assert!(handlers.is_armed(), "returned only once registered");
    assert_eq!(arming.join().expect("the arming thread"), Ok(()));
  });
}

#[test]
fn a_child_forked_while_its_parent_armed_arms_for_itself() {
  let handlers = recorded();
  // What a fork copies while a thread of the parent is in
  // `pthread_atfork`: that thread does not exist in the child.
  handlers.state.store(arming_in(PARENT), Ordering::SeqCst);
  handlers.armer.store(OTHER, Ordering::SeqCst);
  let calls = Cell::new(0);
  let armed = handlers.arm(|| ME, || CHILD, || false, counting(&calls, Ok(())));
  assert_eq!(armed, Ok(()));
  assert_eq!(calls.get(), 1, "the child registers its own handlers");
  assert!(handlers.is_armed());
}

#[test]
fn a_child_forked_while_its_parent_armed_waits_if_single_threaded() {
  let handlers = recorded();
  handlers.state.store(arming_in(PARENT), Ordering::SeqCst);
  let calls = Cell::new(0);
  let waited = handlers.arm(|| ME, || CHILD, || true, counting(&calls, Ok(())));
  assert_eq!(waited, Ok(()));
  assert_eq!(calls.get(), 0);
  assert!(handlers.needs_arming(), "recorded, for when it has threads");
}

#[test]
fn arming_waits_for_the_handlers_being_recorded() {
  let handlers = ForkHandlers::new();
  handlers.state.store(SETTING, Ordering::SeqCst);
  assert!(handlers.needs_arming());
  thread::scope(|scope| {
    let arming = scope.spawn(|| {
      let calls = Cell::new(0);
      let armed =
        handlers.arm(|| ME, || PARENT, || false, counting(&calls, Ok(())));
      (armed, calls.get())
    });
    thread::sleep(ARMING_PAUSE);
    assert!(!arming.is_finished(), "waits while the slots are written");
    handlers.state.store(RECORDED, Ordering::SeqCst);
    assert_eq!(arming.join().expect("the arming thread"), (Ok(()), 1));
  });
  assert!(handlers.is_armed());
}

#[test]
fn a_second_set_is_refused() {
  let handlers = recorded();
  assert!(matches!(
    handlers.set(unused, unused, unused),
    Err(MapError::Os {
      call: "set_fork_handlers",
      ..
    })
  ));
}

#[test]
fn a_process_that_started_a_thread_is_not_single_threaded() {
  thread::spawn(|| ())
    .join()
    .expect("a thread that does nothing");
  assert!(!single_threaded());
  assert_ne!(current_thread(), NO_THREAD);
  assert_ne!(current_process(), 0);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn glibc_versions_are_read_as_major_and_minor() {
  assert_eq!(parse_version(b"2.36"), Some((2, 36)));
  assert_eq!(parse_version(b"2.9"), Some((2, 9)));
  assert_eq!(parse_version(b"3.0.1"), Some((3, 0)));
  assert_eq!(parse_version(b"2.35-ubuntu"), Some((2, 35)));
  assert_eq!(parse_version(b"2"), None);
  assert_eq!(parse_version(b"x.36"), None);
  assert_eq!(parse_version(b"99999999999.1"), None, "overflow");
  assert!(parse_version(b"2.35") < Some(FIRST_GLIBC_UNLOCKED_HANDLERS));
  assert!(parse_version(b"2.36") >= Some(FIRST_GLIBC_UNLOCKED_HANDLERS));
}

/// Runs of [`count_prepare`] in [`a_doubled_entry_locks_and_unlocks_once`].
static PREPARES: AtomicUsize = AtomicUsize::new(0);
/// Runs of [`count_finish`] there.
static FINISHES: AtomicUsize = AtomicUsize::new(0);

/// Counts [`PREPARES`].
fn count_prepare() {
  PREPARES.fetch_add(1, Ordering::SeqCst);
}

/// Counts [`FINISHES`].
fn count_finish() {
  FINISHES.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_doubled_entry_locks_and_unlocks_once() {
  let handlers = ForkHandlers::new();
  handlers
    .set(count_prepare, count_finish, count_finish)
    .expect("records");
  // glibc runs the prepares of two entries, then their parent handlers.
  handlers.prepare_as(ME);
  handlers.prepare_as(ME);
  assert_eq!(PREPARES.load(Ordering::SeqCst), 1, "the second skipped");
  handlers.finish_as(ME, &handlers.parent);
  assert_eq!(
    FINISHES.load(Ordering::SeqCst),
    0,
    "matches the skipped one"
  );
  handlers.finish_as(ME, &handlers.parent);
  assert_eq!(FINISHES.load(Ordering::SeqCst), 1);
  // The next fork, with one entry, runs both handlers again.
  handlers.prepare_as(OTHER);
  handlers.finish_as(OTHER, &handlers.child);
  assert_eq!(PREPARES.load(Ordering::SeqCst), 2);
  assert_eq!(FINISHES.load(Ordering::SeqCst), 2);
}
