//! Test helpers: running checks in a forked child (single-threaded, so no
//! other test can reuse an unmapped range or disturb the resident set), and
//! reading the resident set size.

use std::{
  panic::{self, AssertUnwindSafe},
  string::String,
  sync::{Mutex, MutexGuard, PoisonError},
  vec::Vec,
};

use libc::{
  _exit, EINTR, O_CLOEXEC, O_RDONLY, RLIMIT_CORE, STDERR_FILENO, WEXITSTATUS,
  WIFEXITED, WIFSIGNALED, WTERMSIG, c_int, close, dup2, fork, open, pipe, read,
  rlimit, setrlimit, waitpid,
};

use crate::{os, os::last_errno};

/// Serialises the tests that fork: fork handlers then count one fork at a
/// time, and no other child inherits a test's pipe.
static FORK_LOCK: Mutex<()> = Mutex::new(());

/// The exit code of a child whose checks failed or panicked.
const CHILD_FAILED: c_int = 101;

/// Room for `/proc/self/statm`: seven decimal numbers.
const STATM_CAPACITY: usize = 256;

/// `/proc/self/statm` is in decimal.
const DECIMAL_RADIX: u32 = 10;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildExit {
  /// `_exit` with this code.
  Exited(c_int),
  /// Killed by this signal.
  Signaled(c_int),
}

/// Holds off the other forking tests while the guard lives.
pub(crate) fn lock_forks() -> MutexGuard<'static, ()> {
  FORK_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `body` in a forked child that exits with its result, and waits.
pub(crate) fn run_in_child(body: impl FnOnce() -> c_int) -> ChildExit {
  let _guard = lock_forks();
  fork_and_wait(body)
}

/// [`run_in_child`] for a caller that already holds [`lock_forks`].
pub(crate) fn run_in_child_locked(
  _guard: &MutexGuard<'static, ()>,
  body: impl FnOnce() -> c_int,
) -> ChildExit {
  fork_and_wait(body)
}

/// Runs `body` in a forked child with its standard error captured, and
/// returns how it ended and what it wrote there.
pub(crate) fn run_in_child_capturing_stderr(
  body: impl FnOnce() -> c_int,
) -> (ChildExit, Vec<u8>) {
  let _guard = lock_forks();
  let mut ends = [0; 2];
  // SAFETY: `ends` has room for the two descriptors.
  assert_eq!(unsafe { pipe(ends.as_mut_ptr()) }, 0, "pipe failed");
  let [read_end, write_end] = ends;
  let exit = fork_and_wait(|| {
    // SAFETY: both descriptors are this child's own copies.
    unsafe { dup2(write_end, STDERR_FILENO) };
    body()
  });
  // SAFETY: the parent's copy of the write end is not used any more.
  unsafe { close(write_end) };
  let output = read_to_end(read_end);
  // SAFETY: the read end is not used any more.
  unsafe { close(read_end) };
  (exit, output)
}

/// Runs `checks` in a forked child and asserts that they all passed; a
/// failed check names itself on the child's standard error.
pub(crate) fn assert_in_child(
  checks: impl FnOnce() -> Result<(), &'static str>,
) {
  let (exit, output) = run_in_child_capturing_stderr(|| match checks() {
    Ok(()) => 0,
    Err(message) => {
      os::write_stderr(message);
      CHILD_FAILED
    }
  });
  assert_eq!(
    (exit, String::from_utf8_lossy(&output).as_ref()),
    (ChildExit::Exited(0), ""),
    "the child's checks failed",
  );
}

/// Forks; the child runs `body` and exits, the parent waits for it.
fn fork_and_wait(body: impl FnOnce() -> c_int) -> ChildExit {
  // SAFETY: the child only runs `body` and then `_exit`s.
  let pid = unsafe { fork() };
  assert!(pid >= 0, "fork failed with errno {}", last_errno());
  if pid == 0 {
    disable_core_dumps();
    let code =
      panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(CHILD_FAILED);
    // SAFETY: _exit ends the child without running the parent's atexit
    // handlers or flushing its buffers.
    unsafe { _exit(code) }
  }
  let mut status = 0;
  // SAFETY: `status` is valid for writing; `pid` is our child.
  while unsafe { waitpid(pid, &raw mut status, 0) } < 0 {
    assert_eq!(last_errno(), EINTR, "waitpid failed");
  }
  if WIFEXITED(status) {
    ChildExit::Exited(WEXITSTATUS(status))
  } else {
    assert!(WIFSIGNALED(status), "child neither exited nor was killed");
    ChildExit::Signaled(WTERMSIG(status))
  }
}

/// Keeps children that die of a signal from writing core files.
fn disable_core_dumps() {
  let limit = rlimit {
    rlim_cur: 0,
    rlim_max: 0,
  };
  // SAFETY: `limit` is a valid rlimit.
  unsafe { setrlimit(RLIMIT_CORE, &raw const limit) };
}

/// Everything readable from `fd` until end of file.
fn read_to_end(fd: c_int) -> Vec<u8> {
  let mut output = Vec::new();
  let mut chunk = [0_u8; STATM_CAPACITY];
  loop {
    // SAFETY: `chunk` is valid for writing its length.
    let count = unsafe { read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
    match usize::try_from(count) {
      Ok(0) => return output,
      Ok(count) => output.extend_from_slice(&chunk[..count]),
      Err(_) => assert_eq!(last_errno(), EINTR, "read failed"),
    }
  }
}

/// The field of `/proc/self/statm` with the resident set size in pages.
const STATM_RESIDENT: usize = 1;

/// The field of `/proc/self/statm` with the virtual size in pages.
const STATM_VIRTUAL: usize = 0;

/// The resident set size in pages. Allocation-free, so a forked child may
/// call it.
pub(crate) fn resident_pages() -> Option<usize> {
  statm_field(STATM_RESIDENT)
}

/// The virtual size in pages. Allocation-free.
pub(crate) fn virtual_pages() -> Option<usize> {
  statm_field(STATM_VIRTUAL)
}

/// One decimal field of `/proc/self/statm`.
fn statm_field(index: usize) -> Option<usize> {
  let mut statm = [0_u8; STATM_CAPACITY];
  // SAFETY: the path is NUL-terminated.
  let fd = unsafe { open(c"/proc/self/statm".as_ptr(), O_RDONLY | O_CLOEXEC) };
  if fd < 0 {
    return None;
  }
  // SAFETY: `statm` is valid for writing its length.
  let count = unsafe { read(fd, statm.as_mut_ptr().cast(), statm.len()) };
  // SAFETY: `fd` is ours and not used any more.
  unsafe { close(fd) };
  let text = statm.get(..usize::try_from(count).ok()?)?;
  let field = text.split(|byte| *byte == b' ').nth(index)?;
  field.iter().try_fold(0_usize, |pages, digit| {
    let digit = char::from(*digit).to_digit(DECIMAL_RADIX)?;
    let radix = usize::try_from(DECIMAL_RADIX).ok()?;
    pages
      .checked_mul(radix)?
      .checked_add(usize::try_from(digit).ok()?)
  })
}
