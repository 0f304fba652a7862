//! Executing one transaction against pending state.
//!
//! [`admit`] performs the checks that decide whether a transaction may be in a block at all and
//! charges its fee; [`apply`] then runs its effect in a layer of its own, which the caller drops
//! if it fails. Signatures were verified for the whole block before either runs.

use crate::{
    error::{RejectReason, TxFailure},
    params::Params,
    state::{
        keys, write, Account, Device, LocationRecord, Maker, Manifest, PriceEntry, SlashRecord, StateRead, Supply,
        VerifierKeys, MAX_UNBONDING_ENTRIES,
    },
    store::{Overlay, Store},
    tx::{Capability, Committee, DeviceClass, GovAction, Transaction, TxKind, MAX_COMMITTEE, MAX_NAME_BYTES},
    Unbonding,
};
use trellis_primitives::{
    AccountAddress, Amount, Credits, DeviceAddress, Epoch, Hash, HashDomain, PublicKey, UNITS_PER_TRL,
};

/// What a transaction may know about the block it is in.
#[derive(Debug, Clone)]
pub struct BlockContext {
    /// The block's height.
    pub height: u64,
    /// The epoch the block is in.
    pub epoch: Epoch,
    /// Parameters in force for the whole block (changes apply from the next block).
    pub params: Params,
    /// The chain id.
    pub chain_id: String,
}

type View<'o, 'a, S> = &'o mut Overlay<'a, S>;

/// Checks chain, nonce and fee, then charges the fee and consumes the nonce.
pub fn admit<S: Store>(view: View<'_, '_, S>, tx: &Transaction, ctx: &BlockContext) -> Result<(), RejectReason> {
    let body = &tx.body;
    if body.chain_id != ctx.chain_id {
        return Err(RejectReason::WrongChain {
            expected: ctx.chain_id.clone(),
            found: body.chain_id.clone(),
        });
    }
    let mut account = view.account(&body.signer)?;
    if body.nonce != account.nonce {
        return Err(RejectReason::BadNonce {
            expected: account.nonce,
            found: body.nonce,
        });
    }
    if body.fee < ctx.params.min_fee {
        return Err(RejectReason::FeeTooLow {
            min: ctx.params.min_fee,
            offered: body.fee,
        });
    }
    account.balance = account
        .balance
        .checked_sub(body.fee)
        .ok_or(RejectReason::CannotPayFee {
            fee: body.fee,
            available: account.balance,
        })?;
    account.nonce += 1;
    let mut supply = view.supply()?;
    // Burned can never exceed issued, and the fee came out of issued money, so this cannot overflow.
    supply.burned = supply.burned.checked_add(body.fee).unwrap_or(supply.burned);
    write(view, keys::account(&body.signer), &account);
    write(view, keys::SUPPLY.to_vec(), &supply);
    Ok(())
}

