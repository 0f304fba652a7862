//! The storage auditor: once an epoch is complete, it challenges every piece of every deal due
//! for that epoch (chunks picked from the epoch's last block hash mixed with the auditor's
//! signature of it), writes the verdicts to
//! `storage-audits-<N>.json` beside the reward archive, settles each deal for the proven pieces,
//! slashes providers whose own answers convict them, repairs failed pieces onto new providers,
//! and hands the storage pool its shares (proven KiB-epochs × reputation).
//!
//! Restart-safe: a verdict file that exists is reused instead of auditing again, and every
//! transaction is skipped when the chain shows it already happened.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, path::PathBuf, sync::Arc, time::Duration};
use trellis_chain::{Node, TxStatus};
use trellis_ledger::{state::keys, DealTerms, DeviceClass, StateRead, Store, Transaction, TxBody, TxKind, TxOutcome};
use trellis_primitives::{Amount, DeviceAddress, Epoch, Hash, Keypair};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};
use trellis_storage::{
    audit::{
        audit_piece, challenge_for, challenge_seed, evidence, released, seed_message, storage_units, AuditConfig,
        Verdict, HOLD_EPOCHS,
    },
    protocol::SignedChallenge,
    CodingParams, Layout,
};

/// Pieces audited at once.
const MAX_PARALLEL_AUDITS: usize = 16;
/// How long the auditor waits for one of its transactions.
const TX_TIMEOUT: Duration = Duration::from_secs(60);

/// One piece's audit in one epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PieceAudit {
    pub(crate) deal: Hash,
    pub(crate) index: u16,
    pub(crate) provider: DeviceAddress,
    pub(crate) piece_len: u64,
    pub(crate) chunks: Vec<u64>,
    pub(crate) verdict: Verdict,
    /// Whether this provider has proven holding this piece since it took it, in this audit or
    /// an earlier settled one (`piece_proven_by` on chain): only then can "not stored" convict it.
    #[serde(default)]
    pub(crate) held: bool,
    /// Whether the client had reported the piece: it was challenged on every chunk allowed.
    #[serde(default)]
    pub(crate) reported: bool,
    /// Who owned the provider when it was audited: the owner paid, even if it changes before the
    /// epoch is recomputed.
    #[serde(default)]
    pub(crate) owner: Option<trellis_primitives::AccountAddress>,
    /// The provider's reputation score when audited (parts per million).
    pub(crate) reputation_ppm: u64,
}

/// An epoch's storage audits: what the auditor archives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EpochAudits {
    pub(crate) epoch: Epoch,
    /// Hash of the epoch's last block.
    pub(crate) entropy: Hash,
    /// The auditor's verifier key and its signature of the entropy: mixed with it, the seed of
    /// every challenge ([`trellis_storage::audit::challenge_seed`]), published here so anyone can
    /// recompute them. Absent in files written before challenges were seeded this way.
    #[serde(default)]
    pub(crate) seed_signature: Option<(trellis_primitives::PublicKey, trellis_primitives::Signature)>,
    pub(crate) config: AuditConfig,
    pub(crate) pieces: Vec<PieceAudit>,
}

/// Per provider: proven bytes, reputation when audited, and the counted/rejected breakdown.
type ProviderTotals = std::collections::BTreeMap<DeviceAddress, (u64, u64, ShareBreakdown)>;

/// Adds up an epoch's verdicts per provider: a pure function of the verdict file, so
/// `trellis rewards audit` recomputes the storage pool's units from it.
pub(crate) fn provider_totals(audits: &EpochAudits) -> ProviderTotals {
    let mut by_provider = ProviderTotals::new();
    for p in &audits.pieces {
        let entry = by_provider.entry(p.provider).or_default();
        entry.1 = p.reputation_ppm;
        if p.verdict.passed() {
            entry.0 += p.piece_len;
            entry.2.counted_reports += 1;
        } else {
            *entry
                .2
                .rejected_reports
                .entry(p.verdict.name().to_string())
                .or_default() += 1;
        }
    }
    by_provider
}

/// Storage-pool units per provider for an epoch's verdicts (providers with none are left out).
fn units_from_audits(audits: &EpochAudits) -> std::collections::BTreeMap<DeviceAddress, u64> {
    provider_totals(audits)
        .into_iter()
        .map(|(device, (bytes, reputation, _))| (device, storage_units(bytes, reputation)))
        .filter(|(_, units)| *units > 0)
        .collect()
}

