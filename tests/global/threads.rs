//! Many threads: blocks handed between threads over channels and freed by
//! their receivers, and ten thousand short-lived threads whose blocks are
//! freed after they exit. Both run in a child process, so the counters they
//! read move only with their own work.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use tinyalloc::{Stats, collect, stats};

use crate::support::{KIB, MIB, Rng, fill, holds, uniform};

/// Threads producing blocks.
const PRODUCERS: usize = 3;
/// Threads verifying and freeing them.
const CONSUMERS: usize = 3;
/// Blocks each producer sends.
const PARCELS_PER_PRODUCER: usize = 1500;
/// Smallest block sent.
const MIN_PARCEL: usize = 16;
/// Largest block sent.
const MAX_PARCEL: usize = MIB;
/// Parcels a channel holds before its producer waits: bounds the memory
/// in flight.
const CHANNEL_BOUND: usize = 16;
/// Blocks at most this big are surely small blocks (the small classes go
/// up to 8 KiB), so freeing one on another thread is a cross-thread free.
const SURELY_SMALL: usize = 4 * KIB;
/// How far live bytes may end from where they started: what the harness
/// and the thread machinery keep, far below the hundreds of MiB moved.
const LIVE_SLACK: usize = 64 * KIB;
/// How far allocations may outnumber frees at the end, for the same
/// reason.
const COUNT_SLACK: u64 = 64;

/// The three kinds of block sent, each patterned after the parcel's id.
enum Payload {
  /// Bytes in the [`fill`] pattern.
  Bytes(Vec<u8>),
  /// Words all equal to the id.
  Words(Box<[u64]>),
  /// One letter repeated.
  Text(String),
}

/// A block with the id its pattern derives from.
struct Parcel {
  id: u64,
  payload: Payload,
}

impl Parcel {
  /// A parcel of `size` bytes whose kind and pattern follow `id`.
  fn new(id: u64, size: usize) -> Self {
    let payload = match id % 3 {
      0 => {
        let mut bytes = vec![0; size];
        fill(&mut bytes, id);
        Payload::Bytes(bytes)
      }
      1 => Payload::Words(vec![id; size / size_of::<u64>()].into()),
      _ => Payload::Text(letter(id).to_string().repeat(size)),
    };
    Self { id, payload }
  }

  /// True if the payload still holds its pattern.
  fn intact(&self) -> bool {
    match &self.payload {
      Payload::Bytes(bytes) => holds(bytes, self.id),
      Payload::Words(words) => {
        words.first() == Some(&self.id)
          && words[1..] == words[..words.len() - 1]
      }
      Payload::Text(text) => uniform(text.as_bytes(), letter(self.id) as u8),
    }
  }

  /// Bytes of the payload's block.
  fn size(&self) -> usize {
    match &self.payload {
      Payload::Bytes(bytes) => bytes.len(),
      Payload::Words(words) => size_of_val(&**words),
      Payload::Text(text) => text.len(),
    }
  }
}

/// The letter a text parcel repeats.
fn letter(id: u64) -> char {
  char::from(b'a' + (id % 26) as u8)
}

/// What a consumer saw.
#[derive(Debug, Default)]
struct Received {
  parcels: usize,
  surely_small: u64,
  bytes: usize,
}

/// Sends this producer's parcels round-robin to the consumers.
fn produce(producer: usize, consumers: Vec<SyncSender<Parcel>>) {
  let mut rng = Rng::new(producer as u64);
  for index in 0..PARCELS_PER_PRODUCER {
    let id = (producer * PARCELS_PER_PRODUCER + index) as u64;
    let parcel = Parcel::new(id, rng.log_uniform(MIN_PARCEL, MAX_PARCEL));
    let consumer = &consumers[index % consumers.len()];
    consumer.send(parcel).expect("the consumer waits");
  }
}

/// Verifies and frees every parcel sent to this consumer.
fn consume(parcels: Receiver<Parcel>) -> Received {
  let mut received = Received::default();
  for parcel in parcels {
    assert!(parcel.intact(), "parcel {} arrives intact", parcel.id);
    received.parcels += 1;
    received.bytes += parcel.size();
    received.surely_small += u64::from(parcel.size() <= SURELY_SMALL);
  }
  received
}

/// Runs the producers and consumers; returns what the consumers saw.
fn exchange() -> Received {
  let (senders, receivers): (Vec<_>, Vec<_>) =
    (0..CONSUMERS).map(|_| sync_channel(CHANNEL_BOUND)).unzip();
  let consumers: Vec<JoinHandle<Received>> = receivers
    .into_iter()
    .map(|parcels| thread::spawn(move || consume(parcels)))
    .collect();
  let producers: Vec<JoinHandle<()>> = (0..PRODUCERS)
    .map(|producer| {
      let senders = senders.clone();
      thread::spawn(move || produce(producer, senders))
    })
    .collect();
  drop(senders);
  producers
    .into_iter()
    .for_each(|p| p.join().expect("producer ends"));
  consumers
    .into_iter()
    .map(|c| c.join().expect("consumer ends"))
    .fold(Received::default(), |total, part| Received {
      parcels: total.parcels + part.parcels,
      surely_small: total.surely_small + part.surely_small,
      bytes: total.bytes + part.bytes,
    })
}

