//! The reward oracle service: after each epoch completes it computes the epoch's rewards, archives
//! the inputs and result, posts the manifest co-signed by an oracle quorum, and submits the claims.
//!
//! Shares come from the verifiers (coverage, storage, compute, sensor), which arrive with later
//! issues; until one is registered every earning pool rolls over and the manifest pays the
//! operations and treasury accounts only. Restart-safe: every step checks the chain first.

use anyhow::{bail, Context, Result};
use std::{path::PathBuf, time::Duration};
use tokio::sync::watch;
use trellis_chain::{Node, TxStatus};
use trellis_ledger::{state::keys, Manifest, StateRead, Store, Transaction, TxBody, TxKind, TxOutcome};
use trellis_primitives::{Epoch, Hash, Keypair};
use trellis_rewards::{compute_epoch, EpochArchive, EpochInputs, PoolAmounts, RewardConfig};

/// How long the oracle waits for one of its transactions to be final.
const TX_TIMEOUT: Duration = Duration::from_secs(60);

/// The oracle.
pub(crate) struct RewardOracle {
    pub(crate) node: Node,
    /// Signs and pays for the oracle's transactions; an oracle committee member.
    pub(crate) signer: Keypair,
    /// Further committee members, enough for the quorum.
    pub(crate) cosigners: Vec<Keypair>,
    /// Where `epoch-<N>.json` archives go.
    pub(crate) archive: PathBuf,
    /// The ingest report archive (object store directory) the report-log verifiers read, if
    /// this network runs ingest.
    pub(crate) reports: Option<crate::coverage_source::ReportArchive>,
    /// The coverage verifier over the report log.
    pub(crate) coverage: Option<crate::coverage_source::CoverageSource>,
    /// The storage auditor, if this network has storage providers.
    pub(crate) storage: Option<crate::storage_audit::StorageAuditor>,
    /// The sensor QoD scorer over the report log, if this network runs ingest.
    pub(crate) sensor: Option<crate::sensor_source::SensorSource>,
    /// How long after an epoch's last block to wait before settling it, so every report of the
    /// epoch has rolled into the report archive (two roll periods).
    pub(crate) settle_delay_ms: u64,
}

/// The archive file of `epoch`.
pub(crate) fn archive_path(dir: &std::path::Path, epoch: Epoch) -> PathBuf {
    dir.join(format!("epoch-{}.json", epoch.0))
}

