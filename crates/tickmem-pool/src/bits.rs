//! The occupancy bitmap's cursor: walks the set bits of a `[u64]`, then a
//! range of indices that are all live (the pool's tail of appended values,
//! which has no bits yet), from both ends. Every iterator of the pool is this
//! cursor plus a way to turn a slot index into an item.

/// Bit `i % 64` of word `i / 64` is set when slot `i` holds a value.
pub(crate) const WORD_BITS: usize = u64::BITS as usize;

/// Walks the set bits of a bitmap (given to each call, so the cursor itself
/// borrows nothing) from the front and from the back, each index once.
///
/// Words `next_word..end_word` have not been looked at yet; `front` holds the
/// bits of word `front_word` not yet yielded from the front, `back` those of
/// word `back_word` not yet yielded from the back. `tail_start..tail_end` are
/// the indices after the bitmap not yet yielded (all of them are yielded:
/// they have no bits). `remaining` counts what is not yet yielded (the
/// iterator's exact length).
#[derive(Clone, Debug)]
pub(crate) struct BitCursor {
    front: u64,
    front_word: usize,
    back: u64,
    back_word: usize,
    next_word: usize,
    end_word: usize,
    tail_start: usize,
    tail_end: usize,
    remaining: usize,
}

impl BitCursor {
    /// A cursor over the set bits of `words` (of which `ones` are set), then
    /// every index of `tail`, which starts above the last set bit.
    #[inline]
    pub(crate) fn new(words: &[u64], ones: usize, tail: core::ops::Range<usize>) -> Self {
        debug_assert_eq!(
            words.iter().map(|w| w.count_ones() as usize).sum::<usize>(),
            ones
        );
        debug_assert!(tail.start <= tail.end);
        Self {
            front: 0,
            front_word: 0,
            back: 0,
            back_word: 0,
            next_word: 0,
            end_word: words.len(),
            tail_start: tail.start,
            tail_end: tail.end,
            remaining: ones + (tail.end - tail.start),
        }
    }

    /// Indices not yet yielded.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.remaining
    }

    /// The lowest set bit not yet yielded. `words` must be the bitmap the
    /// cursor was made for, unchanged.
    #[inline]
    pub(crate) fn next(&mut self, words: &[u64]) -> Option<usize> {
        loop {
            if self.front != 0 {
                let bit = self.front.trailing_zeros() as usize;
                self.front &= self.front - 1;
                self.remaining -= 1;
                return Some(self.front_word * WORD_BITS + bit);
            }
            if self.next_word < self.end_word {
                self.front = words[self.next_word];
                self.front_word = self.next_word;
                self.next_word += 1;
            } else if self.back != 0 {
                self.front = core::mem::take(&mut self.back);
                self.front_word = self.back_word;
            } else if self.tail_start < self.tail_end {
                self.tail_start += 1;
                self.remaining -= 1;
                return Some(self.tail_start - 1);
            } else {
                return None;
            }
        }
    }

    /// The highest set bit not yet yielded.
    #[inline]
    pub(crate) fn next_back(&mut self, words: &[u64]) -> Option<usize> {
        if self.tail_start < self.tail_end {
            self.tail_end -= 1;
            self.remaining -= 1;
            return Some(self.tail_end);
        }
        loop {
            if self.back != 0 {
                let bit = (u64::BITS - 1 - self.back.leading_zeros()) as usize;
                self.back &= !(1 << bit);
                self.remaining -= 1;
                return Some(self.back_word * WORD_BITS + bit);
            }
            if self.next_word < self.end_word {
                self.end_word -= 1;
                self.back = words[self.end_word];
                self.back_word = self.end_word;
            } else if self.front != 0 {
                self.back = core::mem::take(&mut self.front);
                self.back_word = self.front_word;
            } else {
                return None;
            }
        }
    }

    /// Calls `f` on every index not yet yielded, lowest first. A full word
    /// (64 live slots in a row) and the tail are walked as plain index
    /// ranges, which the compiler can unroll: dense pools iterate like a
    /// slice.
    #[inline]
    pub(crate) fn fold<B>(self, words: &[u64], init: B, mut f: impl FnMut(B, usize) -> B) -> B {
        let mut acc = fold_word(init, self.front, self.front_word, &mut f);
        for (offset, &word) in words[self.next_word..self.end_word].iter().enumerate() {
            let base = (self.next_word + offset) * WORD_BITS;
            if word == u64::MAX {
                for index in base..base + WORD_BITS {
                    acc = f(acc, index);
                }
            } else {
                acc = fold_word(acc, word, self.next_word + offset, &mut f);
            }
        }
        acc = fold_word(acc, self.back, self.back_word, &mut f);
        for index in self.tail_start..self.tail_end {
            acc = f(acc, index);
        }
        acc
    }
}