/// Runs the transaction's effect.
pub fn apply<S: Store>(view: View<'_, '_, S>, tx: &Transaction, ctx: &BlockContext) -> Result<(), TxFailure> {
    let signer = tx.body.signer;
    match &tx.body.kind {
        TxKind::Transfer { to, amount } => transfer(view, &signer, to, *amount),
        TxKind::OnboardDevice {
            device,
            maker,
            class,
            capabilities,
        } => onboard(view, tx, ctx, device, maker, *class, capabilities),
        TxKind::AssertLocation {
            device,
            location,
            antenna,
        } => {
            let mut dev = owned_device(view, &signer, device)?;
            match (dev.class, antenna) {
                (DeviceClass::Hotspot, None) => {
                    return Err(TxFailure::Invalid(
                        "hotspots must assert antenna gain and elevation".into(),
                    ))
                }
                (DeviceClass::Hotspot, Some(_)) | (_, None) => {}
                (_, Some(_)) => return Err(TxFailure::Invalid("only hotspots assert an antenna".into())),
            }
            spend_credits(view, &signer, ctx.params.location_fee_credits)?;
            let record = LocationRecord {
                location: *location,
                antenna: *antenna,
                height: ctx.height,
            };
            write(view, keys::location_history(device, dev.location_count), &record);
            dev.location_count = dev.location_count.checked_add(1).ok_or(TxFailure::Overflow)?;
            dev.location = Some(record);
            write(view, keys::device(device), &dev);
            Ok(())
        }
        TxKind::BurnForCredits { amount, beneficiary } => burn_for_credits(view, ctx, &signer, *amount, beneficiary),
        TxKind::SpendCredits { amount, purpose: _ } => {
            if amount.0 == 0 {
                return Err(TxFailure::ZeroAmount);
            }
            spend_credits(view, &signer, *amount)
        }
        TxKind::Stake { device, amount } => {
            nonzero(*amount)?;
            let mut dev = owned_device(view, &signer, device)?;
            debit(view, &signer, *amount)?;
            dev.stake = dev.stake.checked_add(*amount).ok_or(TxFailure::Overflow)?;
            write(view, keys::device(device), &dev);
            Ok(())
        }
        TxKind::Unstake { device, amount } => unstake(view, ctx, &signer, device, *amount),
        TxKind::WithdrawUnbonded => withdraw(view, ctx, &signer),
        TxKind::Slash {
            device,
            amount,
            evidence,
            reason,
        } => slash(view, tx, ctx, device, *amount, *evidence, reason),
        TxKind::PostPrice { micro_usd_per_trl } => {
            require_quorum(view, tx, keys::ORACLES, "oracle")?;
            if *micro_usd_per_trl == 0 {
                return Err(TxFailure::Invalid("price must be greater than zero".into()));
            }
            write(
                view,
                keys::PRICE.to_vec(),
                &PriceEntry {
                    micro_usd_per_trl: *micro_usd_per_trl,
                    height: ctx.height,
                },
            );
            Ok(())
        }
        TxKind::PostRewardManifest {
            epoch,
            root,
            total,
            owner_count,
        } => post_manifest(view, tx, ctx, *epoch, *root, *total, *owner_count),
        TxKind::ClaimReward {
            epoch,
            owner,
            amount,
            proof,
        } => {
            let key = keys::manifest(*epoch);
            let mut manifest: Manifest = view.read(&key)?.ok_or(TxFailure::NoManifest(epoch.0))?;
            let claim_key = keys::claim(*epoch, owner);
            if view.get(&claim_key).is_some() {
                return Err(TxFailure::AlreadyClaimed);
            }
            if !proof.verify(reward_leaf(owner, *amount), &manifest.root)
                || proof.leaf_count != u64::from(manifest.owner_count)
            {
                return Err(TxFailure::BadProof(manifest.root));
            }
            manifest.claimed = manifest.claimed.checked_add(*amount).ok_or(TxFailure::Overflow)?;
            if manifest.claimed > manifest.total {
                return Err(TxFailure::ClaimExceedsManifest);
            }
            credit(view, owner, *amount)?;
            write(view, key, &manifest);
            write(view, claim_key, amount);
            Ok(())
        }
        TxKind::Governance { action } => {
            require_quorum(view, tx, keys::ADMINS, "admin")?;
            govern(view, ctx, action)
        }
    }
}

/// The manifest leaf for `owner` receiving `amount`.
pub fn reward_leaf(owner: &AccountAddress, amount: Amount) -> Hash {
    HashDomain::RewardLeaf.hash_parts(&[&owner.key().0, &amount.units().to_le_bytes()])
}

fn nonzero(amount: Amount) -> Result<(), TxFailure> {
    if amount.is_zero() {
        Err(TxFailure::ZeroAmount)
    } else {
        Ok(())
    }
}

fn debit<S: Store>(view: View<'_, '_, S>, who: &AccountAddress, amount: Amount) -> Result<(), TxFailure> {
    let mut account = view.account(who)?;
    account.balance = account
        .balance
        .checked_sub(amount)
        .ok_or(TxFailure::InsufficientBalance {
            needed: amount,
            available: account.balance,
        })?;
    write(view, keys::account(who), &account);
    Ok(())
}

fn credit<S: Store>(view: View<'_, '_, S>, who: &AccountAddress, amount: Amount) -> Result<(), TxFailure> {
    let mut account = view.account(who)?;
    account.balance = account.balance.checked_add(amount).ok_or(TxFailure::Overflow)?;
    write(view, keys::account(who), &account);
    Ok(())
}

