//! Ordinary collection-heavy code on TinyAlloc: word counts over a
//! generated text whose every count is known by construction, counted with
//! `HashMap` and `BTreeMap`, on one thread and on several, then sorted,
//! cloned and regrouped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc::channel;
use std::thread;

use crate::support::Rng;

/// Distinct words in the text.
const VOCABULARY: usize = 3000;
/// Counts cycle through `1..=COUNT_CYCLE`.
const COUNT_CYCLE: usize = 40;
/// Multiplier scattering the counts over the words: prime, so counts and
/// word numbers do not line up.
const COUNT_SCATTER: usize = 7919;
/// Word lengths vary with the word number modulo this, so the strings
/// span several size classes.
const LENGTH_CYCLE: usize = 29;
/// Threads counting in parallel.
const COUNTERS: usize = 4;
/// Separators between words.
const SEPARATORS: [&str; 4] = [" ", "\n", "  ", "\t"];
/// Seed of the text's shuffle.
const TEXT_SEED: u64 = 2024;

/// The text of word `number`: `w<number>` padded with underscores; the
/// digit run makes every word distinct.
fn word(number: usize) -> String {
  format!("w{number}{}", "_".repeat(number % LENGTH_CYCLE))
}

/// How many times word `number` occurs in the text.
fn count(number: usize) -> usize {
  1 + number * COUNT_SCATTER % COUNT_CYCLE
}

/// The expected counts, by word.
fn expected_counts() -> HashMap<String, usize> {
  (0..VOCABULARY)
    .map(|number| (word(number), count(number)))
    .collect()
}

/// The text: every word as often as [`count`] says, shuffled, joined with
/// varied separators.
fn text() -> String {
  let mut rng = Rng::new(TEXT_SEED);
  let mut tokens: Vec<String> = (0..VOCABULARY)
    .flat_map(|number| vec![word(number); count(number)])
    .collect();
  for index in (1..tokens.len()).rev() {
    tokens.swap(index, rng.below(index + 1));
  }
  let mut text = String::new();
  for token in tokens {
    text.push_str(&token);
    text.push_str(SEPARATORS[rng.below(SEPARATORS.len())]);
  }
  text
}

/// Counts the words of `text` into a map of owned strings.
fn count_words(text: &str) -> HashMap<String, usize> {
  let mut counts = HashMap::new();
  for token in text.split_whitespace() {
    *counts.entry(token.to_owned()).or_insert(0) += 1;
  }
  counts
}

/// `text` cut into `parts` pieces at whitespace.
fn split_at_whitespace(text: &str, parts: usize) -> Vec<&str> {
  let mut pieces = Vec::new();
  let mut rest = text;
  for part in (1..=parts).rev() {
    let cut = rest.len() / part;
    let end = rest[cut..]
      .find(char::is_whitespace)
      .map_or(rest.len(), |at| cut + at);
    let (piece, tail) = rest.split_at(end);
    pieces.push(piece);
    rest = tail;
  }
  pieces
}

/// Counts `text` on [`COUNTERS`] threads, merging their maps as they
/// arrive over a channel.
fn count_in_parallel(text: &str) -> HashMap<String, usize> {
  let (sender, receiver) = channel();
  thread::scope(|scope| {
    for piece in split_at_whitespace(text, COUNTERS) {
      let sender = sender.clone();
      scope.spawn(move || sender.send(count_words(piece)).expect("sent"));
    }
  });
  drop(sender);
  let mut total = HashMap::new();
  for part in receiver {
    for (word, count) in part {
      *total.entry(word).or_insert(0) += count;
    }
  }
  total
}

#[test]
fn word_counts_match_the_known_counts() {
  let text = text();
  let expected = expected_counts();
  let counts = count_words(&text);
  assert_eq!(counts.len(), VOCABULARY);
  assert_eq!(counts, expected);
  let total: usize = (0..VOCABULARY).map(count).sum();
  assert_eq!(text.split_whitespace().count(), total);
}

#[test]
fn parallel_counts_merge_to_the_known_counts() {
  let text = text();
  assert_eq!(count_in_parallel(&text), expected_counts());
}

#[test]
fn sorted_counts_and_ordered_maps_agree() {
  let counts = count_words(&text());
  let ordered: BTreeMap<&str, usize> = counts
    .iter()
    .map(|(word, count)| (word.as_str(), *count))
    .collect();
  let mut by_count: Vec<(usize, &str)> = ordered
    .iter()
    .map(|(word, count)| (*count, *word))
    .collect();
  by_count.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
  let most = (0..VOCABULARY).filter(|number| count(*number) == COUNT_CYCLE);
  let mut expected_top: Vec<String> = most.map(word).collect();
  expected_top.sort();
  let top: Vec<&str> = by_count
    .iter()
    .take(expected_top.len())
    .map(|entry| entry.1)
    .collect();
  assert_eq!(top, expected_top);
  assert!(by_count.windows(2).all(|pair| pair[0].0 >= pair[1].0));
  assert_eq!(by_count.last().map(|entry| entry.0), Some(1));
}

#[test]
fn cloned_tokens_sort_and_dedup_to_the_vocabulary() {
  let text = text();
  let tokens: Vec<String> =
    text.split_whitespace().map(str::to_owned).collect();
  let mut sorted = tokens.clone();
  sorted.sort_unstable();
  sorted.dedup();
  let mut vocabulary: Vec<String> = (0..VOCABULARY).map(word).collect();
  vocabulary.sort_unstable();
  assert_eq!(sorted, vocabulary);
  for token in &tokens {
    assert!(sorted.binary_search(token).is_ok(), "{token} is known");
  }
  let joined = tokens.join(" ");
  assert_eq!(joined.split(' ').count(), tokens.len());
}

#[test]
fn words_grouped_by_length_match_the_length_formula() {
  let counts = count_words(&text());
  let mut by_length: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
  for word in counts.into_keys() {
    by_length.entry(word.len()).or_default().insert(word);
  }
  let mut expected: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
  for number in 0..VOCABULARY {
    let length = 1 + number.to_string().len() + number % LENGTH_CYCLE;
    expected.entry(length).or_default().insert(word(number));
  }
  assert_eq!(by_length, expected);
  let regrouped: usize = by_length.values().map(BTreeSet::len).sum();
  assert_eq!(regrouped, VOCABULARY);
}
