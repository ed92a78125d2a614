//! Misuse of the allocator stops the process with one line naming the fault
//! and the address. Each case runs in a child process that must die of
//! `SIGABRT`.

use std::alloc::{Layout, alloc, dealloc};
use std::hint::black_box;
use std::ptr::{self, NonNull};
use std::thread;

use libc::{
  MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap,
};

#[cfg(not(feature = "ffi"))]
use libc::malloc;

use crate::child::announce;
use crate::support::{KIB, MIB, page_size};

/// A block of a small size class.
const SMALL: usize = 64;
/// A block served as a large span of segments.
const LARGE: usize = 512 * KIB;
/// A block served by a mapping of its own.
const HUGE: usize = 64 * MIB;
/// How far into a block the interior pointers point: past the start, well
/// inside even the smallest block tested.
const INTERIOR_OFFSET: usize = 16;
/// The alignment of the blocks freed wrongly.
const ALIGN: usize = 16;

/// Not ours: static memory of this binary.
static STATIC_BYTES: [u8; SMALL] = [0; SMALL];

/// The layout of a test block of `size` bytes.
fn layout(size: usize) -> Layout {
  Layout::from_size_align(size, ALIGN).expect("a valid layout")
}

/// A fresh block of `size` bytes.
fn allocate(size: usize) -> NonNull<u8> {
  // SAFETY: the layout has a non-zero size.
  let block = unsafe { alloc(layout(size)) };
  NonNull::new(block).expect("the allocation succeeds")
}

/// Frees `pointer` as a block of `size` bytes, right or wrong.
fn free(pointer: NonNull<u8>, size: usize) {
  // SAFETY: not sound: these tests hand the allocator bad pointers on
  // purpose, in a child process, to see it stop the process.
  unsafe { dealloc(black_box(pointer.as_ptr()), layout(size)) };
}

/// Frees the block at `pointer` twice.
fn free_twice(pointer: NonNull<u8>, size: usize) {
  announce(pointer.addr().get());
  free(pointer, size);
  free(pointer, size);
}

/// `pointer` moved `offset` bytes into its block.
fn interior(pointer: NonNull<u8>, offset: usize) -> NonNull<u8> {
  pointer.map_addr(|address| address.saturating_add(offset))
}

/// Frees `pointer` on a new thread and waits for it.
fn free_on_other_thread(pointer: NonNull<u8>, size: usize) {
  let address = pointer.addr().get();
  thread::spawn(move || {
    let pointer = NonNull::new(address as *mut u8).expect("not null");
    free(pointer, size);
  })
  .join()
  .expect("the freeing thread ends");
}

fault_test! {
  fn double_free_of_a_small_box() -> "double free" {
    let boxed = Box::into_raw(Box::new([0_u8; SMALL]));
    let pointer = NonNull::new(boxed.cast::<u8>()).expect("not null");
    free_twice(pointer, SMALL);
  }
}

fault_test! {
  fn double_free_of_a_large_block() -> "double free" {
    free_twice(allocate(LARGE), LARGE);
  }
}

// The block's own mapping is gone after the first free, so the second finds
// an address the allocator does not own: it cannot tell this double free
// from a foreign pointer, and says the latter.
fault_test! {
  fn double_free_of_a_huge_block_is_caught_as_foreign()
    -> "free of a pointer not allocated by tinyalloc"
  {
    free_twice(allocate(HUGE), HUGE);
  }
}

fault_test! {
  fn double_free_by_a_thread_after_the_owner_freed() -> "double free" {
    let pointer = allocate(SMALL);
    announce(pointer.addr().get());
    free(pointer, SMALL);
    free_on_other_thread(pointer, SMALL);
  }
}

fault_test! {
  fn double_free_by_the_owner_after_a_thread_freed() -> "double free" {
    let pointer = allocate(SMALL);
    announce(pointer.addr().get());
    free_on_other_thread(pointer, SMALL);
    free(pointer, SMALL);
  }
}

fault_test! {
  fn double_free_by_two_other_threads() -> "double free" {
    let pointer = allocate(SMALL);
    announce(pointer.addr().get());
    free_on_other_thread(pointer, SMALL);
    free_on_other_thread(pointer, SMALL);
  }
}

fault_test! {
  fn free_of_a_static() -> "free of a pointer not allocated by tinyalloc" {
    let pointer = NonNull::from(&STATIC_BYTES).cast::<u8>();
    announce(pointer.addr().get());
    free(pointer, SMALL);
  }
}

