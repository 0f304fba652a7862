//! Devices: onboarding with maker attestation, locations, collateral and slashing.

use super::*;
use crate::tx::Antenna;
use trellis_primitives::Location;

pub(super) fn validate_capabilities(caps: &[Capability]) -> Result<(), TxFailure> {
    for cap in caps {
        let ok = !cap.name.is_empty()
            && cap.name.len() <= MAX_NAME_BYTES
            && cap
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(TxFailure::Invalid(format!(
                "capability name `{}` must be 1..=64 characters of a-z, 0-9 and _",
                cap.name
            )));
        }
    }
    if !caps.windows(2).all(|w| w[0].name < w[1].name) {
        return Err(TxFailure::Invalid(
            "capabilities must be sorted by name with no duplicates".into(),
        ));
    }
    Ok(())
}

pub(super) fn onboard<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    device: &DeviceAddress,
    maker_key: &PublicKey,
    class: DeviceClass,
    capabilities: &[Capability],
) -> Result<(), TxFailure> {
    if view.device(device)?.is_some() {
        return Err(TxFailure::DeviceExists);
    }
    let mut maker: Maker = view
        .read(&keys::maker(maker_key))?
        .ok_or(TxFailure::MakerNotAuthorised)?;
    if !maker.active {
        return Err(TxFailure::MakerNotAuthorised);
    }
    if !has_signer(tx, maker_key) {
        return Err(TxFailure::MissingCosignature("maker"));
    }
    if !has_signer(tx, device.key()) {
        return Err(TxFailure::MissingCosignature("device key"));
    }
    validate_capabilities(capabilities)?;
    let owner = tx.body.signer;
    burn(view, ctx, &owner, ctx.params.onboard_fee)?;
    maker.devices_onboarded = maker.devices_onboarded.checked_add(1).ok_or(TxFailure::Overflow)?;
    write(view, keys::maker(maker_key), &maker);
    let record = Device {
        owner,
        maker: *maker_key,
        class,
        capabilities: capabilities.to_vec(),
        onboarded_height: ctx.height,
        location: None,
        location_count: 0,
        stake: Amount::ZERO,
        slashed: Amount::ZERO,
        slash_count: 0,
    };
    write(view, keys::device(device), &record);
    Ok(())
}

pub(super) fn assert_location<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    device: &DeviceAddress,
    location: Location,
    antenna: Option<Antenna>,
) -> Result<(), TxFailure> {
    let mut dev = owned_device(view, signer, device)?;
    match (dev.class, antenna) {
        (DeviceClass::Hotspot, None) => {
            return Err(TxFailure::Invalid(
                "hotspots must assert antenna gain and elevation".into(),
            ))
        }
        (DeviceClass::Hotspot, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(TxFailure::Invalid("only hotspots assert an antenna".into())),
    }
    super::credits::spend_credits(view, signer, ctx.params.location_fee_credits)?;
    let record = LocationRecord {
        location,
        antenna,
        height: ctx.height,
    };
    write(view, keys::location_history(device, dev.location_count), &record);
    dev.location_count = dev.location_count.checked_add(1).ok_or(TxFailure::Overflow)?;
    dev.location = Some(record);
    write(view, keys::device(device), &dev);
    Ok(())
}

pub(super) fn stake<S: Store>(
    view: View<'_, '_, S>,
    signer: &AccountAddress,
    device: &DeviceAddress,
    amount: Amount,
) -> Result<(), TxFailure> {
    nonzero(amount)?;
    let mut dev = owned_device(view, signer, device)?;
    debit(view, signer, amount)?;
    dev.stake = dev.stake.checked_add(amount).ok_or(TxFailure::Overflow)?;
    write(view, keys::device(device), &dev);
    Ok(())
}

pub(super) fn unstake<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    device: &DeviceAddress,
    amount: Amount,
) -> Result<(), TxFailure> {
    nonzero(amount)?;
    let mut dev = owned_device(view, signer, device)?;
    dev.stake = dev.stake.checked_sub(amount).ok_or(TxFailure::InsufficientStake {
        requested: amount,
        staked: dev.stake,
    })?;
    let mut account = view.account(signer)?;
    if account.unbonding.len() >= MAX_UNBONDING_ENTRIES {
        return Err(TxFailure::UnbondingFull);
    }
    let release_height = ctx
        .height
        .checked_add(ctx.params.unbonding_delay_blocks)
        .ok_or(TxFailure::Overflow)?;
    account.unbonding.push(Unbonding {
        device: *device,
        amount,
        release_height,
    });
    write(view, keys::account(signer), &account);
    write(view, keys::device(device), &dev);
    Ok(())
}

