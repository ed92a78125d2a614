#![no_std]
//! TinyAlloc bitmap crate (placeholder, filled by its issue).
