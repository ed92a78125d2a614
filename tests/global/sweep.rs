//! Sweeps: the free pages inside small segments still in use go back to
//! the OS, the blocks kept on them are untouched, the pages come back as
//! the program allocates again, and a double free of a block whose page
//! went back is still caught (each in a child process, so no other test
//! allocates meanwhile).

use std::alloc::{Layout, dealloc};
use std::ptr;
use std::sync::{Arc, Barrier, mpsc};
use std::thread;

use libc::mincore;
use tinyalloc::{collect, stats};

use crate::child::announce;
use crate::support::{MIB, fill, holds, page_size, resident_bytes};

/// Blocks allocated, about 24 MiB of them.
const BLOCKS: usize = 60_000;
/// Size of each block: a class with about ten blocks per page.
const SIZE: usize = 400;
/// Blocks are kept in runs of this many...
const KEPT_RUN: usize = 32;
/// ... one run in this many: the others are freed, whole pages of them.
const KEEP_ONE_RUN_IN: usize = 10;
/// What the sweep must give back at least: most of the 21 MiB freed.
const SWEPT_AT_LEAST: usize = 12 * MIB;
/// Blocks of another class, allocated after the sparse ones.
const OTHER_SIZE: usize = 2 * SIZE;
/// Their contents.
const OTHER_BYTE: u8 = 1;

/// Whether block `index` is kept.
fn kept(index: usize) -> bool {
  (index / KEPT_RUN).is_multiple_of(KEEP_ONE_RUN_IN)
}

/// Allocates the blocks, each filled with its pattern, and frees those
/// not kept; returns the kept ones with their indices, and the blocks
/// freed (dangling: for the fault tests).
fn sparse_heap() -> (Vec<(usize, Vec<u8>)>, Vec<usize>) {
  let blocks: Vec<(usize, Vec<u8>)> = (0..BLOCKS)
    .map(|index| {
      let mut block = vec![0_u8; SIZE];
      fill(&mut block, index as u64);
      (index, block)
    })
    .collect();
  let mut kept_blocks = Vec::new();
  let mut freed = Vec::new();
  for (index, block) in blocks {
    if kept(index) {
      kept_blocks.push((index, block));
    } else {
      freed.push(block.as_ptr().addr());
    }
  }
  (kept_blocks, freed)
}

/// Asserts that every kept block still holds its pattern.
fn assert_intact(kept_blocks: &[(usize, Vec<u8>)]) {
  for (index, block) in kept_blocks {
    assert!(holds(block, *index as u64), "block {index} kept its bytes");
  }
}

isolated_test! {
  fn collect_gives_back_the_free_pages_of_sparse_segments() {
    let (kept_blocks, _) = sparse_heap();
    let before = (stats().swept_pages(), resident_bytes());
    let returned = collect();
    let after = (stats().swept_pages(), resident_bytes());
    let page = page_size();
    let swept = (after.0 - before.0) * page;
    assert!(swept >= SWEPT_AT_LEAST, "swept {swept} bytes");
    assert!(returned >= swept, "collect() counts the swept bytes: {returned}");
    let dropped = before.1.saturating_sub(after.1);
    assert!(dropped >= SWEPT_AT_LEAST, "resident fell by {dropped} bytes");
    assert_intact(&kept_blocks);
    // The pages come back as blocks: every one distinct, none overlapping
    // a kept block, all writable.
    let mut again: Vec<(usize, Vec<u8>)> = (0..BLOCKS)
      .map(|index| {
        let mut block = vec![0_u8; SIZE];
        fill(&mut block, (BLOCKS + index) as u64);
        (BLOCKS + index, block)
      })
      .collect();
    assert_intact(&kept_blocks);
    assert_intact(&again);
    let mut starts: Vec<usize> = kept_blocks
      .iter()
      .chain(&again)
      .map(|(_, block)| block.as_ptr().addr())
      .collect();
    starts.sort_unstable();
    assert!(
      starts.windows(2).all(|pair| pair[1] - pair[0] >= SIZE),
      "no two live blocks overlap"
    );
    again.clear();
  }
}

isolated_test! {
  fn a_heap_taking_fresh_memory_sweeps_other_classes_first() {
    let (kept_blocks, _) = sparse_heap();
    let before = stats().swept_pages();
    // Another size, enough of it to claim a fresh segment per class in
    // turn, more than once.
    let other: Vec<Vec<u8>> =
      (0..BLOCKS).map(|_| vec![OTHER_BYTE; OTHER_SIZE]).collect();
    let swept = (stats().swept_pages() - before) * page_size();
    assert!(swept >= SWEPT_AT_LEAST, "swept {swept} bytes");
    assert_intact(&kept_blocks);
    assert!(other.iter().all(|block| block.iter().all(|&byte| byte == OTHER_BYTE)));
  }
}

/// Heaps the pool keeps warm, unswept (`WARM_POOL_HEAPS` in the engine).
const WARM_POOL_HEAPS: usize = 8;
/// Threads that exit one after another with sparse heaps: more than the
/// pool keeps warm, so the later ones are swept as they exit.
const EXITING_THREADS: usize = 16;
/// Blocks each of them allocates.
const THREAD_BLOCKS: usize = 6_000;

