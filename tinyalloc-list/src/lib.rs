#![doc = include_str!("../README.md")]
#![no_std]

mod error;
mod iter;
mod link;
mod list;

pub use error::ListError;
pub use iter::{DrainIter, Iter, IterMut};
pub use link::{HasLink, Link};
pub use list::List;
