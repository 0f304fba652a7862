//! A bounded, fee-ordered mempool.
//!
//! Transactions wait per signer in nonce order. A block takes, repeatedly, the highest-fee
//! transaction among every signer's next executable one, so a signer's transactions always go
//! in nonce order and fees decide between signers.
//!
//! Signatures are not checked on entry: the ledger checks a whole block's signatures as one
//! batch, which is two to three times cheaper per signature than one-by-one, and a bad signature
//! costs its sender nothing but removal. The one exception is a transaction that would displace
//! another from its nonce slot: it is verified first, so nobody can squat another account's slot
//! with a forged high-fee transaction.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use thiserror::Error;
use trellis_ledger::{Account, Transaction};
use trellis_primitives::{AccountAddress, Amount, Encode, Hash, KeyCache};

/// Most transactions waiting at once. At ~200 bytes a transfer this is ~20 MiB, and it is more
/// than ten full blocks at the default block size, so a healthy node never fills it.
pub const MAX_MEMPOOL_TXS: usize = 100_000;
/// Most future transactions one signer may queue (nonces `next..next + 64`). Bounds what a single
/// account can occupy.
pub const MAX_NONCE_AHEAD: u64 = 64;

/// Why the mempool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MempoolError {
    /// Already waiting.
    #[error("transaction is already in the mempool")]
    Duplicate,
    /// Nonce already used on chain.
    #[error("nonce {found} is already used; the account's next nonce is {next}")]
    NonceTooLow {
        /// Next nonce.
        next: u64,
        /// Found.
        found: u64,
    },
    /// Nonce too far ahead.
    #[error("nonce {found} is more than {MAX_NONCE_AHEAD} ahead of the account's next nonce {next}")]
    NonceTooHigh {
        /// Next nonce.
        next: u64,
        /// Found.
        found: u64,
    },
    /// Another transaction holds the nonce and pays at least as much.
    #[error("a transaction with this nonce is waiting with fee {existing}; pay more to replace it")]
    Underpriced {
        /// The waiting one's fee.
        existing: Amount,
    },
    /// Below the minimum fee.
    #[error("fee {offered} is below the minimum {min}")]
    FeeTooLow {
        /// Minimum.
        min: Amount,
        /// Offered.
        offered: Amount,
    },
    /// Signer cannot pay the fee.
    #[error("balance {available} cannot pay the fee {fee}")]
    CannotPayFee {
        /// Fee.
        fee: Amount,
        /// Balance.
        available: Amount,
    },
    /// Wrong chain.
    #[error("transaction is for chain `{found}`, this is `{expected}`")]
    WrongChain {
        /// This chain.
        expected: String,
        /// The tx's.
        found: String,
    },
    /// A replacing transaction whose signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Full of transactions paying at least as much.
    #[error("mempool is full")]
    Full,
}

impl MempoolError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            MempoolError::Duplicate => "duplicate",
            MempoolError::NonceTooLow { .. } => "nonce_too_low",
            MempoolError::NonceTooHigh { .. } => "nonce_too_high",
            MempoolError::Underpriced { .. } => "underpriced",
            MempoolError::FeeTooLow { .. } => "fee_too_low",
            MempoolError::CannotPayFee { .. } => "cannot_pay_fee",
            MempoolError::WrongChain { .. } => "wrong_chain",
            MempoolError::BadSignature => "bad_signature",
            MempoolError::Full => "mempool_full",
        }
    }
}

#[derive(Debug)]
struct Waiting {
    tx: Transaction,
    id: Hash,
    arrival: u64,
}

/// What admission needs to know about the chain.
#[derive(Debug, Clone)]
pub struct AdmissionContext<'a> {
    /// This chain's id.
    pub chain_id: &'a str,
    /// The current minimum fee.
    pub min_fee: Amount,
    /// The signer's committed account.
    pub account: &'a Account,
}

/// The mempool.
#[derive(Debug, Default)]
pub struct Mempool {
    by_signer: BTreeMap<AccountAddress, BTreeMap<u64, Waiting>>,
    by_id: HashMap<Hash, (AccountAddress, u64)>,
    next_arrival: u64,
}

