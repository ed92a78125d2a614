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
//! the end of the prepare handlers to the start of the parent's (or the
//! child's) handlers, and `pthread_atfork` takes it. A thread arming
//! during a fork therefore waits for that fork, and only then goes on to
//! take our locks, so no fork copies a lock held by a thread whose arming
//! it did not see. A thread that finds another arming waits for it for
//! the same reason (unless it is that thread, allocating inside
//! `pthread_atfork`). A child forked while a thread of its parent was
//! arming finds the state [`ARMING`] stamped with its parent's process
//! id: that thread does not exist in the child, so the child takes the
//! state back to [`RECORDED`] and arms for itself. The one gap: a fork
//! whose prepare phase is running *another* library's handler (glibc
//! drops the lock around each one) while our first arming completes does
//! not run ours.
//!
//! glibc before 2.36 holds that lock through every handler as well, so an
//! arming inside another library's handler (one that allocates) would
//! wait for itself: there the handlers are armed at the first lock, as
//! if the process had threads from the start.
//!
//! Invariants: each handler slot is null or holds a `fn()`; the slots are
//! filled before the phase leaves [`SETTING`]; only the thread that moved
//! the phase to [`ARMING`] calls `pthread_atfork`.

#[cfg(test)]
mod tests;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use core::{ffi::CStr, sync::atomic::AtomicU8};
use core::{
  hint::spin_loop,
  mem, ptr,
  sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering},
};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
use libc::gnu_get_libc_version;
use libc::{EEXIST, getpid, pthread_atfork, pthread_self};

use crate::MapError;

/// No handlers recorded.
const EMPTY: u64 = 0;
/// One thread is recording the handlers.
const SETTING: u64 = 1;
/// Handlers recorded, not given to the C library yet.
const RECORDED: u64 = 2;
/// One thread is giving the handlers to the C library; the state's high
/// half holds its process id.
const ARMING: u64 = 3;
/// The C library runs the handlers at every `fork`.
const ARMED: u64 = 4;
/// The low half of the state: the phase.
const PHASE_MASK: u64 = u32::MAX as u64;
/// Where the arming process's id sits in the state.
const PID_SHIFT: u32 = u32::BITS;
/// The arming thread's identity while no thread arms
/// (`pthread_self` is never zero).
const NO_THREAD: usize = 0;
/// The first glibc whose `fork` drops its handler-list lock around each
/// handler (2.36, the fix of its bug 24595), as (major, minor).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const FIRST_GLIBC_UNLOCKED_HANDLERS: (u32, u32) = (2, 36);
/// Version numbers are written in decimal.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const DECIMAL_BASE: u32 = 10;

/// The process's fork handlers and how far their registration went.
struct ForkHandlers {
  /// The phase ([`EMPTY`] to [`ARMED`]), and in [`ARMING`] the arming
  /// process's id in the high half.
  state: AtomicU64,
  /// The thread that moved the phase to [`ARMING`], or [`NO_THREAD`].
  armer: AtomicUsize,
  /// The thread between a prepare handler and its parent or child
  /// handler, or [`NO_THREAD`] (written only by that thread).
  runner: AtomicUsize,
  /// Prepare handlers that thread skipped, as our entry was in glibc's
  /// list more than once.
  depth: AtomicUsize,
  /// Runs in the forking thread before `fork`.
  prepare: AtomicPtr<()>,
  /// Runs in the parent after `fork`.
  parent: AtomicPtr<()>,
  /// Runs in the child after `fork`.
  child: AtomicPtr<()>,
}

/// The handlers the trampolines call.
static HANDLERS: ForkHandlers = ForkHandlers::new();

/// The state of a process `pid` arming.
const fn arming_in(pid: u32) -> u64 {
  ARMING | ((pid as u64) << PID_SHIFT)
}

/// The phase of a state.
const fn phase_of(state: u64) -> u64 {
  state & PHASE_MASK
}

/// The arming process of a state in [`ARMING`].
const fn pid_of(state: u64) -> u32 {
  (state >> PID_SHIFT) as u32
}

