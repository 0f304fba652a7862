//! Sampling from block entropy, replay verification, arbitration, payment and slashing.
//!
//! Once every run has committed (block `h`), the hash of block `h` (unknown to the providers
//! when they committed) decides whether the job is replayed: with probability `sample_ppm`, and
//! always when replicas disagree. The same hash picks the verifier among the other staked
//! compute providers. If the verifier's replay agrees with every run, everyone is paid. If not,
//! an arbiter (picked the same way, excluding the verifier) replays it too, and the claim held
//! by at least two parties, and by more than any other, is the truth: every party that claimed
//! something else is slashed its collateral (half goes to the truthful verifiers, half is
//! burned), the truthful are paid, and a job whose runs lost fails with a full refund so the
//! consumer can post it again. No claim with two votes: the job fails, refunded, nobody slashed.
//!
//! Windows: the verifier has `W = compute_verify_window_blocks` blocks after `h`, the arbiter
//! until `h + 2W`; after `h + 2W` anyone may finalize, which pays agreeing runs that nobody
//! replayed in time, and refunds anything else.

use super::*;
use crate::state::{recent_hash, JobFailure, MAX_VERIFICATIONS};
use crate::tx::{price_of, PPM};

fn entropy<S: Store>(view: View<'_, '_, S>, job: &Job) -> Result<Option<Hash>, TxFailure> {
    match job.committed_height {
        Some(h) => Ok(recent_hash(&*view, h)?),
        None => Ok(None),
    }
}

fn draw(tag: &[u8], entropy: &Hash, id: &Hash) -> u64 {
    let h = HashDomain::ComputeSampling.hash_parts(&[tag, entropy.as_bytes(), id.as_bytes()]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.0[..8]);
    u64::from_le_bytes(first)
}

fn runs_agree(job: &Job) -> Option<ComputeClaim> {
    let first = job.runs.first()?.claim?;
    job.runs.iter().all(|r| r.claim == Some(first)).then_some(first)
}

/// Whether the job is replayed: drawn from the commit block's hash, or forced by disagreement.
pub fn sampled(job: &Job, id: &Hash, entropy: &Hash) -> bool {
    runs_agree(job).is_none() || drawn_for_replay(entropy, id, job.spec.sample_ppm)
}

/// The chance (ppm) that the job was replayed, as [`sampled`] decides it: its sampling rate when
/// the runs agree, certainty when they do not.
fn replay_chance(job: &Job) -> u32 {
    if runs_agree(job).is_some() {
        job.spec.sample_ppm
    } else {
        PPM
    }
}

/// Whether the commit block's hash `entropy` draws job `id` for replay at `sample_ppm` parts
/// per million (agreeing replicas are replayed only when drawn).
pub fn drawn_for_replay(entropy: &Hash, id: &Hash, sample_ppm: u32) -> bool {
    draw(b"sample", entropy, id) % u64::from(PPM) < u64::from(sample_ppm)
}

/// The staked compute providers that may replay `job`, in address order.
fn verifier_pool<S: Store>(view: View<'_, '_, S>, params: &Params, job: &Job) -> Result<Vec<DeviceAddress>, TxFailure> {
    let mut pool = Vec::new();
    for (device, _) in offers(view)? {
        let involved = job.runs.iter().any(|r| r.provider == device) || job.excluded.contains(&device);
        if !involved && unfit(view, params, &device)?.is_none() {
            pool.push(device);
        }
    }
    Ok(pool)
}

/// The device that must replay next (the verifier, then the arbiter), if any is eligible.
fn next_replayer<S: Store>(
    view: View<'_, '_, S>,
    params: &Params,
    job: &Job,
    id: &Hash,
    entropy: &Hash,
) -> Result<Option<DeviceAddress>, TxFailure> {
    let mut pool = verifier_pool(view, params, job)?;
    pool.retain(|d| !job.verifications.iter().any(|(v, _)| v == d));
    if pool.is_empty() {
        return Ok(None);
    }
    let tag: &[u8] = if job.verifications.is_empty() {
        b"verifier"
    } else {
        b"arbiter"
    };
    let index = draw(tag, entropy, id) % pool.len() as u64;
    Ok(pool.get(index as usize).copied())
}