fn update_supply<S: Store>(view: View<'_, '_, S>, f: impl FnOnce(&mut Supply) -> Option<()>) -> Result<(), TxFailure> {
    let mut supply = view.supply()?;
    f(&mut supply).ok_or(TxFailure::Overflow)?;
    write(view, keys::SUPPLY.to_vec(), &supply);
    Ok(())
}

fn burn<S: Store>(view: View<'_, '_, S>, who: &AccountAddress, amount: Amount) -> Result<(), TxFailure> {
    debit(view, who, amount)?;
    update_supply(view, |s| {
        s.burned = s.burned.checked_add(amount)?;
        Some(())
    })
}

fn transfer<S: Store>(
    view: View<'_, '_, S>,
    from: &AccountAddress,
    to: &AccountAddress,
    amount: Amount,
) -> Result<(), TxFailure> {
    nonzero(amount)?;
    debit(view, from, amount)?;
    credit(view, to, amount)
}

fn owned_device<S: Store>(
    view: View<'_, '_, S>,
    signer: &AccountAddress,
    device: &DeviceAddress,
) -> Result<Device, TxFailure> {
    let dev = view.device(device)?.ok_or(TxFailure::UnknownDevice)?;
    if &dev.owner != signer {
        return Err(TxFailure::NotDeviceOwner);
    }
    Ok(dev)
}

fn signers(tx: &Transaction) -> impl Iterator<Item = &PublicKey> {
    std::iter::once(tx.body.signer.key()).chain(tx.cosignatures.iter().map(|c| &c.key))
}

fn has_signer(tx: &Transaction, key: &PublicKey) -> bool {
    signers(tx).any(|k| k == key)
}

fn require_quorum<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    key: &[u8],
    committee: &'static str,
) -> Result<(), TxFailure> {
    let members: Committee = view.read(key)?.ok_or(TxFailure::QuorumNotMet {
        committee,
        need: 1,
        have: 0,
    })?;
    let have = members.count_members(signers(tx)) as u32;
    if have < members.threshold {
        return Err(TxFailure::QuorumNotMet {
            committee,
            need: members.threshold,
            have,
        });
    }
    Ok(())
}

