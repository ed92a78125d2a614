//! `pthread_atfork` with Rust functions: the handlers live in statics and
//! C trampolines call them.
//!
//! The handlers are given to the C library only once the process has a
//! second thread ([`arm_fork_handlers`], called before every lock the
//! prepare handler takes). Before that no other thread can hold such a
//! lock when the process forks, so the handlers have nothing to do; and
//! the first `pthread_atfork` of a process reads a constant in glibc's
//! read-only data, whose page fault maps (fault-around) up to 64 KiB of
//! them: about 40 KiB more resident memory for every single-threaded
//! program, measured at the bench's start-up.
//!
//! Why waiting is safe: glibc's `fork` holds its handler-list lock from
//! the end of the prepare handlers to the end of the parent's handlers, and
//! `pthread_atfork` takes it. A thread arming during a fork therefore
//! waits for that fork to finish, and only then goes on to take our
//! locks, so no fork copies a lock held by a thread whose arming it did
//! not see. A thread that finds another arming waits for it for the same
//! reason (unless it is that thread, allocating inside `pthread_atfork`).
//! The one gap: a fork whose prepare phase is running *another* library's
//! handler (glibc drops the lock around each one) while our first arming
//! completes does not run ours.
//!
//! Invariants: each handler slot is null or holds a `fn()`; the slots are
//! filled before the state leaves [`EMPTY`]; only the thread that moved
//! the state to [`ARMING`] calls `pthread_atfork`.

#[cfg(test)]
mod tests;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use core::ffi::c_char;
use core::{
  hint::spin_loop,
  mem, ptr,
  sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering},
};

use libc::{EEXIST, pthread_atfork, pthread_self};

use crate::MapError;

/// No handlers recorded.
const EMPTY: u8 = 0;
/// Handlers recorded, not given to the C library yet.
const RECORDED: u8 = 1;
/// One thread is giving the handlers to the C library.
const ARMING: u8 = 2;
/// The C library runs the handlers at every `fork`.
const ARMED: u8 = 3;
/// The arming thread's identity while no thread arms
/// (`pthread_self` is never zero).
const NO_THREAD: usize = 0;

/// The process's fork handlers and how far their registration went.
struct ForkHandlers {
  /// [`EMPTY`], [`RECORDED`], [`ARMING`] or [`ARMED`].
  state: AtomicU8,
  /// The thread that moved the state to [`ARMING`], or [`NO_THREAD`].
  armer: AtomicUsize,
  /// Runs in the forking thread before `fork`.
  prepare: AtomicPtr<()>,
  /// Runs in the parent after `fork`.
  parent: AtomicPtr<()>,
  /// Runs in the child after `fork`.
  child: AtomicPtr<()>,
}

/// The handlers the trampolines call.
static HANDLERS: ForkHandlers = ForkHandlers::new();

impl ForkHandlers {
  const fn new() -> Self {
    Self {
      state: AtomicU8::new(EMPTY),
      armer: AtomicUsize::new(NO_THREAD),
      prepare: AtomicPtr::new(ptr::null_mut()),
      parent: AtomicPtr::new(ptr::null_mut()),
      child: AtomicPtr::new(ptr::null_mut()),
    }
  }

  /// Records the handlers, once.
  fn set(
    &self,
    prepare: fn(),
    parent: fn(),
    child: fn(),
  ) -> Result<(), MapError> {
    // The slots are written before the state says they are there; a
    // second caller is refused before it writes anything.
    if self.prepare.load(Ordering::Acquire).is_null()
      && self
        .prepare
        .compare_exchange(
          ptr::null_mut(),
          prepare as *mut (),
          Ordering::AcqRel,
          Ordering::Acquire,
        )
        .is_ok()
    {
      self.parent.store(parent as *mut (), Ordering::Release);
      self.child.store(child as *mut (), Ordering::Release);
      self.state.store(RECORDED, Ordering::Release);
      return Ok(());
    }
    Err(MapError::Os {
      call: "set_fork_handlers",
      errno: EEXIST,
    })
  }

  /// Whether [`ForkHandlers::arm`] may have something to do.
  #[inline]
  fn needs_arming(&self) -> bool {
    matches!(self.state.load(Ordering::Acquire), RECORDED | ARMING)
  }

