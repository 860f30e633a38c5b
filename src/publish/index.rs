//! A compact hash index over items kept elsewhere (a vector): open
//! addressing with linear probing, four bytes per slot, load factor at most
//! 1/2. The items hold their own keys, so a key is stored once; the index
//! holds positions only.

/// Positions of items by hash.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Position plus one; 0 is an empty slot.
    slots: Vec<u32>,
}

impl Index {
    /// Indexes `hashes[i]` → `i` for every item.
    pub fn build(hashes: impl ExactSizeIterator<Item = u64>) -> Index {
        let size = (hashes.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![0u32; size];
        let mask = size - 1;
        for (i, hash) in hashes.enumerate() {
            let mut at = hash as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = i as u32 + 1;
        }
        Index { slots }
    }

    /// The first position with this hash for which `matches` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut matches: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if matches(slot as usize - 1) {
                return Some(slot as usize - 1);
            }
            at = (at + 1) & mask;
        }
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.slots.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_item_and_nothing_else() {
        let keys: Vec<u64> = (0..1000).map(|k| k * 7919).collect();
        // A poor hash on purpose: many collisions.
        let index = Index::build(keys.iter().map(|k| k % 64));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.find(k % 64, |j| keys[j] == *k), Some(i));
        }
        assert_eq!(index.find(3, |j| keys[j] == 4), None);
    }
}
