//! The arming state machine, on instances of its own with a stand-in for
//! `pthread_atfork`; the real registration is tested in `os::tests`.

use core::{cell::Cell, time::Duration};
use std::{sync::Barrier, thread};

use libc::ENOMEM;

use super::{ForkHandlers, NO_THREAD, current_thread, single_threaded};
use crate::MapError;

/// A thread identity for the tests (any value but [`NO_THREAD`]).
const ME: usize = NO_THREAD + 1;
/// Another thread's identity.
const OTHER: usize = ME + 1;
/// How long a stand-in registration lasts, so that another thread finds
/// the state `ARMING`.
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
  assert_eq!(handlers.arm(ME, || false, counting(&calls, Ok(()))), Ok(()));
  assert_eq!(calls.get(), 0);
  assert!(!handlers.is_armed());
}

#[test]
fn a_single_threaded_process_waits_and_a_threaded_one_registers_once() {
  let handlers = recorded();
  let calls = Cell::new(0);
  assert!(handlers.needs_arming());
  assert_eq!(handlers.arm(ME, || true, counting(&calls, Ok(()))), Ok(()));
  assert_eq!(calls.get(), 0, "one thread: nothing to guard yet");
  assert!(handlers.needs_arming(), "still to do");
  assert_eq!(handlers.arm(ME, || false, counting(&calls, Ok(()))), Ok(()));
  assert_eq!(calls.get(), 1);
  assert!(handlers.is_armed());
  assert!(!handlers.needs_arming());
  assert_eq!(
    handlers.arm(OTHER, || false, counting(&calls, Ok(()))),
    Ok(())
  );
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
    handlers.arm(ME, || false, counting(&calls, Err(refused))),
    Err(refused)
  );
  assert!(!handlers.is_armed());
  assert!(handlers.needs_arming());
  assert_eq!(handlers.arm(ME, || false, counting(&calls, Ok(()))), Ok(()));
  assert_eq!(calls.get(), 2);
  assert!(handlers.is_armed());
}

#[test]
fn the_arming_thread_does_not_wait_for_itself() {
  let handlers = recorded();
  let nested = Cell::new(None);
  let armed = handlers.arm(
    ME,
    || false,
    || {
      // What an allocation inside `pthread_atfork` would do.
      nested.set(Some(handlers.arm(ME, || false, || unreachable!())));
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
  thread::scope(|scope| {
    scope.spawn(|| {
      handlers.arm(
        ME,
        || false,
        || {
          inside.wait();
          thread::sleep(ARMING_PAUSE);
          Ok(())
        },
      )
    });
    inside.wait();
    let second = handlers.arm(OTHER, || false, || unreachable!());
    assert_eq!(second, Ok(()));
    assert!(handlers.is_armed(), "returned only once registered");
  });
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
}
