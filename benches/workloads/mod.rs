//! Allocation workloads shared by the four allocator bench binaries.
//!
//! A global allocator is chosen per binary, so each of `alloc_tinyalloc`,
//! `alloc_system`, `alloc_mimalloc` and `alloc_jemalloc` sets its
//! `#[global_allocator]` and includes this module. Run with
//! `--workload NAME [--scale S]`, a binary runs one workload once and prints
//! one CSV line (`name,seconds,cpu_seconds,peak_kb,final_kb,checksum`):
//! that is what
//! `bench/run.py` alternates across allocators. Run by `cargo bench`, it
//! times every workload at a small scale with criterion instead.

mod aligned;
mod churn;
mod falseshare;
mod fragment;
mod larson;
mod mixed;
mod prodcon;
mod realloc;
mod threads;
mod trees;

use std::env;
use std::fs;
use std::hint::black_box;
use std::mem::{self, MaybeUninit};
use std::process;
use std::time::{Duration, Instant};

use criterion::Criterion;
use libc::{RUSAGE_SELF, getrusage, rusage, timeval};

/// One workload: its name and its body, which takes a scale factor and
/// returns a checksum so that the optimiser keeps the work.
struct Workload {
  /// The name used on the command line and in the tables.
  name: &'static str,
  /// The body.
  run: fn(f64) -> u64,
}

/// Every workload, in table order.
const WORKLOADS: [Workload; 10] = [
  Workload {
    name: "churn",
    run: churn::run,
  },
  Workload {
    name: "prodcon",
    run: prodcon::run,
  },
  Workload {
    name: "larson",
    run: larson::run,
  },
  Workload {
    name: "trees",
    run: trees::run,
  },
  Workload {
    name: "realloc",
    run: realloc::run,
  },
  Workload {
    name: "mixed",
    run: mixed::run,
  },
  Workload {
    name: "aligned",
    run: aligned::run,
  },
  Workload {
    name: "threads",
    run: threads::run,
  },
  Workload {
    name: "falseshare",
    run: falseshare::run,
  },
  Workload {
    name: "fragment",
    run: fragment::run,
  },
];

/// The scale `cargo bench` uses: criterion repeats each body many times.
const CRITERION_SCALE: f64 = 0.02;
/// Criterion samples per workload: the bodies are long, so few suffice.
const CRITERION_SAMPLES: usize = 10;
/// Criterion's measuring time per workload.
const CRITERION_MEASURE: Duration = Duration::from_secs(3);
/// Criterion's warm-up time per workload.
const CRITERION_WARM_UP: Duration = Duration::from_millis(500);

/// A kibibyte, the unit of `/proc/self/status`.
const KIB: usize = 1024;

/// Runs the bench binary for the allocator called `allocator`.
pub(crate) fn main(allocator: &str) {
  let args: Vec<String> = env::args().collect();
  match flag_value(&args, "--workload") {
    Some(name) => run_one(&name, scale_arg(&args)),
    None => run_criterion(allocator),
  }
}

/// The value after `flag` on the command line.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
  let at = args.iter().position(|arg| arg == flag)?;
  args.get(at + 1).cloned()
}

/// The `--scale` factor, 1 by default.
fn scale_arg(args: &[String]) -> f64 {
  flag_value(args, "--scale").map_or(1.0, |value| {
    value
      .parse()
      .unwrap_or_else(|_| usage("--scale takes a number"))
  })
}

/// Prints `message` and the usage line, then exits with failure.
fn usage(message: &str) -> ! {
  let names: Vec<&str> =
    WORKLOADS.iter().map(|w| w.name).chain([IDLE]).collect();
  eprintln!("{message}");
  eprintln!("usage: --workload <{}> [--scale S]", names.join("|"));
  process::exit(2)
}

/// The pseudo-workload that does nothing: its peak RSS is the binary's own
/// start-up footprint (code, the C and Rust runtimes, the allocator's
/// first steps), which the tables show beside the workloads.
const IDLE: &str = "idle";

/// Runs workload `name` once and prints its CSV line.
fn run_one(name: &str, scale: f64) {
  let run = if name == IDLE {
    |_| 0
  } else {
    WORKLOADS
      .iter()
      .find(|w| w.name == name)
      .unwrap_or_else(|| usage("unknown workload"))
      .run
  };
  let start = Instant::now();
  let cpu_start = cpu_seconds();
  let checksum = run(scale);
  let seconds = start.elapsed().as_secs_f64();
  let cpu = cpu_seconds() - cpu_start;
  let (peak, current) = memory_kb();
  let final_kb = fragment::last_final_kb().unwrap_or(current);
  println!("{name},{seconds:.6},{cpu:.6},{peak},{final_kb},{checksum}");
}

/// User plus system time of the whole process so far, in seconds: less
/// sensitive than wall time to other work on a shared machine.
fn cpu_seconds() -> f64 {
  let mut usage = MaybeUninit::<rusage>::zeroed();
  // SAFETY: `usage` is a writable rusage; RUSAGE_SELF is a valid target.
  if unsafe { getrusage(RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
    return 0.0;
  }
  // SAFETY: getrusage filled `usage` (and zeroed() made it valid anyway).
  let usage = unsafe { usage.assume_init() };
  timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime)
}

