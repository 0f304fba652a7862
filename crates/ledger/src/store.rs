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
}