impl Mempool {
    /// An empty mempool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waiting transactions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether `id` is waiting.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// Admits a transaction.
    pub fn insert(&mut self, tx: Transaction, ctx: &AdmissionContext<'_>) -> Result<Hash, MempoolError> {
        let body = &tx.body;
        if body.chain_id != ctx.chain_id {
            return Err(MempoolError::WrongChain {
                expected: ctx.chain_id.to_string(),
                found: body.chain_id.clone(),
            });
        }
        if body.fee < ctx.min_fee {
            return Err(MempoolError::FeeTooLow {
                min: ctx.min_fee,
                offered: body.fee,
            });
        }
        if ctx.account.balance < body.fee {
            return Err(MempoolError::CannotPayFee {
                fee: body.fee,
                available: ctx.account.balance,
            });
        }
        let next = ctx.account.nonce;
        if body.nonce < next {
            return Err(MempoolError::NonceTooLow {
                next,
                found: body.nonce,
            });
        }
        if body.nonce >= next.saturating_add(MAX_NONCE_AHEAD) {
            return Err(MempoolError::NonceTooHigh {
                next,
                found: body.nonce,
            });
        }
        let id = tx.id();
        if self.by_id.contains_key(&id) {
            return Err(MempoolError::Duplicate);
        }
        let (signer, nonce) = (body.signer, body.nonce);
        if let Some(existing) = self.by_signer.get(&signer).and_then(|q| q.get(&nonce)) {
            // Entry does not check signatures, so the occupant may be a forgery squatting on the
            // signer's nonce (from a client or a gossiping peer): it only keeps its place against
            // an equal or lower bid if its own signature holds.
            if existing.tx.body.fee >= body.fee && verify_alone(&existing.tx, &existing.id).is_ok() {
                return Err(MempoolError::Underpriced {
                    existing: existing.tx.body.fee,
                });
            }
            verify_alone(&tx, &id)?;
            let old = existing.id;
            self.by_id.remove(&old);
        } else if self.by_id.len() >= MAX_MEMPOOL_TXS {
            self.evict_cheapest_below(body.fee)?;
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.by_id.insert(id, (signer, nonce));
        self.by_signer
            .entry(signer)
            .or_default()
            .insert(nonce, Waiting { tx, id, arrival });
        Ok(id)
    }

    /// Makes room by dropping the lowest-fee transaction with the highest nonce of its signer, if
    /// it pays less than `fee`.
    fn evict_cheapest_below(&mut self, fee: Amount) -> Result<(), MempoolError> {
        let victim = self
            .by_signer
            .iter()
            .filter_map(|(signer, queue)| queue.iter().next_back().map(|(n, w)| (w.tx.body.fee, *signer, *n)))
            .min();
        match victim {
            Some((victim_fee, signer, nonce)) if victim_fee < fee => {
                self.remove(&signer, nonce);
                Ok(())
            }
            _ => Err(MempoolError::Full),
        }
    }

    fn remove(&mut self, signer: &AccountAddress, nonce: u64) {
        if let Some(queue) = self.by_signer.get_mut(signer) {
            if let Some(w) = queue.remove(&nonce) {
                self.by_id.remove(&w.id);
            }
            if queue.is_empty() {
                self.by_signer.remove(signer);
            }
        }
    }

    /// Up to `max` transactions for the next block: highest fee first among each signer's next
    /// consecutive nonces (ties: earliest arrival).
    pub fn select(&self, max: usize, next_nonce: impl Fn(&AccountAddress) -> u64) -> Vec<Transaction> {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Head {
            fee: Amount,
            earlier: std::cmp::Reverse<u64>,
            signer: AccountAddress,
            nonce: u64,
        }
        let head = |signer: &AccountAddress, nonce: u64| {
            let w = self.by_signer.get(signer)?.get(&nonce)?;
            Some(Head {
                fee: w.tx.body.fee,
                earlier: std::cmp::Reverse(w.arrival),
                signer: *signer,
                nonce,
            })
        };
        let mut heap: BinaryHeap<Head> = self.by_signer.keys().filter_map(|s| head(s, next_nonce(s))).collect();
        let mut out = Vec::with_capacity(max.min(self.len()));
        while out.len() < max {
            let Some(top) = heap.pop() else { break };
            if let Some(w) = self.by_signer.get(&top.signer).and_then(|q| q.get(&top.nonce)) {
                out.push(w.tx.clone());
            }
            if let Some(next) = top.nonce.checked_add(1).and_then(|n| head(&top.signer, n)) {
                heap.push(next);
            }
        }
        out
    }

    /// Drops `ids` (committed or rejected) and every transaction whose nonce is now used.
    pub fn prune(&mut self, ids: &[Hash], next_nonce: impl Fn(&AccountAddress) -> u64) {
        for id in ids {
            if let Some((signer, nonce)) = self.by_id.get(id).copied() {
                self.remove(&signer, nonce);
            }
        }
        let signers: Vec<AccountAddress> = self.by_signer.keys().copied().collect();
        for signer in signers {
            let next = next_nonce(&signer);
            let stale: Vec<u64> = self
                .by_signer
                .get(&signer)
                .map(|q| q.range(..next).map(|(n, _)| *n).collect())
                .unwrap_or_default();
            for nonce in stale {
                self.remove(&signer, nonce);
            }
        }
    }

    /// Encoded size of everything waiting (for metrics).
    pub fn size_bytes(&self) -> usize {
        self.by_signer
            .values()
            .flat_map(|q| q.values())
            .map(|w| w.tx.to_bytes().len())
            .sum()
    }
}

fn verify_alone(tx: &Transaction, id: &Hash) -> Result<(), MempoolError> {
    if trellis_ledger::ledger::batch_signatures_ok(&[tx], std::slice::from_ref(id), &mut KeyCache::disabled()) {
        Ok(())
    } else {
        Err(MempoolError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_ledger::{TxBody, TxKind};
    use trellis_primitives::Keypair;

    fn tx(key: &Keypair, nonce: u64, fee: u64) -> Transaction {
        let body = TxBody {
            chain_id: "t".into(),
            signer: key.public().into(),
            nonce,
            fee: Amount::from_units(fee),
            kind: TxKind::Transfer {
                to: key.public().into(),
                amount: Amount::from_units(1),
            },
        };
        Transaction::sign(body, key)
    }

    fn ctx(account: &Account) -> AdmissionContext<'_> {
        AdmissionContext {
            chain_id: "t",
            min_fee: Amount::from_units(1),
            account,
        }
    }

    fn rich() -> Account {
        Account {
            balance: Amount::from_units(1_000_000),
            ..Account::default()
        }
    }

    #[test]
    fn selection_orders_by_fee_across_signers_and_by_nonce_within() {
        let (a, b) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let acct = rich();
        let mut pool = Mempool::new();
        pool.insert(tx(&a, 1, 100), &ctx(&acct)).unwrap();
        pool.insert(tx(&a, 0, 5), &ctx(&acct)).unwrap();
        pool.insert(tx(&b, 0, 50), &ctx(&acct)).unwrap();
        let picked = pool.select(10, |_| 0);
        let order: Vec<(u8, u64)> = picked
            .iter()
            .map(|t| (if t.body.signer == a.public().into() { 1 } else { 2 }, t.body.nonce))
            .collect();
        // a's nonce 0 (fee 5) must precede its nonce 1 (fee 100); b (50) beats a's head (5).
        assert_eq!(order, vec![(2, 0), (1, 0), (1, 1)]);
    }

    #[test]
    fn replacement_needs_a_higher_fee_and_a_valid_signature() {
        let a = Keypair::from_seed([1; 32]);
        let acct = rich();
        let mut pool = Mempool::new();
        pool.insert(tx(&a, 0, 10), &ctx(&acct)).unwrap();
        assert_eq!(pool.insert(tx(&a, 0, 10), &ctx(&acct)), Err(MempoolError::Duplicate));
        let mut forged = tx(&a, 0, 20);
        forged.signature.0[3] ^= 1;
        assert_eq!(pool.insert(forged, &ctx(&acct)), Err(MempoolError::BadSignature));
        let mut cheaper = tx(&a, 0, 9);
        cheaper.body.kind = TxKind::WithdrawUnbonded;
        assert!(matches!(
            pool.insert(cheaper, &ctx(&acct)),
            Err(MempoolError::Underpriced { .. })
        ));
        pool.insert(tx(&a, 0, 20), &ctx(&acct)).unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.select(5, |_| 0)[0].body.fee, Amount::from_units(20));
    }

    #[test]
    fn a_forged_occupant_does_not_block_the_genuine_transaction() {
        let a = Keypair::from_seed([1; 32]);
        let acct = rich();
        let mut pool = Mempool::new();
        // Entry does not check signatures: a forgery bidding high gets in first.
        let mut forged = tx(&a, 0, 50);
        forged.body.kind = TxKind::WithdrawUnbonded;
        let forged_id = pool.insert(forged, &ctx(&acct)).unwrap();
        // The genuine transaction at a lower fee still takes the nonce.
        let genuine = tx(&a, 0, 10);
        let genuine_id = pool.insert(genuine, &ctx(&acct)).unwrap();
        assert!(!pool.contains(&forged_id));
        assert!(pool.contains(&genuine_id));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn nonce_window_and_fee_floor_are_enforced() {
        let a = Keypair::from_seed([1; 32]);
        let acct = Account { nonce: 5, ..rich() };
        let mut pool = Mempool::new();
        assert_eq!(
            pool.insert(tx(&a, 4, 10), &ctx(&acct)),
            Err(MempoolError::NonceTooLow { next: 5, found: 4 })
        );
        assert!(matches!(
            pool.insert(tx(&a, 5 + MAX_NONCE_AHEAD, 10), &ctx(&acct)),
            Err(MempoolError::NonceTooHigh { .. })
        ));
        assert!(matches!(
            pool.insert(tx(&a, 5, 0), &ctx(&acct)),
            Err(MempoolError::FeeTooLow { .. })
        ));
        let poor = Account {
            nonce: 5,
            ..Account::default()
        };
        assert!(matches!(
            pool.insert(tx(&a, 5, 10), &ctx(&poor)),
            Err(MempoolError::CannotPayFee { .. })
        ));
    }

    #[test]
    fn gap_stops_selection_and_prune_drops_used_nonces() {
        let a = Keypair::from_seed([1; 32]);
        let acct = rich();
        let mut pool = Mempool::new();
        pool.insert(tx(&a, 0, 10), &ctx(&acct)).unwrap();
        pool.insert(tx(&a, 2, 10), &ctx(&acct)).unwrap();
        assert_eq!(pool.select(10, |_| 0).len(), 1);
        pool.prune(&[], |_| 1);
        assert_eq!(pool.len(), 1);
        assert!(pool.select(10, |_| 1).is_empty());
    }
}