#[inline(always)]
fn fold_word<B>(mut acc: B, mut word: u64, at: usize, f: &mut impl FnMut(B, usize) -> B) -> B {
    let base = at * WORD_BITS;
    while word != 0 {
        let bit = word.trailing_zeros() as usize;
        word &= word - 1;
        acc = f(acc, base + bit);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(words: &[u64]) -> Vec<usize> {
        (0..words.len() * WORD_BITS)
            .filter(|&i| words[i / WORD_BITS] >> (i % WORD_BITS) & 1 == 1)
            .collect()
    }

    fn count(words: &[u64]) -> usize {
        words.iter().map(|w| w.count_ones() as usize).sum()
    }

    #[test]
    fn front_back_and_fold_agree_with_a_plain_scan() {
        let cases: [&[u64]; 6] = [
            &[],
            &[0],
            &[1 << 63 | 1],
            &[u64::MAX, 0, 0b1011],
            &[0, u64::MAX, 1 << 40, 0, 1],
            &[0x8000_0000_0000_0001, 0x0F0F, u64::MAX, 0x10],
        ];
        for words in cases {
            let end = words.len() * WORD_BITS;
            // No tail, a short tail, a tail longer than a word, and a tail
            // starting inside the last word (above its highest set bit).
            let high = ones(words).last().map_or(0, |&i| i + 1);
            for tail in [end..end, end..end + 3, end..end + 70, high..end + 5] {
                check(words, tail);
            }
        }
    }

    fn check(words: &[u64], tail: core::ops::Range<usize>) {
        let mut want = ones(words);
        want.extend(tail.clone());
        let fresh = || BitCursor::new(words, count(words), tail.clone());
        let mut c = fresh();
        let mut got = Vec::new();
        while let Some(i) = c.next(words) {
            got.push(i);
            assert_eq!(c.len(), want.len() - got.len());
        }
        assert_eq!(got, want, "{words:x?} {tail:?}");

        let mut c = fresh();
        let mut back = Vec::new();
        while let Some(i) = c.next_back(words) {
            back.push(i);
            assert_eq!(c.len(), want.len() - back.len());
        }
        back.reverse();
        assert_eq!(back, want);

        let folded = fresh().fold(words, Vec::new(), |mut v, i| {
            v.push(i);
            v
        });
        assert_eq!(folded, want);

        // Alternate ends, then fold the middle (every few splits under Miri,
        // which is slow at this).
        let step = if cfg!(miri) { 11 } else { 1 };
        for split in (0..=want.len()).step_by(step) {
            let mut c = fresh();
            let (mut front, mut back) = (Vec::new(), Vec::new());
            for k in 0..split {
                if k % 2 == 0 {
                    front.push(c.next(words).unwrap());
                } else {
                    back.push(c.next_back(words).unwrap());
                }
            }
            let middle = c.fold(words, Vec::new(), |mut v, i| {
                v.push(i);
                v
            });
            back.reverse();
            let all: Vec<_> = front.into_iter().chain(middle).chain(back).collect();
            assert_eq!(all, want, "{words:x?} {tail:?} split {split}");
        }
    }
}
