//! Executing one transaction against pending state.
//!
//! [`admit`] performs the checks that decide whether a transaction may be in a block at all and
//! charges its fee; [`apply`] then runs its effect in a layer of its own, which the caller drops
//! if it fails. Signatures were verified for the whole block before either runs.

mod compute;
mod credits;
mod devices;
mod egress;
mod governance;
mod rewards;
mod storage;

pub use compute::{
    drawn_for_replay, replay_status, sampled as compute_sampled, verified_units as compute_verified_units,
    ReplayStatus, MAX_SLOTS,
};
pub use storage::CLOSE_GRACE_EPOCHS;

pub use credits::credits_for_burn;
pub use rewards::reward_leaf;

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
    // The burn first: it writes nothing unless it succeeds, so a refused transaction leaves no
    // trace. (Burned never exceeds issued, a u64, so it cannot overflow; checked all the same.)
    record_burn(view, ctx, body.fee)?.ok_or(RejectReason::SupplyOverflow)?;
    write(view, keys::account(&body.signer), &account);
    Ok(())
}

/// Adds `amount` to the supply's burned total and to the epoch's burn record. `None` on overflow.
fn record_burn<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    amount: Amount,
) -> Result<Option<()>, crate::state::CorruptState> {
    let mut supply = view.supply()?;
    let key = keys::epoch_burn(ctx.epoch);
    let in_epoch: Amount = view.read(&key)?.unwrap_or_default();
    let (Some(burned), Some(in_epoch)) = (supply.burned.checked_add(amount), in_epoch.checked_add(amount)) else {
        return Ok(None);
    };
    supply.burned = burned;
    write(view, keys::SUPPLY.to_vec(), &supply);
    write(view, key, &in_epoch);
    Ok(Some(()))
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
        } => devices::onboard(view, tx, ctx, device, maker, *class, capabilities),
        TxKind::AssertLocation {
            device,
            location,
            antenna,
        } => devices::assert_location(view, ctx, &signer, device, *location, *antenna),
        TxKind::BurnForCredits { amount, beneficiary } => {
            credits::burn_for_credits(view, ctx, &signer, *amount, beneficiary)
        }
        TxKind::SpendCredits { amount, purpose } => {
            if amount.0 == 0 {
                return Err(TxFailure::ZeroAmount);
            }
            credits::spend_credits(view, &signer, *amount)?;
            if *purpose == crate::state::DATA_ACCESS {
                credits::add_data_allowance(view, &signer, *amount)?;
            }
            Ok(())
        }
        TxKind::Stake { device, amount } => devices::stake(view, &signer, device, *amount),
        TxKind::Unstake { device, amount } => devices::unstake(view, ctx, &signer, device, *amount),
        TxKind::WithdrawUnbonded => devices::withdraw(view, ctx, &signer),
        TxKind::Slash {
            device,
            amount,
            evidence,
            reason,
        } => devices::slash(view, tx, ctx, device, *amount, *evidence, reason),
        TxKind::PostPrice { micro_usd_per_trl } => credits::post_price(view, tx, ctx, *micro_usd_per_trl),
        TxKind::PostRewardManifest {
            epoch,
            root,
            total,
            owner_count,
        } => rewards::post_manifest(view, tx, ctx, *epoch, *root, *total, *owner_count),
        TxKind::ClaimReward {
            epoch,
            owner,
            amount,
            proof,
        } => rewards::claim(view, *epoch, owner, *amount, proof),
        TxKind::Governance { action } => {
            require_quorum(view, tx, keys::ADMINS, "admin")?;
            governance::govern(view, ctx, action)
        }
        TxKind::SetEndpoint { device, url } => storage::set_endpoint(view, &signer, device, url),
        TxKind::OpenDeal { terms } => storage::open_deal(view, ctx, &signer, terms),
        TxKind::MovePiece { deal, index, provider } => storage::move_piece(view, tx, ctx, deal, *index, provider),
        TxKind::SettleDeal { deal, epoch, proven } => storage::settle_deal(view, tx, ctx, deal, *epoch, proven),
        TxKind::CloseDeal { deal } => storage::close_deal(view, ctx, &signer, deal),
        TxKind::Compute(op) => compute::apply(view, tx, ctx, op),
        TxKind::ClaimEgress { device, claims } => egress::claim_egress(view, ctx, &signer, device, claims),
        TxKind::ReportPiece { deal, index } => storage::report_piece(view, ctx, &signer, deal, *index),
    }
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

fn burn<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    who: &AccountAddress,
    amount: Amount,
) -> Result<(), TxFailure> {
    debit(view, who, amount)?;
    record_burn(view, ctx, amount)?.ok_or(TxFailure::Overflow)
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

/// Sums every account's credits and every deal's and job's escrow: the credits the state holds. Must
/// equal `credits_minted - credits_spent`.
pub fn held_credits<S: Store>(store: &S) -> Result<u128, crate::state::CorruptState> {
    use trellis_primitives::Decode;
    let mut total: u128 = 0;
    for (key, value) in store.entries() {
        let corrupt = |source| crate::state::CorruptState {
            key: format!("{key:02x?}"),
            source,
        };
        match key.first() {
            Some(&keys::ACCOUNT_TABLE) => total += u128::from(Account::from_bytes(value).map_err(corrupt)?.credits.0),
            Some(&keys::DEAL_TABLE) => {
                total += u128::from(crate::state::Deal::from_bytes(value).map_err(corrupt)?.escrow.0)
            }
            Some(&keys::JOB_TABLE) => {
                total += u128::from(crate::state::Job::from_bytes(value).map_err(corrupt)?.escrow.0)
            }
            _ => {}
        }
    }
    Ok(total)
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