/// What the storage pool pays with the epoch of `now` (its verdicts): the verdicts of the epoch
/// [`HOLD_EPOCHS`] before it, whose units are paid now, and every provider convicted in that
/// epoch or since (a slashable verdict in `now` or in the verdict files between; an epoch
/// without a file audited nobody). `None` while fewer than `HOLD_EPOCHS` epochs precede `now`
/// or when the older file is missing: nothing is paid.
pub(crate) fn hold_window(
    dir: &std::path::Path,
    now: &EpochAudits,
) -> Result<Option<(EpochAudits, BTreeSet<DeviceAddress>)>> {
    let Some(proven_epoch) = now.epoch.0.checked_sub(HOLD_EPOCHS) else {
        return Ok(None);
    };
    let Some(proven) = read_audits(dir, Epoch(proven_epoch))? else {
        return Ok(None);
    };
    let mut convicted = BTreeSet::new();
    let mut add = |audits: &EpochAudits| {
        for p in audits.pieces.iter().filter(|p| p.verdict.slashable(p.held)) {
            convicted.insert(p.provider);
        }
    };
    add(&proven);
    for e in proven_epoch + 1..now.epoch.0 {
        if let Some(between) = read_audits(dir, Epoch(e))? {
            add(&between);
        }
    }
    add(now);
    Ok(Some((proven, convicted)))
}

/// The storage pool's units paid with `epoch`, recomputed from the archive's verdict files
/// (see [`hold_window`]); `None` if the archive has no verdict file for `epoch`.
pub(crate) fn units_paid_with(
    dir: &std::path::Path,
    epoch: Epoch,
) -> Result<Option<std::collections::BTreeMap<DeviceAddress, u64>>> {
    let Some(now) = read_audits(dir, epoch)? else {
        return Ok(None);
    };
    Ok(Some(match hold_window(dir, &now)? {
        Some((proven, convicted)) => paid_units(&proven, &convicted),
        None => Default::default(),
    }))
}

/// The units the verdicts `proven` earned that are paid: all but those of `convicted` providers.
/// The oracle's shares and `rewards audit` both count them here.
fn paid_units(
    proven: &EpochAudits,
    convicted: &BTreeSet<DeviceAddress>,
) -> std::collections::BTreeMap<DeviceAddress, u64> {
    released(&units_from_audits(proven), convicted)
}

/// Reads an epoch's verdict file, if the archive has one.
pub(crate) fn read_audits(dir: &std::path::Path, epoch: Epoch) -> Result<Option<EpochAudits>> {
    match std::fs::read(audits_path(dir, epoch)) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).context("unreadable storage audit file")?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("cannot read the storage audit file"),
    }
}

/// The auditor.
pub(crate) struct StorageAuditor {
    pub(crate) node: Node,
    /// Pays the auditor's transaction fees.
    pub(crate) payer: Keypair,
    /// A registered verifier key; co-signs settlements, slashes and repair moves, and signs the
    /// free egress orders repair downloads with.
    pub(crate) verifier: Arc<Keypair>,
    pub(crate) config: AuditConfig,
    /// Where `storage-audits-<N>.json` go.
    pub(crate) dir: PathBuf,
}

pub(crate) fn audits_path(dir: &std::path::Path, epoch: Epoch) -> PathBuf {
    dir.join(format!("storage-audits-{}.json", epoch.0))
}

pub(crate) fn layout(terms: &DealTerms) -> Result<Layout> {
    Ok(Layout::new(
        terms.size,
        CodingParams {
            data_shards: terms.data_shards,
            parity_shards: terms.parity_shards,
            segment_bytes: terms.segment_bytes,
        },
    )?)
}

impl StorageAuditor {
    /// Audits, settles, slashes and repairs for `epoch`; returns the storage pool's shares.
    pub(crate) fn run(&self, epoch: Epoch) -> Result<Vec<DeviceShare>> {
        let audits = match read_audits(&self.dir, epoch)? {
            Some(audits) => audits,
            None => {
                let audits = tokio::runtime::Handle::current().block_on(self.audit(epoch))?;
                crate::oracle::write_json_atomic(&audits_path(&self.dir, epoch), &audits)?;
                audits
            }
        };
        self.settle(&audits)?;
        self.slash(&audits)?;
        if let Err(e) = tokio::runtime::Handle::current().block_on(self.repair(&audits)) {
            tracing::warn!(epoch = epoch.0, error = %format!("{e:#}"), "storage repair incomplete; retried next epoch");
        }
        self.shares(&audits)
    }

