#![no_std]
//! TinyAlloc sys crate (placeholder, filled by its issue).
