//! What every compatibility test needs: the library and the programs
//! (missing ones fail the test with the command that installs them),
//! scratch directories, the C programs compiled, programs run with and
//! without the library under a deadline, and their outputs compared.

use std::env;
use std::fs;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use libc::{SIGKILL, kill};

/// The variable naming the library to test, overriding the default path.
const LIBRARY_VARIABLE: &str = "TINYALLOC_LIB";
/// Where `cargo build --release --features ffi` puts the library, under
/// the target directory.
const LIBRARY_IN_TARGET: &str = "release/libtinyalloc.so";
/// The marker every scenario prints with the number of lines of its maps
/// that name the library.
const LOADED_MARKER: &str = "tinyalloc-loaded: ";
/// How long one program may run before it is taken for hung (a deadlock)
/// and killed. Generous: the machine may be busy with parallel tests.
const DEADLINE: Duration = Duration::from_secs(150);
/// How often a running program is checked for exit.
const POLL: Duration = Duration::from_millis(20);
/// The command that installs every program the suite needs.
const INSTALL_HINT: &str = "scripts/install-test-deps.sh";

/// The allocator a program runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allocator {
  /// glibc's malloc: the reference.
  System,
  /// TinyAlloc through `LD_PRELOAD`.
  TinyAlloc,
}

/// What a finished program left.
#[derive(Debug)]
pub(crate) struct Outcome {
  status: ExitStatus,
  stdout: String,
  stderr: String,
}

impl Outcome {
  /// What the program printed on standard output.
  pub(crate) fn stdout(&self) -> &str {
    &self.stdout
  }

  /// What the program printed on standard error.
  pub(crate) fn stderr(&self) -> &str {
    &self.stderr
  }

  /// The signal that killed the program, if one did.
  pub(crate) fn signal(&self) -> Option<i32> {
    self.status.signal()
  }

  /// Stops the test unless the program exited with status 0.
  pub(crate) fn assert_success(&self, what: &str) {
    assert!(self.status.success(), "{what} failed: {}", self.describe());
  }

  /// Status and outputs, for failure messages.
  pub(crate) fn describe(&self) -> String {
    format!(
      "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
      self.status,
      self.stdout,
      tail(&self.stderr)
    )
  }
}

/// The last lines of `text`: enough to see why a program failed.
fn tail(text: &str) -> String {
  const LINES: usize = 60;
  let lines: Vec<&str> = text.lines().collect();
  lines[lines.len().saturating_sub(LINES)..].join("\n")
}

/// The workspace root.
pub(crate) fn root() -> &'static Path {
  Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the workspace.
pub(crate) fn project_file(relative: &str) -> PathBuf {
  root().join(relative)
}

/// The library under test: `$TINYALLOC_LIB`, else `release/libtinyalloc.so`
/// under `$CARGO_TARGET_DIR` or the workspace's `target`.
pub(crate) fn library() -> PathBuf {
  let path = match env::var_os(LIBRARY_VARIABLE) {
    Some(path) => PathBuf::from(path),
    None => {
      let target = env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), |dir| root().join(dir));
      target.join(LIBRARY_IN_TARGET)
    }
  };
  assert!(
    path.is_file(),
    "the library {} does not exist: build it first with \
     `cargo build --release --features ffi` (scripts/test.sh does), or \
     point {LIBRARY_VARIABLE} at it",
    path.display()
  );
  path
}

/// The full path of `program`; fails the test if it is not installed.
pub(crate) fn require(program: &str) -> PathBuf {
  let found = env::var_os("PATH").and_then(|paths| {
    env::split_paths(&paths)
      .map(|dir| dir.join(program))
      .find(|candidate| candidate.is_file())
  });
  found.unwrap_or_else(|| {
    panic!(
      "the compatibility suite needs `{program}`, which is not installed: \
       run {INSTALL_HINT}"
    )
  })
}

/// A fresh directory, removed when dropped (kept when the test fails, so
/// its contents can be looked at).
pub(crate) struct Scratch {
  path: PathBuf,
}

impl Scratch {
  /// A new empty directory whose name includes `label`.
  pub(crate) fn new(label: &str) -> Self {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("tinyalloc-compat-{}-{label}-{unique}", process::id());
    let path = env::temp_dir().join(name);
    if path.exists() {
      fs::remove_dir_all(&path).expect("an old scratch directory goes");
    }
    fs::create_dir_all(&path).expect("a scratch directory can be made");
    Self { path }
  }

  /// The directory.
  pub(crate) fn path(&self) -> &Path {
    &self.path
  }

  /// A subdirectory, made on the spot.
  pub(crate) fn subdir(&self, name: &str) -> PathBuf {
    let path = self.path.join(name);
    fs::create_dir_all(&path).expect("a scratch subdirectory can be made");
    path
  }
}

impl Drop for Scratch {
  fn drop(&mut self) {
    if thread::panicking() {
      eprintln!("scratch directory kept: {}", self.path.display());
    } else {
      let _ = fs::remove_dir_all(&self.path);
    }
  }
}

