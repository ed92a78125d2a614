//! TinyAlloc (placeholder).
