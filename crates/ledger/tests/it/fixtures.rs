//! A deterministic small chain: named keys, a genesis, and a helper that signs with the right nonce.

use std::collections::BTreeMap;
use trellis_ledger::{
    execute::held_total, Committee, GenesisAccount, Ledger, MemStore, Params, Proposal, StateRead, Transaction, TxBody,
    TxKind, TxOutcome,
};
use trellis_primitives::{AccountAddress, Amount, Keypair, PublicKey};

pub const TRL: u64 = 100_000_000;
pub const MIN_FEE: u64 = 1_000;
pub const PRICE: u64 = 1_000_000; // micro-USD per TRL: $1

pub fn key(name: &str) -> Keypair {
    Keypair::from_seed(blake3_seed(name))
}

fn blake3_seed(name: &str) -> [u8; 32] {
    *trellis_primitives::HashDomain::Genesis.hash(name.as_bytes()).as_bytes()
}

pub fn addr(name: &str) -> AccountAddress {
    key(name).public().into()
}

fn committee(prefix: &str, threshold: u32) -> Committee {
    let mut members: Vec<PublicKey> = (1..=3).map(|i| key(&format!("{prefix}{i}")).public()).collect();
    members.sort();
    Committee { threshold, members }
}

pub const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

pub fn genesis() -> trellis_ledger::Genesis {
    let mut accounts: Vec<GenesisAccount> = USERS
        .iter()
        .map(|u| GenesisAccount {
            address: addr(u),
            balance: Amount::from_units(1_000 * TRL),
        })
        .collect();
    for submitter in ["admin1", "oracle1", "verifier"] {
        accounts.push(GenesisAccount {
            address: addr(submitter),
            balance: Amount::from_units(10 * TRL),
        });
    }
    trellis_ledger::Genesis {
        chain_id: "test-chain".into(),
        timestamp_ms: 1_000,
        params: Params {
            min_fee: Amount::from_units(MIN_FEE),
            epoch_len_blocks: 5,
            onboard_fee: Amount::from_units(TRL),
            unbonding_delay_blocks: 3,
            ..Params::default()
        },
        admins: committee("admin", 2),
        oracles: committee("oracle", 2),
        verifiers: vec![key("verifier").public()],
        makers: vec![trellis_ledger::GenesisMaker {
            key: key("maker").public(),
            name: "Maker".into(),
        }],
        accounts,
        initial_price_micro_usd_per_trl: Some(PRICE),
        rewards: None,
    }
}

/// A ledger plus the next nonce of every signer it has seen.
pub struct Chain {
    pub ledger: Ledger<MemStore>,
    pub nonces: BTreeMap<AccountAddress, u64>,
    pub blocks: Vec<trellis_ledger::Block>,
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

    pub fn tx(&mut self, signer: &str, kind: TxKind) -> Transaction {
        let k = key(signer);
        let address: AccountAddress = k.public().into();
        let nonce = self.nonces.entry(address).or_insert(0);
        let body = TxBody {
            chain_id: "test-chain".into(),
            signer: address,
            nonce: *nonce,
            fee: Amount::from_units(MIN_FEE),
            kind,
        };
        *nonce += 1;
        Transaction::sign(body, &k)
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

    /// One transaction in its own block; returns its outcome (panics if it was not included).
    pub fn run(&mut self, signer: &str, kind: TxKind) -> TxOutcome {
        let tx = self.tx(signer, kind);
        let proposal = self.block(vec![tx]);
        assert!(proposal.rejected.is_empty(), "rejected: {:?}", proposal.rejected);
        proposal.executed.receipts[0].outcome.clone()
    }

    pub fn balance(&self, name: &str) -> u64 {
        self.ledger.store().account(&addr(name)).unwrap().balance.units()
    }

    pub fn assert_supply_conserved(&self) {
        let supply = self.ledger.store().supply().unwrap();
        let held = held_total(self.ledger.store()).unwrap();
        assert_eq!(
            held,
            u128::from(supply.circulating().unwrap().units()),
            "supply not conserved: {supply:?}"
        );
    }
}

pub fn ok(outcome: &TxOutcome) {
    assert_eq!(outcome, &TxOutcome::Success);
}

pub fn failed(outcome: &TxOutcome, expected: &str) {
    match outcome {
        TxOutcome::Failed { code, .. } => assert_eq!(code, expected),
        TxOutcome::Success => panic!("expected failure {expected}, got success"),
    }
}
