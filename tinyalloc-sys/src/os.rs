//! Small allocation-free wrappers over the C library: error output and
//! aborting, time, environment, randomness, thread-exit and fork hooks, a
//! detached background thread.
//!
//! Everything here may run inside `malloc`, so nothing allocates, formats
//! with `core::fmt`, or takes a lock that `malloc` could also need.

mod background;
mod exit;
mod fork;
mod stderr;
mod thread_exit;

use core::{
  ffi::CStr,
  mem::{MaybeUninit, size_of},
  ptr::NonNull,
  sync::atomic::{AtomicU64, Ordering},
};

use libc::{
  __errno_location, CLOCK_MONOTONIC, GRND_NONBLOCK, c_void, clock_gettime,
  getenv, getpid, getrandom, timespec,
};

pub use background::{Background, sleep_nanos, spawn_detached};
pub use exit::at_exit;
pub use fork::{arm_fork_handlers, set_fork_handlers};
pub use stderr::{fatal, write_stderr};
pub use thread_exit::ThreadExitKey;

/// Nanoseconds in one second.
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The increment of the fallback random sequence: 2^64 divided by the golden
/// ratio, odd, so consecutive values cover all 2^64 states (SplitMix64).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// First multiplier of the SplitMix64 finaliser.
const MIX_MULTIPLIER_1: u64 = 0xbf58_476d_1ce4_e5b9;

/// Second multiplier of the SplitMix64 finaliser.
const MIX_MULTIPLIER_2: u64 = 0x94d0_49bb_1331_11eb;

/// The three shifts of the SplitMix64 finaliser.
const MIX_SHIFTS: [u32; 3] = [30, 27, 31];

/// How far the process id is shifted in the fallback seed, so it does not
/// cancel the low bits of the clock.
const PID_SHIFT: u32 = 32;

/// The bytes of one random `u64`.
const RANDOM_BYTES: usize = size_of::<u64>();

/// The calling thread's errno.
pub(crate) fn last_errno() -> i32 {
  // SAFETY: __errno_location has no pre-conditions; it returns this
  // thread's errno slot.
  let slot = unsafe { __errno_location() };
  // SAFETY: the slot is valid and aligned for the life of the thread.
  unsafe { *slot }
}

/// `CLOCK_MONOTONIC` in nanoseconds; zero if the clock cannot be read (it
/// always can on Linux).
#[must_use]
pub fn monotonic_nanos() -> u64 {
  let mut now = MaybeUninit::<timespec>::uninit();
  // SAFETY: `now` is valid for writing one timespec.
  let status = unsafe { clock_gettime(CLOCK_MONOTONIC, now.as_mut_ptr()) };
  if status != 0 {
    return 0;
  }
  // SAFETY: clock_gettime succeeded, so it initialised `now`.
  let now = unsafe { now.assume_init() };
  let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
  let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
  seconds.wrapping_mul(NANOS_PER_SECOND).wrapping_add(nanos)
}

/// The value of the environment variable `name`; `None` when it is unset or
/// the environment is not set up yet (`getenv` then finds nothing).
///
/// The string lives in the environment itself: it stays valid as long as
/// nothing modifies the environment (`setenv`, `putenv`, `unsetenv`), which
/// Rust already requires to be done only while no other thread reads it.
#[must_use]
pub fn env_var(name: &CStr) -> Option<&'static CStr> {
  // SAFETY: `name` is NUL-terminated; getenv only reads the environment.
  let value = NonNull::new(unsafe { getenv(name.as_ptr()) })?;
  // SAFETY: getenv returned a NUL-terminated string owned by the
  // environment, valid until the environment changes (documented above).
  Some(unsafe { CStr::from_ptr(value.as_ptr()) })
}

/// Whether the environment variable `name` is set to switch something on:
/// to anything but the empty string or `0`.
#[must_use]
pub fn env_flag(name: &CStr) -> bool {
  env_var(name).is_some_and(|value| !value.is_empty() && value != c"0")
}

/// 64 random bits from `getrandom(GRND_NONBLOCK)`; if the kernel cannot
/// give them (too early in boot, or seccomp), a mix of the monotonic clock,
/// a stack address, the process id and a global counter.
#[must_use]
pub fn random_u64() -> u64 {
  let mut bytes = [0_u8; RANDOM_BYTES];
  // SAFETY: `bytes` is valid for writing RANDOM_BYTES bytes.
  let read = unsafe {
    getrandom(
      bytes.as_mut_ptr().cast::<c_void>(),
      RANDOM_BYTES,
      GRND_NONBLOCK,
    )
  };
  if usize::try_from(read) == Ok(RANDOM_BYTES) {
    u64::from_ne_bytes(bytes)
  } else {
    fallback_random()
  }
}

/// Weak randomness for when getrandom fails: distinct on every call thanks
/// to the counter, unpredictable only as far as clock, ASLR and pid are.
#[cold]
#[inline(never)]
fn fallback_random() -> u64 {
  /// Advances by [`GOLDEN_GAMMA`] on every call.
  static COUNTER: AtomicU64 = AtomicU64::new(0);
  let marker = 0_u8;
  let stack = (&raw const marker).addr() as u64;
  // SAFETY: getpid has no pre-conditions and cannot fail.
  let pid = u64::from(unsafe { getpid() }.unsigned_abs());
  let count = COUNTER.fetch_add(GOLDEN_GAMMA, Ordering::Relaxed);
  mix(monotonic_nanos() ^ stack ^ (pid << PID_SHIFT) ^ count)
}

/// The SplitMix64 finaliser: every input bit affects every output bit.
const fn mix(seed: u64) -> u64 {
  let mut z = seed.wrapping_add(GOLDEN_GAMMA);
  z = (z ^ (z >> MIX_SHIFTS[0])).wrapping_mul(MIX_MULTIPLIER_1);
  z = (z ^ (z >> MIX_SHIFTS[1])).wrapping_mul(MIX_MULTIPLIER_2);
  z ^ (z >> MIX_SHIFTS[2])
}

#[cfg(test)]
mod tests;