pub(super) fn verify<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    id: &Hash,
    device: &DeviceAddress,
    claim: &ComputeClaim,
) -> Result<(), TxFailure> {
    acting_for(view, signer, device)?;
    let mut job = open_job(view, id)?;
    let state = |m: &str| TxFailure::JobState(m.to_string());
    let committed = job
        .committed_height
        .ok_or_else(|| state("not every run has committed yet"))?;
    let e = entropy(view, &job)?.ok_or_else(|| state("wait a block: replay is drawn from the commit block's hash"))?;
    if !sampled(&job, id, &e) {
        return Err(state("the job was not drawn for replay"));
    }
    let window = ctx.params.compute_verify_window_blocks;
    let rounds = job.verifications.len() as u64 + 1;
    if job.verifications.len() >= MAX_VERIFICATIONS
        || ctx.height > committed.saturating_add(window.saturating_mul(rounds))
    {
        return Err(state("the replay window for this round has closed"));
    }
    match next_replayer(view, &ctx.params, &job, id, &e)? {
        Some(chosen) if &chosen == device => {}
        Some(chosen) => {
            return Err(TxFailure::JobState(format!(
                "the drawn replayer is {chosen}, not {device}"
            )))
        }
        None => return Err(state("no eligible replayer")),
    }
    job.verifications.push((*device, *claim));
    resolve(view, ctx, id, job, false)
}

/// What the chain's rules say about an open job's replay, for agents and clients: whether it
/// was drawn, who must replay it next, and from which height anyone may finalize it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayStatus {
    /// Drawn for replay (`None` until the block after the last commit exists).
    pub drawn: Option<bool>,
    /// The device that must replay it now, if one must.
    pub replayer: Option<DeviceAddress>,
    /// Finalize is accepted in blocks above this height.
    pub finalizable_after: Option<u64>,
}

/// [`ReplayStatus`] of job `id` on committed state whose tip is at `tip_height`.
pub fn replay_status<S: Store + StateRead>(
    store: &S,
    id: &Hash,
    job: &Job,
    tip_height: u64,
) -> Result<ReplayStatus, TxFailure> {
    let Some(committed) = job.committed_height.filter(|_| job.status == JobStatus::Open) else {
        return Ok(ReplayStatus::default());
    };
    let params = store.params()?;
    let window = params.compute_verify_window_blocks;
    let mut view = Overlay::new(store);
    let Some(e) = recent_hash(&view, committed)? else {
        return Ok(ReplayStatus {
            finalizable_after: Some(committed.saturating_add(2 * window)),
            ..ReplayStatus::default()
        });
    };
    let drawn = sampled(job, id, &e);
    let rounds = job.verifications.len() as u64 + 1;
    let in_window = tip_height < committed.saturating_add(window.saturating_mul(rounds));
    let awaiting = match job.verifications.as_slice() {
        [] => true,
        [(_, v)] => runs_agree(job) != Some(*v),
        _ => false,
    };
    let replayer = if drawn && awaiting && in_window {
        next_replayer(&mut view, &params, job, id, &e)?
    } else {
        None
    };
    let finalizable_after = if drawn || !job.verifications.is_empty() {
        committed.saturating_add(2 * window)
    } else {
        committed
    };
    Ok(ReplayStatus {
        drawn: Some(drawn),
        replayer,
        finalizable_after: Some(finalizable_after),
    })
}

pub(super) fn finalize<S: Store>(view: View<'_, '_, S>, ctx: &BlockContext, id: &Hash) -> Result<(), TxFailure> {
    let job = open_job(view, id)?;
    let committed = job
        .committed_height
        .ok_or_else(|| TxFailure::JobState("not every run has committed yet".into()))?;
    if ctx.height <= committed {
        return Err(TxFailure::JobState(
            "wait a block: replay is drawn from the commit block's hash".into(),
        ));
    }
    let closes = committed.saturating_add(ctx.params.compute_verify_window_blocks.saturating_mul(2));
    let timed_out = ctx.height > closes;
    // Past the ring of recent hashes the draw cannot be made any more; the windows are over by
    // then (validated params), so it is the timed-out case.
    let drawn = match entropy(view, &job)? {
        Some(e) => sampled(&job, id, &e),
        None => true,
    };
    if (drawn || !job.verifications.is_empty()) && !timed_out {
        return Err(TxFailure::JobState(format!(
            "the job is being replayed; it can be finalized after height {closes}"
        )));
    }
    resolve(view, ctx, id, job, timed_out)
}

