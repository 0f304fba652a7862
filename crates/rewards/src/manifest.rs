//! The reward manifest: what each owner is paid for an epoch, committed by a Merkle root.

use crate::RewardError;
use serde::{Deserialize, Serialize};
use trellis_ledger::{execute::reward_leaf, merkle_root, MerkleProof, TxKind};
use trellis_primitives::{AccountAddress, Amount, Epoch, Hash};

/// One owner's total for the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerPayout {
    /// The owner.
    pub owner: AccountAddress,
    /// Sum over its devices (and pool accounts for operations/treasury).
    pub amount: Amount,
}

/// An epoch's manifest. Leaves are `reward_leaf(owner, amount)` in owner order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardManifest {
    /// The epoch.
    pub epoch: Epoch,
    /// Payouts sorted by owner, no zero amounts, no duplicates.
    pub owners: Vec<OwnerPayout>,
    /// Sum of all payouts.
    pub total: Amount,
    /// Merkle root over the leaves.
    pub root: Hash,
}

impl RewardManifest {
    /// Builds the manifest from unsorted (owner, amount) pairs, merging owners.
    pub fn build(epoch: Epoch, mut pairs: Vec<(AccountAddress, Amount)>) -> Result<Self, RewardError> {
        pairs.sort_by_key(|(o, _)| *o);
        let mut owners: Vec<OwnerPayout> = Vec::with_capacity(pairs.len());
        for (owner, amount) in pairs {
            match owners.last_mut() {
                Some(last) if last.owner == owner => {
                    last.amount = last.amount.checked_add(amount).ok_or(RewardError::Overflow)?;
                }
                _ => owners.push(OwnerPayout { owner, amount }),
            }
        }
        owners.retain(|o| !o.amount.is_zero());
        let total = owners.iter().try_fold(Amount::ZERO, |acc, o| {
            acc.checked_add(o.amount).ok_or(RewardError::Overflow)
        })?;
        let root = merkle_root(&leaves(&owners));
        Ok(RewardManifest {
            epoch,
            owners,
            total,
            root,
        })
    }

    /// The proof an owner submits with its claim, if it is in the manifest.
    pub fn proof(&self, owner: &AccountAddress) -> Option<(Amount, MerkleProof)> {
        let index = self.owners.binary_search_by_key(owner, |o| o.owner).ok()?;
        let proof = MerkleProof::build(&leaves(&self.owners), index)?;
        Some((self.owners[index].amount, proof))
    }

    /// The ledger transaction that posts this manifest (to be co-signed by the oracle quorum).
    pub fn post_kind(&self) -> TxKind {
        TxKind::PostRewardManifest {
            epoch: self.epoch,
            root: self.root,
            total: self.total,
            owner_count: self.owners.len() as u32,
        }
    }
}

fn leaves(owners: &[OwnerPayout]) -> Vec<Hash> {
    owners.iter().map(|o| reward_leaf(&o.owner, o.amount)).collect()
}