pub(super) fn withdraw<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
) -> Result<(), TxFailure> {
    let mut account = view.account(signer)?;
    let (matured, pending): (Vec<_>, Vec<_>) = account
        .unbonding
        .into_iter()
        .partition(|u| u.release_height <= ctx.height);
    if matured.is_empty() {
        return Err(TxFailure::NothingToWithdraw);
    }
    for entry in &matured {
        account.balance = account.balance.checked_add(entry.amount).ok_or(TxFailure::Overflow)?;
    }
    account.unbonding = pending;
    write(view, keys::account(signer), &account);
    Ok(())
}

pub(super) fn slash<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    device: &DeviceAddress,
    amount: Amount,
    evidence: Hash,
    reason: &str,
) -> Result<(), TxFailure> {
    let verifiers: VerifierKeys = view.read(keys::VERIFIERS)?.unwrap_or_default();
    let verifier = signers(tx)
        .find(|k| verifiers.0.binary_search(k).is_ok())
        .copied()
        .ok_or(TxFailure::MissingCosignature("verifier"))?;
    nonzero(amount)?;
    let taken = seize(view, ctx, device, amount, verifier, evidence, reason)?;
    record_burn(view, ctx, taken)?.ok_or(TxFailure::Overflow)
}

/// Takes up to `amount` of a device's collateral on `evidence` and records the slash; returns
/// what was taken, which the caller must burn or pay out (it is in no balance any more).
pub(super) fn seize<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    device: &DeviceAddress,
    amount: Amount,
    verifier: PublicKey,
    evidence: Hash,
    reason: &str,
) -> Result<Amount, TxFailure> {
    // One piece of evidence slashes once: a verifier cannot replay it to drain a device.
    let evidence_key = keys::slash_evidence(&evidence);
    if view.get(&evidence_key).is_some() {
        return Err(TxFailure::EvidenceUsed(evidence));
    }
    let mut dev = view.device(device)?.ok_or(TxFailure::UnknownDevice)?;
    // Bonded stake first, then the owner's unbonding entries for this device, oldest first:
    // unbonding must not be an escape hatch from evidence that arrives late.
    let from_stake = amount.min(dev.stake);
    dev.stake = dev.stake.checked_sub(from_stake).ok_or(TxFailure::Overflow)?;
    let mut remaining = amount.checked_sub(from_stake).ok_or(TxFailure::Overflow)?;
    let mut owner = view.account(&dev.owner)?;
    for entry in owner.unbonding.iter_mut().filter(|u| &u.device == device) {
        let take = remaining.min(entry.amount);
        entry.amount = entry.amount.checked_sub(take).ok_or(TxFailure::Overflow)?;
        remaining = remaining.checked_sub(take).ok_or(TxFailure::Overflow)?;
    }
    owner.unbonding.retain(|u| !u.amount.is_zero());
    let taken = amount.checked_sub(remaining).ok_or(TxFailure::Overflow)?;
    if taken.is_zero() {
        return Err(TxFailure::NothingToSlash);
    }
    let record = SlashRecord {
        amount: taken,
        verifier,
        evidence,
        reason: reason.to_string(),
        height: ctx.height,
    };
    write(view, keys::slash(device, dev.slash_count), &record);
    write(view, evidence_key, &ctx.height);
    dev.slash_count = dev.slash_count.checked_add(1).ok_or(TxFailure::Overflow)?;
    dev.slashed = dev.slashed.checked_add(taken).ok_or(TxFailure::Overflow)?;
    write(view, keys::device(device), &dev);
    write(view, keys::account(&dev.owner), &owner);
    Ok(taken)
}
