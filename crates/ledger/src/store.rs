//! The [`Store`] trait the state machine reads and writes through, the in-memory sorted
//! implementation [`MemStore`], and the layered [`Overlay`] a block executes in.

use crate::merkle::{merkle_root, MerkleProof};
use std::collections::BTreeMap;
use trellis_primitives::{codec::put_bytes, Hash, HashDomain};

/// The changes one block makes to the state, in key order. `None` deletes the key.
pub type StateDiff = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Sorted key-value state with an authenticated root.
///
/// The ledger only reads through `get` and hands whole block diffs to `apply`, so a store can keep
/// the state anywhere; `trellis-store` persists every diff to disk in the same transaction as its
/// block and reloads the store on start.
pub trait Store {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Option<&[u8]>;
    /// Applies a block's changes.
    fn apply(&mut self, diff: &StateDiff);
    /// The root of the authenticated structure over all entries.
    fn root(&mut self) -> Hash;
    /// The value at `key` with a proof of inclusion under [`Store::root`].
    fn prove(&mut self, key: &[u8]) -> Option<(Vec<u8>, MerkleProof)>;
    /// Every entry in key order.
    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_>;

    /// Every entry of one table (keys whose first byte is `table`), in key order.
    fn table_entries(&self, table: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.entries()
            .filter(|(k, _)| k.first() == Some(&table))
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }
}

/// The leaf hash committing to one state entry.
pub fn state_leaf(key: &[u8], value: &[u8]) -> Hash {
    let mut bytes = Vec::with_capacity(key.len() + value.len() + 8);
    put_bytes(&mut bytes, key);
    put_bytes(&mut bytes, value);
    HashDomain::StateLeaf.hash(&bytes)
}

/// State in a sorted map, with each entry's leaf hash cached next to it.
///
/// The root is a [`merkle_root`] over the leaves in key order. It is recomputed once per block
/// from the cached leaf hashes, which costs one blake3 compression per entry: about 1 ms per
/// 10,000 entries here. That is the price of the simplest structure that gives inclusion proofs;
/// ARCHITECTURE.md says when to replace it with an incremental tree.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    entries: BTreeMap<Vec<u8>, (Vec<u8>, Hash)>,
    root: Option<Hash>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Inserts one entry directly (loading from disk).
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let leaf = state_leaf(&key, &value);
        self.entries.insert(key, (value, leaf));
        self.root = None;
    }

    fn leaves(&self) -> Vec<Hash> {
        self.entries.values().map(|(_, leaf)| *leaf).collect()
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.get(key).map(|(v, _)| v.as_slice())
    }

    fn apply(&mut self, diff: &StateDiff) {
        for (key, value) in diff {
            match value {
                Some(v) => self.insert(key.clone(), v.clone()),
                None => {
                    self.entries.remove(key);
                }
            }
        }
        self.root = None;
    }

    fn root(&mut self) -> Hash {
        if let Some(root) = self.root {
            return root;
        }
        let root = merkle_root(&self.leaves());
        self.root = Some(root);
        root
    }

    fn prove(&mut self, key: &[u8]) -> Option<(Vec<u8>, MerkleProof)> {
        let index = self.entries.keys().position(|k| k.as_slice() == key)?;
        let value = self.entries.get(key)?.0.clone();
        let proof = MerkleProof::build(&self.leaves(), index)?;
        Some((value, proof))
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        Box::new(self.entries.iter().map(|(k, (v, _))| (k.as_slice(), v.as_slice())))
    }

    fn table_entries(&self, table: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.entries
            .range(vec![table]..)
            .take_while(|(k, _)| k.first() == Some(&table))
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

/// Uncommitted blocks' state over a borrowed [`MemStore`]: the committed state plus the merged
/// diffs of a chain of blocks that are not final yet.
///
/// Under BFT consensus a validator executes a proposal on top of its parent before the parent is
/// final. Copying the whole state per pending block would cost O(state) memory each; a layer
/// costs only what the pending blocks changed. Diff values are absolute, so a layer stays
/// correct while the base advances along the layer's own ancestry (the base then already holds
/// some of the layer's writes, which the layer simply repeats).
#[derive(Debug)]
pub struct Layered<'a> {
    base: &'a MemStore,
    diff: StateDiff,
    root: Option<Hash>,
}