  /// Registers the recorded handlers through `register` if the process
  /// has more than one thread and nobody did yet; waits for a thread
  /// that is doing it, unless that is `me`. A failed registration is
  /// tried again at the next call.
  fn arm(
    &self,
    me: usize,
    single_threaded: impl Fn() -> bool,
    register: impl FnOnce() -> Result<(), MapError>,
  ) -> Result<(), MapError> {
    loop {
      match self.state.load(Ordering::Acquire) {
        RECORDED if single_threaded() => return Ok(()),
        RECORDED => {
          if self
            .state
            .compare_exchange(
              RECORDED,
              ARMING,
              Ordering::Acquire,
              Ordering::Relaxed,
            )
            .is_ok()
          {
            return self.register_as(me, register);
          }
        }
        ARMING if self.armer.load(Ordering::Relaxed) == me => return Ok(()),
        ARMING => spin_loop(),
        _ => return Ok(()),
      }
    }
  }

  /// Runs `register` as the arming thread `me` and records the outcome.
  fn register_as(
    &self,
    me: usize,
    register: impl FnOnce() -> Result<(), MapError>,
  ) -> Result<(), MapError> {
    self.armer.store(me, Ordering::Relaxed);
    let registered = register();
    self.armer.store(NO_THREAD, Ordering::Relaxed);
    let state = if registered.is_ok() { ARMED } else { RECORDED };
    self.state.store(state, Ordering::Release);
    registered
  }

  /// Whether the C library has the handlers.
  #[cfg(test)]
  fn is_armed(&self) -> bool {
    self.state.load(Ordering::Acquire) == ARMED
  }
}

/// Records the fork handlers of the process: `prepare` runs in the forking
/// thread before `fork`, `parent` in the parent and `child` in the child
/// after it. Handlers must not unwind (a panic aborts the process).
///
/// They run only once armed: [`arm_fork_handlers`] gives them to the C
/// library when the process has more than one thread. Recording calls no
/// C function, so it may come before anything else the allocator does.
///
/// # Errors
/// Only one set per process: later calls fail with
/// `Os { call: "set_fork_handlers", errno: EEXIST }` and change nothing.
pub fn set_fork_handlers(
  prepare: fn(),
  parent: fn(),
  child: fn(),
) -> Result<(), MapError> {
  HANDLERS.set(prepare, parent, child)
}

/// Gives the recorded handlers to the C library if the process has more
/// than one thread and that is not done yet. Call it before taking any
/// lock the prepare handler takes, holding none: it may call
/// `pthread_atfork`, which may allocate. One load when there is nothing
/// to do. A refusal of the C library (`ENOMEM`) is tried again at the
/// next call.
#[inline]
pub fn arm_fork_handlers() {
  if HANDLERS.needs_arming() {
    arm_slow();
  }
}

#[cold]
#[inline(never)]
fn arm_slow() {
  // Nothing to do on failure: the next call tries again.
  let _ = HANDLERS.arm(current_thread(), single_threaded, register_with_libc);
}

/// The calling thread's identity.
fn current_thread() -> usize {
  // SAFETY: pthread_self has no preconditions.
  let id = unsafe { pthread_self() };
  id as usize
}

/// Gives the trampolines to the C library.
fn register_with_libc() -> Result<(), MapError> {
  // SAFETY: the trampolines are C ABI functions valid for the life of the
  // process, and the slots they read are filled (module invariant).
  let status = unsafe {
    pthread_atfork(
      Some(prepare_trampoline),
      Some(parent_trampoline),
      Some(child_trampoline),
    )
  };
  if status == 0 {
    Ok(())
  } else {
    Err(MapError::Os {
      call: "pthread_atfork",
      errno: status,
    })
  }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
  /// glibc's (2.32 and later) flag: non-zero until the process starts its
  /// second thread (`pthread_create` clears it before the thread runs),
  /// and never set again in a process that has had one.
  static __libc_single_threaded: c_char;
}

/// Whether the process has only ever had one thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn single_threaded() -> bool {
  let place = (&raw const __libc_single_threaded).cast_mut().cast::<u8>();
  // SAFETY: the flag is a byte glibc keeps for the life of the process;
  // it is read as an atomic because `pthread_create` writes it (in the
  // creating thread, which this thread then either is or was started by).
  let flag = unsafe { AtomicU8::from_ptr(place) };
  flag.load(Ordering::Relaxed) != 0
}

/// Without glibc's flag, the process is taken to have threads: the
/// handlers are registered at once.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn single_threaded() -> bool {
  false
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
  run_handler(&HANDLERS.prepare);
}

/// The C `parent` handler.
extern "C" fn parent_trampoline() {
  run_handler(&HANDLERS.parent);
}

/// The C `child` handler.
extern "C" fn child_trampoline() {
  run_handler(&HANDLERS.child);
}
