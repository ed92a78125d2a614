//! `pthread_atfork` with Rust functions: the handlers live in statics and
//! C trampolines call them.
//!
//! Invariant: each handler slot is null or holds a `fn()`; the slots are
//! filled before the trampolines are registered.

use core::{
  mem, ptr,
  sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};

use libc::{EEXIST, pthread_atfork};

use crate::MapError;

/// Whether the handlers are registered (or being registered).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Runs in the forking thread before `fork`.
static PREPARE: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Runs in the parent after `fork`.
static PARENT: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Runs in the child after `fork`.
static CHILD: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Registers the fork handlers of the process: `prepare` runs in the forking
/// thread before `fork`, `parent` in the parent and `child` in the child
/// after it. Handlers must not unwind (a panic aborts the process).
///
/// # Errors
/// Only one registration per process: later calls fail with
/// `Os { call: "register_fork_handlers", errno: EEXIST }` and change
/// nothing. `Os { call: "pthread_atfork", errno }` when the C library
/// refuses; registering may then be tried again.
pub fn register_fork_handlers(
  prepare: fn(),
  parent: fn(),
  child: fn(),
) -> Result<(), MapError> {
  if REGISTERED.swap(true, Ordering::AcqRel) {
    return Err(MapError::Os {
      call: "register_fork_handlers",
      errno: EEXIST,
    });
  }
  PREPARE.store(prepare as *mut (), Ordering::Release);
  PARENT.store(parent as *mut (), Ordering::Release);
  CHILD.store(child as *mut (), Ordering::Release);
  // SAFETY: the trampolines are C ABI functions valid for the life of the
  // process, and the slots they read are filled above.
  let status = unsafe {
    pthread_atfork(
      Some(prepare_trampoline),
      Some(parent_trampoline),
      Some(child_trampoline),
    )
  };
  if status != 0 {
    REGISTERED.store(false, Ordering::Release);
    return Err(MapError::Os {
      call: "pthread_atfork",
      errno: status,
    });
  }
  Ok(())
}

/// Calls the handler in `slot`, if any.
fn run_handler(slot: &AtomicPtr<()>) {
  let handler = slot.load(Ordering::Acquire);
  if handler.is_null() {
    return;
  }
  // SAFETY: the slots hold only null or a `fn()` (module invariant).
  let handler = unsafe { mem::transmute::<*mut (), fn()>(handler) };
  handler();
}

/// The C `prepare` handler.
extern "C" fn prepare_trampoline() {
  run_handler(&PREPARE);
}

/// The C `parent` handler.
extern "C" fn parent_trampoline() {
  run_handler(&PARENT);
}

/// The C `child` handler.
extern "C" fn child_trampoline() {
  run_handler(&CHILD);
}