impl ForkHandlers {
  const fn new() -> Self {
    Self {
      state: AtomicU64::new(EMPTY),
      armer: AtomicUsize::new(NO_THREAD),
      runner: AtomicUsize::new(NO_THREAD),
      depth: AtomicUsize::new(0),
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
    if self
      .state
      .compare_exchange(EMPTY, SETTING, Ordering::Acquire, Ordering::Relaxed)
      .is_err()
    {
      return Err(MapError::Os {
        call: "set_fork_handlers",
        errno: EEXIST,
      });
    }
    self.prepare.store(prepare as *mut (), Ordering::Release);
    self.parent.store(parent as *mut (), Ordering::Release);
    self.child.store(child as *mut (), Ordering::Release);
    self.state.store(RECORDED, Ordering::Release);
    Ok(())
  }

  /// Whether [`ForkHandlers::arm`] may have something to do.
  #[inline]
  fn needs_arming(&self) -> bool {
    matches!(
      phase_of(self.state.load(Ordering::Acquire)),
      SETTING | RECORDED | ARMING
    )
  }

  /// Registers the recorded handlers through `register` if the process
  /// has more than one thread and nobody did yet; waits for a thread of
  /// this process that is doing it, unless that is the caller. A failed
  /// registration is tried again at the next call. `me` and `pid` give the
  /// calling thread and process, asked only when needed (`getpid` is a
  /// system call, and a single-threaded process comes here at every
  /// lock).
  fn arm(
    &self,
    me: impl Fn() -> usize,
    pid: impl Fn() -> u32,
    single_threaded: impl Fn() -> bool,
    register: impl FnOnce() -> Result<(), MapError>,
  ) -> Result<(), MapError> {
    loop {
      let state = self.state.load(Ordering::Acquire);
      match phase_of(state) {
        RECORDED if single_threaded() => return Ok(()),
        RECORDED => {
          if self.try_move(state, arming_in(pid())) {
            return self.register_as(me(), register);
          }
        }
        ARMING if pid_of(state) != pid() => {
          // Forked while a thread of the parent was arming: that thread
          // is not here. If glibc had added our entry before the fork,
          // the child handler ran and set `ARMED`; if the fork came in
          // another library's prepare handler, the entry may be here
          // without having run, and registering again doubles it, which
          // the trampolines tolerate.
          self.try_move(state, RECORDED);
        }
        ARMING if self.armer.load(Ordering::Relaxed) == me() => return Ok(()),
        SETTING | ARMING => spin_loop(),
        _ => return Ok(()),
      }
    }
  }

  /// Moves the state from `from` to `to`; false if another thread moved
  /// it first.
  fn try_move(&self, from: u64, to: u64) -> bool {
    self
      .state
      .compare_exchange(from, to, Ordering::Acquire, Ordering::Relaxed)
      .is_ok()
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
  let _ = HANDLERS.arm(
    current_thread,
    current_process,
    single_threaded,
    register_with_libc,
  );
}

/// The calling thread's identity.
fn current_thread() -> usize {
  // SAFETY: pthread_self has no preconditions.
  let id = unsafe { pthread_self() };
  id as usize
}

/// The calling process's id.
fn current_process() -> u32 {
  // SAFETY: getpid has no preconditions.
  let pid = unsafe { getpid() };
  pid.cast_unsigned()
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
  /// glibc's (2.32 and later) `char` flag: non-zero until the process starts its
  /// second thread (`pthread_create` clears it before the thread runs),
  /// and never set again in a process that has had one.
  static __libc_single_threaded: AtomicU8;
}

/// Whether arming may wait for a second thread: the process has only
/// ever had one, and its glibc runs fork handlers without holding the
/// lock `pthread_atfork` takes.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn single_threaded() -> bool {
  // SAFETY: the flag is a byte glibc keeps for the life of the process,
  // declared as an atomic because `pthread_create` writes it (in the
  // creating thread, which this thread then either is or was started by).
  let flag = unsafe { __libc_single_threaded.load(Ordering::Relaxed) };
  flag != 0 && glibc_unlocks_handlers()
}

/// Whether the running glibc is 2.36 or later, read once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_unlocks_handlers() -> bool {
  /// [`VERSION_UNREAD`], or whether the answer is yes.
  static ANSWER: AtomicU8 = AtomicU8::new(VERSION_UNREAD);
  match ANSWER.load(Ordering::Relaxed) {
    VERSION_UNREAD => {
      let answer = read_glibc_unlocks_handlers();
      ANSWER.store(u8::from(answer), Ordering::Relaxed);
      answer
    }
    answer => answer != 0,
  }
}

