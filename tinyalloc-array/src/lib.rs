#![no_std]
//! TinyAlloc array crate (placeholder, filled by its issue).
