//! The heap slot as an initial-exec TLS variable, on x86-64 Linux.
//!
//! The variable is defined in assembly so its accesses can use the
//! initial-exec model (`@GOTTPOFF`, relaxed to local-exec in executables),
//! which stable Rust does not offer for `thread_local!` in a shared
//! library. It is a hidden global so every codegen unit of this crate
//! links to the one definition without exporting it.

use core::arch::{asm, global_asm};
use core::ptr::NonNull;

use tinyalloc_alloc::{Heap, UNOWNED_HEAP};

// Every thread's slot starts at the unowned heap: the TLS initialisation
// image is relocated before the C library copies it for each thread.
global_asm!(
  ".pushsection .tdata,\"awT\",@progbits",
  ".p2align 3",
  ".globl __tinyalloc_thread_heap",
  ".hidden __tinyalloc_thread_heap",
  ".type __tinyalloc_thread_heap,@object",
  ".size __tinyalloc_thread_heap,8",
  "__tinyalloc_thread_heap:",
  ".quad {unowned}",
  ".popsection",
  unowned = sym UNOWNED_HEAP,
);

/// The calling thread's heap pointer (the unowned heap until it has one).
#[inline(always)]
pub(super) fn get() -> NonNull<Heap> {
  let value: *mut Heap;
  // SAFETY: reads this thread's 8-byte TLS slot defined above; the offset
  // comes from the GOT entry the linker fills for it.
  unsafe {
    asm!(
      "mov {value}, qword ptr [rip + __tinyalloc_thread_heap@GOTTPOFF]",
      "mov {value}, qword ptr fs:[{value}]",
      value = out(reg) value,
      options(nostack, readonly, preserves_flags),
    );
  }
  // SAFETY: the slot only ever holds a heap's address.
  unsafe { NonNull::new_unchecked(value) }
}

/// Sets the calling thread's heap pointer.
#[inline]
pub(super) fn set(heap: NonNull<Heap>) {
  let value = heap.as_ptr();
  // SAFETY: writes this thread's 8-byte TLS slot defined above.
  unsafe {
    asm!(
      "mov {offset}, qword ptr [rip + __tinyalloc_thread_heap@GOTTPOFF]",
      "mov qword ptr fs:[{offset}], {value}",
      offset = out(reg) _,
      value = in(reg) value,
      options(nostack, preserves_flags),
    );
  }
}