impl RewardOracle {
    /// Settles every completed epoch, then again after each block, until shutdown.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        std::fs::create_dir_all(&self.archive).with_context(|| format!("cannot create {}", self.archive.display()))?;
        let mut blocks = self.node.subscribe();
        let oracle = std::sync::Arc::new(self);
        loop {
            let o = oracle.clone();
            tokio::task::spawn_blocking(move || o.catch_up())
                .await
                .context("oracle task failed")??;
            tokio::select! {
                _ = blocks.recv() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn catch_up(&self) -> Result<()> {
        let (height, epoch_len) = self
            .node
            .with_state(|s, tip| s.params().map(|p| (tip.height, p.epoch_len_blocks)))?;
        let current = Epoch::of_height(height, epoch_len);
        let tip_ms = self.node.tip().timestamp_ms;
        for e in 0..current.0 {
            let epoch = Epoch(e);
            let next_start_ms = self
                .node
                .store()
                .block((e + 1) * epoch_len)?
                .map_or(u64::MAX, |b| b.header.timestamp_ms);
            if tip_ms < next_start_ms.saturating_add(self.settle_delay_ms) {
                break;
            }
            let posted: Option<Manifest> = self.node.with_state(|s, _| s.read(&keys::manifest(epoch)))?;
            if posted.as_ref().is_some_and(|m| m.claimed == m.total) {
                continue;
            }
            self.settle(epoch, posted)?;
        }
        Ok(())
    }

    fn settle(&self, epoch: Epoch, posted: Option<Manifest>) -> Result<()> {
        let carry = if epoch.0 == 0 {
            PoolAmounts::default()
        } else {
            read_archive(&self.archive, Epoch(epoch.0 - 1))?.result.next_carry
        };
        let supply = self.node.with_state(|s, _| s.supply())?;
        let issued_so_far = match &posted {
            // Recomputing after a restart: the supply already includes this manifest.
            Some(m) => supply
                .issued
                .checked_sub(m.total)
                .context("supply below a posted manifest")?,
            None => supply.issued,
        };
        let inputs = EpochInputs {
            epoch,
            issued_so_far,
            burned_in_epoch: self
                .node
                .with_state(|s, _| s.read(&keys::epoch_burn(epoch)))?
                .unwrap_or_default(),
            carry,
            shares: self.shares(epoch)?,
            credit_value: self
                .node
                .with_state(|s, _| trellis_rewards::credits::credit_value_in(s, epoch))?,
        };
        // The rules in force on chain when the epoch is settled (governance changes apply to every
        // epoch settled after them).
        let params: Option<trellis_ledger::RewardParams> = self.node.with_state(|s, _| s.read(keys::REWARD_PARAMS))?;
        let config = RewardConfig::from(
            &params.context("the chain has no reward parameters (set them in genesis or by governance)")?,
        );
        config.validate()?;
        let result = compute_epoch(&config, &inputs)?;
        if let Some(m) = &posted {
            if m.root != result.manifest.root {
                bail!(
                    "epoch {}: the posted manifest root {} is not the recomputed {}",
                    epoch.0,
                    m.root,
                    result.manifest.root
                );
            }
        }
        let archive = EpochArchive { config, inputs, result };
        write_archive(&self.archive, &archive)?;
        let manifest = &archive.result.manifest;
        let mut nonce = self
            .node
            .with_state(|s, _| s.account(&self.signer.public().into()))?
            .nonce;
        let mut pending = Vec::new();
        if posted.is_none() {
            let mut tx = self.tx(nonce, manifest.post_kind());
            nonce += 1;
            for c in &self.cosigners {
                tx = tx.cosign(c);
            }
            pending.push(self.node.submit(tx)?);
            self.wait(&pending)?;
            pending.clear();
        }
        for owner in &manifest.owners {
            let claimed = self
                .node
                .with_state(|s, _| s.get(&keys::claim(epoch, &owner.owner)).is_some());
            if claimed {
                continue;
            }
            let (amount, proof) = manifest
                .proof(&owner.owner)
                .context("owner missing from its own manifest")?;
            pending.push(self.node.submit(self.tx(
                nonce,
                TxKind::ClaimReward {
                    epoch,
                    owner: owner.owner,
                    amount,
                    proof,
                },
            ))?);
            nonce += 1;
        }
        self.wait(&pending)?;
        tracing::info!(epoch = epoch.0, root = %manifest.root, total = %manifest.total, owners = manifest.owners.len(), "rewards settled");
        Ok(())
    }

    /// Every verifier's shares for `epoch`: coverage and sensor QoD from the report log, storage
    /// from audits, compute from the job earnings on chain.
    fn shares(&self, epoch: Epoch) -> Result<Vec<trellis_rewards::DeviceShare>> {
        let mut shares = Vec::new();
        // One read of the report archive serves every verifier of the log.
        let frames = match &self.reports {
            Some(dir) => tokio::runtime::Handle::current().block_on(crate::coverage_source::read_reports(dir))?,
            None => Vec::new(),
        };
        if let Some(source) = &self.coverage {
            let run = source.run(epoch, &frames)?;
            let settings = crate::coverage_source::VerifierSettings {
                coverage: source.config.clone(),
                redundancy: source.redundancy.clone(),
            };
            crate::coverage_source::write_verdicts(&self.archive, epoch, &settings, &run.outcomes)?;
            shares.extend(run.shares);
        }
        if let Some(auditor) = &self.storage {
            shares.extend(auditor.run(epoch).context("storage audits")?);
        }
        if let Some(sensor) = &self.sensor {
            shares.extend(sensor.run(epoch, &frames).context("sensor QoD")?);
        }
        shares.extend(crate::compute::compute_shares(&self.node, epoch).context("compute earnings")?);
        Ok(shares)
    }

    fn tx(&self, nonce: u64, kind: TxKind) -> Transaction {
        let chain_id = self.node.with_state(|s, _| s.chain_id()).unwrap_or_default();
        let fee = self
            .node
            .with_state(|s, _| s.params().map(|p| p.min_fee))
            .unwrap_or_default();
        Transaction::sign(
            TxBody {
                chain_id,
                signer: self.signer.public().into(),
                nonce,
                fee,
                kind,
            },
            &self.signer,
        )
    }

    fn wait(&self, ids: &[Hash]) -> Result<()> {
        let deadline = std::time::Instant::now() + TX_TIMEOUT;
        for id in ids {
            loop {
                match self.node.tx_status(id)? {
                    TxStatus::Committed { receipt, .. } => match receipt.outcome {
                        TxOutcome::Success => break,
                        TxOutcome::Failed { code, message } => {
                            bail!("oracle transaction {id} failed ({code}): {message}")
                        }
                    },
                    TxStatus::Rejected { code, message } => {
                        bail!("oracle transaction {id} rejected ({code}): {message}")
                    }
                    _ if std::time::Instant::now() > deadline => bail!("oracle transaction {id} not final in time"),
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        Ok(())
    }
}

/// Reads an epoch's archive.
pub(crate) fn read_archive(dir: &std::path::Path, epoch: Epoch) -> Result<EpochArchive> {
    let path = archive_path(dir, epoch);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a reward archive", path.display()))
}

/// Writes an archive atomically (temp file, fsync, rename) so a crash never leaves half a file.
fn write_archive(dir: &std::path::Path, archive: &EpochArchive) -> Result<()> {
    write_json_atomic(&archive_path(dir, archive.inputs.epoch), archive)
}

/// Writes `value` as pretty JSON to `path` through a synced temporary file and a rename.
pub(crate) fn write_json_atomic<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(&serde_json::to_vec_pretty(value)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}