impl<'a> Layered<'a> {
    /// `diff` applied over `base`.
    pub fn new(base: &'a MemStore, diff: StateDiff) -> Self {
        Layered { base, diff, root: None }
    }

    /// Everything written over the base, merged.
    pub fn into_diff(self) -> StateDiff {
        self.diff
    }

    /// Everything written over the base, merged.
    pub fn diff(&self) -> &StateDiff {
        &self.diff
    }

    /// The merged view in key order: base entries not written over, and written values.
    fn merged(&self) -> impl Iterator<Item = (&[u8], Merged<'_>)> + '_ {
        let mut base = self.base.entries.iter().peekable();
        let mut diff = self.diff.iter().peekable();
        std::iter::from_fn(move || loop {
            let take_base = match (base.peek(), diff.peek()) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((bk, _)), Some((dk, _))) => bk < dk,
            };
            if take_base {
                let (key, entry) = base.next()?;
                return Some((key.as_slice(), Merged::Base(entry)));
            }
            let (key, value) = diff.next()?;
            // The write replaces the base entry under the same key, if any.
            if base.peek().is_some_and(|(bk, _)| *bk == key) {
                base.next();
            }
            if let Some(value) = value {
                return Some((key.as_slice(), Merged::Written(value)));
            }
        })
    }

    /// Leaf hashes of the merged view, in key order (cached for base entries).
    fn leaves(&self) -> Vec<Hash> {
        self.merged()
            .map(|(key, entry)| match entry {
                Merged::Base((_, leaf)) => *leaf,
                Merged::Written(value) => state_leaf(key, value),
            })
            .collect()
    }
}

/// One entry of a [`Layered`] view.
#[derive(Clone, Copy)]
enum Merged<'a> {
    /// From the base, with its cached leaf hash.
    Base(&'a (Vec<u8>, Hash)),
    /// Written over the base.
    Written(&'a Vec<u8>),
}

impl<'a> Merged<'a> {
    fn value(self) -> &'a [u8] {
        match self {
            Merged::Base((value, _)) => value,
            Merged::Written(value) => value,
        }
    }
}

impl Store for Layered<'_> {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        match self.diff.get(key) {
            Some(written) => written.as_deref(),
            None => self.base.get(key),
        }
    }

    fn apply(&mut self, diff: &StateDiff) {
        self.diff.extend(diff.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.root = None;
    }

    fn root(&mut self) -> Hash {
        if let Some(root) = self.root {
            return root;
        }
        let root = merkle_root(&self.leaves());
        self.root = Some(root);
        root
    }

    fn prove(&mut self, key: &[u8]) -> Option<(Vec<u8>, MerkleProof)> {
        let value = self.get(key)?.to_vec();
        let index = self.entries().position(|(k, _)| k == key)?;
        let proof = MerkleProof::build(&self.leaves(), index)?;
        Some((value, proof))
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        Box::new(self.merged().map(|(key, entry)| (key, entry.value())))
    }
}

/// Pending writes over a read-only store, in layers: a transaction runs in its own layer that is
/// merged into the block's on success and dropped on failure.
#[derive(Debug)]
pub struct Overlay<'a, S: Store> {
    base: &'a S,
    layers: Vec<StateDiff>,
}

impl<'a, S: Store> Overlay<'a, S> {
    /// An overlay with one (block) layer.
    pub fn new(base: &'a S) -> Self {
        Self {
            base,
            layers: vec![StateDiff::new()],
        }
    }