/// [`glibc_unlocks_handlers`] before it is cached: not yet asked.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const VERSION_UNREAD: u8 = u8::MAX;

/// Reads whether the running glibc is 2.36 or later.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn read_glibc_unlocks_handlers() -> bool {
  // SAFETY: gnu_get_libc_version has no preconditions.
  let text = unsafe { gnu_get_libc_version() };
  // SAFETY: it returns a static NUL-terminated string.
  let version = unsafe { CStr::from_ptr(text) };
  parse_version(version.to_bytes())
    .is_some_and(|version| version >= FIRST_GLIBC_UNLOCKED_HANDLERS)
}

/// `major.minor` from the start of a version string such as `2.36`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn parse_version(text: &[u8]) -> Option<(u32, u32)> {
  let (major, rest) = parse_number(text)?;
  let (minor, _) = parse_number(rest.strip_prefix(b".")?)?;
  Some((major, minor))
}

/// The decimal number at the start of `text`, and what follows it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn parse_number(text: &[u8]) -> Option<(u32, &[u8])> {
  let digits = text.iter().take_while(|byte| byte.is_ascii_digit()).count();
  if digits == 0 {
    return None;
  }
  let (number, rest) = text.split_at(digits);
  let value = number.iter().try_fold(0_u32, |value, digit| {
    value
      .checked_mul(DECIMAL_BASE)?
      .checked_add(u32::from(digit - b'0'))
  })?;
  Some((value, rest))
}

/// Without glibc's flag, the process is taken to have threads: the
/// handlers are registered at the first lock.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn single_threaded() -> bool {
  false
}

impl ForkHandlers {
  /// The prepare handler, run by thread `me`. Our entry can be in glibc's
  /// list twice (a fork copied the list between glibc's registration and
  /// the arming thread's record of it, and the child registered again):
  /// a second prepare in the thread that already ran one does nothing,
  /// since the handler takes locks it cannot take twice.
  fn prepare_as(&self, me: usize) {
    if self.runner.load(Ordering::Relaxed) == me {
      self.depth.fetch_add(1, Ordering::Relaxed);
      return;
    }
    run_handler(&self.prepare);
    self.depth.store(0, Ordering::Relaxed);
    self.runner.store(me, Ordering::Relaxed);
  }

  /// The parent or child handler in `slot`, run by thread `me`: only the
  /// one matching the prepare that ran (the last, as glibc runs them in
  /// the reverse order of the prepares).
  fn finish_as(&self, me: usize, slot: &AtomicPtr<()>) {
    if self.runner.load(Ordering::Relaxed) == me
      && self.depth.load(Ordering::Relaxed) > 0
    {
      self.depth.fetch_sub(1, Ordering::Relaxed);
      return;
    }
    self.runner.store(NO_THREAD, Ordering::Relaxed);
    run_handler(slot);
  }
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
  HANDLERS.prepare_as(current_thread());
}

/// The C `parent` handler.
extern "C" fn parent_trampoline() {
  HANDLERS.finish_as(current_thread(), &HANDLERS.parent);
}

/// The C `child` handler. Running at all says our entry is in this
/// process's list, whatever the state copied from the parent says (a
/// fork between glibc's registration and the arming thread's record of
/// it): the child then does not register again.
extern "C" fn child_trampoline() {
  HANDLERS.state.store(ARMED, Ordering::Release);
  HANDLERS.finish_as(current_thread(), &HANDLERS.child);
}
