//! TinyAlloc serving a real multi-threaded program: the two lines below make
//! it the global allocator, and everything after them is ordinary Rust.
//!
//! The program generates a text whose word counts are known by
//! construction, counts it on every core (chunks go out and partial
//! `HashMap`s come back over channels), merges and sorts the counts, fills
//! and checks big buffers on the workers and frees them on the main thread,
//! verifies every result, and prints a summary with `tinyalloc::stats()`.
//!
//! Run it with `cargo run --release --example global`.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::{self, available_parallelism};
use std::time::{Duration, Instant};

use tinyalloc::{Stats, TinyAlloc, collect, stats};

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

/// Distinct words in the text.
const VOCABULARY: usize = 50_000;
/// Word counts cycle through `1..=COUNT_CYCLE`: about two million words.
const COUNT_CYCLE: usize = 80;
/// Multiplier scattering the counts over the words: prime, so counts and
/// word numbers do not line up.
const COUNT_SCATTER: usize = 7919;
/// Word lengths vary with the word number modulo this, so the strings span
/// several size classes.
const LENGTH_CYCLE: usize = 13;
/// Chunks the text is cut into: several per worker, so the faster workers
/// take more.
const CHUNKS: usize = 64;
/// Big buffers filled by the workers.
const BUFFERS: usize = 8;
/// Bytes in each big buffer: past the huge-block threshold.
const BUFFER_SIZE: usize = 48 << 20;
/// Bytes in a MiB, for the summary.
const MIB: f64 = (1 << 20) as f64;
/// Words shown in the summary.
const TOP_WORDS: usize = 5;
/// Seed of the text's shuffle.
const SEED: u64 = 0x7469_6e79;
/// SplitMix64's increment.
const SPLITMIX_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
/// SplitMix64's first finaliser multiplier.
const SPLITMIX_MUL1: u64 = 0xbf58_476d_1ce4_e5b9;
/// SplitMix64's second finaliser multiplier.
const SPLITMIX_MUL2: u64 = 0x94d0_49bb_1331_11eb;

/// Word counts by word.
type Counts = HashMap<String, usize>;

/// A small deterministic random generator (SplitMix64).
struct Rng {
  state: u64,
}

impl Rng {
  /// A value in `0..bound`.
  fn below(&mut self, bound: usize) -> usize {
    self.state = self.state.wrapping_add(SPLITMIX_GAMMA);
    let mut value = self.state;
    value = (value ^ (value >> 30)).wrapping_mul(SPLITMIX_MUL1);
    value = (value ^ (value >> 27)).wrapping_mul(SPLITMIX_MUL2);
    ((value ^ (value >> 31)) % bound as u64) as usize
  }
}

/// The text of word `number`: letters spelling the number, then a varying
/// tail of `z` (the spelling never ends in `z`, so words are distinct).
fn word(number: usize) -> String {
  let mut text = String::new();
  let mut rest = number;
  loop {
    text.push(char::from(b'a' + (rest % 25) as u8));
    rest /= 25;
    if rest == 0 {
      break;
    }
  }
  text.push_str(&"z".repeat(number % LENGTH_CYCLE));
  text
}

/// How many times word `number` occurs in the text.
fn count(number: usize) -> usize {
  1 + number * COUNT_SCATTER % COUNT_CYCLE
}

/// The text: every word as often as [`count`] says, shuffled, one space
/// between words.
fn generate_text() -> String {
  let mut words: Vec<String> = (0..VOCABULARY)
    .flat_map(|number| vec![word(number); count(number)])
    .collect();
  let mut rng = Rng { state: SEED };
  for index in (1..words.len()).rev() {
    words.swap(index, rng.below(index + 1));
  }
  words.join(" ")
}

/// `text` cut into `parts` owned chunks at spaces.
fn split(text: &str, parts: usize) -> Vec<String> {
  let mut chunks = Vec::with_capacity(parts);
  let mut rest = text;
  for part in (1..=parts).rev() {
    let cut = rest.len() / part;
    let end = rest[cut..].find(' ').map_or(rest.len(), |at| cut + at);
    let (chunk, tail) = rest.split_at(end);
    chunks.push(chunk.to_owned());
    rest = tail;
  }
  chunks
}

/// Counts the words of `text`.
fn count_words(text: &str) -> Counts {
  let mut counts = Counts::new();
  for word in text.split_whitespace() {
    *counts.entry(word.to_owned()).or_insert(0) += 1;
  }
  counts
}

/// A worker: counts the chunks it takes from the shared queue and sends
/// each partial count back.
fn worker(chunks: Arc<Mutex<Receiver<String>>>, counts: Sender<Counts>) {
  loop {
    let chunk = chunks.lock().expect("queue lock").recv();
    let Ok(chunk) = chunk else { return };
    counts
      .send(count_words(&chunk))
      .expect("the main thread listens");
  }
}

