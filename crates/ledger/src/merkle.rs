//! A binary Merkle tree over an ordered list of leaf hashes, with inclusion proofs.
//!
//! Shape: leaves pair up left to right; an odd node at the end of a level is promoted unchanged
//! to the next level (no duplication, so no CVE-2012-2459-style second-preimage ambiguity). Inner
//! nodes are hashed in their own domain, so a leaf can never pose as a node. The empty tree's root
//! is [`Hash::ZERO`].
//!
//! Used for the state root, each block's transaction root and reward manifests.

use serde::{Deserialize, Serialize};
use trellis_primitives::{
    codec::{put_list, Decode, DecodeError, Encode, Reader},
    Hash, HashDomain,
};

/// The most siblings a proof may carry: enough for 2^64 leaves.
pub const MAX_PROOF_DEPTH: usize = 64;

fn node(left: &Hash, right: &Hash) -> Hash {
    HashDomain::MerkleNode.hash_parts(&[left.as_bytes(), right.as_bytes()])
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [left, right] => node(left, right),
            [single] => *single,
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The root over `leaves` in order.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Hash::ZERO,
        [only] => *only,
        _ => {
            let mut level = next_level(leaves);
            while level.len() > 1 {
                level = next_level(&level);
            }
            level[0]
        }
    }
}

/// Proof that a leaf sits at `index` among `leaf_count` leaves under some root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// The leaf's position.
    pub index: u64,
    /// How many leaves the tree has.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf level up.
    pub siblings: Vec<Hash>,
}

impl MerkleProof {
    /// Builds the proof for `leaves[index]`, or `None` when out of range.
    pub fn build(leaves: &[Hash], index: usize) -> Option<Self> {
        Self::build_many(leaves, &[index])?.pop()
    }

    /// The proofs of several leaves, hashing the tree once instead of once per proof (a storage
    /// challenge asks for many chunks of one large piece). `None` if any index is out of range.
    pub fn build_many(leaves: &[Hash], indexes: &[usize]) -> Option<Vec<Self>> {
        if indexes.iter().any(|&i| i >= leaves.len()) {
            return None;
        }
        let mut levels = vec![leaves.to_vec()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = next_level(levels.last()?);
            levels.push(next);
        }
        let proofs = indexes
            .iter()
            .map(|&index| {
                let mut idx = index;
                let mut siblings = Vec::new();
                for level in &levels[..levels.len() - 1] {
                    let sibling = if idx % 2 == 1 {
                        Some(idx - 1)
                    } else {
                        Some(idx + 1).filter(|s| *s < level.len())
                    };
                    if let Some(s) = sibling {
                        siblings.push(level[s]);
                    }
                    idx /= 2;
                }
                MerkleProof {
                    index: index as u64,
                    leaf_count: leaves.len() as u64,
                    siblings,
                }
            })
            .collect();
        Some(proofs)
    }

    /// Whether `leaf` is included under `root` at this proof's position.
    pub fn verify(&self, leaf: Hash, root: &Hash) -> bool {
        if self.index >= self.leaf_count || self.siblings.len() > MAX_PROOF_DEPTH {
            return false;
        }
        let mut hash = leaf;
        let (mut idx, mut count) = (self.index, self.leaf_count);
        let mut siblings = self.siblings.iter();
        while count > 1 {
            if idx % 2 == 1 {
                let Some(s) = siblings.next() else { return false };
                hash = node(s, &hash);
            } else if idx + 1 < count {
                let Some(s) = siblings.next() else { return false };
                hash = node(&hash, s);
            }
            idx /= 2;
            count = count.div_ceil(2);
        }
        siblings.next().is_none() && &hash == root
    }
}

impl Encode for MerkleProof {
    fn encode(&self, out: &mut Vec<u8>) {
        self.index.encode(out);
        self.leaf_count.encode(out);
        put_list(out, &self.siblings);
    }
}

impl Decode for MerkleProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MerkleProof {
            index: reader.u64()?,
            leaf_count: reader.u64()?,
            siblings: reader.list("merkle proof", MAX_PROOF_DEPTH)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| HashDomain::StateLeaf.hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_proves_for_every_tree_size_up_to_33() {
        for n in 1..=33 {
            let leaves = leaves(n);
            let root = merkle_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = MerkleProof::build(&leaves, i).unwrap();
                assert!(proof.verify(*leaf, &root), "n={n} i={i}");
                let other = HashDomain::StateLeaf.hash(b"other");
                assert!(!proof.verify(other, &root), "n={n} i={i}");
                let mut moved = proof.clone();
                moved.index = (moved.index + 1) % n as u64;
                assert!(n == 1 || !moved.verify(*leaf, &root), "n={n} i={i}");
            }
        }
    }

    #[test]
    fn proofs_built_together_equal_proofs_built_one_by_one() {
        for n in 1..=33 {
            let leaves = leaves(n);
            let all: Vec<usize> = (0..n).rev().collect();
            let many = MerkleProof::build_many(&leaves, &all).unwrap();
            for (proof, &i) in many.iter().zip(&all) {
                assert_eq!(Some(proof), MerkleProof::build(&leaves, i).as_ref(), "n={n} i={i}");
            }
            assert_eq!(MerkleProof::build_many(&leaves, &[0, n]), None);
        }
    }

    #[test]
    fn root_of_three_is_written_out() {
        let l = leaves(3);
        assert_eq!(merkle_root(&l), node(&node(&l[0], &l[1]), &l[2]));
        assert_eq!(merkle_root(&[]), Hash::ZERO);
        assert_eq!(merkle_root(&l[..1]), l[0]);
    }

    #[test]
    fn proof_with_extra_sibling_fails() {
        let l = leaves(4);
        let root = merkle_root(&l);
        let mut proof = MerkleProof::build(&l, 2).unwrap();
        proof.siblings.push(Hash::ZERO);
        assert!(!proof.verify(l[2], &root));
    }
}
