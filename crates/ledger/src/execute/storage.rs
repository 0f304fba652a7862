//! Storage deals: escrow on open, piece moves for repair, per-epoch settlement, close.
//!
//! Credit accounting: opening moves credits from the client into the deal's escrow; settling
//! moves the epoch price of every proven piece out of escrow into the provider's earnings for
//! that epoch (counted as spent: the reward engine pays earnings in TRL); closing pays the running
//! epoch's part so far the same way (see `close_pay`) and returns what is left to the client. So
//! `Σ account credits + Σ escrow == minted − spent` always holds.

use super::*;
use crate::state::{Deal, PieceReport};
use crate::tx::{DealTerms, MAX_URL_BYTES};

/// Publishes (or with an empty URL removes) where a device serves clients.
pub(super) fn set_endpoint<S: Store>(
    view: View<'_, '_, S>,
    signer: &AccountAddress,
    device: &DeviceAddress,
    url: &str,
) -> Result<(), TxFailure> {
    owned_device(view, signer, device)?;
    if url.is_empty() {
        view.delete(keys::endpoint(device));
        return Ok(());
    }
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok || url.len() > MAX_URL_BYTES || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TxFailure::Invalid(format!(
            "endpoint must be an http:// or https:// URL of at most {MAX_URL_BYTES} bytes without spaces"
        )));
    }
    view.put(keys::endpoint(device), url.as_bytes().to_vec());
    Ok(())
}

/// Whether `device` may hold a piece of a deal priced at `price`.
fn check_provider<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    device: &DeviceAddress,
    price: Credits,
) -> Result<(), TxFailure> {
    let refuse = |why: String| TxFailure::NotStorageProvider { device: *device, why };
    let dev = view.device(device)?.ok_or_else(|| refuse("not registered".into()))?;
    if dev.class != DeviceClass::Storage {
        return Err(refuse(format!("it is a {} device", dev.class.name())));
    }
    let reputation = view.reputation(device)?;
    if reputation.disqualified() {
        return Err(refuse(format!(
            "it is disqualified by failed audits (reputation {} ppm, minimum {})",
            reputation.score_ppm(),
            crate::state::REPUTATION_DQ_PPM
        )));
    }
    if dev.stake < ctx.params.storage_min_collateral {
        return Err(refuse(format!(
            "collateral {} is below the required {}",
            dev.stake, ctx.params.storage_min_collateral
        )));
    }
    let asked = dev.capabilities.iter().find(|c| c.name == "price_per_gib_epoch");
    if let Some(asked) = asked.filter(|c| c.value > price.0) {
        return Err(refuse(format!(
            "it asks {} credits per GiB-epoch, the deal offers {price}",
            asked.value
        )));
    }
    Ok(())
}

pub(super) fn open_deal<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    terms: &DealTerms,
) -> Result<(), TxFailure> {
    terms.validate().map_err(TxFailure::Invalid)?;
    let id = terms.commitment(signer);
    if view.deal(&id)?.is_some() || view.raw(&keys::deal_closed(&id)).is_some() {
        return Err(TxFailure::DealExists(id));
    }
    for piece in &terms.pieces {
        check_provider(view, ctx, &piece.provider, terms.price_per_gib_epoch)?;
    }
    let escrow = terms.escrow().ok_or(TxFailure::Overflow)?;
    if escrow.0 == 0 {
        return Err(TxFailure::Invalid("the deal pays nothing: raise the price".into()));
    }
    super::credits::take_credits(view, signer, escrow)?;
    let deal = Deal {
        client: *signer,
        terms: terms.clone(),
        // Paid from the first full epoch after opening: the rest of this one is the upload
        // window, so an honest provider is never audited for a piece still on its way.
        start_epoch: Epoch(ctx.epoch.0.checked_add(1).ok_or(TxFailure::Overflow)?),
        escrow,
        paid: Credits(0),
        settled_epochs: 0,
    };
    write(view, keys::deal(&id), &deal);
    Ok(())
}

fn open<S: Store>(view: View<'_, '_, S>, id: &Hash) -> Result<Deal, TxFailure> {
    view.deal(id)?.ok_or(TxFailure::UnknownDeal(*id))
}

fn has_verifier<S: Store>(view: View<'_, '_, S>, tx: &Transaction) -> Result<bool, TxFailure> {
    let verifiers: VerifierKeys = view.read(keys::VERIFIERS)?.unwrap_or_default();
    Ok(signers(tx).any(|k| verifiers.0.binary_search(k).is_ok()))
}

