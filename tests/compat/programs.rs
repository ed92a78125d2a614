//! Real programs under `LD_PRELOAD`, each compared with its own output on
//! the system allocator. Each scenario prints `tinyalloc-loaded: <n>` from
//! inside the program under test (its own /proc/self/maps, or through a
//! shell it starts, which reads /proc/$PPID/maps).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::{
  Allocator, Scratch, compare, compile, project_file, require, run,
};

/// Every program the suite runs.
const PROGRAMS: [&str; 7] =
  ["python3", "node", "gdb", "git", "sqlite3", "bash", "gcc"];

/// The name of the scratch subdirectory of a run on `allocator`.
fn label(allocator: Allocator) -> &'static str {
  match allocator {
    Allocator::System => "system",
    Allocator::TinyAlloc => "tinyalloc",
  }
}

/// `program` with `args`, standard input closed.
fn command(program: &str, args: &[&str]) -> Command {
  let mut command = Command::new(require(program));
  command.args(args).stdin(Stdio::null());
  command
}

/// A compat/ file as an argument.
fn compat(name: &str) -> PathBuf {
  project_file(&format!("compat/{name}"))
}

/// The pty driver running `repl`, typing the lines of compat/`inputs`.
fn repl(repl: &str, prompt: &str, quit: &str, inputs: &str) -> Command {
  let mut command = command("python3", &[]);
  command
    .arg(compat("pty_drive.py"))
    .args(["--prompt", prompt, "--quit", quit, "--"])
    .arg(require(repl))
    .stdin(File::open(compat(inputs)).expect("the REPL inputs exist"));
  command
}

#[test]
fn every_program_the_suite_needs_is_installed() {
  for program in PROGRAMS {
    require(program);
  }
}

#[test]
fn python_workload() {
  compare("python3 workload.py", |_| {
    let mut command = command("python3", &[]);
    command.arg(compat("workload.py"));
    command
  });
}

#[test]
fn python_repl_through_a_pty() {
  let outcome = compare("the python3 REPL", |_| {
    repl("python3", ">>> ", "exit()", "python_repl.txt")
  });
  assert!(
    outcome.stdout().contains("R5 True"),
    "{}",
    outcome.describe()
  );
  assert!(outcome.stdout().ends_with("exit: 0\n"));
}

#[test]
fn node_repl_through_a_pty() {
  let outcome = compare("the node REPL", |_| {
    repl("node", "> ", ".exit", "node_repl.txt")
  });
  assert!(outcome.stdout().contains("R5 0"), "{}", outcome.describe());
  assert!(outcome.stdout().ends_with("exit: 0\n"));
}

#[test]
fn node_worker_threads() {
  let outcome = compare("node workers.js", |_| {
    let mut command = command("node", &[]);
    command.arg(compat("workers.js"));
    command
  });
  assert!(outcome.stdout().contains("round 2 seed 12"));
}

#[test]
fn gdb_breakpoint_and_backtrace() {
  let scratch = Scratch::new("gdb");
  let target = compile(&scratch, "gdb_target", &[]);
  let outcome = compare("gdb --batch", |_| {
    let mut command = command("gdb", &["--batch", "-nx"]);
    command
      .args(["-iex", "set debuginfod enabled off"])
      .args(["-ex", "shell printf 'tinyalloc-loaded: %s\\n' \"$(grep -c libtinyalloc /proc/$PPID/maps)\""])
      .args(["-ex", "break leaf", "-ex", "run", "-ex", "bt"])
      .args(["-ex", "print depth", "-ex", "finish"])
      .arg(&target);
    command
  });
  let stdout = outcome.stdout();
  assert!(stdout.contains("leaf (depth=4)"), "{}", outcome.describe());
  assert!(
    stdout.contains(" in middle (depth=3)"),
    "{}",
    outcome.describe()
  );
  assert!(stdout.contains(" in main ()"), "{}", outcome.describe());
}

#[test]
fn git_init_commit_log_gc_fsck() {
  let scratch = Scratch::new("git");
  let outcome = compare("git.sh", |allocator| {
    let mut command = command("bash", &[]);
    command
      .arg(compat("git.sh"))
      .current_dir(scratch.subdir(label(allocator)));
    command
  });
  assert!(outcome.stdout().contains("pack verified"));
}

#[test]
fn sqlite_inserts_index_aggregates() {
  let scratch = Scratch::new("sqlite");
  let outcome = compare("sqlite3", |allocator| {
    let database = scratch.subdir(label(allocator)).join("test.db");
    let mut command = command("sqlite3", &[]);
    command
      .arg(database)
      .stdin(File::open(compat("sqlite.sql")).expect("the script exists"));
    command
  });
  assert!(outcome.stdout().ends_with("ok\n"), "{}", outcome.describe());
}

#[test]
fn fork_heavy_shell_script() {
  let scratch = Scratch::new("forks");
  let outcome = compare("forks.sh", |allocator| {
    let mut command = command("bash", &[]);
    command
      .arg(compat("forks.sh"))
      .current_dir(scratch.subdir(label(allocator)));
    command
  });
  assert!(outcome.stdout().contains("last: 200"));
}

/// Counter lines `TINYALLOC_SHOW_STATS` prints at exit.
const STATS_LINES: usize = 11;

#[test]
fn show_stats_prints_the_counters_at_exit() {
  let mut command = Command::new(require("python3"));
  command
    .args(["-c", "print(sum(len(str(n)) for n in range(100000)))"])
    .env("TINYALLOC_SHOW_STATS", "1")
    .stdin(Stdio::null());
  let outcome = run(command, Allocator::TinyAlloc);
  outcome.assert_success("python3 with TINYALLOC_SHOW_STATS=1");
  let lines: Vec<&str> = outcome
    .stderr()
    .lines()
    .filter(|line| line.starts_with("tinyalloc: "))
    .collect();
  // Every process of the command prints its own report (a `python3` found
  // through a shim script runs a few shell processes first).
  assert!(
    !lines.is_empty() && lines.len().is_multiple_of(STATS_LINES),
    "{}",
    outcome.describe()
  );
  let most_allocations = lines
    .iter()
    .filter_map(|line| line.strip_prefix("tinyalloc: allocations = "))
    .filter_map(|value| value.parse::<u64>().ok())
    .max()
    .unwrap_or_else(|| panic!("no allocation count: {}", outcome.describe()));
  assert!(most_allocations > 1000, "{}", outcome.describe());
  let quiet = run(
    {
      let mut command = Command::new(require("python3"));
      command.args(["-c", "pass"]).stdin(Stdio::null());
      command
    },
    Allocator::TinyAlloc,
  );
  assert!(
    !quiet.stderr().contains("tinyalloc: "),
    "{}",
    quiet.describe()
  );
}
