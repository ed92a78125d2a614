//! Sweeping: giving the free pages inside a sparse small segment back to
//! the OS while the segment stays in use.
//!
//! A program that frees most of its small blocks but not all (nine in ten,
//! spread evenly) leaves segments that are mostly free and can never be
//! retired. Size classes cannot lend those holes to other sizes, as a
//! coalescing allocator does, but a page on which every block is free can
//! go back to the OS. A sweep finds those pages from the free list, takes
//! the blocks that start on them off the list, sets their bits in
//! `purged`, and the heap then decommits them. The blocks are then on no
//! list at all: *dead*, neither free nor in the program's hands.
//!
//! A dead block has lost its free tag with its page, so the tag can no
//! longer tell a double free of it. The bit does instead: every free of a
//! block that starts on a purged page is a double free. The owner's fast
//! free never sees such a segment (`local` names no heap while a page is
//! purged), and its slow path looks at the bit. A remote free looks at it
//! after its tag swap: a sweep sets the bit first, then clears the dead
//! blocks' tags with release stores (so a swap that reads a cleared tag
//! is followed by a look that sees the bit), and only then does the page
//! go. A revival writes the tags back by atomic swaps before clearing the
//! bit: a remote double free of a dead block racing with it either finds
//! the owner's tag or leaves its own for the owner to find, which then
//! stops the process (see [`Segment::push_remote`]).
//!
//! A refill revives purged pages before it carves the untouched tail
//! ([`Segment::extend`]): their blocks come back on the free list, tagged,
//! and fault in as fresh zero pages when written.
//!
//! A block that starts on a kept page and ends on a purged one stays free
//! on the list: its tail faults back in when the program writes it.

#[cfg(test)]
mod tests;

use core::iter;
use core::ptr::NonNull;

use core::mem::size_of;

use crate::class::Class;
use crate::config::{
  MIN_ALIGN, SEGMENT_SIZE, SWEEP_FREE_DIVISOR, SWEEP_MIN_FREE_PAGES,
};
use crate::fault::Fault;
use crate::manager::page_size;
use crate::sync::{AtomicUsize, Ordering};

use super::{Block, Segment, next_of, place_of, set_next, swap_tag, tag_word};

/// The pages `purged` can name: a segment with more (a page size below
/// `SEGMENT_SIZE / 64`, which Linux never has) is never swept.
const PURGE_MAP_PAGES: usize = u64::BITS as usize;

// A free block's link and tag lie in its first `MIN_ALIGN` bytes, so on
// the page it starts on: a sweep that keeps that page keeps them.
const _: () = assert!(
  MIN_ALIGN >= size_of::<Block>(),
  "a free block's link and tag lie on the page it starts on"
);

impl Segment {
  /// Index of the page `pointer` lies on, in the segment.
  #[inline]
  fn page_index(&self, pointer: NonNull<u8>, page: usize) -> usize {
    (pointer.addr().get() - self.start().addr().get()) / page
  }

  /// Whether the carved block at `pointer` starts on a purged page: a dead
  /// block, on no list (any thread; the owner clears a bit only after the
  /// page's blocks are back on its free list, tagged).
  #[inline]
  pub(super) fn is_purged_block(&self, pointer: NonNull<u8>) -> bool {
    let purged = self.remote.purged.load(Ordering::SeqCst);
    purged != 0 && purged >> self.page_index(pointer, page_size()) & 1 != 0
  }

  /// Whether any page of the segment is purged (owner only).
  pub(crate) fn has_purged(&self) -> bool {
    self.remote.purged.load(Ordering::Relaxed) != 0
  }

  /// Indices of the carved blocks that start on page `index` (pages of
  /// `page` bytes).
  fn blocks_starting_on(
    &self,
    class: &Class,
    index: usize,
    page: usize,
  ) -> (usize, usize) {
    let first = (index * page).saturating_sub(class.area_offset());
    let end = ((index + 1) * page).saturating_sub(class.area_offset());
    let carved = self.carved();
    (
      first.div_ceil(class.size()).min(carved),
      end.div_ceil(class.size()).min(carved),
    )
  }