isolated_test! {
  fn heaps_pooled_beyond_the_warm_ones_are_swept_as_their_threads_exit() {
    let start = Arc::new(Barrier::new(EXITING_THREADS + 1));
    let before = stats().swept_pages();
    let workers: Vec<_> = (0..EXITING_THREADS)
      .map(|worker| {
        let start = Arc::clone(&start);
        let (go, exit) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
          let blocks: Vec<Vec<u8>> = (0..THREAD_BLOCKS)
            .map(|index| {
              let mut block = vec![0_u8; SIZE];
              fill(&mut block, (worker * THREAD_BLOCKS + index) as u64);
              block
            })
            .collect();
          let kept_blocks: Vec<(usize, Vec<u8>)> = blocks
            .into_iter()
            .enumerate()
            .filter(|&(index, _)| kept(index))
            .map(|(index, block)| (worker * THREAD_BLOCKS + index, block))
            .collect();
          // Every thread has its heap before any exits.
          start.wait();
          exit.recv().expect("told to exit");
          kept_blocks
        });
        (go, handle)
      })
      .collect();
    start.wait();
    // One exit at a time: the pool grows by one heap each time.
    let mut kept_blocks = Vec::new();
    for (go, handle) in workers {
      go.send(()).expect("the worker waits");
      kept_blocks.extend(handle.join().expect("the worker ends"));
    }
    let swept = (stats().swept_pages() - before) * page_size();
    // The heaps pooled beyond the eight warm ones are swept, each for most
    // of its 2 MiB of blocks.
    let beyond = EXITING_THREADS - WARM_POOL_HEAPS;
    assert!(swept >= beyond * MIB, "swept {swept} bytes");
    assert_intact(&kept_blocks);
  }
}

/// Rounds of the remote-free stress.
const REMOTE_ROUNDS: usize = 40;
/// Blocks the producer allocates per round.
const ROUND_BLOCKS: usize = 2_000;

isolated_test! {
  fn sweeps_race_remote_frees_without_losing_a_block() {
    let (send, receive) = mpsc::channel::<Vec<Vec<u8>>>();
    // The consumer checks every block it is handed and frees it: remote
    // frees into the producer's segments while the producer claims fresh
    // segments for another size, and so sweeps.
    let consumer = thread::spawn(move || {
      let mut checked = 0_usize;
      for batch in receive {
        for block in batch {
          let id = u64::from_le_bytes(block[..8].try_into().expect("8 bytes"));
          assert!(holds(&block, id), "block {id} intact when freed remotely");
          checked += 1;
        }
      }
      checked
    });
    let before = stats().swept_pages();
    let mut kept_blocks = Vec::new();
    let mut other = Vec::new();
    let mut sent = 0;
    for round in 0..REMOTE_ROUNDS {
      let mut batch = Vec::new();
      for index in 0..ROUND_BLOCKS {
        let id = round * ROUND_BLOCKS + index;
        let mut block = vec![0_u8; SIZE];
        fill(&mut block, id as u64);
        if kept(index) {
          kept_blocks.push((id, block));
        } else {
          batch.push(block);
        }
      }
      sent += batch.len();
      send.send(batch).expect("the consumer listens");
      // Another class, enough to claim fresh segments (and sweep).
      other.extend((0..ROUND_BLOCKS).map(|_| vec![OTHER_BYTE; OTHER_SIZE]));
      assert_intact(&kept_blocks);
    }
    drop(send);
    assert_eq!(consumer.join().expect("the consumer ends"), sent);
    collect();
    assert!(stats().swept_pages() > before, "something was swept");
    assert_intact(&kept_blocks);
    assert!(other.iter().all(|block| block.iter().all(|&byte| byte == OTHER_BYTE)));
  }
}

/// A block freed in the middle of the heap whose page a sweep gave back:
/// not resident, so its free tag is gone and only the purged bit can tell
/// a second free of it.
fn block_on_a_swept_page(freed: &[usize]) -> usize {
  let address = freed[freed.len() / 2];
  assert!(
    !is_resident(address),
    "the block's page went back to the OS"
  );
  address
}

/// Whether the page holding `address` is resident.
fn is_resident(address: usize) -> bool {
  let page = page_size();
  let start = address - address % page;
  let mut vector = 0_u8;
  // SAFETY: one page, one byte of output; the page is mapped (ours).
  let status = unsafe {
    mincore(ptr::without_provenance_mut(start), page, &raw mut vector)
  };
  assert_eq!(status, 0, "mincore succeeds");
  vector & 1 != 0
}

fault_test! {
  fn double_free_of_a_block_on_a_swept_page() -> "double free" {
    let (_kept, freed) = sparse_heap();
    collect();
    let address = block_on_a_swept_page(&freed);
    announce(address);
    // SAFETY: not sound: a double free on purpose, in a child process.
    unsafe { free_again(address) };
  }
}

fault_test! {
  fn double_free_from_another_thread_of_a_block_on_a_swept_page()
    -> "double free"
  {
    let (_kept, freed) = sparse_heap();
    collect();
    let address = block_on_a_swept_page(&freed);
    announce(address);
    thread::spawn(move || {
      // SAFETY: as above.
      unsafe { free_again(address) };
    })
    .join()
    .expect("the freeing thread ends");
  }
}

/// Frees the block at `address` through the global allocator.
///
/// # Safety
/// None: the tests call it on blocks freed already.
unsafe fn free_again(address: usize) {
  let layout = Layout::from_size_align(SIZE, 1).expect("valid");
  // SAFETY: not sound, on purpose (see the callers).
  unsafe { dealloc(ptr::without_provenance_mut(address), layout) };
}