/// Compiles `tests/c/<name>.c` (with `extra` arguments) into `scratch`;
/// returns the executable.
pub(crate) fn compile(
  scratch: &Scratch,
  name: &str,
  extra: &[&str],
) -> PathBuf {
  let gcc = require("gcc");
  let source = project_file(&format!("tests/c/{name}.c"));
  let output = scratch.path().join(name);
  let mut command = Command::new(gcc);
  // -O0: the compiler must not fold away the very calls under test.
  command
    .args(["-O0", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"])
    .args(["-Wno-alloc-size-larger-than", "-Wno-use-after-free"])
    .args(["-Wno-free-nonheap-object"])
    .arg("-I")
    .arg(project_file("tests/c"))
    .arg("-o")
    .arg(&output)
    .arg(&source)
    .args(extra)
    .arg("-ldl");
  let outcome = run(command, Allocator::System);
  outcome.assert_success(&format!("compiling {}", source.display()));
  output
}

/// Runs `command` on `allocator`, collecting its outputs, and kills it
/// (and its process group) if it outlives [`DEADLINE`]. Standard input is
/// the caller's to set (it is inherited otherwise).
pub(crate) fn run(mut command: Command, allocator: Allocator) -> Outcome {
  match allocator {
    Allocator::System => command.env_remove("LD_PRELOAD"),
    Allocator::TinyAlloc => command.env("LD_PRELOAD", library()),
  };
  command
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
  let described = format!("{command:?}");
  let mut child = command
    .spawn()
    .unwrap_or_else(|error| panic!("cannot start {described}: {error}"));
  let stdout = collect(child.stdout.take());
  let stderr = collect(child.stderr.take());
  let status = wait_or_kill(&mut child, &described);
  Outcome {
    status,
    stdout: stdout.join().expect("the stdout reader finishes"),
    stderr: stderr.join().expect("the stderr reader finishes"),
  }
}

/// Reads a pipe to its end in a thread.
fn collect(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
  thread::spawn(move || {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
      let _ = pipe.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
  })
}

/// Waits for `child`; past the deadline, kills its process group and fails.
fn wait_or_kill(child: &mut Child, described: &str) -> ExitStatus {
  let start = Instant::now();
  loop {
    if let Some(status) = child.try_wait().expect("waiting works") {
      return status;
    }
    if start.elapsed() > DEADLINE {
      let group = i32::try_from(child.id()).expect("pids fit in i32");
      // SAFETY: signalling a process group we created has no memory effect.
      unsafe { kill(-group, SIGKILL) };
      let _ = child.wait();
      panic!("{described} ran longer than {DEADLINE:?}: hung (deadlock?)");
    }
    thread::sleep(POLL);
  }
}

/// Splits an output into its loaded-marker counts and its other lines.
fn split_markers(stdout: &str) -> (Vec<u64>, Vec<&str>) {
  let mut counts = Vec::new();
  let mut rest = Vec::new();
  for line in stdout.lines() {
    match line.split_once(LOADED_MARKER) {
      Some((_, count)) => counts.push(
        count
          .trim()
          .parse()
          .unwrap_or_else(|_| panic!("a malformed marker line: {line:?}")),
      ),
      None => rest.push(line),
    }
  }
  (counts, rest)
}

/// Checks that the program printed the library's marker and that the
/// library was (on TinyAlloc) or was not (on the system) in its maps.
pub(crate) fn assert_loaded(
  outcome: &Outcome,
  allocator: Allocator,
  what: &str,
) {
  let (counts, _) = split_markers(&outcome.stdout);
  assert!(
    !counts.is_empty(),
    "{what} printed no `{LOADED_MARKER}` line: {}",
    outcome.describe()
  );
  for count in counts {
    match allocator {
      Allocator::TinyAlloc => assert!(
        count > 0,
        "{what}: the library is not in the program's maps: {}",
        outcome.describe()
      ),
      Allocator::System => assert_eq!(count, 0, "{what}: preloaded by mistake"),
    }
  }
}

/// Runs `make()`'s command on the system allocator and on TinyAlloc, and
/// checks that both succeed, that the library was loaded only in the
/// second, and that both printed the same (apart from the markers).
pub(crate) fn compare(
  what: &str,
  make: impl Fn(Allocator) -> Command,
) -> Outcome {
  let system = run(make(Allocator::System), Allocator::System);
  system.assert_success(&format!("{what} on the system allocator"));
  assert_loaded(&system, Allocator::System, what);
  let ours = run(make(Allocator::TinyAlloc), Allocator::TinyAlloc);
  ours.assert_success(&format!("{what} on TinyAlloc"));
  assert_loaded(&ours, Allocator::TinyAlloc, what);
  let (_, expected) = split_markers(&system.stdout);
  let (_, actual) = split_markers(&ours.stdout);
  if expected != actual {
    panic!(
      "{what}: the output on TinyAlloc differs from the system's:\n{}",
      difference(&expected, &actual)
    );
  }
  ours
}

/// The lines where two outputs first differ, and their lengths.
fn difference(expected: &[&str], actual: &[&str]) -> String {
  let first = expected
    .iter()
    .zip(actual)
    .position(|(a, b)| a != b)
    .unwrap_or(expected.len().min(actual.len()));
  format!(
    "{} lines on the system, {} on TinyAlloc; first difference at line {}:\n\
     system:    {:?}\ntinyalloc: {:?}",
    expected.len(),
    actual.len(),
    first + 1,
    expected.get(first),
    actual.get(first)
  )
}
