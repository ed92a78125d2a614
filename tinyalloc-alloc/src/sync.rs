//! Atomics used by the engine, imported from one place so that a model
//! checker (loom) can substitute its own types under `cfg(loom)`.

pub(crate) use core::sync::atomic::{
  AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering,
};
