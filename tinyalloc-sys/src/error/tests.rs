//! The errno and the message of every error.

use std::{format, string::ToString};

use libc::{EINVAL, ENOMEM};

use crate::MapError;

#[test]
fn argument_errors_are_einval_and_os_errors_keep_their_errno() {
  assert_eq!(MapError::InvalidSize(0).errno(), EINVAL);
  assert_eq!(MapError::InvalidAlignment(3).errno(), EINVAL);
  assert_eq!(MapError::Unaligned(1).errno(), EINVAL);
  let os = MapError::Os {
    call: "mmap",
    errno: ENOMEM,
  };
  assert_eq!(os.errno(), ENOMEM);
}

#[test]
fn messages_name_the_value_or_the_call() {
  assert_eq!(
    MapError::InvalidSize(7).to_string(),
    "invalid size 7: zero or overflowing",
  );
  assert_eq!(
    MapError::InvalidAlignment(3).to_string(),
    "invalid alignment 3: not a power of two",
  );
  assert_eq!(
    MapError::Unaligned(0x1001).to_string(),
    "address 0x1001 is not page-aligned",
  );
  let os = MapError::Os {
    call: "msync",
    errno: ENOMEM,
  };
  assert_eq!(os.to_string(), format!("msync failed with errno {ENOMEM}"));
}
