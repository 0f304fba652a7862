//! A simulated validator network: real ledgers and block stores on disk, Commonware's
//! deterministic runtime and simulated network (delays, loss, partitions), one parent task per
//! validator so that aborting it crashes everything the validator runs.

use commonware_codec::DecodeExt as _;
use commonware_consensus::{
    simplex::{elector::RoundRobin, scheme::ed25519::Scheme},
    types::Epoch,
};
use commonware_cryptography::{
    ed25519::{PrivateKey, PublicKey},
    Blake3, Sha256, Signer as _,
};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{deterministic, Clock as _, Handle, Quota, Spawner as _, Supervisor as _};
use commonware_utils::{ordered::Set, NZUsize, NZU32};
use std::{path::PathBuf, sync::Arc, time::Duration};
use trellis_bft::validator::{self, channel, Channels, Timing, ValidatorConfig};
use trellis_chain::Node;
use trellis_ledger::{Genesis, GenesisAccount, Transaction, TxBody, TxKind};
use trellis_primitives::{AccountAddress, Amount, Hash, Keypair};
use trellis_store::ChainStore;

pub(crate) const CHAIN: &str = "bft-sim";
pub(crate) const FUNDED: u64 = 1_000_000_000;
const QUOTA: Quota = Quota::per_second(NZU32!(100_000));

/// A user key funded at genesis (users 1..=4).
pub(crate) fn user(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

/// A signed transfer of `amount` from user `from` to user `to`.
pub(crate) fn transfer(from: u8, to: u8, amount: u64, nonce: u64) -> Transaction {
    let key = user(from);
    let body = TxBody {
        chain_id: CHAIN.into(),
        signer: key.public().into(),
        nonce,
        fee: Amount::from_units(100),
        kind: TxKind::Transfer {
            to: AccountAddress::from(user(to).public()),
            amount: Amount::from_units(amount),
        },
    };
    Transaction::sign(body, &key)
}

pub(crate) fn genesis() -> Genesis {
    let accounts = (1..=4)
        .map(|i| GenesisAccount {
            address: user(i).public().into(),
            balance: Amount::from_units(FUNDED),
        })
        .collect();
    let mut genesis = Genesis::single_authority(CHAIN, Keypair::from_seed([200; 32]).public(), accounts);
    genesis.params.min_fee = Amount::from_units(100);
    genesis.normalise();
    genesis
}

/// The key of validator `i`.
pub(crate) fn validator_key(i: usize) -> PrivateKey {
    let mut seed = [0u8; 32];
    seed[0] = 100;
    seed[1] = i as u8;
    PrivateKey::decode(bytes::Bytes::copy_from_slice(&seed)).expect("32 bytes are a key")
}

/// Link behaviour: mean latency, its deviation, and the percentage of messages delivered.
pub(crate) fn link(latency_ms: u64, jitter_ms: u64, delivered_percent: u64) -> Link {
    Link {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(jitter_ms),
        success_rate: commonware_utils::Probability::new(delivered_percent, 100).expect("a percentage"),
    }
}

/// Fast timeouts for simulated time.
pub(crate) fn timing() -> Timing {
    Timing {
        leader_timeout: Duration::from_secs(1),
        certification_timeout: Duration::from_secs(2),
        timeout_retry: Duration::from_secs(3),
        skip_timeout: Duration::from_secs(5),
        block_interval: Duration::from_millis(100),
    }
}

/// One simulated validator slot.
pub(crate) struct Slot {
    pub(crate) key: PrivateKey,
    pub(crate) store_path: PathBuf,
    /// The node while running.
    pub(crate) node: Option<Node>,
    task: Option<Handle<()>>,
}

/// The simulated network of `n` validators.
pub(crate) struct Sim {
    pub(crate) context: deterministic::Context,
    pub(crate) oracle: Oracle<PublicKey, deterministic::Context>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) validators: Set<PublicKey>,
    _dir: tempfile::TempDir,
    restarts: usize,
}