/// Asserts that live bytes and the block count came back to `start`.
fn assert_returned(start: &Stats, end: &Stats) {
  let live = end.live_bytes().abs_diff(start.live_bytes());
  assert!(live <= LIVE_SLACK, "live bytes moved by {live}: {end:?}");
  let allocations = end.allocations() - start.allocations();
  let frees = end.frees() - start.frees();
  assert!(
    allocations.abs_diff(frees) <= COUNT_SLACK,
    "{allocations} allocations against {frees} frees",
  );
}

isolated_test! {
  fn parcels_freed_by_their_receivers_are_cross_thread_frees() {
    let start = stats();
    let received = exchange();
    let end = stats();
    assert_eq!(received.parcels, PRODUCERS * PARCELS_PER_PRODUCER);
    let cross = end.cross_thread_frees() - start.cross_thread_frees();
    assert!(
      cross >= received.surely_small,
      "{cross} cross-thread frees, but {} small parcels crossed",
      received.surely_small,
    );
    assert!(received.bytes > PRODUCERS * PARCELS_PER_PRODUCER * MIN_PARCEL);
    assert_returned(&start, &end);
  }
}

/// Short-lived threads started in all.
const THREADS: usize = 10_000;
/// Threads alive at once.
const BATCH: usize = 100;
/// Small blocks every thread allocates, one per size, each of its own
/// class.
const SMALL_SIZES: [usize; 5] = [24, 200, 1000, 3000, 7000];
/// Every this many threads one also allocates a large block.
const LARGE_EVERY: usize = 10;
/// The large block's size: a few segments.
const LARGE_SIZE: usize = 300 * KIB;
/// The segment size of the design: a thread holding a block of a class
/// holds a segment of it. The bounds below stay valid with smaller ones.
const DESIGN_SEGMENT: usize = 128 * KIB;
/// The arena size of the design: the granule of address space reserved.
const DESIGN_ARENA: usize = 64 * MIB;
/// Memory a thread may pin: a segment per small class, plus its large
/// block rounded up to segments with one more for its header.
const THREAD_FOOTPRINT: usize = SMALL_SIZES.len() * DESIGN_SEGMENT
  + LARGE_SIZE.next_multiple_of(DESIGN_SEGMENT)
  + DESIGN_SEGMENT;
/// Mapped bytes allowed: two batches' footprints (the threads running and
/// the abandoned heaps they adopt), rounded up to an arena, plus an arena
/// for the harness. Without heap reuse it would take THREADS footprints.
const MAPPED_BOUND: usize =
  (2 * BATCH * THREAD_FOOTPRINT).next_multiple_of(DESIGN_ARENA) + DESIGN_ARENA;
/// Heaps allowed: the threads of a batch and those of the harness, twice
/// over. Without adoption it would be [`THREADS`].
const HEAP_BOUND: usize = 2 * BATCH;
/// Committed bytes allowed after everything is freed and collected: a
/// handful of segments per heap still cached, far below a batch's use.
const COLLECTED_SLACK: usize = 8 * MIB;

/// Blocks with the ids of their patterns.
type Blocks = Vec<(u64, Box<[u8]>)>;

/// The blocks thread `thread` allocates, each patterned after its own id.
fn thread_blocks(thread: usize) -> Blocks {
  let large = thread.is_multiple_of(LARGE_EVERY).then_some(LARGE_SIZE);
  let sizes = SMALL_SIZES.into_iter().chain(large);
  sizes
    .enumerate()
    .map(|(index, size)| {
      let id = (thread * (SMALL_SIZES.len() + 1) + index) as u64;
      let mut block = vec![0; size].into_boxed_slice();
      fill(&mut block, id);
      (id, block)
    })
    .collect()
}

/// Runs threads `first..first + BATCH` to their end and returns their
/// blocks.
fn run_batch(first: usize) -> Blocks {
  let threads: Vec<JoinHandle<Blocks>> = (first..first + BATCH)
    .map(|thread| thread::spawn(move || thread_blocks(thread)))
    .collect();
  threads
    .into_iter()
    .flat_map(|thread| thread.join().expect("the thread ends"))
    .collect()
}

/// The largest heap count, mapped and committed bytes seen.
#[derive(Debug, Default)]
struct Peaks {
  heaps: usize,
  mapped: usize,
  committed: usize,
}

impl Peaks {
  /// Takes `stats` into account.
  fn see(&mut self, stats: &Stats) {
    assert!(stats.committed_bytes() <= stats.mapped_bytes(), "{stats:?}");
    self.heaps = self.heaps.max(stats.heaps());
    self.mapped = self.mapped.max(stats.mapped_bytes());
    self.committed = self.committed.max(stats.committed_bytes());
  }
}

isolated_test! {
  fn ten_thousand_short_lived_threads_reuse_their_heaps() {
    let start = stats();
    let mut peaks = Peaks::default();
    for first in (0..THREADS).step_by(BATCH) {
      let blocks = run_batch(first);
      peaks.see(&stats());
      for (id, block) in blocks {
        assert!(holds(&block, id), "block {id} outlives its thread intact");
      }
    }
    collect();
    let end = stats();
    assert!(peaks.heaps <= HEAP_BOUND, "{peaks:?}");
    assert!(peaks.mapped <= MAPPED_BOUND, "{peaks:?} > {MAPPED_BOUND}");
    let collected = start.committed_bytes() + COLLECTED_SLACK;
    assert!(end.committed_bytes() <= collected, "{end:?} after {peaks:?}");
    assert_returned(&start, &end);
  }
}
