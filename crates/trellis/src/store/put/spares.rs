//! Pieces whose provider failed during `put` go to spare providers: a `MovePiece` each, then
//! the file coded again once for all of them, each moved piece streamed to its spare under the
//! open deal. A piece whose spare fails too tries the next spare, up to
//! [`MAX_SPARES_PER_PIECE`] rounds.

use super::stream::{join_uploads, start_streamed_upload, Dest, PieceSink, Source, Transfers, Uploads};
use crate::client::Client;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use trellis_ledger::{DealTerms, TxKind};
use trellis_primitives::{DeviceAddress, Hash};
use trellis_storage::{
    client::Candidate,
    protocol::{UploadGrant, UPLOAD_GRANT_EPOCHS},
};

/// Uploads to spares tried for one piece before the put gives up on it.
const MAX_SPARES_PER_PIECE: usize = 3;
/// Longest a move waits for the deal's last completed epoch to be settled.
const SETTLEMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// What moving pieces to spares needs.
pub(super) struct Spares<'a> {
    pub(super) client: &'a Client,
    pub(super) node: &'a trellis_storage::chain::NodeApi,
    pub(super) key: &'a trellis_primitives::Keypair,
    pub(super) transfers: &'a Transfers,
    /// Usable providers not in the deal, best first; each is tried once.
    pub(super) candidates: &'a mut Vec<Candidate>,
    pub(super) id: Hash,
    pub(super) terms: &'a DealTerms,
    pub(super) source: &'a Source,
    pub(super) quiet: bool,
}

impl Spares<'_> {
    /// Moves every piece in `failed` to a spare that takes it; the pieces no spare took.
    pub(super) async fn take(&mut self, failed: Vec<usize>) -> Result<Vec<usize>> {
        let mut holders: BTreeSet<DeviceAddress> = self.terms.pieces.iter().map(|p| p.provider).collect();
        let mut pending = failed;
        let mut why: BTreeMap<usize, anyhow::Error> = BTreeMap::new();
        for _ in 0..MAX_SPARES_PER_PIECE {
            if pending.is_empty() {
                break;
            }
            let mut moving = Vec::new();
            for &index in &pending {
                // A spare the chain refuses (no longer eligible, say) costs no round: the next one
                // is tried at once.
                loop {
                    let Some(spare) = self.next_spare(&holders) else {
                        why.entry(index)
                            .or_insert_with(|| anyhow::anyhow!("no spare providers left"));
                        break;
                    };
                    match self.move_piece(index, &spare).await {
                        Ok(()) => {
                            holders.insert(spare.info.address);
                            moving.push((index, spare));
                            break;
                        }
                        Err(e) => {
                            why.insert(index, e);
                        }
                    }
                }
            }
            if moving.is_empty() {
                break;
            }
            for (index, result) in self.send(&moving).await? {
                match result {
                    Ok(to) => {
                        eprintln!("piece {index}: moved to {to}");
                        pending.retain(|&i| i != index);
                        why.remove(&index);
                    }
                    Err(e) => {
                        why.insert(index, e);
                    }
                }
            }
        }
        for index in &pending {
            let e = why
                .remove(index)
                .unwrap_or_else(|| anyhow::anyhow!("no spare providers left"));
            eprintln!("piece {index}: no spare provider took it: {e:#}");
        }
        Ok(pending)
    }

    /// The best spare not already holding a piece of the deal.
    fn next_spare(&mut self, holders: &BTreeSet<DeviceAddress>) -> Option<Candidate> {
        while !self.candidates.is_empty() {
            let spare = self.candidates.remove(0);
            if !holders.contains(&spare.info.address) {
                return Some(spare);
            }
        }
        None
    }

    /// Names `spare` as piece `index`'s holder on chain. A put that outlasted the deal's first
    /// paid epoch may find it awaiting settlement, when pieces may not move: it waits for that
    /// (up to [`SETTLEMENT_WAIT`]) rather than spend a spare on it.
    async fn move_piece(&self, index: usize, spare: &Candidate) -> Result<()> {
        let deadline = std::time::Instant::now() + SETTLEMENT_WAIT;
        loop {
            let kind = TxKind::MovePiece {
                deal: self.id,
                index: index as u16,
                provider: spare.info.address,
            };
            let tx = self.client.sign_and_submit(self.key, kind, None).await?;
            match crate::wallet::expect_success(self.client, &tx).await {
                Ok(_) => return Ok(()),
                Err(e) if format!("{e:#}").contains("settlement_pending") && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Codes the file once, streaming each moving piece to its spare; how each upload went.
    async fn send(&self, moving: &[(usize, Candidate)]) -> Result<Vec<(usize, Result<DeviceAddress>)>> {
        let bar = super::bytes_bar(self.terms.size, &format!("{} to spares", moving.len()), self.quiet);
        let sent = indicatif::ProgressBar::hidden();
        let mut tasks = Uploads::new();
        let mut sinks = PieceSink::discard(self.terms.pieces.len());
        let status = self
            .node
            .status()
            .await
            .context("reading the node's status to sign the spares' upload grants")?;
        for (index, spare) in moving {
            let grant = UploadGrant {
                deal: self.id,
                index: *index as u16,
                provider: spare.info.address,
                expires: trellis_primitives::Epoch(status.epoch + UPLOAD_GRANT_EPOCHS),
            }
            .sign(&status.chain_id, self.key);
            let dest = Dest::Deal {
                grant: Box::new(grant),
                piece_len: self.terms.piece_len,
            };
            sinks[*index] = start_streamed_upload(&mut tasks, self.transfers, &spare.endpoint, dest, *index, &sent);
        }
        let trees = self.source.encode(sinks, bar.clone()).await?;
        bar.finish_and_clear();
        if moving
            .iter()
            .any(|(index, _)| trees[*index].root() != self.terms.pieces[*index].root)
        {
            bail!(
                "the file changed while it was being stored, so providers refuse its pieces; close the deal with \
                 `trellis store rm {}` to get the escrow back, and store the file again",
                self.id
            );
        }
        let mut results = join_uploads(tasks).await?;
        Ok(moving
            .iter()
            .map(|(index, spare)| {
                let result = match results.remove(index) {
                    Some(Ok(_)) => Ok(spare.info.address),
                    Some(Err(e)) => Err(e.into()),
                    None => Err(anyhow::anyhow!("the upload to the spare did not run")),
                };
                (*index, result)
            })
            .collect())
    }
}