fn validate_capabilities(caps: &[Capability]) -> Result<(), TxFailure> {
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

fn onboard<S: Store>(
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
    burn(view, &owner, ctx.params.onboard_fee)?;
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

fn spend_credits<S: Store>(view: View<'_, '_, S>, who: &AccountAddress, amount: Credits) -> Result<(), TxFailure> {
    let mut account = view.account(who)?;
    account.credits = account
        .credits
        .checked_sub(amount)
        .ok_or(TxFailure::InsufficientCredits {
            needed: amount,
            available: account.credits,
        })?;
    write(view, keys::account(who), &account);
    update_supply(view, |s| {
        s.credits_spent = s.credits_spent.checked_add(amount)?;
        Some(())
    })
}

/// Credits bought by burning `amount` at `micro_usd_per_trl` when one credit is worth
/// `credit_price_micro_usd`: `units × price / (10^8 × credit_price)`, rounded down. The
/// rounding remainder is burned with the rest (the buyer chose the amount).
pub fn credits_for_burn(amount: Amount, micro_usd_per_trl: u64, credit_price_micro_usd: u64) -> Option<Credits> {
    let numerator = u128::from(amount.units()).checked_mul(u128::from(micro_usd_per_trl))?;
    let denominator = u128::from(UNITS_PER_TRL).checked_mul(u128::from(credit_price_micro_usd))?;
    let credits = numerator.checked_div(denominator)?;
    u64::try_from(credits).ok().map(Credits)
}

fn burn_for_credits<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    amount: Amount,
    beneficiary: &AccountAddress,
) -> Result<(), TxFailure> {
    nonzero(amount)?;
    let price: PriceEntry = view.read(keys::PRICE)?.ok_or(TxFailure::NoPrice)?;
    if ctx.height.saturating_sub(price.height) > ctx.params.price_max_age_blocks {
        return Err(TxFailure::StalePrice {
            posted: price.height,
            max_age: ctx.params.price_max_age_blocks,
        });
    }
    let credits = credits_for_burn(amount, price.micro_usd_per_trl, ctx.params.credit_price_micro_usd)
        .ok_or(TxFailure::Overflow)?;
    if credits.0 == 0 {
        return Err(TxFailure::BurnTooSmall);
    }
    burn(view, signer, amount)?;
    let mut account = view.account(beneficiary)?;
    account.credits = account.credits.checked_add(credits).ok_or(TxFailure::Overflow)?;
    write(view, keys::account(beneficiary), &account);
    update_supply(view, |s| {
        s.credits_minted = s.credits_minted.checked_add(credits)?;
        Some(())
    })
}

fn unstake<S: Store>(
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

fn withdraw<S: Store>(view: View<'_, '_, S>, ctx: &BlockContext, signer: &AccountAddress) -> Result<(), TxFailure> {
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

fn slash<S: Store>(
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
    dev.slash_count = dev.slash_count.checked_add(1).ok_or(TxFailure::Overflow)?;
    dev.slashed = dev.slashed.checked_add(taken).ok_or(TxFailure::Overflow)?;
    write(view, keys::device(device), &dev);
    write(view, keys::account(&dev.owner), &owner);
    update_supply(view, |s| {
        s.burned = s.burned.checked_add(taken)?;
        Some(())
    })
}

fn post_manifest<S: Store>(
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

fn govern<S: Store>(view: View<'_, '_, S>, ctx: &BlockContext, action: &GovAction) -> Result<(), TxFailure> {
    match action {
        GovAction::RegisterMaker { key, name } => {
            if name.trim().is_empty() {
                return Err(TxFailure::Invalid("maker name must not be empty".into()));
            }
            let devices_onboarded = view
                .read::<Maker>(&keys::maker(key))?
                .map_or(0, |m| m.devices_onboarded);
            let maker = Maker {
                name: name.clone(),
                active: true,
                registered_height: ctx.height,
                devices_onboarded,
            };
            write(view, keys::maker(key), &maker);
        }
        GovAction::RevokeMaker { key } => {
            let mut maker: Maker = view.read(&keys::maker(key))?.ok_or(TxFailure::MakerNotAuthorised)?;
            maker.active = false;
            write(view, keys::maker(key), &maker);
        }
        GovAction::SetParams { params } => {
            params.validate().map_err(|e| TxFailure::Invalid(e.0))?;
            write(view, keys::PARAMS.to_vec(), params);
        }
        GovAction::SetOracles { committee } => {
            committee.validate("oracles").map_err(TxFailure::Invalid)?;
            write(view, keys::ORACLES.to_vec(), committee);
        }
        GovAction::SetAdmins { committee } => {
            committee.validate("admins").map_err(TxFailure::Invalid)?;
            write(view, keys::ADMINS.to_vec(), committee);
        }
        GovAction::SetVerifiers { keys: verifier_keys } => {
            if verifier_keys.len() > MAX_COMMITTEE || !verifier_keys.windows(2).all(|w| w[0] < w[1]) {
                return Err(TxFailure::Invalid(
                    "verifier keys must be sorted, unique and at most 64".into(),
                ));
            }
            write(view, keys::VERIFIERS.to_vec(), &VerifierKeys(verifier_keys.clone()));
        }
    }
    Ok(())
}

/// Sums every account, bond, unbonding entry and unclaimed manifest: the TRL the state holds.
/// Must equal [`Supply::circulating`]. Used by tests and by `trellis chain verify`.
pub fn held_total<S: Store>(store: &S) -> Result<u128, crate::state::CorruptState> {
    use trellis_primitives::Decode;
    let mut total: u128 = 0;
    for (key, value) in store.entries() {
        let corrupt = |source| crate::state::CorruptState {
            key: format!("{key:02x?}"),
            source,
        };
        match key.first() {
            Some(&keys::ACCOUNT_TABLE) => {
                let a = Account::from_bytes(value).map_err(corrupt)?;
                total += u128::from(a.balance.units());
                total += a.unbonding.iter().map(|u| u128::from(u.amount.units())).sum::<u128>();
            }
            Some(&keys::DEVICE_TABLE) => total += u128::from(Device::from_bytes(value).map_err(corrupt)?.stake.units()),
            Some(&keys::MANIFEST_TABLE) => {
                let m = Manifest::from_bytes(value).map_err(corrupt)?;
                total += u128::from(m.total.units().saturating_sub(m.claimed.units()));
            }
            _ => {}
        }
    }
    Ok(total)
}
