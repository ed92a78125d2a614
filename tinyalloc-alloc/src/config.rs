//! The engine's design knobs and the facts derived from them.
//!
//! Only the shifts are chosen; every other size follows from them and is
//! checked at compile time, so a change to a knob cannot leave the layout
//! inconsistent.

use core::mem::align_of;
use libc::max_align_t;

/// log2 of the segment size. 128 KiB holds at least
/// [`MIN_BLOCKS_PER_SEGMENT`] blocks of the largest small class, and is small
/// enough that a thread touching one block of a class pins little memory.
pub(crate) const SEGMENT_SHIFT: u32 = 17;
/// Bytes in a segment: the unit of arena occupancy and of header lookup.
pub(crate) const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
/// Low bits of an address inside its segment.
pub(crate) const SEGMENT_MASK: usize = SEGMENT_SIZE - 1;

/// log2 of the arena size: 64 MiB, the original design's arena.
pub(crate) const ARENA_SHIFT: u32 = 26;
/// Bytes in an arena, which is also the granule of the ownership map.
pub(crate) const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Low bits of an address inside its arena.
pub(crate) const ARENA_MASK: usize = ARENA_SIZE - 1;
/// Segments an arena is carved into; the first holds the arena header.
pub(crate) const SEGMENTS_PER_ARENA: usize = ARENA_SIZE / SEGMENT_SIZE;

/// Alignment of every `malloc` result: the C `max_align_t`.
pub(crate) const MIN_ALIGN: usize = align_of::<max_align_t>();
/// log2 of [`MIN_ALIGN`], for the class lookup index.
pub(crate) const MIN_ALIGN_SHIFT: u32 = MIN_ALIGN.trailing_zeros();

/// log2 of how many of the largest small blocks a segment spans: the
/// largest small block is a sixteenth of a segment, so a segment loses at
/// most one sixteenth (6.25%) to its header and tail.
pub(crate) const SMALL_SHIFT: u32 = 4;
/// The largest small block; larger requests get a span of their own.
pub(crate) const SMALL_MAX: usize = SEGMENT_SIZE >> SMALL_SHIFT;
/// Blocks every small segment holds at least: all sixteenths of the largest
/// class but the one the header takes.
#[cfg(test)]
pub(crate) const MIN_BLOCKS_PER_SEGMENT: usize = (1 << SMALL_SHIFT) - 1;

/// log2 of the number of classes per doubling of the size. Eight steps keep
/// the worst internal waste of a class at one eighth (12.5%).
pub(crate) const CLASS_STEPS_SHIFT: u32 = 3;
/// Classes per doubling of the size.
pub(crate) const CLASS_STEPS: usize = 1 << CLASS_STEPS_SHIFT;

/// Virtual address bits of user space on the 64-bit targets we support
/// (x86-64 with 4-level paging, AArch64 with 48-bit VA). Pointers above are
/// never ours.
pub(crate) const ADDRESS_BITS: u32 = 48;
/// Entries in the ownership map: one per arena-sized granule.
pub(crate) const GRANULES: usize = 1 << (ADDRESS_BITS - ARENA_SHIFT);

/// A large span may take at most this many segments of an arena; beyond it a
/// block gets its own mapping, so one block never fills an arena.
pub(crate) const LARGE_MAX_SEGMENTS: usize = SEGMENTS_PER_ARENA >> 1;

/// Largest alignment served inside an arena. An arena has eight aligned
/// starts for it, so one is usually free; beyond it a mapping of its own
/// wastes less than a scan.
pub(crate) const LARGE_ALIGN_MAX: usize = ARENA_SIZE / 8;

/// Empty arenas kept committed as a reserve before their pages are purged
/// at once; a program that frees everything and allocates again keeps its
/// first arena warm.
pub(crate) const ARENA_RESERVE: usize = 1;

/// Default delay, in milliseconds, between two purge checks of an arena: a
/// segment free across two checks gives its pages back to the OS
/// (`TINYALLOC_PURGE_DELAY_MS` overrides it). mimalloc's default delay is
/// 10 ms; a short delay keeps a free/alloc burst from paying a page fault
/// per segment.
pub(crate) const DEFAULT_PURGE_DELAY_MS: u64 = 10;