/// Microseconds in a second, the unit of `timeval::tv_usec`.
const MICROS_PER_SECOND: f64 = 1e6;

/// A `timeval` in seconds.
fn timeval_seconds(time: timeval) -> f64 {
  time.tv_sec as f64 + time.tv_usec as f64 / MICROS_PER_SECOND
}

/// Times every workload with criterion at a small scale.
fn run_criterion(allocator: &str) {
  let mut criterion = Criterion::default()
    .sample_size(CRITERION_SAMPLES)
    .measurement_time(CRITERION_MEASURE)
    .warm_up_time(CRITERION_WARM_UP)
    .configure_from_args();
  let mut group = criterion.benchmark_group(allocator);
  for workload in &WORKLOADS {
    group.bench_function(workload.name, |bencher| {
      bencher.iter(|| black_box((workload.run)(black_box(CRITERION_SCALE))));
    });
  }
  group.finish();
  criterion.final_summary();
}

/// Peak and current resident set size in KiB (`VmHWM`, `VmRSS`).
pub(crate) fn memory_kb() -> (usize, usize) {
  let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
  (
    status_field(&status, "VmHWM:"),
    status_field(&status, "VmRSS:"),
  )
}

/// The number after `key` in `/proc/self/status`, in KiB.
fn status_field(status: &str, key: &str) -> usize {
  status
    .lines()
    .find_map(|line| line.strip_prefix(key))
    .and_then(|rest| rest.split_whitespace().next())
    .and_then(|value| value.parse().ok())
    .unwrap_or(0)
}

/// `base` scaled by `scale`, at least 1.
pub(crate) fn scaled(base: usize, scale: f64) -> usize {
  let count = (base as f64 * scale).round() as usize;
  count.max(1)
}

/// A small, fast, deterministic generator (xorshift64*), so that every
/// allocator sees the same sequence of sizes and slots.
pub(crate) struct Rng {
  /// The generator's state, never zero.
  state: u64,
}

/// The multiplier of xorshift64*.
const XORSHIFT_MULTIPLIER: u64 = 0x2545_f491_4f6c_dd1d;

impl Rng {
  /// A generator seeded with `seed` (a zero seed is replaced).
  pub(crate) fn new(seed: u64) -> Self {
    Self { state: seed | 1 }
  }

  /// The next 64 random bits.
  pub(crate) fn next(&mut self) -> u64 {
    self.state ^= self.state >> 12;
    self.state ^= self.state << 25;
    self.state ^= self.state >> 27;
    self.state.wrapping_mul(XORSHIFT_MULTIPLIER)
  }

  /// A number in `low..high`.
  pub(crate) fn range(&mut self, low: usize, high: usize) -> usize {
    let span = (high - low) as u64;
    low + usize::try_from(self.next() % span).unwrap_or(0)
  }

  /// A size in `low..high` with a log-uniform distribution, the usual shape
  /// of real programs' block sizes.
  pub(crate) fn log_size(&mut self, low: usize, high: usize) -> usize {
    let low_bits = low.ilog2();
    let high_bits = high.ilog2();
    let bits = self.range(low_bits as usize, high_bits as usize);
    let base = 1_usize << bits;
    self.range(base, (base << 1).min(high))
  }
}

/// The table-replacement loop of `churn` and `mixed`: `replacements`
/// times, a random slot of `slots` gets a fresh block of a size drawn by
/// `size` and filled by `make`; the checksum adds the capacities replaced.
pub(crate) fn replace_slots(
  rng: &mut Rng,
  slots: usize,
  replacements: usize,
  size: impl Fn(&mut Rng) -> usize,
  make: impl Fn(usize, u8) -> Vec<u8>,
) -> u64 {
  let mut table: Vec<Vec<u8>> = (0..slots).map(|_| Vec::new()).collect();
  let mut checksum = 0_u64;
  for round in 0..replacements {
    let slot = rng.range(0, slots);
    let fresh = make(size(rng), round.to_le_bytes()[0]);
    let old = mem::replace(&mut table[slot], fresh);
    checksum = checksum.wrapping_add(old.capacity() as u64);
  }
  checksum
}

/// A heap block of `size` bytes with its first and last byte written, so
/// that its memory is touched like a real program's would be.
pub(crate) fn block(size: usize, fill: u8) -> Vec<u8> {
  let mut bytes = Vec::with_capacity(size);
  bytes.push(fill);
  if let Some(last) = bytes.spare_capacity_mut().last_mut() {
    last.write(fill);
  }
  bytes
}

/// A heap block of `size` bytes with one byte written on each page, so
/// that all its pages are resident.
pub(crate) fn touched_block(size: usize, fill: u8) -> Vec<u8> {
  let mut bytes = Vec::with_capacity(size);
  bytes.push(fill);
  for byte in bytes.spare_capacity_mut().iter_mut().step_by(PAGE) {
    byte.write(fill);
  }
  bytes
}

/// The page granularity at which `touched_block` writes (4 KiB on every
/// target we measure on; a larger real page only touches more bytes).
const PAGE: usize = 4 * KIB;
