//! The history's in-memory index: an open-addressing hash table from a 64-bit key (already a
//! hash, so its low bits pick the bucket) to a 64-bit value, with linear probing and the key
//! and value side by side. A look-up reads one bucket (16 bytes), usually in one cache line and
//! one page; a general-purpose map reads a control-byte array and then the bucket, two places
//! in memory, which at 10M keys (hundreds of MB) means two cache and TLB misses instead of one.
//!
//! Key 0 marks an empty bucket, so a real key 0 is kept aside. Removal shifts the following
//! buckets of the probe run back (no tombstones), so probe runs never grow with churn. The
//! table doubles when it would be more than 3/4 full.

/// See the module documentation.
#[derive(Clone, Default)]
pub(crate) struct SlotTable {
    /// (key, value); key 0 = empty. Length 0 or a power of two.
    buckets: Vec<(u64, u64)>,
    /// Entries in `buckets` (not counting `zero`).
    len: usize,
    /// The value of key 0.
    zero: Option<u64>,
}

impl SlotTable {
    /// Entries.
    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The value of `key`.
    pub fn get(&self, key: u64) -> Option<u64> {
        if key == 0 {
            return self.zero;
        }
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = (key as usize) & mask;
        // Bounded: the table is never full, so an empty bucket ends every probe run.
        for _ in 0..self.buckets.len() {
            let (k, v) = self.buckets[i];
            if k == key {
                return Some(v);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Room for `additional` more entries without growing.
    pub fn reserve(&mut self, additional: usize) {
        let want = self.len.saturating_add(additional);
        if want.saturating_mul(4) > self.buckets.len().saturating_mul(3) {
            self.resize(want);
        }
    }

    /// Rebuilds the buckets for at least `entries` entries at most 3/4 full.
    fn resize(&mut self, entries: usize) {
        let cap = (entries.saturating_mul(4) / 3 + 1)
            .next_power_of_two()
            .max(16);
        let old = std::mem::replace(&mut self.buckets, vec![(0, 0); cap]);
        self.len = 0;
        for (k, v) in old {
            if k != 0 {
                self.put(k, v);
            }
        }
    }

    /// Inserts into a table with room; returns the previous value.
    fn put(&mut self, key: u64, value: u64) -> Option<u64> {
        let mask = self.mask();
        let mut i = (key as usize) & mask;
        for _ in 0..self.buckets.len() {
            let b = &mut self.buckets[i];
            if b.0 == key {
                return Some(std::mem::replace(&mut b.1, value));
            }
            if b.0 == 0 {
                *b = (key, value);
                self.len += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
        // Unreachable while the load stays at most 3/4; grow and retry rather than lose it.
        self.resize(self.len.saturating_mul(2));
        self.put(key, value)
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: u64, value: u64) -> Option<u64> {
        if key == 0 {
            return self.zero.replace(value);
        }
        if (self.len + 1).saturating_mul(4) > self.buckets.len().saturating_mul(3) {
            self.resize((self.len + 1).saturating_mul(2));
        }
        self.put(key, value)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: u64) -> Option<u64> {
        if key == 0 {
            return self.zero.take();
        }
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = (key as usize) & mask;
        let mut found = None;
        for _ in 0..self.buckets.len() {
            let (k, v) = self.buckets[i];
            if k == key {
                found = Some(v);
                break;
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
        let value = found?;
        // Backward shift: move later entries of the run into the hole when their home bucket
        // is not between the hole and their position (cyclically).
        let mut hole = i;
        let mut j = (i + 1) & mask;
        for _ in 0..self.buckets.len() {
            let (k, v) = self.buckets[j];
            if k == 0 {
                break;
            }
            let home = (k as usize) & mask;
            let dist_hole = hole.wrapping_sub(home) & mask;
            let dist_j = j.wrapping_sub(home) & mask;
            if dist_hole < dist_j {
                self.buckets[hole] = (k, v);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.buckets[hole] = (0, 0);
        self.len -= 1;
        Some(value)
    }

    /// Every (key, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.zero
            .map(|v| (0, v))
            .into_iter()
            .chain(self.buckets.iter().copied().filter(|&(k, _)| k != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64),
        Get(u64),
        Reserve(usize),
    }

    /// Keys from a small set (with 0 and keys sharing low bits) so that runs collide.
    fn key() -> impl Strategy<Value = u64> {
        prop_oneof![
            (0u64..40),
            (0u64..40).prop_map(|k| k << 40),
            (0u64..40).prop_map(|k| (k << 32) | 7),
            any::<u64>(),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (key(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => key().prop_map(Op::Remove),
            3 => key().prop_map(Op::Get),
            1 => (0usize..100).prop_map(Op::Reserve),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn behaves_like_a_hashmap(ops in proptest::collection::vec(op(), 0..400)) {
            let mut t = SlotTable::default();
            let mut m: HashMap<u64, u64> = HashMap::new();
            for o in ops {
                match o {
                    Op::Insert(k, v) => prop_assert_eq!(t.insert(k, v), m.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(t.remove(k), m.remove(&k)),
                    Op::Get(k) => prop_assert_eq!(t.get(k), m.get(&k).copied()),
                    Op::Reserve(n) => t.reserve(n),
                }
                prop_assert_eq!(t.len(), m.len());
            }
            for (k, v) in &m {
                prop_assert_eq!(t.get(*k), Some(*v));
            }
            let mut all: Vec<(u64, u64)> = t.iter().collect();
            all.sort_unstable();
            let mut want: Vec<(u64, u64)> = m.into_iter().collect();
            want.sort_unstable();
            prop_assert_eq!(all, want);
        }
    }

    #[test]
    fn grows_and_shrinks_through_many_keys() {
        let mut t = SlotTable::default();
        let key = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for i in 0..100_000u64 {
            assert_eq!(t.insert(key(i), i), None);
        }
        for i in (0..100_000u64).step_by(2) {
            assert_eq!(t.remove(key(i)), Some(i));
        }
        assert_eq!(t.len(), 50_000);
        for i in 0..100_000u64 {
            assert_eq!(t.get(key(i)), (i % 2 == 1).then_some(i));
        }
    }
}
