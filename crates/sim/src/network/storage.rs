//! Storage providers holding pieces of deals, audited every epoch with the storage crate's own
//! challenge derivation, chunk proofs, signed answers and answer check, their reputation kept
//! with the ledger's `Reputation`, failed pieces repaired onto the honest provider holding the
//! fewest, and the storage pool paid by `storage_units` (proven bytes × reputation) as the
//! oracle's auditor does: held [`HOLD_EPOCHS`] epochs and forfeited by a provider convicted
//! meanwhile ([`released`]). A data-deleting provider answers a deleted chunk with the bytes it
//! no longer has (zeros), which the proof check refuses.

use super::{
    block_hash, draw,
    population::{Attack, Class, Population},
    DeviceEpoch, NetworkConfig,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use trellis_ledger::Reputation;
use trellis_primitives::{Hash, HashDomain};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};
use trellis_storage::{
    audit::{challenge_for, released, storage_units, AuditConfig, Verdict, HOLD_EPOCHS},
    piece::{chunk_len, group_of, group_range, PIECE_CHUNK_BYTES},
    protocol::{Answer, AnswerFault},
    PieceTree,
};

/// Pieces each provider starts with.
const PIECES_PER_PROVIDER: u64 = 2;
/// Chunks per piece (64 KiB pieces).
const CHUNKS: u64 = 16;
/// A deleter keeps this many chunks in ten.
const KEPT_OF_TEN: u64 = 7;

pub(super) struct Storage {
    audit: AuditConfig,
    /// Every piece has the same bytes (memory stays flat at any scale); deals differ.
    content: Vec<u8>,
    tree: PieceTree,
    /// Deal id -> the provider (device index) holding its piece.
    pieces: BTreeMap<Hash, usize>,
    reputation: BTreeMap<usize, Reputation>,
    /// The units proven and the providers convicted in each of the last `HOLD_EPOCHS + 1`
    /// epochs, oldest first.
    held: VecDeque<(BTreeMap<usize, u64>, BTreeSet<usize>)>,
    seed: u64,
}

impl Storage {
    pub(super) fn new(config: &NetworkConfig, pop: &Population) -> Self {
        let len = CHUNKS as usize * PIECE_CHUNK_BYTES;
        let content: Vec<u8> = (0..len)
            .map(|i| (draw(config.seed, &[b"content", &(i as u64 / 64).to_le_bytes()]) >> (i % 8 * 8)) as u8)
            .collect();
        let tree = PieceTree::of(&content);
        let mut pieces = BTreeMap::new();
        for i in pop.of(Class::Storage) {
            for p in 0..PIECES_PER_PROVIDER {
                let deal = HashDomain::StorageContent.hash_parts(&[
                    b"sim deal",
                    &pop.devices[i].address.key().0,
                    &p.to_le_bytes(),
                ]);
                pieces.insert(deal, i);
            }
        }
        Storage {
            audit: AuditConfig::default(),
            content,
            tree,
            pieces,
            reputation: BTreeMap::new(),
            held: VecDeque::new(),
            seed: config.seed,
        }
    }

    /// Whether provider `i` still has chunk `c` of `deal`.
    fn kept(&self, pop: &Population, i: usize, deal: &Hash, c: u64) -> bool {
        pop.devices[i].attack != Some(Attack::DataDeleter)
            || draw(self.seed, &[b"kept", deal.as_bytes(), &c.to_le_bytes()]) % 10 < KEPT_OF_TEN
    }

