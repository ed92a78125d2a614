//! `atexit` with a Rust function: the hook lives in a static and a C
//! trampoline calls it.
//!
//! Invariant: the slot is null or holds a `fn()`; it is filled before the
//! trampoline is registered.

use core::{
  mem, ptr,
  sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};

use libc::{EEXIST, ENOMEM, atexit};

use crate::MapError;

/// Whether the hook is registered (or being registered).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Runs when the process exits normally.
static HOOK: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Registers `hook` to run when the process exits normally (`exit` or a
/// return from `main`; not `_exit` or a signal). It must not unwind.
///
/// # Errors
/// Only one hook per process: later calls fail with
/// `Os { call: "at_exit", errno: EEXIST }` and change nothing.
/// `Os { call: "atexit", errno: ENOMEM }` when the C library refuses.
pub fn at_exit(hook: fn()) -> Result<(), MapError> {
  if REGISTERED.swap(true, Ordering::AcqRel) {
    return Err(MapError::Os {
      call: "at_exit",
      errno: EEXIST,
    });
  }
  HOOK.store(hook as *mut (), Ordering::Release);
  // SAFETY: the trampoline is a C ABI function valid for the life of the
  // process, and the slot it reads is filled above.
  let status = unsafe { atexit(exit_trampoline) };
  if status != 0 {
    REGISTERED.store(false, Ordering::Release);
    return Err(MapError::Os {
      call: "atexit",
      errno: ENOMEM,
    });
  }
  Ok(())
}

/// What the C library calls at exit.
extern "C" fn exit_trampoline() {
  let hook = HOOK.load(Ordering::Acquire);
  if hook.is_null() {
    return;
  }
  // SAFETY: the slot holds only null or a `fn()` (module invariant).
  let hook = unsafe { mem::transmute::<*mut (), fn()>(hook) };
  hook();
}
