#![no_std]
//! TinyAlloc alloc crate (placeholder, filled by its issue).