    pub(super) fn epoch(&mut self, e: u32, pop: &Population, out: &mut [DeviceEpoch]) -> Vec<DeviceShare> {
        let entropy = block_hash(self.seed, e, 5);
        let len = self.content.len() as u64;
        let mut proven: BTreeMap<usize, (u64, ShareBreakdown)> = BTreeMap::new();
        let mut failed_pieces = Vec::new();
        for (deal, &i) in &self.pieces {
            let dev = &pop.devices[i];
            let challenge = challenge_for(&entropy, deal, 0, len, self.audit.chunks_per_piece);
            let proofs = challenge
                .chunks
                .iter()
                .filter_map(|&c| {
                    let (group_start, group_end) = group_range(len, group_of(c))?;
                    let mut group = self.content[group_start as usize..group_end as usize].to_vec();
                    if !self.kept(pop, i, deal, c) {
                        let start = usize::try_from(c * PIECE_CHUNK_BYTES as u64 - group_start).ok()?;
                        group[start..start + chunk_len(len, c)?].fill(0);
                    }
                    self.tree.prove(c, &group)
                })
                .collect();
            let answer = Answer::sign(&challenge, proofs, &dev.key);
            let verdict = match answer.check(&challenge, &self.tree.root(), len, &dev.address) {
                Ok(()) => Verdict::Passed,
                Err(fault @ (AnswerFault::BadSignature | AnswerFault::WrongNonce)) => {
                    Verdict::Malformed(fault.to_string())
                }
                Err(fault) => Verdict::BadAnswer(fault.to_string()),
            };
            let rep = self.reputation.entry(i).or_default();
            *rep = rep.record(verdict.passed());
            let entry = proven.entry(i).or_default();
            if verdict.passed() {
                entry.0 += len;
                entry.1.counted_reports += 1;
            } else {
                *entry.1.rejected_reports.entry(verdict.name().to_string()).or_default() += 1;
                failed_pieces.push(*deal);
            }
        }
        // Repair: every failed piece moves to the honest-looking provider holding the fewest.
        // Pieces per provider, kept current as pieces move.
        let mut load: BTreeMap<usize, u64> = pop.of(Class::Storage).map(|i| (i, 0)).collect();
        for &i in self.pieces.values() {
            *load.entry(i).or_default() += 1;
        }
        for deal in failed_pieces {
            let from = self.pieces.get(&deal).copied();
            let target = load
                .iter()
                .filter(|(i, _)| Some(**i) != from && !self.reputation.get(i).is_some_and(Reputation::disqualified))
                .min_by_key(|(i, n)| (**n, **i))
                .map(|(i, _)| *i);
            if let Some(t) = target {
                self.pieces.insert(deal, t);
                *load.entry(t).or_default() += 1;
                if let Some(n) = from.and_then(|f| load.get_mut(&f)) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        let mut units_now = BTreeMap::new();
        let mut convicted_now = BTreeSet::new();
        let mut breakdowns = BTreeMap::new();
        for (i, (bytes, mut breakdown)) in proven {
            let rep = self.reputation.get(&i).map_or(1_000_000, Reputation::score_ppm);
            breakdown.factors = vec![("proven_bytes".into(), bytes), ("reputation_ppm".into(), rep)];
            let failed: u32 = breakdown.rejected_reports.values().sum();
            out[i].flagged = failed > 0;
            out[i].reasons = breakdown.rejected_reports.keys().cloned().collect();
            // A wrong answer is slashable: it convicts (the simulated deleter never goes silent).
            if breakdown.rejected_reports.contains_key("bad_answer") {
                convicted_now.insert(i);
            }
            units_now.insert(i, storage_units(bytes, rep));
            breakdowns.insert(i, breakdown);
        }
        // Paid now: the units of HOLD_EPOCHS ago, less whoever was convicted since.
        self.held.push_back((units_now, convicted_now));
        let window = usize::try_from(HOLD_EPOCHS).unwrap_or(usize::MAX).saturating_add(1);
        if self.held.len() > window {
            self.held.pop_front();
        }
        let paid = match self.held.front() {
            Some((proven, _)) if self.held.len() == window => {
                let convicted: BTreeSet<usize> = self.held.iter().flat_map(|(_, c)| c.iter().copied()).collect();
                released(proven, &convicted)
            }
            _ => BTreeMap::new(),
        };
        // Everyone audited now or paid now (a provider whose pieces all moved away is still paid
        // what it proved before, unless convicted).
        for &i in paid.keys() {
            breakdowns.entry(i).or_default();
        }
        let mut shares = Vec::new();
        for (i, breakdown) in breakdowns {
            shares.push(DeviceShare {
                device: pop.devices[i].address,
                owner: pop.devices[i].owner,
                pool: Pool::Storage,
                units: paid.get(&i).copied().unwrap_or(0),
                earned_credits: 0,
                breakdown,
            });
        }
        shares
    }
}