/// Settles the job if its claims decide it; otherwise stores it to wait for the next replay.
fn resolve<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    id: &Hash,
    mut job: Job,
    timed_out: bool,
) -> Result<(), TxFailure> {
    let agreed = runs_agree(&job);
    match (job.verifications.clone().as_slice(), agreed) {
        ([], Some(claim)) => {
            // Nobody replayed it: consumers' credits are paid, the pool's units are not.
            pay_runs(view, ctx, &mut job, &claim, None)?;
            finish(
                view,
                id,
                job,
                JobStatus::Settled {
                    commitment: claim.commitment,
                    verified: false,
                },
            )
        }
        ([(v, vc)], Some(claim)) if *vc == claim => {
            let chance = replay_chance(&job);
            pay_runs(view, ctx, &mut job, &claim, Some(chance))?;
            pay_verifier(view, ctx, &mut job, v, vc)?;
            finish(
                view,
                id,
                job,
                JobStatus::Settled {
                    commitment: claim.commitment,
                    verified: true,
                },
            )
        }
        ([_, _], _) => arbitrate(view, ctx, id, job),
        _ if timed_out => finish(
            view,
            id,
            job,
            JobStatus::Failed {
                reason: JobFailure::Unresolved,
            },
        ),
        // A disagreement, waiting for the arbiter.
        _ => {
            write(view, keys::job(id), &job);
            Ok(())
        }
    }
}

/// The claim at least two parties made, and more than made any other.
fn truth(claims: &[ComputeClaim]) -> Option<ComputeClaim> {
    let count = |c: &ComputeClaim| claims.iter().filter(|x| *x == c).count();
    let best = claims.iter().max_by_key(|c| count(c))?;
    let n = count(best);
    let tied = claims.iter().any(|c| c != best && count(c) == n);
    (n >= 2 && !tied).then_some(*best)
}

fn arbitrate<S: Store>(view: View<'_, '_, S>, ctx: &BlockContext, id: &Hash, mut job: Job) -> Result<(), TxFailure> {
    let mut claims: Vec<ComputeClaim> = job.runs.iter().filter_map(|r| r.claim).collect();
    claims.extend(job.verifications.iter().map(|(_, c)| *c));
    let Some(truth) = truth(&claims) else {
        return finish(
            view,
            id,
            job,
            JobStatus::Failed {
                reason: JobFailure::Unresolved,
            },
        );
    };
    let honest_verifiers: Vec<DeviceAddress> = job
        .verifications
        .iter()
        .filter(|(_, c)| *c == truth)
        .map(|(d, _)| *d)
        .collect();
    let mut offenders: Vec<DeviceAddress> = job
        .runs
        .iter()
        .filter(|r| r.claim != Some(truth))
        .map(|r| r.provider)
        .collect();
    let runs_lost = !offenders.is_empty();
    offenders.extend(job.verifications.iter().filter(|(_, c)| *c != truth).map(|(d, _)| *d));

    let chance = replay_chance(&job);
    pay_runs(view, ctx, &mut job, &truth, Some(chance))?;
    for (device, claim) in job.verifications.clone() {
        if claim == truth {
            pay_verifier(view, ctx, &mut job, &device, &claim)?;
        }
    }
    for offender in &offenders {
        slash_offender(view, ctx, id, offender, &honest_verifiers)?;
    }
    let status = if runs_lost {
        JobStatus::Failed {
            reason: JobFailure::Fraud,
        }
    } else {
        JobStatus::Settled {
            commitment: truth.commitment,
            verified: true,
        }
    };
    finish(view, id, job, status)
}

/// Takes an offender's collateral: half to the truthful verifiers' owners, the rest burned.
fn slash_offender<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    id: &Hash,
    offender: &DeviceAddress,
    honest: &[DeviceAddress],
) -> Result<(), TxFailure> {
    let evidence = HashDomain::ComputeSampling.hash_parts(&[b"fraud", id.as_bytes(), &offender.key().0]);
    let witness = honest.first().map_or(*offender.key(), |d| *d.key());
    let reason = format!("compute replay of job {id} disagreed");
    let taken = match devices::seize(
        view,
        ctx,
        offender,
        ctx.params.compute_min_collateral,
        witness,
        evidence,
        &reason,
    ) {
        Ok(taken) => taken,
        // Already drained (by an earlier conviction): nothing more to take.
        Err(TxFailure::NothingToSlash) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut burned = taken;
    if !honest.is_empty() {
        let share = Amount::from_units(taken.units() / 2 / honest.len() as u64);
        for device in honest {
            let owner = view.device(device)?.ok_or(TxFailure::UnknownDevice)?.owner;
            credit(view, &owner, share)?;
            burned = burned.checked_sub(share).ok_or(TxFailure::Overflow)?;
        }
    }
    record_burn(view, ctx, burned)?.ok_or(TxFailure::Overflow)
}

/// Pays every run that claimed `truth`; when a replay confirmed them, which it had `chance`
/// (ppm) of doing, their credits also count as verified work (see [`verified_units`]).
fn pay_runs<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    job: &mut Job,
    truth: &ComputeClaim,
    verified: Option<u32>,
) -> Result<(), TxFailure> {
    let runs: Vec<_> = job
        .runs
        .iter()
        .filter(|r| r.claim.as_ref() == Some(truth))
        .map(|r| (r.provider, r.price_per_gfuel))
        .collect();
    for (device, price) in runs {
        let paid = pay(view, ctx, job, &device, price, truth.fuel_used)?;
        if let Some(chance) = verified {
            record_verified(view, ctx, &device, paid, chance)?;
        }
    }
    Ok(())
}

