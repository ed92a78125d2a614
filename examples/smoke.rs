//! Quick smoke run (temporary).
use std::collections::HashMap;
use std::thread;

use tinyalloc::TinyAlloc;

#[global_allocator]
static GLOBAL: TinyAlloc = TinyAlloc;

fn main() {
  let mut map = HashMap::new();
  for i in 0..100_000u64 {
    map.insert(i, i.to_string());
  }
  let handles: Vec<_> = (0..4)
    .map(|t| {
      thread::spawn(move || {
        let mut v: Vec<Vec<u8>> = Vec::new();
        for i in 0..50_000usize {
          v.push(vec![t as u8; (i % 300) + 1]);
          if i % 3 == 0 {
            v.swap_remove(i % v.len());
          }
        }
        v
      })
    })
    .collect();
  let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
  drop(results);
  let big = vec![1u8; 100 << 20];
  assert_eq!(big[12345], 1);
  drop(big);
  println!("{:#?}", tinyalloc::stats());
}
