//! Helpers shared by the crate's unit tests.

/// Runs each named generic test function `fn name<T: Bits>()` once per word
/// type, as `#[test]`s in one child module per type.
macro_rules! word_tests {
  ($($test:ident),* $(,)?) => {
    $crate::test_support::word_tests!(@word word_u8, u8, $($test),*);
    $crate::test_support::word_tests!(@word word_u16, u16, $($test),*);
    $crate::test_support::word_tests!(@word word_u32, u32, $($test),*);
    $crate::test_support::word_tests!(@word word_u64, u64, $($test),*);
    $crate::test_support::word_tests!(@word word_usize, usize, $($test),*);
  };
  (@word $module:ident, $word:ty, $($test:ident),*) => {
    mod $module {
      $(
        #[test]
        fn $test() {
          super::$test::<$word>();
        }
      )*
    }
  };
}

pub(crate) use word_tests;