pub(super) fn move_piece<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    id: &Hash,
    index: u16,
    provider: &DeviceAddress,
) -> Result<(), TxFailure> {
    let mut deal = open(view, id)?;
    if deal.client != tx.body.signer && !has_verifier(view, tx)? {
        return Err(TxFailure::NotDealClient);
    }
    // Settlement pays and records the piece's holder at settlement: moving it first would take
    // a finished epoch's pay from the provider that proved it and pin its verdict on the new one.
    if let Some(epoch) = pending_settlement(&deal, ctx) {
        return Err(TxFailure::SettlementPending {
            epoch,
            grace: CLOSE_GRACE_EPOCHS,
        });
    }
    if deal.terms.pieces.iter().any(|p| &p.provider == provider) {
        return Err(TxFailure::Invalid(
            "the provider already holds a piece of this deal".into(),
        ));
    }
    check_provider(view, ctx, provider, deal.terms.price_per_gib_epoch)?;
    let count = deal.terms.pieces.len();
    let piece = deal
        .terms
        .pieces
        .get_mut(usize::from(index))
        .ok_or_else(|| TxFailure::Invalid(format!("piece {index} does not exist (the deal has {count})")))?;
    piece.provider = *provider;
    write(view, keys::deal(id), &deal);
    // The new holder did not serve what was reported, and has proven nothing yet.
    view.delete(keys::piece_report(id, index));
    view.delete(keys::piece_proven(id, index));
    view.delete(keys::piece_failed(id, index));
    Ok(())
}

pub(super) fn settle_deal<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    id: &Hash,
    epoch: Epoch,
    proven: &[u16],
) -> Result<(), TxFailure> {
    if !has_verifier(view, tx)? {
        return Err(TxFailure::MissingCosignature("verifier"));
    }
    let mut deal = open(view, id)?;
    let refuse = |why| TxFailure::CannotSettle { epoch: epoch.0, why };
    let Some(due) = deal.due_epoch() else {
        return Err(refuse("the deal's duration is fully settled"));
    };
    if epoch != due {
        return Err(refuse("it is not the deal's next unsettled epoch"));
    }
    if epoch >= ctx.epoch {
        return Err(refuse("the epoch is not complete"));
    }
    if proven.windows(2).any(|w| w[0] >= w[1]) || proven.iter().any(|&i| usize::from(i) >= deal.terms.pieces.len()) {
        return Err(TxFailure::Invalid(
            "proven piece indexes must be ascending, unique and in range".into(),
        ));
    }
    let price = deal.terms.piece_epoch_price().ok_or(TxFailure::Overflow)?;
    // Every piece was audited: each provider's reputation records its verdict, in piece order.
    // A failure counts only against a holder that has proven the piece since taking it: naming
    // a provider in a deal (or moving a piece to it) needs no consent, so a client that never
    // uploads must not be able to ruin a provider's reputation.
    for (index, piece) in deal.terms.pieces.iter().enumerate() {
        let index = index as u16;
        let passed = proven.binary_search(&index).is_ok();
        let proven_key = keys::piece_proven(id, index);
        let held = view.read::<DeviceAddress>(&proven_key)? == Some(piece.provider);
        if passed && !held {
            write(view, proven_key, &piece.provider);
        }
        if passed || held {
            let reputation = view.reputation(&piece.provider)?.record(passed);
            write(view, keys::reputation(&piece.provider), &reputation);
        }
        let failed_key = keys::piece_failed(id, index);
        if passed {
            view.delete(failed_key);
        } else {
            view.put(failed_key, Vec::new());
        }
    }
    let mut total = Credits(0);
    for &index in proven {
        // A piece reported by the end of this epoch had the heavy audit and passed it.
        let report_key = keys::piece_report(id, index);
        if view.read::<PieceReport>(&report_key)?.is_some_and(|r| r.epoch <= epoch) {
            view.delete(report_key);
        }
        let provider = deal.terms.pieces[usize::from(index)].provider;
        super::credits::add_earned(view, keys::storage_earned(epoch, &provider), price)?;
        total = total.checked_add(price).ok_or(TxFailure::Overflow)?;
    }
    deal.escrow = deal.escrow.checked_sub(total).ok_or(TxFailure::Overflow)?;
    deal.paid = deal.paid.checked_add(total).ok_or(TxFailure::Overflow)?;
    deal.settled_epochs += 1;
    write(view, keys::deal(id), &deal);
    update_supply(view, |s| {
        s.credits_spent = s.credits_spent.checked_add(total)?;
        Some(())
    })
}