/// Most bytes of freed segments that may wait for the purge delay: when a
/// release takes the total above it, every arena is purged at once. One
/// arena's worth: programs whose freed memory stays below it (most, and
/// every steady reuse pattern we measure) never see it, while one that
/// frees hundreds of megabytes and then stops calling the allocator keeps
/// at most this much instead of all of it.
pub(crate) const MAX_WAITING_BYTES: usize = ARENA_SIZE;

/// Empty heaps the pool of exited threads' heaps keeps whole, ready for
/// new threads; beyond them, an empty heap waiting there gives back the
/// pages of its size tables (the second of its two pages). A program that
/// starts and ends a few threads in turn never trims; one that ran a burst
/// of thousands keeps 4 KiB per heap instead of 8.
pub(crate) const WARM_POOL_HEAPS: usize = 8;

/// Pages past its header's that a small segment given back by an exiting
/// thread's heap may keep resident when another heap claims it: beyond
/// them, its old pages are given back (see `give_back_cold_pages`). Eight
/// spares the segments a short-lived thread touched for a few blocks per
/// class (`threads`: giving back from three pages up cost it 35% in time,
/// from two pages up 200%) and catches the larger ones that kept `larson`
/// about 2 MiB above glibc.
pub(crate) const COLD_REUSE_KEPT_PAGES: usize = 8;

/// Dirty segments a claim for a small class looks through, lowest first,
/// for one that class last used, before it takes the lowest free segment:
/// enough to find one in a heap's worth of recently retired segments,
/// few enough that a claim reads a handful of header lines.
pub(crate) const SAME_CLASS_SCAN: usize = 32;

/// Longest full list a refill looks through for remote frees before it
/// carves a page (a longer one only when no page is left to carve): the
/// look reads every full segment's remote list, and a heap holding
/// thousands of full segments while other threads free a block now and
/// then would pay it for every page.
pub(crate) const REVIVE_BEFORE_CARVE_MAX: usize = 32;

/// A small segment is worth a sweep (see `segment/sweep.rs`) only if its
/// free blocks hold at least this many pages' worth of bytes: below it, a
/// sweep would rarely find a whole free page, and the system call costs
/// more than the page saves.
pub(crate) const SWEEP_MIN_FREE_PAGES: usize = 4;

/// ... and only if at least one in this many of its carved blocks is
/// free: a dense segment seldom has a page without a block in use.
pub(crate) const SWEEP_FREE_DIVISOR: usize = 2;

/// Free blocks the sweep a heap makes before claiming a fresh segment may
/// walk (a sweep reads a segment's whole free list): enough for dozens of
/// sparse segments per claim, few enough that a claim in a heap of
/// thousands of sparse segments of one class stays well under a
/// millisecond. `collect()` walks them all.
pub(crate) const SWEEP_BUDGET_BLOCKS: usize = 1 << 16;

/// Free blocks an aligned request looks through in a class only some of
/// whose blocks are aligned (one in two or in four): each step is likely
/// a cache miss, and a request that finds none takes the class whose
/// blocks are all aligned. Four found nearly as many as sixteen on
/// `aligned` (peak 10.7 against 10.5 MiB) at 30% more time instead of 60%.
pub(crate) const LOOSE_ALIGN_STEPS: usize = 4;

/// Nanoseconds per millisecond, for the purge clock.
pub(crate) const NANOS_PER_MILLI: u64 = 1_000_000;

const _: () = assert!(SEGMENT_SHIFT < ARENA_SHIFT);
const _: () = assert!(MIN_ALIGN.is_power_of_two());
const _: () = assert!(SMALL_MAX.is_power_of_two());
const _: () = assert!(SMALL_MAX >= MIN_ALIGN << CLASS_STEPS_SHIFT);
const _: () = assert!(LARGE_MAX_SEGMENTS < SEGMENTS_PER_ARENA);