    async fn audit(&self, epoch: Epoch) -> Result<EpochAudits> {
        let epoch_len = self.node.with_state(|s, _| s.params())?.epoch_len_blocks;
        let last = (epoch.0 + 1) * epoch_len - 1;
        let entropy = self
            .node
            .store()
            .block(last)?
            .with_context(|| format!("block {last} is missing"))?
            .header
            .hash();
        // Nobody can know the challenges before they arrive: the seed needs this key.
        let seed_signature = self.verifier.sign(seed_message(&entropy).as_bytes());
        let seed = challenge_seed(&entropy, &seed_signature);
        let chain_id: Arc<str> = self.node.with_state(|s, _| s.chain_id())?.into();
        let http = trellis_storage::audit::auditor_http();
        let limit = Arc::new(tokio::sync::Semaphore::new(MAX_PARALLEL_AUDITS));
        let mut tasks = tokio::task::JoinSet::new();
        for (id, deal) in self.node.with_state(|s, _| trellis_ledger::state::deals(s))? {
            if deal.due_epoch() != Some(epoch) {
                continue;
            }
            for (index, piece) in deal.terms.pieces.iter().enumerate() {
                let index = index as u16;
                // Whether this holder proved the piece in an earlier epoch, as settled on chain:
                // only then can a "not stored" answer convict it (anyone can name a provider in a
                // deal and never upload).
                let (endpoint, reputation, owner, report, held) = self.node.with_state(|s, _| -> Result<_> {
                    Ok((
                        s.endpoint(&piece.provider)?,
                        s.reputation(&piece.provider)?,
                        s.device(&piece.provider)?.map(|d| d.owner),
                        trellis_ledger::state::piece_report(s, &id, index)?,
                        trellis_ledger::state::piece_proven_by(s, &id, index)? == Some(piece.provider),
                    ))
                })?;
                // A piece its client reported (bad bytes on download) gets every chunk a
                // challenge may ask for: a provider corrupting a fraction f of it passes with
                // (1 − f)^64 instead of (1 − f)^c.
                let reported = report.is_some_and(|r| r.provider == piece.provider && r.epoch <= epoch);
                let chunks = if reported {
                    trellis_storage::protocol::MAX_CHALLENGE_CHUNKS as u16
                } else {
                    self.config.chunks_per_piece
                };
                let challenge = challenge_for(&seed, &id, index, deal.terms.piece_len, chunks);
                let (http, limit, piece, piece_len) = (http.clone(), limit.clone(), *piece, deal.terms.piece_len);
                let (node, verifier, chain_id) = (self.node.clone(), self.verifier.clone(), chain_id.clone());
                let deadline = self.config.deadline();
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let verdict = match &endpoint {
                        None => Verdict::NoEndpoint,
                        Some(url) => {
                            // Signed for this provider and the chain's epoch as it is sent (not
                            // the audited one): a copy seen on the wire is no use elsewhere or
                            // later, and a long audit round sends no stale ones.
                            let now = Epoch::of_height(node.tip().height, epoch_len);
                            let signed =
                                SignedChallenge::sign(&chain_id, challenge.clone(), piece.provider, now, &verifier);
                            audit_piece(&http, url, &signed, &piece.root, piece_len, &piece.provider, deadline).await
                        }
                    };
                    PieceAudit {
                        deal: id,
                        index,
                        provider: piece.provider,
                        piece_len,
                        chunks: challenge.chunks,
                        reported,
                        held: verdict.passed() || held,
                        verdict,
                        owner,
                        reputation_ppm: reputation.score_ppm(),
                    }
                });
            }
        }
        let mut pieces = Vec::new();
        while let Some(done) = tasks.join_next().await {
            pieces.push(done.context("an audit task failed")?);
        }
        pieces.sort_by_key(|p| (p.deal, p.index));
        for p in &pieces {
            tracing::info!(epoch = epoch.0, deal = %p.deal, piece = p.index, provider = %p.provider, verdict = p.verdict.name(), "storage audit");
        }
        Ok(EpochAudits {
            epoch,
            entropy,
            seed_signature: Some((self.verifier.public(), seed_signature)),
            config: self.config,
            pieces,
        })
    }

    fn settle(&self, audits: &EpochAudits) -> Result<()> {
        let mut deals: Vec<Hash> = audits.pieces.iter().map(|p| p.deal).collect();
        deals.dedup();
        let mut pending = Vec::new();
        for id in deals {
            let Some(deal) = self.node.with_state(|s, _| s.deal(&id))? else {
                continue;
            };
            if deal.due_epoch() != Some(audits.epoch) {
                continue; // settled already
            }
            let proven: Vec<u16> = audits
                .pieces
                .iter()
                .filter(|p| p.deal == id && p.verdict.passed())
                // Settlement pays whoever holds the piece now: never a provider that took it over
                // after the audit (a client's move) for the audited provider's proof.
                .filter(|p| {
                    deal.terms
                        .pieces
                        .get(usize::from(p.index))
                        .is_some_and(|x| x.provider == p.provider)
                })
                .map(|p| p.index)
                .collect();
            let kind = TxKind::SettleDeal {
                deal: id,
                epoch: audits.epoch,
                proven,
            };
            pending.push(kind);
        }
        self.submit_all(pending)
    }

    fn slash(&self, audits: &EpochAudits) -> Result<()> {
        let mut pending = Vec::new();
        for p in audits.pieces.iter().filter(|p| p.verdict.slashable(p.held)) {
            let evidence = evidence(&p.deal, p.index, audits.epoch.0, &p.provider, &p.verdict);
            let (used, stake) = self.node.with_state(|s, _| -> Result<_> {
                Ok((
                    s.get(&keys::slash_evidence(&evidence)).is_some(),
                    s.device(&p.provider)?.map(|d| d.stake).unwrap_or_default(),
                ))
            })?;
            let amount =
                Amount::from_units((u128::from(stake.units()) * u128::from(self.config.slash_bps) / 10_000) as u64);
            if used || amount.is_zero() {
                continue;
            }
            tracing::warn!(provider = %p.provider, deal = %p.deal, piece = p.index, verdict = p.verdict.name(), %amount, "slashing a storage provider");
            pending.push(TxKind::Slash {
                device: p.provider,
                amount,
                evidence,
                reason: format!(
                    "storage audit epoch {}: piece {} of deal {}: {}",
                    audits.epoch.0,
                    p.index,
                    p.deal,
                    p.verdict.name()
                ),
            });
        }
        self.submit_all(pending)
    }

    /// The storage pool's shares paid with the epoch of `audits`: the units proven
    /// [`HOLD_EPOCHS`] epochs before, forfeited by providers convicted since, and what clients
    /// paid in this epoch.
    fn shares(&self, audits: &EpochAudits) -> Result<Vec<DeviceShare>> {
        let (by_provider, owners, convicted, paid, proven_epoch) = match hold_window(&self.dir, audits)? {
            Some((proven, convicted)) => {
                let owners: std::collections::BTreeMap<DeviceAddress, trellis_primitives::AccountAddress> = proven
                    .pieces
                    .iter()
                    .filter_map(|p| Some((p.provider, p.owner?)))
                    .collect();
                let paid = paid_units(&proven, &convicted);
                (provider_totals(&proven), owners, convicted, paid, proven.epoch.0)
            }
            None => Default::default(),
        };
        let mut shares = Vec::new();
        for (device, (bytes, reputation, mut breakdown)) in by_provider {
            // The owner recorded at audit time; archives from before that field fall back to the
            // chain's current owner.
            let owner = match owners.get(&device) {
                Some(owner) => *owner,
                None => match self.node.with_state(|s, _| s.device(&device))? {
                    Some(dev) if dev.class == DeviceClass::Storage => dev.owner,
                    _ => continue,
                },
            };
            // The verdicts behind these units are the proven epoch's, and the breakdown says so.
            breakdown.factors = vec![
                ("proven_in_epoch".into(), proven_epoch),
                ("proven_bytes".into(), bytes),
                ("reputation_ppm".into(), reputation),
            ];
            if convicted.contains(&device) {
                *breakdown
                    .rejected_reports
                    .entry("convicted_while_held".into())
                    .or_default() += 1;
            }
            let units = paid.get(&device).copied().unwrap_or(0);
            shares.push(DeviceShare {
                device,
                owner,
                pool: Pool::Storage,
                units,
                earned_credits: 0,
                breakdown,
            });
        }
        // What clients paid each provider this epoch (settled deal epochs, closes and egress), paid
        // first at the credit's value; a provider paid only for egress has no units.
        let earned = self
            .node
            .with_state(|s, _| trellis_ledger::state::storage_earned_in(s, audits.epoch))?;
        for (device, credits) in earned.into_iter().filter(|(_, c)| c.0 > 0) {
            if let Some(share) = shares.iter_mut().find(|s| s.device == device) {
                share.earned_credits = credits.0;
                share.breakdown.factors.push(("earned_credits".into(), credits.0));
                continue;
            }
            let Some(dev) = self.node.with_state(|s, _| s.device(&device))? else {
                continue;
            };
            shares.push(DeviceShare {
                device,
                owner: dev.owner,
                pool: Pool::Storage,
                units: 0,
                earned_credits: credits.0,
                breakdown: ShareBreakdown {
                    factors: vec![("earned_credits".into(), credits.0)],
                    ..ShareBreakdown::default()
                },
            });
        }
        Ok(shares)
    }

    /// Storage providers as the chain records them (what `/v1/providers` serves).
    pub(crate) fn providers(&self) -> Result<Vec<trellis_storage::chain::ProviderInfo>> {
        let (providers, min) = self.node.with_state(|s, _| -> Result<_> {
            Ok((
                trellis_ledger::state::storage_providers(s)?,
                s.params()?.storage_min_collateral,
            ))
        })?;
        Ok(providers
            .into_iter()
            .map(|p| trellis_storage::chain::ProviderInfo {
                address: p.address,
                owner: p.device.owner,
                stake: p.device.stake,
                eligible: p.device.stake >= min,
                capabilities: p.device.capabilities,
                location: p.device.location.map(|l| l.location),
                endpoint: p.endpoint,
                slashed: p.device.slashed,
                reputation_ppm: p.reputation.score_ppm(),
            })
            .collect())
    }

    /// Signs (payer, co-signed by the verifier) and submits `kind` with the next of `nonce`.
    fn submit_with(&self, nonce: &mut u64, kind: TxKind) -> Result<Hash> {
        let (chain_id, fee) = self
            .node
            .with_state(|s, _| -> Result<_> { Ok((s.chain_id()?, s.params()?.min_fee)) })?;
        let tx = Transaction::sign(
            TxBody {
                chain_id,
                signer: self.payer.public().into(),
                nonce: *nonce,
                fee,
                kind,
            },
            &self.payer,
        )
        .cosign(&self.verifier);
        *nonce += 1;
        Ok(self.node.submit(tx)?)
    }

    /// Submits `kinds` in windows the mempool accepts, waiting for each window.
    pub(crate) fn submit_all(&self, kinds: Vec<TxKind>) -> Result<()> {
        for window in kinds.chunks(32) {
            let mut nonce = self
                .node
                .with_state(|s, _| s.account(&self.payer.public().into()))?
                .nonce;
            let ids = window
                .iter()
                .map(|k| self.submit_with(&mut nonce, k.clone()))
                .collect::<Result<Vec<_>>>()?;
            self.wait(&ids)?;
        }
        Ok(())
    }

    fn wait(&self, ids: &[Hash]) -> Result<()> {
        let deadline = std::time::Instant::now() + TX_TIMEOUT;
        for id in ids {
            loop {
                match self.node.tx_status(id)? {
                    TxStatus::Committed { receipt, .. } => {
                        if let TxOutcome::Failed { code, message } = receipt.outcome {
                            tracing::warn!(tx = %id, code, message, "storage auditor transaction failed");
                        }
                        break;
                    }
                    TxStatus::Rejected { code, message } => {
                        bail!("storage auditor transaction {id} rejected ({code}): {message}")
                    }
                    _ if std::time::Instant::now() > deadline => {
                        bail!("storage auditor transaction {id} not final in time")
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        Ok(())
    }
}