fault_test! {
  fn free_of_a_stack_array() -> "free of a pointer not allocated by tinyalloc" {
    let mut bytes = [0_u8; SMALL];
    let pointer = NonNull::from(&mut bytes).cast::<u8>();
    announce(pointer.addr().get());
    free(pointer, SMALL);
  }
}

fault_test! {
  fn free_of_a_foreign_mapping() -> "free of a pointer not allocated by tinyalloc" {
    let length = page_size();
    // SAFETY: an anonymous private mapping at an address the kernel picks
    // overlaps nothing.
    let page = unsafe {
      mmap(
        black_box(ptr::null_mut()),
        length,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
      )
    };
    assert_ne!(page, MAP_FAILED, "the page maps");
    let pointer = NonNull::new(page.cast::<u8>()).expect("not null");
    announce(pointer.addr().get());
    free(pointer, SMALL);
  }
}

// With the `ffi` feature this binary's `malloc` is ours; without it, glibc's.
#[cfg(not(feature = "ffi"))]
fault_test! {
  fn free_of_a_glibc_malloc_block()
    -> "free of a pointer not allocated by tinyalloc"
  {
    // SAFETY: malloc has no pre-conditions.
    let block = unsafe { malloc(SMALL) };
    let pointer = NonNull::new(block.cast::<u8>()).expect("malloc succeeds");
    announce(pointer.addr().get());
    free(pointer, SMALL);
  }
}

fault_test! {
  fn free_inside_a_small_box()
    -> "free of a pointer that is not the start of a block"
  {
    let boxed = Box::into_raw(Box::new([0_u8; SMALL]));
    let pointer = NonNull::new(boxed.cast::<u8>()).expect("not null");
    let inside = interior(pointer, INTERIOR_OFFSET);
    announce(inside.addr().get());
    free(inside, SMALL - INTERIOR_OFFSET);
  }
}

fault_test! {
  fn free_inside_a_large_block()
    -> "free of a pointer that is not the start of a block"
  {
    let inside = interior(allocate(LARGE), page_size());
    announce(inside.addr().get());
    free(inside, LARGE / 2);
  }
}

fault_test! {
  fn free_inside_a_huge_block()
    -> "free of a pointer that is not the start of a block"
  {
    let inside = interior(allocate(HUGE), page_size() + INTERIOR_OFFSET);
    announce(inside.addr().get());
    free(inside, HUGE / 2);
  }
}

/// The arena size of the design: arenas start at multiples of it.
const DESIGN_ARENA: usize = 64 * MIB;
/// An offset into an arena far past anything a test process claims, so
/// the segment there is free (its header place unused or released).
const FAR_INTO_THE_ARENA: usize = DESIGN_ARENA - 4 * MIB + 16 * KIB;

/// `pointer`'s arena start plus `offset`.
fn in_same_arena(pointer: NonNull<u8>, offset: usize) -> NonNull<u8> {
  pointer.map_addr(|address| {
    let start = address.get() & !(DESIGN_ARENA - 1);
    (start + offset).try_into().expect("not null")
  })
}

fault_test! {
  fn free_into_a_free_segment_of_the_home_arena()
    -> "free of a pointer that is not the start of a block"
  {
    let block = allocate(SMALL);
    let far = in_same_arena(block, FAR_INTO_THE_ARENA);
    announce(far.addr().get());
    free(far, SMALL);
  }
}

fault_test! {
  fn free_into_the_arena_header()
    -> "free of a pointer that is not the start of a block"
  {
    let block = allocate(SMALL);
    let header = in_same_arena(block, INTERIOR_OFFSET);
    announce(header.addr().get());
    free(header, SMALL);
  }
}

/// The engine's arena size (`ARENA_SHIFT` 26).
const ARENA_BYTES: usize = 64 * MIB;
/// A kernel-space address in the arena place just below the top one of the
/// address space, where a heap that had claimed no small segment yet
/// looked for its home arena (and so read the address as a header, and
/// crashed without a message).
const BELOW_TOP_ARENA: usize = usize::MAX - 2 * ARENA_BYTES + 1 + 4 * KIB;

fault_test! {
  fn free_of_a_kernel_space_pointer_by_a_thread_with_only_a_large_block()
    -> "free of a pointer not allocated by tinyalloc"
  {
    thread::spawn(|| {
      // The thread's heap claims no small segment: a large block only.
      let large = allocate(LARGE);
      let pointer = NonNull::new(ptr::without_provenance_mut(BELOW_TOP_ARENA))
        .expect("not null");
      announce(pointer.addr().get());
      free(pointer, SMALL);
      free(large, LARGE);
    })
    .join()
    .expect("the thread stops the process first");
  }
}
