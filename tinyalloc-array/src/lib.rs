#![doc = include_str!("../README.md")]
#![no_std]

mod array;
mod error;
mod into_iter;

pub use array::Array;
pub use error::ArrayError;
pub use into_iter::IntoIter;

#[cfg(test)]
mod test_support;