pub(super) fn report_piece<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    id: &Hash,
    index: u16,
) -> Result<(), TxFailure> {
    let deal = open(view, id)?;
    if &deal.client != signer {
        return Err(TxFailure::NotDealClient);
    }
    let piece = deal.terms.pieces.get(usize::from(index)).ok_or_else(|| {
        TxFailure::Invalid(format!(
            "piece {index} does not exist (the deal has {})",
            deal.terms.pieces.len()
        ))
    })?;
    let key = keys::piece_report(id, index);
    // A second report on the same holder adds nothing: the heavy audit is already due.
    let open_report: Option<PieceReport> = view.read(&key)?;
    if open_report.is_none_or(|r| r.provider != piece.provider) {
        let report = PieceReport {
            provider: piece.provider,
            epoch: ctx.epoch,
        };
        write(view, key, &report);
    }
    Ok(())
}

/// Epochs a completed, unsettled epoch holds up a close: long enough for the auditors to settle
/// it, short enough that escrow is not locked for good when they stop.
pub const CLOSE_GRACE_EPOCHS: u64 = 2;

pub(super) fn close_deal<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    id: &Hash,
) -> Result<(), TxFailure> {
    let deal = open(view, id)?;
    if &deal.client != signer {
        return Err(TxFailure::NotDealClient);
    }
    // The next epoch to settle is complete and still within the deal: its providers may have
    // proven it, so its pay is not the client's to take back yet.
    if let Some(epoch) = pending_settlement(&deal, ctx) {
        return Err(TxFailure::SettlementPending {
            epoch,
            grace: CLOSE_GRACE_EPOCHS,
        });
    }
    let owed = close_pay(view, ctx, id, &deal)?;
    let refund = deal.escrow.checked_sub(owed).ok_or(TxFailure::Overflow)?;
    super::credits::return_credits(view, signer, refund)?;
    for index in 0..deal.terms.pieces.len() as u16 {
        view.delete(keys::piece_report(id, index));
        view.delete(keys::piece_proven(id, index));
        view.delete(keys::piece_failed(id, index));
    }
    view.delete(keys::deal(id));
    view.put(keys::deal_closed(id), Vec::new());
    Ok(())
}

/// Pays the part of the epoch in progress that has passed when a deal closes, if that epoch is
/// the deal's next to settle: each holder that did not fail the deal's latest settled epoch
/// earns the piece's epoch price times the blocks of the epoch so far (this one included) over
/// the epoch's length, rounded up like prices. Without it a client could keep data stored for
/// most of every epoch (the first paid one included, before any audit) and close just before
/// its settlement, taking that epoch's pay back. Returns the credits paid (out of escrow,
/// counted as spent).
fn close_pay<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    id: &Hash,
    deal: &Deal,
) -> Result<Credits, TxFailure> {
    if deal.due_epoch() != Some(ctx.epoch) {
        return Ok(Credits(0));
    }
    let epoch_len = ctx.params.epoch_len_blocks.max(1);
    let passed = ctx.height % epoch_len + 1;
    let price = deal.terms.piece_epoch_price().ok_or(TxFailure::Overflow)?;
    // At most `price`: `passed` is at most the epoch's length.
    let share = (u128::from(price.0) * u128::from(passed)).div_ceil(u128::from(epoch_len));
    let share = Credits(u64::try_from(share).map_err(|_| TxFailure::Overflow)?);
    let mut total = Credits(0);
    for (index, piece) in deal.terms.pieces.iter().enumerate() {
        if view.get(&keys::piece_failed(id, index as u16)).is_some() {
            continue;
        }
        super::credits::add_earned(view, keys::storage_earned(ctx.epoch, &piece.provider), share)?;
        total = total.checked_add(share).ok_or(TxFailure::Overflow)?;
    }
    update_supply(view, |s| {
        s.credits_spent = s.credits_spent.checked_add(total)?;
        Some(())
    })?;
    Ok(total)
}

/// The deal's next epoch to settle, when it is complete, within the deal, and the auditors'
/// grace to settle it has not run out: until then nobody may take its pay back or move its
/// pieces.
fn pending_settlement(deal: &Deal, ctx: &BlockContext) -> Option<u64> {
    let due = deal.due_epoch()?.0;
    (due < ctx.epoch.0 && ctx.epoch.0 <= due.saturating_add(CLOSE_GRACE_EPOCHS)).then_some(due)
}
