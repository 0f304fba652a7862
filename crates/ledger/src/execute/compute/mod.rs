//! The compute market: standing offers, matching, commitments, reassignment on timeout.
//! Sampling, replay verification and settlement are in [`settle`].
//!
//! Matching is a standing-ask book: each provider publishes one ask (credits per 10^9 fuel)
//! with its capacity and capability score; a posted job is a market order with a limit price,
//! filled in the same block by the cheapest eligible asks (higher score, then a hash of the job
//! and device, break ties). Providers are paid their own ask for the fuel they used; the rest
//! of the escrow returns to the consumer. One block from post to assignment, no bidding rounds,
//! and nothing for a provider to gain by bidding other than its real cost.
//!
//! Credit accounting: posting moves the escrow out of the consumer's credits into the job;
//! settlement moves payments out of the escrow (counted as spent: the reward engine pays work in
//! TRL) and returns the rest. So `Σ credits + Σ deal escrow + Σ job escrow == minted − spent`.

mod settle;

pub use settle::{drawn_for_replay, replay_status, sampled, verified_units, ReplayStatus};

use super::*;
use crate::state::{ComputeOffer, Job, JobFailure, JobRun, JobStatus, MAX_EXCLUDED};
use crate::tx::{ComputeClaim, ComputeTx, JobSpec};
use trellis_primitives::Decode;

/// Most jobs one provider runs at once (bounds what one offer can promise).
pub const MAX_SLOTS: u16 = 256;

pub(super) fn apply<S: Store>(
    view: View<'_, '_, S>,
    tx: &Transaction,
    ctx: &BlockContext,
    op: &ComputeTx,
) -> Result<(), TxFailure> {
    let signer = tx.body.signer;
    match op {
        ComputeTx::SetOffer {
            device,
            slots,
            price_per_gfuel,
            score,
        } => set_offer(view, &signer, device, *slots, *price_per_gfuel, *score),
        ComputeTx::PostJob { spec } => post_job(view, ctx, &signer, spec),
        ComputeTx::Commit { job, device, claim } => commit(view, ctx, &signer, job, device, claim),
        ComputeTx::Verify { job, device, claim } => settle::verify(view, ctx, &signer, job, device, claim),
        ComputeTx::Finalize { job } => settle::finalize(view, ctx, job),
        ComputeTx::Reassign { job } => reassign(view, ctx, job),
    }
}

/// The device, if `signer` may act for it: its owner, or the device's own key (the hot key an
/// agent runs with, which can commit, replay and publish offers but move no owner funds).
pub(super) fn acting_for<S: Store>(
    view: View<'_, '_, S>,
    signer: &AccountAddress,
    device: &DeviceAddress,
) -> Result<Device, TxFailure> {
    let dev = view.device(device)?.ok_or(TxFailure::UnknownDevice)?;
    if &dev.owner != signer && signer.key() != device.key() {
        return Err(TxFailure::NotDeviceOwner);
    }
    Ok(dev)
}

fn set_offer<S: Store>(
    view: View<'_, '_, S>,
    signer: &AccountAddress,
    device: &DeviceAddress,
    slots: u16,
    price: Credits,
    score: u64,
) -> Result<(), TxFailure> {
    let dev = acting_for(view, signer, device)?;
    if dev.class != DeviceClass::Compute {
        return Err(TxFailure::NotComputeProvider {
            device: *device,
            why: format!("it is a {} device", dev.class.name()),
        });
    }
    if slots > MAX_SLOTS || (slots > 0 && price.0 == 0) {
        return Err(TxFailure::Invalid(format!(
            "an offer has 0 to {MAX_SLOTS} slots and a price above 0"
        )));
    }
    let active = view.offer(device)?.map_or(0, |o| o.active);
    if slots == 0 && active == 0 {
        view.delete(keys::offer(device));
        return Ok(());
    }
    write(
        view,
        keys::offer(device),
        &ComputeOffer {
            slots,
            price_per_gfuel: price,
            score,
            active,
        },
    );
    Ok(())
}

