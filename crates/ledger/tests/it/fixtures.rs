//! A deterministic small chain: named keys, a genesis, and a helper that signs with the right nonce
//! and the current minimum fee.
//!
//! Keys are derived from their names (`key("alice")`), so every run and every test sees the same
//! addresses. Admins and oracles are 2-of-3 committees (`admin1..3`, `oracle1..3`), `verifier` may
//! sign slashes, `maker` is the one authorised maker, and the four `USERS` hold 1,000 TRL each.

use std::collections::BTreeMap;
use trellis_ledger::{
    execute::{held_credits, held_total},
    state::keys,
    Account, Block, Committee, Device, Genesis, GenesisAccount, GenesisMaker, Ledger, MemStore, Params, Proposal,
    StateRead, Store, Transaction, TxBody, TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Decode, HashDomain, Keypair, PublicKey};

pub const TRL: u64 = 100_000_000;
pub const MIN_FEE: u64 = 1_000;
/// The genesis price, in micro-USD per TRL: $1.
pub const PRICE: u64 = 1_000_000;
pub const CHAIN_ID: &str = "test-chain";
/// Accounts funded with [`USER_BALANCE`] at genesis.
pub const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
pub const USER_BALANCE: u64 = 1_000 * TRL;
/// The committee members that submit transactions, funded with [`SUBMITTER_BALANCE`].
pub const SUBMITTERS: [&str; 3] = ["admin1", "oracle1", "verifier"];
pub const SUBMITTER_BALANCE: u64 = 10 * TRL;
/// Everything genesis issues.
pub const GENESIS_ISSUED: u64 = 4 * USER_BALANCE + 3 * SUBMITTER_BALANCE;

pub fn key(name: &str) -> Keypair {
    Keypair::from_seed(*HashDomain::Genesis.hash(name.as_bytes()).as_bytes())
}

pub fn addr(name: &str) -> AccountAddress {
    key(name).public().into()
}

fn committee(prefix: &str, threshold: u32) -> Committee {
    let mut members: Vec<PublicKey> = (1..=3).map(|i| key(&format!("{prefix}{i}")).public()).collect();
    members.sort();
    Committee { threshold, members }
}

pub fn genesis() -> Genesis {
    let funded = |names: &[&str], units: u64| -> Vec<GenesisAccount> {
        names
            .iter()
            .map(|n| GenesisAccount {
                address: addr(n),
                balance: Amount::from_units(units),
            })
            .collect()
    };
    let mut accounts = funded(&USERS, USER_BALANCE);
    accounts.extend(funded(&SUBMITTERS, SUBMITTER_BALANCE));
    Genesis {
        chain_id: CHAIN_ID.into(),
        timestamp_ms: 1_000,
        params: Params {
            min_fee: Amount::from_units(MIN_FEE),
            epoch_len_blocks: 5,
            onboard_fee: Amount::from_units(TRL),
            unbonding_delay_blocks: 3,
            storage_min_collateral: Amount::from_units(TRL),
            ..Params::default()
        },
        admins: committee("admin", 2),
        oracles: committee("oracle", 2),
        verifiers: vec![key("verifier").public()],
        makers: vec![GenesisMaker {
            key: key("maker").public(),
            name: "Maker".into(),
        }],
        accounts,
        initial_price_micro_usd_per_trl: Some(PRICE),
        rewards: None,
    }
}

/// A fresh ledger at height 0.
pub fn fresh_ledger() -> Ledger<MemStore> {
    genesis().into_ledger(MemStore::new()).unwrap().0
}

