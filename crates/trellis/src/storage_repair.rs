//! Storage repair: the auditor rebuilds pieces that failed their audits from `k` healthy ones
//! (Reed-Solomon over ciphertext, so without the file key), checks the result against the
//! committed root, and moves each to a new provider that takes the upload.

use crate::storage_audit::{layout, EpochAudits, PieceAudit, StorageAuditor};
use anyhow::{bail, Context, Result};
use std::{collections::BTreeSet, time::Duration};
use trellis_ledger::{Deal, DealTerms, StateRead, TxKind};
use trellis_primitives::{DeviceAddress, Hash};
use trellis_storage::client::{download_piece, rebuild_piece, upload_piece, OrderSigner, PieceRef};

/// New providers tried for one rebuilt piece before repair gives up until the next epoch.
const MAX_REPAIR_TARGETS: usize = 3;
/// Times a rebuilt piece's upload is retried (300 ms apart) while the target's node has not yet
/// seen the move that names it.
const MOVE_SEEN_TRIES: u32 = 10;

impl StorageAuditor {
    /// The chain's id and its epoch at this node's tip: what the repairer's download orders and
    /// upload grants are signed for.
    fn chain_and_epoch(&self) -> Result<(String, trellis_primitives::Epoch)> {
        self.node.with_state(|s, tip| {
            Ok((
                s.chain_id()?,
                trellis_primitives::Epoch::of_height(tip.height, s.params()?.epoch_len_blocks),
            ))
        })
    }

    /// Re-creates failed pieces on new providers, for deals below the repair threshold.
    pub(crate) async fn repair(&self, audits: &EpochAudits) -> Result<()> {
        let mut deals: Vec<Hash> = audits
            .pieces
            .iter()
            .filter(|p| !p.verdict.passed())
            .map(|p| p.deal)
            .collect();
        deals.dedup();
        for id in deals {
            let Some(deal) = self.node.with_state(|s, _| s.deal(&id))? else {
                continue;
            };
            let failed: Vec<&PieceAudit> = audits
                .pieces
                .iter()
                .filter(|p| p.deal == id && !p.verdict.passed())
                // Only pieces still on the provider that failed them (not repaired already).
                .filter(|p| {
                    deal.terms
                        .pieces
                        .get(usize::from(p.index))
                        .is_some_and(|x| x.provider == p.provider)
                })
                .collect();
            let n = deal.terms.pieces.len();
            let threshold = match self.config.repair_threshold {
                0 => n,
                t => usize::from(t).min(n),
            };
            if failed.is_empty() || n - failed.len() >= threshold {
                continue;
            }
            // One deal that cannot be repaired now must not hold up the others.
            if let Err(e) = self.repair_deal(id, &deal, &failed).await {
                tracing::warn!(deal = %id, error = %format!("{e:#}"), "storage repair failed; retried next epoch");
            }
        }
        Ok(())
    }