/// Why a provider cannot take (or verify) jobs now, if it cannot.
fn unfit<S: Store>(
    view: View<'_, '_, S>,
    params: &Params,
    device: &DeviceAddress,
) -> Result<Option<String>, TxFailure> {
    let Some(dev) = view.device(device)? else {
        return Ok(Some("not registered".into()));
    };
    if dev.class != DeviceClass::Compute {
        return Ok(Some(format!("it is a {} device", dev.class.name())));
    }
    if dev.stake < params.compute_min_collateral {
        return Ok(Some(format!(
            "collateral {} is below the required {}",
            dev.stake, params.compute_min_collateral
        )));
    }
    Ok(None)
}

/// Every standing offer as pending state sees it, in device-key order.
fn offers<S: Store>(view: View<'_, '_, S>) -> Result<Vec<(DeviceAddress, ComputeOffer)>, TxFailure> {
    let mut out = Vec::new();
    for (key, value) in view.table_entries(keys::OFFER_TABLE) {
        let offer = ComputeOffer::from_bytes(&value).map_err(|source| crate::state::CorruptState {
            key: format!("{key:02x?}"),
            source,
        })?;
        let Ok(raw) = <[u8; 32]>::try_from(&key[1..]) else {
            continue;
        };
        out.push((DeviceAddress::from(PublicKey(raw)), offer));
    }
    Ok(out)
}

/// The providers that may run `spec`, best first, leaving out `skip`.
fn candidates<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    id: &Hash,
    spec: &JobSpec,
    skip: &[DeviceAddress],
) -> Result<Vec<(DeviceAddress, ComputeOffer)>, TxFailure> {
    let mut out = Vec::new();
    for (device, offer) in offers(view)? {
        let free = offer.active < offer.slots;
        let fits = offer.price_per_gfuel <= spec.max_price_per_gfuel && offer.score >= spec.min_score;
        if !free || !fits || skip.contains(&device) || view.endpoint(&device)?.is_none() {
            continue;
        }
        if unfit(view, &ctx.params, &device)?.is_none() {
            out.push((device, offer));
        }
    }
    let tiebreak = |d: &DeviceAddress| HashDomain::ComputeSampling.hash_parts(&[b"match", id.as_bytes(), &d.key().0]);
    out.sort_by(|(da, a), (db, b)| {
        a.price_per_gfuel
            .cmp(&b.price_per_gfuel)
            .then(b.score.cmp(&a.score))
            .then_with(|| tiebreak(da).cmp(&tiebreak(db)))
    });
    Ok(out)
}

/// Takes a slot of `device`'s offer (or gives it back).
fn occupy<S: Store>(view: View<'_, '_, S>, device: &DeviceAddress, take: bool) -> Result<(), TxFailure> {
    let Some(mut offer) = view.offer(device)? else {
        return Ok(());
    };
    offer.active = if take {
        offer.active.checked_add(1).ok_or(TxFailure::Overflow)?
    } else {
        offer.active.saturating_sub(1)
    };
    if offer.slots == 0 && offer.active == 0 {
        view.delete(keys::offer(device));
    } else {
        write(view, keys::offer(device), &offer);
    }
    Ok(())
}

fn post_job<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    spec: &JobSpec,
) -> Result<(), TxFailure> {
    spec.validate(ctx.params.compute_min_sample_ppm)
        .map_err(TxFailure::Invalid)?;
    let id = spec.id(signer);
    if view.job(&id)?.is_some() {
        return Err(TxFailure::JobExists(id));
    }
    let escrow = spec.escrow().ok_or(TxFailure::Overflow)?;
    let picked = candidates(view, ctx, &id, spec, &[])?;
    if picked.len() < usize::from(spec.replicas) {
        return Err(TxFailure::NoComputeProvider(format!(
            "{} provider(s) with a free slot ask at most {} per 10^9 fuel with score ≥ {}; the job needs {}",
            picked.len(),
            spec.max_price_per_gfuel,
            spec.min_score,
            spec.replicas
        )));
    }
    credits::take_credits(view, signer, escrow)?;
    let mut runs = Vec::with_capacity(usize::from(spec.replicas));
    for (device, offer) in picked.into_iter().take(usize::from(spec.replicas)) {
        occupy(view, &device, true)?;
        runs.push(JobRun {
            provider: device,
            price_per_gfuel: offer.price_per_gfuel,
            assigned_height: ctx.height,
            claim: None,
        });
    }
    let job = Job {
        client: *signer,
        spec: spec.clone(),
        escrow,
        posted_height: ctx.height,
        runs,
        excluded: Vec::new(),
        committed_height: None,
        verifications: Vec::new(),
        status: JobStatus::Open,
        paid: Credits(0),
    };
    write(view, keys::job(&id), &job);
    Ok(())
}