impl Sim {
    /// Sets up `n` validators with initialised stores, all linked with `l`; none started.
    pub(crate) async fn new(context: deterministic::Context, n: usize, l: Link) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<PrivateKey> = (0..n).map(validator_key).collect();
        let validators = Set::try_from(keys.iter().map(|k| k.public_key()).collect::<Vec<_>>()).unwrap();
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: validator::max_message_size(n as u32),
                max_peers_per_set: NZUsize!(n),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            validators.iter().cloned().collect::<Vec<_>>(),
        )
        .await;
        network.start();
        let genesis = genesis();
        let mut slots = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let store_path = dir.path().join(format!("v{i}.redb"));
            ChainStore::open(&store_path).unwrap().initialise(&genesis).unwrap();
            slots.push(Slot {
                key,
                store_path,
                node: None,
                task: None,
            });
        }
        let sim = Sim {
            context,
            oracle,
            slots,
            validators,
            _dir: dir,
            restarts: 0,
        };
        sim.link_all(l).await;
        sim
    }

    /// Links every ordered pair of validators with `l`.
    pub(crate) async fn link_all(&self, l: Link) {
        self.link_where(l, |_, _| true).await;
    }

    /// Links the ordered pairs `(i, j)` for which `keep(i, j)` holds; removes the others.
    pub(crate) async fn link_where(&self, l: Link, keep: impl Fn(usize, usize) -> bool) {
        for (i, a) in self.validators.iter().enumerate() {
            for (j, b) in self.validators.iter().enumerate() {
                if i == j {
                    continue;
                }
                // Removing a link that does not exist is fine.
                let _absent_is_fine = self.oracle.remove_link(a.clone(), b.clone()).await;
                if keep(i, j) {
                    self.oracle.add_link(a.clone(), b.clone(), l.clone()).await.unwrap();
                }
            }
        }
    }

    /// Registers every validator channel of `public` on the simulated network.
    async fn register(
        &self,
        public: &PublicKey,
    ) -> Vec<(
        simulated::Sender<PublicKey, deterministic::Context>,
        simulated::Receiver<PublicKey>,
    )> {
        let control = self.oracle.control(public.clone());
        let mut pairs = Vec::new();
        for ch in channel::ALL {
            pairs.push(control.register(ch, QUOTA).await.unwrap());
        }
        pairs
    }

    /// Starts (or restarts) validator `slot` from its store and simulated storage.
    pub(crate) async fn start(&mut self, slot: usize) {
        let key = self.slots[slot].key.clone();
        let public = key.public_key();
        let channels = Channels::from_pairs(self.register(&public).await).unwrap();
        let node = Node::new(ChainStore::open(&self.slots[slot].store_path).unwrap()).unwrap();
        let config = ValidatorConfig {
            key,
            validators: self.validators.clone(),
            namespace: CHAIN.as_bytes().to_vec(),
            partition: format!("validator-{slot}"),
            node: node.clone(),
            timing: timing(),
        };
        let peers = self.oracle.manager();
        let blocker = self.oracle.control(public);
        self.restarts += 1;
        let task = self
            .context
            .child("validator")
            .with_attribute("index", slot)
            .with_attribute("incarnation", self.restarts)
            .spawn(move |context| async move {
                let running = validator::start(context, config, channels, peers, blocker)
                    .await
                    .expect("validator starts");
                // The engine runs until this task is aborted, which aborts everything above.
                let _ended = running.engine.await;
            });
        self.slots[slot].node = Some(node);
        self.slots[slot].task = Some(task);
    }

    /// Runs slot `slot` as a Byzantine validator that equivocates: when it leads, it sends
    /// conflicting proposals (random digests, no block behind them) to different peers.
    pub(crate) async fn start_equivocator(&mut self, slot: usize) {
        use commonware_consensus::simplex::mocks::{equivocator, relay::Relay};
        let key = self.slots[slot].key.clone();
        let control = self.oracle.control(key.public_key());
        let votes = control.register(channel::VOTES, QUOTA).await.unwrap();
        let certificates = control.register(channel::CERTIFICATES, QUOTA).await.unwrap();
        let scheme = Scheme::signer(CHAIN.as_bytes(), self.validators.clone(), key).unwrap();
        let config = equivocator::Config::<_, _, Blake3> {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            epoch: Epoch::zero(),
            relay: Arc::new(Relay::new()),
        };
        let task = self.context.child("byzantine").spawn(move |context| async move {
            let _ended = equivocator::Equivocator::new(context, config)
                .start(votes, certificates)
                .await;
        });
        self.slots[slot].task = Some(task);
    }

    /// Runs slot `slot` as a Byzantine validator that floods every channel with malformed
    /// messages and transactions with wrong signatures, and never votes.
    pub(crate) async fn start_spammer(&mut self, slot: usize) {
        use commonware_p2p::{Recipients, Sender as _};
        use commonware_runtime::Clock as _;
        use trellis_primitives::Encode as _;
        let key = self.slots[slot].key.clone();
        let mut senders: Vec<_> = self
            .register(&key.public_key())
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let task = self.context.child("spammer").spawn(move |context| async move {
            let mut round = 0u64;
            loop {
                round += 1;
                for (i, sender) in senders.iter_mut().enumerate() {
                    // Truncated varints, huge length prefixes, random tags.
                    let garbage: Vec<u8> = (0..(round % 97) as usize)
                        .map(|j| (round as usize * 31 + j * 7 + i) as u8)
                        .chain([0xff; 9])
                        .collect();
                    sender.send(Recipients::All, garbage, false);
                }
                let mut forged = transfer(1, 2, 1, round);
                forged.signature.0[0] ^= 0xff;
                senders[5].send(Recipients::All, forged.to_bytes(), false);
                context.sleep(Duration::from_millis(20)).await;
            }
        });
        self.slots[slot].task = Some(task);
    }

    /// Crashes validator `slot`: every task it runs stops and its node is dropped.
    pub(crate) async fn crash(&mut self, slot: usize) {
        if let Some(task) = self.slots[slot].task.take() {
            task.abort();
            let _aborted = task.await;
        }
        self.slots[slot].node = None;
    }

    /// The running node of `slot`.
    pub(crate) fn node(&self, slot: usize) -> &Node {
        self.slots[slot].node.as_ref().expect("validator is running")
    }

    /// Committed heights of the running validators.
    pub(crate) fn heights(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter_map(|s| s.node.as_ref())
            .map(|n| n.tip().height)
            .collect()
    }

    /// Waits (in simulated time) until every running validator has committed `height`. Panics
    /// after `limit`.
    pub(crate) async fn wait_for_height(&self, height: u64, limit: Duration) {
        let start = self.context.current();
        loop {
            if self.heights().iter().all(|h| *h >= height) {
                return;
            }
            let waited = self.context.current().duration_since(start).unwrap_or_default();
            assert!(
                waited < limit,
                "validators stuck at heights {:?}, wanted {height} within {limit:?}",
                self.heights()
            );
            self.context.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks safety across the running validators: at every height up to the lowest committed
    /// tip they hold the same block (hence the same state root, which each one checked against
    /// its own execution); and every running node's state root matches its tip.
    pub(crate) fn assert_agreement(&self) -> u64 {
        let nodes: Vec<&Node> = self.slots.iter().filter_map(|s| s.node.as_ref()).collect();
        let lowest = nodes.iter().map(|n| n.tip().height).min().unwrap();
        for height in 0..=lowest {
            let hashes: Vec<Hash> = nodes
                .iter()
                .map(|n| n.block(height).unwrap().expect("committed block").header.hash())
                .collect();
            assert!(
                hashes.windows(2).all(|w| w[0] == w[1]),
                "validators disagree at height {height}: {hashes:?}"
            );
        }
        for node in &nodes {
            let tip = node.tip();
            let root = node.with_state(|store, _| trellis_ledger::Store::root(store));
            assert_eq!(root, tip.state_root, "in-memory state differs from the committed root");
        }
        lowest
    }

    /// The label of this simulation's metrics (for the auditor's determinism check).
    pub(crate) fn state(&self) -> String {
        self.context.auditor().state()
    }
}
