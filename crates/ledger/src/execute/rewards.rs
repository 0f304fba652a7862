//! Reward manifests (posted by the oracle quorum) and claims against them.

use super::*;
use crate::merkle::MerkleProof;

/// The manifest leaf for `owner` receiving `amount`.
pub fn reward_leaf(owner: &AccountAddress, amount: Amount) -> Hash {
    HashDomain::RewardLeaf.hash_parts(&[&owner.key().0, &amount.units().to_le_bytes()])
}

pub(super) fn post_manifest<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    epoch: Epoch,
    root: Hash,
    total: Amount,
    owner_count: u32,
) -> Result<(), TxFailure> {
    require_quorum(view, tx, keys::ORACLES, "oracle")?;
    if epoch >= ctx.epoch {
        return Err(TxFailure::EpochNotComplete {
            epoch: epoch.0,
            current: ctx.epoch.0,
        });
    }
    let key = keys::manifest(epoch);
    if view.get(&key).is_some() {
        return Err(TxFailure::ManifestExists(epoch.0));
    }
    if total > ctx.params.max_manifest_total {
        return Err(TxFailure::ManifestTooLarge {
            total,
            max: ctx.params.max_manifest_total,
        });
    }
    if (owner_count == 0) != total.is_zero() {
        return Err(TxFailure::Invalid(
            "a manifest pays a positive total to at least one owner, or nothing to no one".into(),
        ));
    }
    update_supply(view, |s| {
        s.issued = s.issued.checked_add(total)?;
        Some(())
    })?;
    write(
        view,
        key,
        &Manifest {
            root,
            total,
            owner_count,
            claimed: Amount::ZERO,
            posted_height: ctx.height,
        },
    );
    Ok(())
}

pub(super) fn claim<S: Store>(
    view: View<'_, '_, S>,
    epoch: Epoch,
    owner: &AccountAddress,
    amount: Amount,
    proof: &MerkleProof,
) -> Result<(), TxFailure> {
    let key = keys::manifest(epoch);
    let mut manifest: Manifest = view.read(&key)?.ok_or(TxFailure::NoManifest(epoch.0))?;
    let claim_key = keys::claim(epoch, owner);
    if view.get(&claim_key).is_some() {
        return Err(TxFailure::AlreadyClaimed);
    }
    if !proof.verify(reward_leaf(owner, amount), &manifest.root) || proof.leaf_count != u64::from(manifest.owner_count)
    {
        return Err(TxFailure::BadProof(manifest.root));
    }
    manifest.claimed = manifest.claimed.checked_add(amount).ok_or(TxFailure::Overflow)?;
    if manifest.claimed > manifest.total {
        return Err(TxFailure::ClaimExceedsManifest);
    }
    credit(view, owner, amount)?;
    write(view, key, &manifest);
    write(view, claim_key, &amount);
    Ok(())
}