fn open_job<S: Store>(view: View<'_, '_, S>, id: &Hash) -> Result<Job, TxFailure> {
    let job = view.job(id)?.ok_or(TxFailure::UnknownJob(*id))?;
    if job.status != JobStatus::Open {
        return Err(TxFailure::JobState(format!("it is over ({:?})", job.status)));
    }
    Ok(job)
}

fn commit<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    id: &Hash,
    device: &DeviceAddress,
    claim: &ComputeClaim,
) -> Result<(), TxFailure> {
    acting_for(view, signer, device)?;
    let mut job = open_job(view, id)?;
    if claim.fuel_used > job.spec.fuel {
        return Err(TxFailure::Invalid(format!(
            "fuel used {} exceeds the job's budget {}",
            claim.fuel_used, job.spec.fuel
        )));
    }
    let deadline = job.spec.deadline_blocks;
    let run = job
        .runs
        .iter_mut()
        .find(|r| &r.provider == device)
        .ok_or_else(|| TxFailure::JobState("the device is not assigned to the job".into()))?;
    if run.claim.is_some() {
        return Err(TxFailure::JobState("the device has committed already".into()));
    }
    if ctx.height > run.assigned_height.saturating_add(u64::from(deadline)) {
        return Err(TxFailure::JobState(
            "the deadline has passed; the job is being reassigned".into(),
        ));
    }
    run.claim = Some(*claim);
    if job.runs.iter().all(|r| r.claim.is_some()) {
        job.committed_height = Some(ctx.height);
    }
    occupy(view, device, false)?;
    write(view, keys::job(id), &job);
    Ok(())
}

/// Moves every run whose provider missed its deadline to the next best provider; fails the
/// job (refunding it) when none is left or it has been moved too often.
fn reassign<S: Store>(view: View<'_, '_, S>, ctx: &BlockContext, id: &Hash) -> Result<(), TxFailure> {
    let mut job = open_job(view, id)?;
    let deadline = u64::from(job.spec.deadline_blocks);
    let late: Vec<usize> = (0..job.runs.len())
        .filter(|&i| job.runs[i].claim.is_none() && ctx.height > job.runs[i].assigned_height.saturating_add(deadline))
        .collect();
    if late.is_empty() {
        return Err(TxFailure::JobState(
            "no assigned provider has missed its deadline".into(),
        ));
    }
    for &i in &late {
        let gone = job.runs[i].provider;
        occupy(view, &gone, false)?;
        job.excluded.push(gone);
    }
    let mut skip: Vec<DeviceAddress> = job.excluded.clone();
    skip.extend(job.runs.iter().map(|r| r.provider));
    let picked = candidates(view, ctx, id, &job.spec, &skip)?;
    if job.excluded.len() > MAX_EXCLUDED || picked.len() < late.len() {
        for (i, run) in job.runs.iter().enumerate() {
            if run.claim.is_none() && !late.contains(&i) {
                occupy(view, &run.provider, false)?;
            }
        }
        job.excluded.truncate(MAX_EXCLUDED);
        return settle::fail(view, id, job, JobFailure::NoProvider);
    }
    for (&i, (device, offer)) in late.iter().zip(picked) {
        occupy(view, &device, true)?;
        job.runs[i] = JobRun {
            provider: device,
            price_per_gfuel: offer.price_per_gfuel,
            assigned_height: ctx.height,
            claim: None,
        };
    }
    write(view, keys::job(id), &job);
    Ok(())
}