    /// The value at `key` as the pending writes see it.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        for layer in self.layers.iter().rev() {
            if let Some(value) = layer.get(key) {
                return value.clone();
            }
        }
        self.base.get(key).map(<[u8]>::to_vec)
    }

    /// Every entry of one table as the pending writes see it, in key order (the ledger's only
    /// scan: matching jobs to compute offers).
    pub fn table_entries(&self, table: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .base
            .table_entries(table)
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for layer in &self.layers {
            for (k, v) in layer
                .range(vec![table]..)
                .take_while(|(k, _)| k.first() == Some(&table))
            {
                merged.insert(k.clone(), v.clone());
            }
        }
        merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect()
    }

    /// Writes `value` at `key` in the top layer.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.top().insert(key, Some(value));
    }

    /// Deletes `key` in the top layer.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.top().insert(key, None);
    }

    fn top(&mut self) -> &mut StateDiff {
        if self.layers.is_empty() {
            self.layers.push(StateDiff::new());
        }
        let last = self.layers.len() - 1;
        &mut self.layers[last]
    }

    /// Opens a layer for one transaction's effects.
    pub fn begin(&mut self) {
        self.layers.push(StateDiff::new());
    }

    /// Merges the top layer into the one below.
    pub fn commit(&mut self) {
        debug_assert!(self.layers.len() >= 2, "commit without begin");
        if let Some(top) = self.layers.pop() {
            self.top().extend(top);
        }
    }

    /// Drops the top layer.
    pub fn rollback(&mut self) {
        debug_assert!(self.layers.len() >= 2, "rollback without begin");
        self.layers.pop();
    }

    /// All pending writes, flattened.
    pub fn into_diff(mut self) -> StateDiff {
        while self.layers.len() > 1 {
            self.commit();
        }
        self.layers.pop().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_discards_only_the_top_layer() {
        let mut base = MemStore::new();
        base.insert(b"a".to_vec(), b"1".to_vec());
        let mut overlay = Overlay::new(&base);
        overlay.put(b"b".to_vec(), b"2".to_vec());
        overlay.begin();
        overlay.put(b"a".to_vec(), b"9".to_vec());
        overlay.delete(b"b".to_vec());
        assert_eq!(overlay.get(b"a"), Some(b"9".to_vec()));
        assert_eq!(overlay.get(b"b"), None);
        overlay.rollback();
        assert_eq!(overlay.get(b"a"), Some(b"1".to_vec()));
        assert_eq!(overlay.get(b"b"), Some(b"2".to_vec()));
        let diff = overlay.into_diff();
        assert_eq!(diff.len(), 1);
    }

    #[test]
    fn proof_checks_against_root() {
        let mut store = MemStore::new();
        for i in 0..10u8 {
            store.insert(vec![i], vec![i, i]);
        }
        let root = store.root();
        let (value, proof) = store.prove(&[4]).unwrap();
        assert_eq!(value, vec![4, 4]);
        assert!(proof.verify(state_leaf(&[4], &value), &root));
        assert!(!proof.verify(state_leaf(&[4], &[0]), &root));
    }

    #[test]
    fn root_changes_with_any_value_and_is_cached() {
        let mut a = MemStore::new();
        a.insert(b"k".to_vec(), b"v".to_vec());
        let mut b = a.clone();
        b.apply(&StateDiff::from([(b"k".to_vec(), Some(b"w".to_vec()))]));
        assert_ne!(a.root(), b.root());
        assert_eq!(a.root(), a.clone().root());
    }

    #[test]
    fn layered_matches_the_store_with_the_diff_applied() {
        let mut base = MemStore::new();
        for i in 0..20u8 {
            base.insert(vec![i * 2], vec![i]);
        }
        let diff = StateDiff::from([
            (vec![0], None),
            (vec![3], Some(b"new".to_vec())),
            (vec![4], Some(b"changed".to_vec())),
            (vec![38], None),
            (vec![99], Some(b"last".to_vec())),
        ]);
        let mut applied = base.clone();
        applied.apply(&diff);
        let mut layered = Layered::new(&base, diff);
        assert_eq!(layered.root(), applied.root());
        let merged: Vec<_> = layered.entries().collect();
        let expected: Vec<_> = applied.entries().collect();
        assert_eq!(merged, expected);
        assert_eq!(layered.get(&[0]), None);
        assert_eq!(layered.get(&[2]), Some(&[1u8][..]));
        let (value, proof) = layered.prove(&[3]).unwrap();
        assert!(proof.verify(state_leaf(&[3], &value), &applied.root()));
        layered.apply(&StateDiff::from([(vec![2], None)]));
        applied.apply(&StateDiff::from([(vec![2], None)]));
        assert_eq!(layered.root(), applied.root());
    }
}