/// Counts `text` on `workers` threads and merges their counts.
fn count_in_parallel(text: &str, workers: usize) -> Counts {
  let (chunk_sender, chunk_receiver) = channel();
  let (count_sender, count_receiver) = channel();
  let chunks = Arc::new(Mutex::new(chunk_receiver));
  let handles: Vec<_> = (0..workers)
    .map(|_| {
      let (chunks, counts) = (Arc::clone(&chunks), count_sender.clone());
      thread::spawn(move || worker(chunks, counts))
    })
    .collect();
  drop(count_sender);
  for chunk in split(text, CHUNKS) {
    chunk_sender.send(chunk).expect("a worker listens");
  }
  drop(chunk_sender);
  let mut total = Counts::new();
  for part in count_receiver {
    for (word, count) in part {
      *total.entry(word).or_insert(0) += count;
    }
  }
  handles
    .into_iter()
    .for_each(|h| h.join().expect("worker ends"));
  total
}

/// Asserts that `counts` are exactly the counts the text was built with.
fn verify_counts(counts: &Counts) {
  assert_eq!(counts.len(), VOCABULARY, "every word counted");
  for number in 0..VOCABULARY {
    assert_eq!(counts.get(&word(number)), Some(&count(number)));
  }
}

/// The words by falling count, ties in alphabetical order.
fn sort_by_count(counts: Counts) -> Vec<(String, usize)> {
  let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
  sorted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
  sorted
}

/// Asserts the sort: falling counts, and the expected top words.
fn verify_sorted(sorted: &[(String, usize)]) {
  assert!(sorted.windows(2).all(|pair| pair[0].1 >= pair[1].1));
  let mut top: Vec<String> = (0..VOCABULARY)
    .filter(|number| count(*number) == COUNT_CYCLE)
    .map(word)
    .collect();
  top.sort_unstable();
  let found: Vec<&String> = sorted.iter().map(|entry| &entry.0).collect();
  assert!(found.iter().zip(&top).all(|(a, b)| *a == b), "top words");
}

/// The byte buffer `index` is filled with.
fn buffer_byte(index: usize) -> u8 {
  (index as u8).wrapping_mul(37) | 1
}

/// Fills big buffers on `workers` threads, sends them to this thread,
/// checks and frees them here; returns the bytes moved.
fn big_buffers(workers: usize) -> usize {
  let (sender, receiver) = channel::<(usize, Vec<u8>)>();
  thread::scope(|scope| {
    for first in 0..workers {
      let sender = sender.clone();
      scope.spawn(move || {
        for index in (first..BUFFERS).step_by(workers) {
          let buffer = vec![buffer_byte(index); BUFFER_SIZE];
          sender
            .send((index, buffer))
            .expect("the main thread listens");
        }
      });
    }
    drop(sender);
    let mut moved = 0;
    for (index, buffer) in receiver {
      assert!(buffer.iter().all(|byte| *byte == buffer_byte(index)));
      moved += buffer.len();
    }
    assert_eq!(moved, BUFFERS * BUFFER_SIZE, "every buffer arrived");
    moved
  })
}

/// Seconds in `duration`, for the summary.
fn secs(duration: Duration) -> f64 {
  duration.as_secs_f64()
}

/// Prints the allocator's counters.
fn print_stats(title: &str, stats: &Stats) {
  println!("{title}");
  println!(
    "  live {:.1} MiB, {} allocations, {} frees, {} cross-thread frees",
    stats.live_bytes() as f64 / MIB,
    stats.allocations(),
    stats.frees(),
    stats.cross_thread_frees(),
  );
  println!(
    "  mapped {:.1} MiB, committed {:.1} MiB, {} segments, {} arenas, \
     {} heaps, {} purges",
    stats.mapped_bytes() as f64 / MIB,
    stats.committed_bytes() as f64 / MIB,
    stats.segments(),
    stats.arenas(),
    stats.heaps(),
    stats.purges(),
  );
}

fn main() {
  let workers = available_parallelism().map_or(2, usize::from);
  let started = Instant::now();
  let text = generate_text();
  let words = text.split(' ').count();
  println!(
    "text: {words} words, {VOCABULARY} distinct, {:.1} MiB, made in {:.2} s",
    text.len() as f64 / MIB,
    secs(started.elapsed()),
  );

  let counting = Instant::now();
  let counts = count_in_parallel(&text, workers);
  verify_counts(&counts);
  println!(
    "counted on {workers} threads in {:.2} s: every count right",
    secs(counting.elapsed()),
  );

  let sorted = sort_by_count(counts);
  verify_sorted(&sorted);
  let top: Vec<String> = sorted[..TOP_WORDS]
    .iter()
    .map(|(word, count)| format!("{word} ({count})"))
    .collect();
  println!("most frequent: {}", top.join(", "));

  let buffers = Instant::now();
  let moved = big_buffers(workers);
  println!(
    "big buffers: {BUFFERS} x {} MiB filled on the workers, checked and \
     freed on the main thread in {:.2} s ({:.0} MiB)",
    BUFFER_SIZE >> 20,
    secs(buffers.elapsed()),
    moved as f64 / MIB,
  );

  drop((text, sorted));
  print_stats("tinyalloc::stats() at the end:", &stats());
  collect();
  print_stats("after tinyalloc::collect():", &stats());
  println!("all results verified in {:.2} s", secs(started.elapsed()));
}
