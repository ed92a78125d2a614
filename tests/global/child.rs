//! Running one test alone in a child process: this binary re-executed with
//! `--exact <test>` and an environment variable telling the test that it is
//! the child and should run its body.

use std::env;
use std::io::{Write, stdout};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

use libc::{RLIMIT_CORE, SIGABRT, rlimit, setrlimit};

/// Environment variable naming the test a child process runs.
const CHILD_TEST_VAR: &str = "TINYALLOC_GLOBAL_TEST_CHILD";
/// Start of the stdout line a child prints once its body ran: a child
/// that matched no test would otherwise pass silently.
const RAN_MARKER: &str = "tinyalloc-test child ran: ";
/// Start of the stdout line announcing the address a fault is about.
const ADDRESS_MARKER: &str = "tinyalloc-test fault address: ";

/// Runs `body` in a child process (or, in that child, runs it) and asserts
/// that it succeeded.
pub(crate) fn isolated(module: &str, name: &str, body: impl FnOnce()) {
  let path = test_path(module, name);
  if is_child(&path) {
    body();
    println!("\n{RAN_MARKER}{path}");
    return;
  }
  let output = run_child(&path);
  let report = describe(&output);
  assert!(output.status.success(), "the child failed:\n{report}");
  assert!(ran(&output, &path), "the child did not run:\n{report}");
}

/// Runs `body` in a child process (or, in that child, runs it) and asserts
/// that the child died of `SIGABRT` with exactly the line
/// `tinyalloc: <fault>: 0x<address>` on stderr, for the address the body
/// passed to [`announce`].
pub(crate) fn expect_fault(
  module: &str,
  name: &str,
  fault: &str,
  body: impl FnOnce(),
) {
  let path = test_path(module, name);
  if is_child(&path) {
    disable_core_dumps();
    println!("\n{RAN_MARKER}{path}");
    body();
    return;
  }
  let output = run_child(&path);
  let report = describe(&output);
  assert!(ran(&output, &path), "the child did not run:\n{report}");
  assert_eq!(output.status.signal(), Some(SIGABRT), "{report}");
  let address = announced(&output).expect("the child announced an address");
  let expected = format!("tinyalloc: {fault}: {address:#x}\n");
  assert_eq!(
    String::from_utf8_lossy(&output.stderr),
    expected,
    "{report}"
  );
}

/// Tells the parent which address the coming fault is about. Call it
/// before the first free of the block: printing may allocate.
pub(crate) fn announce(address: usize) {
  println!("\n{ADDRESS_MARKER}{address:#x}");
  stdout().flush().expect("stdout flushes");
}

/// The name libtest gives the test `name` of module `module`
/// (`module_path!()`, which starts with the crate name libtest leaves out).
fn test_path(module: &str, name: &str) -> String {
  match module.split_once("::") {
    Some((_, inner)) => format!("{inner}::{name}"),
    None => name.to_owned(),
  }
}

/// True in the child process running test `path`.
fn is_child(path: &str) -> bool {
  env::var(CHILD_TEST_VAR).is_ok_and(|value| value == path)
}

/// Re-executes this binary to run test `path` alone, and waits for it.
fn run_child(path: &str) -> Output {
  let exe = env::current_exe().expect("the test binary has a path");
  Command::new(exe)
    .args(["--exact", path, "--nocapture", "--test-threads=1"])
    .env(CHILD_TEST_VAR, path)
    .output()
    .expect("the test binary re-executes")
}

/// True if the child's stdout says it ran test `path`.
fn ran(output: &Output, path: &str) -> bool {
  let stdout = String::from_utf8_lossy(&output.stdout);
  stdout
    .lines()
    .any(|line| line == format!("{RAN_MARKER}{path}"))
}

/// The address the child announced, if it did.
fn announced(output: &Output) -> Option<usize> {
  let stdout = String::from_utf8_lossy(&output.stdout);
  let line = stdout
    .lines()
    .find_map(|line| line.strip_prefix(ADDRESS_MARKER));
  let digits = line?.strip_prefix("0x")?;
  usize::from_str_radix(digits, 16).ok()
}

/// The child's status and output, for assertion messages.
fn describe(output: &Output) -> String {
  format!(
    "status: {}\n--- stdout\n{}--- stderr\n{}",
    output.status,
    String::from_utf8_lossy(&output.stdout),
    String::from_utf8_lossy(&output.stderr),
  )
}

/// Keeps a deliberately aborting child from writing a core file.
fn disable_core_dumps() {
  let none = rlimit {
    rlim_cur: 0,
    rlim_max: 0,
  };
  // SAFETY: `none` is a valid rlimit that outlives the call.
  let status = unsafe { setrlimit(RLIMIT_CORE, &none) };
  assert_eq!(status, 0, "the core limit can be lowered");
}