/// The keys a block wrote besides its own bookkeeping (the parent hash every block records for
/// compute sampling).
pub fn tx_writes(diff: &trellis_ledger::StateDiff) -> std::collections::BTreeSet<Vec<u8>> {
    use trellis_ledger::state::keys::{EGRESS_SERIAL_TABLE, RECENT_HASH_TABLE};
    diff.iter()
        // What every block writes itself: the recent-hash ring, and at an epoch's first block
        // the sweep of expired egress serials.
        .filter(|(k, v)| {
            k.first() != Some(&RECENT_HASH_TABLE) && !(k.first() == Some(&EGRESS_SERIAL_TABLE) && v.is_none())
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Every state entry, in key order.
pub fn entries(ledger: &Ledger<MemStore>) -> Vec<(Vec<u8>, Vec<u8>)> {
    ledger
        .store()
        .entries()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Decodes every entry of one state table (a key prefix byte).
pub fn scan<T: Decode>(store: &MemStore, table: u8) -> Vec<T> {
    store
        .entries()
        .filter(|(k, _)| k.first() == Some(&table))
        .map(|(_, v)| T::from_bytes(v).unwrap())
        .collect()
}

pub fn all_accounts(store: &MemStore) -> Vec<Account> {
    scan(store, keys::ACCOUNT_TABLE)
}

pub fn all_devices(store: &MemStore) -> Vec<Device> {
    scan(store, keys::DEVICE_TABLE)
}

/// A ledger plus the next nonce of every signer it has seen.
pub struct Chain {
    pub ledger: Ledger<MemStore>,
    pub nonces: BTreeMap<AccountAddress, u64>,
    pub blocks: Vec<Block>,
    pub clock_ms: u64,
}

impl Chain {
    pub fn new() -> Chain {
        let (ledger, block0) = genesis().into_ledger(MemStore::new()).unwrap();
        Chain {
            ledger,
            nonces: BTreeMap::new(),
            blocks: vec![block0.block],
            clock_ms: 1_000,
        }
    }

    /// Signs `kind` for `signer` with its next nonce and the current minimum fee, and counts the
    /// nonce as used.
    pub fn tx(&mut self, signer: &str, kind: TxKind) -> Transaction {
        let fee = self.ledger.store().params().unwrap().min_fee;
        self.tx_with_fee(signer, kind, fee)
    }

    pub fn tx_with_fee(&mut self, signer: &str, kind: TxKind, fee: Amount) -> Transaction {
        let k = key(signer);
        let address: AccountAddress = k.public().into();
        let nonce = self.nonces.entry(address).or_insert(0);
        let body = TxBody {
            chain_id: CHAIN_ID.into(),
            signer: address,
            nonce: *nonce,
            fee,
            kind,
        };
        *nonce += 1;
        Transaction::sign(body, &k)
    }

    /// Gives back the nonce of a transaction that is meant to be rejected.
    pub fn unuse_nonce(&mut self, address: &AccountAddress) {
        if let Some(n) = self.nonces.get_mut(address) {
            *n -= 1;
        }
    }

    pub fn block(&mut self, txs: Vec<Transaction>) -> Proposal {
        self.clock_ms += 1_000;
        let proposal = self.ledger.propose(txs, self.clock_ms).unwrap();
        self.blocks.push(proposal.executed.block.clone());
        // Nonces of rejected transactions were not consumed: resync from state.
        for (address, nonce) in self.nonces.iter_mut() {
            *nonce = self.ledger.store().account(address).unwrap().nonce;
        }
        proposal
    }

    /// Empty blocks until the tip is at `height`.
    pub fn advance_to(&mut self, height: u64) {
        while self.ledger.tip().height < height {
            self.block(vec![]);
        }
    }

    /// One transaction in its own block; returns its outcome (panics if it was not included).
    pub fn run(&mut self, signer: &str, kind: TxKind) -> TxOutcome {
        let tx = self.tx(signer, kind);
        self.run_tx(tx)
    }

    /// One signed transaction in its own block; returns its outcome (panics if not included).
    pub fn run_tx(&mut self, tx: Transaction) -> TxOutcome {
        let proposal = self.block(vec![tx]);
        assert!(proposal.rejected.is_empty(), "rejected: {:?}", proposal.rejected);
        proposal.executed.receipts[0].outcome.clone()
    }

    pub fn account(&self, name: &str) -> Account {
        self.ledger.store().account(&addr(name)).unwrap()
    }

    pub fn balance(&self, name: &str) -> u64 {
        self.account(name).balance.units()
    }

    pub fn burned(&self) -> u64 {
        self.ledger.store().supply().unwrap().burned.units()
    }

    pub fn assert_supply_conserved(&self) {
        let supply = self.ledger.store().supply().unwrap();
        let held = held_total(self.ledger.store()).unwrap();
        assert_eq!(
            held,
            u128::from(supply.circulating().unwrap().units()),
            "supply not conserved: {supply:?}"
        );
        let credits = held_credits(self.ledger.store()).unwrap();
        assert_eq!(
            credits,
            u128::from(supply.credits_minted.0 - supply.credits_spent.0),
            "credits not conserved: {supply:?}"
        );
    }
}

#[track_caller]
pub fn ok(outcome: &TxOutcome) {
    assert_eq!(outcome, &TxOutcome::Success);
}

#[track_caller]
pub fn failed(outcome: &TxOutcome, expected: &str) {
    match outcome {
        TxOutcome::Failed { code, .. } => assert_eq!(code, expected),
        TxOutcome::Success => panic!("expected failure {expected}, got success"),
    }
}