    async fn repair_deal(&self, id: Hash, deal: &Deal, failed: &[&PieceAudit]) -> Result<()> {
        let terms = &deal.terms;
        let layout = layout(terms)?;
        let k = usize::from(terms.data_shards);
        let bad: BTreeSet<u16> = failed.iter().map(|p| p.index).collect();
        let providers = self.providers()?;
        let endpoint = |d: &DeviceAddress| {
            providers
                .iter()
                .find(|p| &p.address == d)
                .and_then(|p| p.endpoint.clone())
        };
        let work = tempfile::tempdir().context("cannot create a repair work directory")?;
        let http = trellis_storage::client::transfer_http(trellis_storage::client::TRANSFER_IDLE_TIMEOUT);
        // Repair downloads are the network's own: orders signed by the verifier key at price
        // zero, which providers serve without charging anyone.
        let (chain_id, epoch) = self.chain_and_epoch()?;
        let orders = OrderSigner::new(self.verifier.clone(), &chain_id, epoch);
        // k healthy pieces, each verified against its root while it downloads.
        let mut have = Vec::new();
        for (index, piece) in terms.pieces.iter().enumerate() {
            if have.len() == k {
                break;
            }
            if bad.contains(&(index as u16)) {
                continue;
            }
            let Some(url) = endpoint(&piece.provider) else { continue };
            let dest = work.path().join(format!("have-{index}"));
            let piece_ref = PieceRef {
                deal: id,
                index: index as u16,
                root: piece.root,
                len: layout.piece_len(),
            };
            let piece_orders = orders.for_piece(id, piece.provider, trellis_primitives::Credits(0));
            match download_piece(&http, &url, &piece_ref, &piece_orders, &dest, None, |_| {}).await {
                Ok(()) => have.push((index, dest)),
                Err(e) => tracing::warn!(deal = %id, piece = index, error = %e, "repair source unavailable"),
            }
        }
        if have.len() < k {
            bail!(
                "deal {id}: only {} healthy pieces reachable, {k} needed to repair",
                have.len()
            );
        }
        let mut exclude: BTreeSet<DeviceAddress> = terms.pieces.iter().map(|p| p.provider).collect();
        for p in failed {
            let rebuilt = work.path().join(format!("rebuilt-{}", p.index));
            let (sources, out, missing) = (have.clone(), rebuilt.clone(), usize::from(p.index));
            let root = tokio::task::spawn_blocking(move || -> Result<Hash> {
                let readers = sources
                    .into_iter()
                    .map(|(i, path)| std::fs::File::open(path).map(|f| (i, std::io::BufReader::new(f))))
                    .collect::<std::io::Result<Vec<_>>>()?;
                // Hash the piece as it is written instead of reading it back.
                let mut w = HashingWriter {
                    inner: std::io::BufWriter::new(std::fs::File::create(&out)?),
                    hasher: trellis_storage::PieceHasher::new(),
                };
                rebuild_piece(readers, layout, missing, &mut w)?;
                w.inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                Ok(w.hasher.finish().root())
            })
            .await??;
            let expected = terms.pieces[usize::from(p.index)].root;
            if root != expected {
                // The other pieces are not one erasure code with this one: the client's upload was
                // inconsistent. Moving it would only hand a new provider a piece it cannot prove.
                bail!(
                    "deal {id}: piece {} rebuilds to {root}, not the committed {expected}",
                    p.index
                );
            }
            self.place_rebuilt(id, terms, p, &rebuilt, &providers, &mut exclude, &http)
                .await?;
        }
        Ok(())
    }

    /// Moves a rebuilt piece to the best new provider that takes the upload, trying up to
    /// [`MAX_REPAIR_TARGETS`] of them.
    #[allow(clippy::too_many_arguments)]
    async fn place_rebuilt(
        &self,
        id: Hash,
        terms: &DealTerms,
        failed: &PieceAudit,
        rebuilt: &std::path::Path,
        providers: &[trellis_storage::chain::ProviderInfo],
        exclude: &mut BTreeSet<DeviceAddress>,
        http: &reqwest::Client,
    ) -> Result<()> {
        let piece_len = terms.piece_len;
        for _ in 0..MAX_REPAIR_TARGETS {
            let placement = trellis_storage::client::place(
                providers,
                1,
                piece_len,
                terms.price_per_gib_epoch.0,
                &terms.nonce,
                exclude,
            )
            .with_context(|| format!("deal {id}: no provider to repair piece {} onto", failed.index))?;
            let target = placement.chosen[0].clone();
            exclude.insert(target.info.address);
            self.submit_all(vec![TxKind::MovePiece {
                deal: id,
                index: failed.index,
                provider: target.info.address,
            }])?;
            let (chain_id, epoch) = self.chain_and_epoch()?;
            // The repairer's leave to upload: a verifier's grant for this piece and target.
            let grant = trellis_storage::protocol::UploadGrant {
                deal: id,
                index: failed.index,
                provider: target.info.address,
                expires: trellis_primitives::Epoch(epoch.0 + trellis_storage::protocol::UPLOAD_GRANT_EPOCHS),
            }
            .sign(&chain_id, &self.verifier);
            // The target's own node may not have the move yet: it says the piece is not its.
            let mut tries = 0;
            let uploaded = loop {
                match upload_piece(http, &target.endpoint, &grant, rebuilt, |_| {}).await {
                    Err(trellis_storage::client::TransferError::Refused { code, .. })
                        if (code == "not_assigned" || code == "unknown_deal") && tries < MOVE_SEEN_TRIES =>
                    {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    other => break other,
                }
            };
            match uploaded {
                Ok(()) => {
                    tracing::info!(deal = %id, piece = failed.index, from = %failed.provider, to = %target.info.address, "repaired a storage piece");
                    return Ok(());
                }
                // The piece now points at a provider without it; it never proved holding it, so
                // its 404 cannot get it slashed, and the next target replaces it.
                Err(e) => {
                    tracing::warn!(deal = %id, piece = failed.index, target = %target.info.address, error = %e, "repair upload failed")
                }
            }
        }
        bail!("deal {id}: no repair target took piece {}", failed.index)
    }
}

/// Writes through to `inner` and feeds what was written into a piece hasher.
struct HashingWriter<W> {
    inner: W,
    hasher: trellis_storage::PieceHasher,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