/// The compute pool's units for `paid` credits of work that a replay confirmed, when the replay
/// happened with probability `chance_ppm`: `paid × 10^6 / chance_ppm`, rounded down. Weighting
/// each confirmed run by the inverse of its chance of being checked makes an honest provider's
/// expected units its earned credits (a Horvitz-Thompson estimate), while a cheat is paid pool
/// units only on the runs that were replayed, which are exactly the runs that expose it. Zero
/// for a zero chance (such a run is never replayed); capped at `u64::MAX`, so a consumer cannot
/// post a job whose settlement overflows and never settles.
pub fn verified_units(paid: Credits, chance_ppm: u32) -> u64 {
    if chance_ppm == 0 {
        return 0;
    }
    u64::try_from(u128::from(paid.0) * u128::from(PPM) / u128::from(chance_ppm)).unwrap_or(u64::MAX)
}

fn record_verified<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    device: &DeviceAddress,
    paid: Credits,
    chance_ppm: u32,
) -> Result<(), TxFailure> {
    let key = keys::compute_verified(ctx.epoch, device);
    let so_far: u64 = view.read(&key)?.unwrap_or_default();
    // Saturating, like `verified_units`: pool units never fail a settlement.
    write(view, key, &so_far.saturating_add(verified_units(paid, chance_ppm)));
    Ok(())
}

fn pay_verifier<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    job: &mut Job,
    device: &DeviceAddress,
    claim: &ComputeClaim,
) -> Result<(), TxFailure> {
    let ask = view
        .offer(device)?
        .map_or(job.spec.max_price_per_gfuel, |o| o.price_per_gfuel);
    let paid = pay(
        view,
        ctx,
        job,
        device,
        ask.min(job.spec.max_price_per_gfuel),
        claim.fuel_used,
    )?;
    // A confirming replay is itself checked work: it agreed with the truth.
    record_verified(view, ctx, device, paid, PPM)
}

/// Releases `price × fuel` from the escrow to `device`'s earnings for this epoch; returns it.
fn pay<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    job: &mut Job,
    device: &DeviceAddress,
    price: Credits,
    fuel: u64,
) -> Result<Credits, TxFailure> {
    // The escrow covers replicas + 1 runs at the job's limit price, and at most that many
    // parties are ever paid (a run that lost is not); the cap only guards the invariant.
    let amount = price_of(price, fuel).ok_or(TxFailure::Overflow)?.min(job.escrow);
    debug_assert!(
        price_of(price, fuel).is_some_and(|a| a <= job.escrow),
        "escrow short of a payment"
    );
    job.escrow = job.escrow.checked_sub(amount).ok_or(TxFailure::Overflow)?;
    job.paid = job.paid.checked_add(amount).ok_or(TxFailure::Overflow)?;
    credits::add_earned(view, keys::compute_earned(ctx.epoch, device), amount)?;
    update_supply(view, |s| {
        s.credits_spent = s.credits_spent.checked_add(amount)?;
        Some(())
    })?;
    Ok(amount)
}

/// Ends the job: what is left in escrow returns to the consumer.
fn finish<S: Store>(view: View<'_, '_, S>, id: &Hash, mut job: Job, status: JobStatus) -> Result<(), TxFailure> {
    credits::return_credits(view, &job.client, job.escrow)?;
    job.escrow = Credits(0);
    job.status = status;
    write(view, keys::job(id), &job);
    Ok(())
}

/// Fails a job that cannot run: the whole escrow returns.
pub(super) fn fail<S: Store>(view: View<'_, '_, S>, id: &Hash, job: Job, reason: JobFailure) -> Result<(), TxFailure> {
    finish(view, id, job, JobStatus::Failed { reason })
}
