#![no_std]
//! TinyAlloc list crate (placeholder, filled by its issue).
