//! Burn-and-mint credits and the oracle price they are minted at.

use super::*;

pub(super) fn spend_credits<S: Store>(
    view: View<'_, '_, S>,
    who: &AccountAddress,
    amount: Credits,
) -> Result<(), TxFailure> {
    take_credits(view, who, amount)?;
    update_supply(view, |s| {
        s.credits_spent = s.credits_spent.checked_add(amount)?;
        Some(())
    })
}

/// Adds credits spent on sensor data to `who`'s data allowance: the data gateways meter queries
/// against it.
pub(super) fn add_data_allowance<S: Store>(
    view: View<'_, '_, S>,
    who: &AccountAddress,
    amount: Credits,
) -> Result<(), TxFailure> {
    let key = keys::data_allowance(who);
    let before: Credits = view.read(&key)?.unwrap_or_default();
    write(view, key, &before.checked_add(amount).ok_or(TxFailure::Overflow)?);
    Ok(())
}

/// Moves `amount` out of `who`'s credits (into an escrow, or to be spent).
pub(super) fn take_credits<S: Store>(
    view: View<'_, '_, S>,
    who: &AccountAddress,
    amount: Credits,
) -> Result<(), TxFailure> {
    let mut account = view.account(who)?;
    account.credits = account
        .credits
        .checked_sub(amount)
        .ok_or(TxFailure::InsufficientCredits {
            needed: amount,
            available: account.credits,
        })?;
    write(view, keys::account(who), &account);
    Ok(())
}

/// Adds `amount` to the earnings record at `key`: a device's `storage_earned` or
/// `compute_earned` of an epoch, which the reward engine pays first.
pub(super) fn add_earned<S: Store>(view: View<'_, '_, S>, key: Vec<u8>, amount: Credits) -> Result<(), TxFailure> {
    let earned: Credits = view.read(&key)?.unwrap_or_default();
    write(view, key, &earned.checked_add(amount).ok_or(TxFailure::Overflow)?);
    Ok(())
}

/// Returns `amount` of escrowed credits to `who`.
pub(super) fn return_credits<S: Store>(
    view: View<'_, '_, S>,
    who: &AccountAddress,
    amount: Credits,
) -> Result<(), TxFailure> {
    let mut account = view.account(who)?;
    account.credits = account.credits.checked_add(amount).ok_or(TxFailure::Overflow)?;
    write(view, keys::account(who), &account);
    Ok(())
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

pub(super) fn burn_for_credits<S: Store>(
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
    burn(view, ctx, signer, amount)?;
    let mut account = view.account(beneficiary)?;
    account.credits = account.credits.checked_add(credits).ok_or(TxFailure::Overflow)?;
    write(view, keys::account(beneficiary), &account);
    update_supply(view, |s| {
        s.credits_minted = s.credits_minted.checked_add(credits)?;
        Some(())
    })
}

pub(super) fn post_price<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    micro_usd_per_trl: u64,
) -> Result<(), TxFailure> {
    require_quorum(view, tx, keys::ORACLES, "oracle")?;
    if micro_usd_per_trl == 0 {
        return Err(TxFailure::Invalid("price must be greater than zero".into()));
    }
    write(
        view,
        keys::PRICE.to_vec(),
        &PriceEntry {
            micro_usd_per_trl,
            height: ctx.height,
        },
    );
    // The epoch's last price values the credits its devices earned (`credit_price_in`).
    write(view, keys::epoch_price(ctx.epoch), &micro_usd_per_trl);
    Ok(())
}