  /// Blocks that start on purged pages (owner only; for the invariants).
  #[cfg(any(test, debug_assertions))]
  pub(crate) fn dead_blocks(&self) -> usize {
    let class = self.class();
    let page = page_size();
    pages_of(self.remote.purged.load(Ordering::Relaxed))
      .map(|index| {
        let (first, end) = self.blocks_starting_on(class, index, page);
        end - first
      })
      .sum()
  }

  /// Carved blocks not in use: free or dead, what a sweep walks (owner
  /// only).
  pub(crate) fn unused_blocks(&self) -> usize {
    self.carved().saturating_sub(self.used())
  }

  /// Whether a sweep may find pages to give back (owner only, remote
  /// frees collected): enough of the segment is free, and a page's worth
  /// fewer blocks are in use than the most since its last sweep.
  pub(crate) fn sweep_due(&self, page: usize) -> bool {
    let size = self.class().size();
    let used = self.used();
    let free = self.unused_blocks();
    let dropped = used + (page / size).max(1) <= self.swept_used.get() as usize;
    dropped
      && free * size >= SWEEP_MIN_FREE_PAGES * page
      && free * SWEEP_FREE_DIVISOR >= self.carved()
  }

  /// Takes the blocks off the free list that start on pages where every
  /// block is free (or dead already), and marks those pages purged. Returns
  /// the pages newly purged, one bit each: the caller decommits them (only
  /// after this has set their bits, see the module documentation). Owner
  /// only, remote frees collected. A free list that does not look sound
  /// (too long, or naming something other than a carved block) is left
  /// alone, for the paths that report faults to find.
  pub(crate) fn sweep(&self, page: usize) -> u64 {
    let pages = SEGMENT_SIZE / page;
    if pages > PURGE_MAP_PAGES {
      return 0;
    }
    self.swept_used.set(self.used() as u32);
    let Some(free_bytes) = self.free_bytes_per_page(page) else {
      return 0;
    };
    let class = self.class();
    let area_end = class.area_offset() + self.carved() * class.size();
    let purged = self.remote.purged.load(Ordering::Relaxed);
    // Page 0 holds the header.
    let eligible = (1..pages)
      .filter(|&index| {
        let low = (index * page).max(class.area_offset());
        let high = ((index + 1) * page).min(area_end);
        low < high && free_bytes[index] == high - low
      })
      .fold(0_u64, |mask, index| mask | 1 << index);
    let fresh = eligible & !purged;
    if fresh == 0 {
      return 0;
    }
    self.unlink_blocks_on(fresh, page);
    // The bit before the tags go, and both before the page does: see the
    // module documentation.
    self.remote.purged.store(purged | fresh, Ordering::SeqCst);
    self.clear_tags_on(fresh, page);
    self.name_local();
    fresh
  }

  /// Clears the free tags of the blocks that start on the pages of
  /// `pages`, dead now, with release stores (see the module
  /// documentation): whatever becomes of the pages, a dead block's tag
  /// reads zero until its revival.
  fn clear_tags_on(&self, pages: u64, page: usize) {
    let class = self.class();
    for index in pages_of(pages) {
      let (first, end) = self.blocks_starting_on(class, index, page);
      for block in first..end {
        // SAFETY: a dead block's second word, which only racing double
        // frees touch besides us, atomically.
        let word = unsafe { tag_word(self.block_at(class, block)) };
        // SAFETY: as above.
        unsafe { AtomicUsize::from_ptr(word.as_ptr()) }
          .store(0, Ordering::Release);
      }
    }
  }

