#![doc = include_str!("../README.md")]
#![no_std]

#[cfg(test)]
extern crate std;

mod error;
mod mapper;
pub mod os;
mod region;

pub use error::MapError;
pub use mapper::{Mapper, PosixMapper, Protection};
pub use os::{
  Background, ThreadExitKey, arm_fork_handlers, at_exit, env_flag, env_var,
  fatal, monotonic_nanos, random_u64, set_fork_handlers, sleep_nanos,
  spawn_detached, write_stderr,
};
pub use region::Region;

#[cfg(test)]
mod test_support;
