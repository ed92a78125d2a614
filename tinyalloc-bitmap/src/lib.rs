#![doc = include_str!("../README.md")]
#![no_std]

#[cfg(test)]
extern crate std;

mod bitmap;
mod bits;
mod error;
mod masks;
#[cfg(test)]
mod test_support;

pub use bitmap::Bitmap;
pub use bits::{Bits, BitsRequire, words_for_bits};
pub use error::BitmapError;
