//! One pthread key per process whose destructor calls a Rust hook when a
//! thread that set a value exits.
//!
//! Invariants: `HOOK` is null or the hook of the one key; it is set before
//! the key exists and changes only back to null when creating the key
//! failed. `KEY` is valid once `KEY_READY` is true, and then never changes.

use core::{
  hint, mem,
  ptr::{self, NonNull},
  sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering},
};

use libc::{
  EEXIST, c_void, pthread_getspecific, pthread_key_create, pthread_key_t,
  pthread_setspecific,
};

use crate::MapError;

/// The hook of the key, a `fn(NonNull<u8>)` stored as a pointer.
static HOOK: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// The key, once created.
static KEY: AtomicU32 = AtomicU32::new(0);

/// Whether `KEY` holds the created key.
static KEY_READY: AtomicBool = AtomicBool::new(false);

/// A pthread key whose destructor runs a hook at thread exit, with the value
/// the exiting thread had set (if any, and not null).
///
/// There is one per process: [`ThreadExitKey::create`] with the hook of the
/// existing key returns that key again. The value is small and `Copy`, so it
/// can live in a static.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadExitKey {
  /// The pthread key.
  key: pthread_key_t,
}

impl ThreadExitKey {
  /// The process's thread-exit key, created on the first call. The hook
  /// must not unwind: a panic escaping it aborts the process.
  ///
  /// # Errors
  /// `Os { call: "pthread_key_create", errno }` when no key can be created,
  /// and `Os { call: "ThreadExitKey::create", errno: EEXIST }` when the key
  /// already exists with a different hook.
  pub fn create(hook: fn(NonNull<u8>)) -> Result<Self, MapError> {
    let wanted = hook as *mut ();
    loop {
      match HOOK.compare_exchange(
        ptr::null_mut(),
        wanted,
        Ordering::AcqRel,
        Ordering::Acquire,
      ) {
        Ok(_) => return create_key(),
        Err(current) if current == wanted => {
          if KEY_READY.load(Ordering::Acquire) {
            return Ok(Self {
              key: KEY.load(Ordering::Relaxed),
            });
          }
          hint::spin_loop();
        }
        Err(_) => {
          return Err(MapError::Os {
            call: "ThreadExitKey::create",
            errno: EEXIST,
          });
        }
      }
    }
  }

  /// Sets the calling thread's value; with `None` the hook will not run for
  /// this thread (unless a value is set again).
  ///
  /// # Errors
  /// `Os { call: "pthread_setspecific", errno }`, e.g. `ENOMEM`.
  ///
  /// # Safety
  /// `value` stays valid for the hook until the hook has run or the value
  /// was replaced with `set(None)`.
  pub unsafe fn set(&self, value: Option<NonNull<u8>>) -> Result<(), MapError> {
    let raw = value.map_or(ptr::null(), |value| value.as_ptr().cast_const());
    // SAFETY: the key was created by pthread_key_create; the value is only
    // stored, and handed to the hook under the caller's contract.
    let status = unsafe { pthread_setspecific(self.key, raw.cast::<c_void>()) };
    match status {
      0 => Ok(()),
      errno => Err(MapError::Os {
        call: "pthread_setspecific",
        errno,
      }),
    }
  }

  /// The calling thread's value; `None` when unset.
  #[must_use]
  pub fn get(&self) -> Option<NonNull<u8>> {
    // SAFETY: the key was created by pthread_key_create.
    NonNull::new(unsafe { pthread_getspecific(self.key) }.cast::<u8>())
  }
}

/// Creates the key after this thread installed the hook.
#[cold]
fn create_key() -> Result<ThreadExitKey, MapError> {
  let mut key: pthread_key_t = 0;
  let destructor: unsafe extern "C" fn(*mut c_void) = thread_exit_trampoline;
  // SAFETY: `key` is valid for writing; the destructor is a valid C ABI
  // function for the life of the process.
  let status = unsafe { pthread_key_create(&raw mut key, Some(destructor)) };
  if status != 0 {
    HOOK.store(ptr::null_mut(), Ordering::Release);
    return Err(MapError::Os {
      call: "pthread_key_create",
      errno: status,
    });
  }
  KEY.store(key, Ordering::Relaxed);
  KEY_READY.store(true, Ordering::Release);
  Ok(ThreadExitKey { key })
}

/// The key's destructor: pthread calls it at thread exit with the thread's
/// non-null value.
extern "C" fn thread_exit_trampoline(value: *mut c_void) {
  let Some(value) = NonNull::new(value.cast::<u8>()) else {
    return;
  };
  let hook = HOOK.load(Ordering::Acquire);
  if hook.is_null() {
    return;
  }
  // SAFETY: HOOK holds only null or a `fn(NonNull<u8>)` stored by create.
  let hook = unsafe { mem::transmute::<*mut (), fn(NonNull<u8>)>(hook) };
  hook(value);
}