  /// Bytes of free or dead blocks on each page, if the free list is sound.
  fn free_bytes_per_page(
    &self,
    page: usize,
  ) -> Option<[usize; PURGE_MAP_PAGES]> {
    let class = self.class();
    let size = class.size();
    let start = self.start().addr().get();
    let carved = self.carved();
    let mut bytes = [0; PURGE_MAP_PAGES];
    let mut count = 0;
    let mut cursor = self.free.get();
    while let Some(block) = cursor {
      count += 1;
      let pointer = block.cast::<u8>();
      if count > carved || !self.is_carved_place_owned(place_of_block(block)) {
        return None;
      }
      add_overlap(&mut bytes, pointer.addr().get() - start, size, page);
      // SAFETY: blocks on the owner's free list are free and linked.
      cursor = unsafe { next_of(block) };
    }
    for index in pages_of(self.remote.purged.load(Ordering::Relaxed)) {
      let (first, end) = self.blocks_starting_on(class, index, page);
      for block in first..end {
        add_overlap(&mut bytes, class.area_offset() + block * size, size, page);
      }
    }
    Some(bytes)
  }

  /// Takes the blocks that start on the pages of `pages` off the free
  /// list, keeping the order of the others.
  fn unlink_blocks_on(&self, pages: u64, page: usize) {
    let mut head: Option<NonNull<Block>> = None;
    let mut tail: Option<NonNull<Block>> = None;
    let mut cursor = self.free.get();
    while let Some(block) = cursor {
      // SAFETY: blocks on the owner's free list are free and linked.
      cursor = unsafe { next_of(block) };
      if pages >> self.page_index(block.cast(), page) & 1 != 0 {
        continue;
      }
      match tail {
        // SAFETY: a free block of ours, kept on the list.
        Some(last) => unsafe { set_next(last, Some(block)) },
        None => head = Some(block),
      }
      tail = Some(block);
    }
    if let Some(last) = tail {
      // SAFETY: as above.
      unsafe { set_next(last, None) };
    }
    self.free.set(head);
  }

  /// Puts the blocks of the lowest purged pages back on the free list,
  /// tagged, until one page had a block starting on it (a page inside one
  /// block of a class larger than a page has none). Returns whether any
  /// block came back. Owner only.
  pub(super) fn revive(&self, page: usize) -> bool {
    let class = self.class();
    let tag = self.tag();
    let mut purged = self.remote.purged.load(Ordering::Relaxed);
    let mut revived = false;
    while purged != 0 && !revived {
      let index = purged.trailing_zeros() as usize;
      let (first, end) = self.blocks_starting_on(class, index, page);
      let mut head = self.free.get();
      for block in (first..end).rev() {
        let block = self.block_at(class, block);
        // SAFETY: a dead block: on no list and in no one's hands.
        unsafe { set_next(block, head) };
        // SAFETY: as above; racing double frees swap the tag too.
        if unsafe { swap_tag(block, tag) } == tag {
          // Only a free of the dead block, which is a double free, can
          // have tagged it since the sweep cleared its tag.
          Fault::DoubleFree.report(block.addr().get());
        }
        head = Some(block);
      }
      self.free.set(head);
      revived = end > first;
      purged &= !(1 << index);
      // After the tags: see the module documentation.
      self.remote.purged.store(purged, Ordering::SeqCst);
    }
    self.name_local();
    // The revived blocks are about to be used: the next sweep is due once
    // they and the others have emptied again, whatever the count was.
    self.swept_used.set(u32::MAX);
    revived
  }
}

/// The [`place_of`] a free block.
fn place_of_block(block: NonNull<Block>) -> usize {
  place_of(block.as_ptr().cast())
}

/// The indices of the set bits of `mask`, lowest first.
fn pages_of(mask: u64) -> impl Iterator<Item = usize> {
  let mut rest = mask;
  iter::from_fn(move || {
    if rest == 0 {
      return None;
    }
    let index = rest.trailing_zeros() as usize;
    rest &= rest - 1;
    Some(index)
  })
}

/// Adds the bytes of the block at `offset` (of `size` bytes) to the pages
/// it overlaps.
fn add_overlap(
  bytes: &mut [usize; PURGE_MAP_PAGES],
  offset: usize,
  size: usize,
  page: usize,
) {
  let end = offset + size;
  let mut index = offset / page;
  while index * page < end && index < PURGE_MAP_PAGES {
    let low = (index * page).max(offset);
    let high = ((index + 1) * page).min(end);
    bytes[index] += high - low;
    index += 1;
  }
}
