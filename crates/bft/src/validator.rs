//! Wiring one validator: simplex, marshal (with its broadcast buffer, backfill resolver and
//! block archives) and transaction gossip, over any network with the six channels below.
//!
//! The same function runs a validator in the deterministic simulation (simulated network and
//! storage) and in a real `trellis node` process (authenticated TCP and on-disk storage).

use crate::{
    app::{AppConfig, Finalizer, LedgerApp},
    block::{digest_of, BftBlock},
    gossip,
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{self, core::Actor, resolver::p2p as marshal_resolver, standard::Inline, Start},
    simplex::{self, elector::RoundRobin, scheme::ed25519::Scheme, ForwardPolicy, SkipBudget, SkipPolicy},
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    certificate::ConstantProvider,
    ed25519::{PrivateKey, PublicKey},
    Digested, Signer as _,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::archive::immutable;
use commonware_utils::{ordered::Set, NZDuration, NZUsize, NZU16, NZU64};
use std::{num::NonZeroU64, time::Duration};
use trellis_chain::Node;

/// Channel numbers on the validators' network. Every validator must use the same.
pub mod channel {
    /// Simplex votes.
    pub const VOTES: u64 = 0;
    /// Simplex certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Simplex certificate fetches.
    pub const RESOLVER: u64 = 2;
    /// Marshal block backfill.
    pub const BACKFILL: u64 = 3;
    /// Marshal block broadcast.
    pub const BLOCKS: u64 = 4;
    /// Transaction gossip.
    pub const TXS: u64 = 5;
    /// Every channel, in [`Channels`](super::Channels) order.
    pub const ALL: [u64; 6] = [VOTES, CERTIFICATES, RESOLVER, BACKFILL, BLOCKS, TXS];
}

/// Consensus timeouts and pacing.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Time to wait for a leader's proposal before voting to skip the view.
    pub leader_timeout: Duration,
    /// Time to wait for a notarization to be certified. Must exceed `leader_timeout`.
    pub certification_timeout: Duration,
    /// Time between re-broadcasts of votes while a view is stuck.
    pub timeout_retry: Duration,
    /// Time a leader's whole term may stall before it is skipped. Must exceed the three above.
    pub skip_timeout: Duration,
    /// Minimum time between blocks. Must be below `leader_timeout`.
    pub block_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            skip_timeout: Duration::from_secs(8),
            block_interval: Duration::from_millis(200),
        }
    }
}

impl Timing {
    /// Checks the orderings the engine relies on (it panics on them otherwise).
    pub fn validate(&self) -> Result<(), String> {
        if self.certification_timeout <= self.leader_timeout {
            return Err("certification timeout must exceed the leader timeout".into());
        }
        if self.skip_timeout <= self.certification_timeout || self.skip_timeout <= self.timeout_retry {
            return Err("skip timeout must exceed the certification timeout and the retry interval".into());
        }
        if self.block_interval >= self.leader_timeout {
            return Err("block interval must be below the leader timeout".into());
        }
        Ok(())
    }
}

/// What one validator needs.
pub struct ValidatorConfig {
    /// Signing key (also its identity on the network).
    pub key: PrivateKey,
    /// Every validator's public key.
    pub validators: Set<PublicKey>,
    /// Consensus namespace: separates signatures of different chains. Use the chain id.
    pub namespace: Vec<u8>,
    /// Prefix for this validator's storage partitions (unique per validator sharing storage).
    pub partition: String,
    /// The committed ledger, mempool and block store.
    pub node: Node,
    /// Timeouts and pacing.
    pub timing: Timing,
}

/// The six channels (sender, receiver), in [`channel`] order.
pub struct Channels<S, R> {
    /// [`channel::VOTES`].
    pub votes: (S, R),
    /// [`channel::CERTIFICATES`].
    pub certificates: (S, R),
    /// [`channel::RESOLVER`].
    pub resolver: (S, R),
    /// [`channel::BACKFILL`].
    pub backfill: (S, R),
    /// [`channel::BLOCKS`].
    pub blocks: (S, R),
    /// [`channel::TXS`].
    pub txs: (S, R),
}

impl<S, R> Channels<S, R> {
    /// The channels from pairs in [`channel::ALL`] order; `None` unless there are exactly six.
    pub fn from_pairs(pairs: Vec<(S, R)>) -> Option<Self> {
        let [votes, certificates, resolver, backfill, blocks, txs]: [(S, R); 6] = pairs.try_into().ok()?;
        Some(Channels {
            votes,
            certificates,
            resolver,
            backfill,
            blocks,
            txs,
        })
    }
}

/// The largest message any channel carries for `validators` validators.
pub fn max_message_size(validators: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, commonware_cryptography::blake3::Digest>(validators),
        marshal::max_payload_size::<marshal::standard::Standard<BftBlock>, Scheme>(validators, &()),
        gossip::MAX_TX_MESSAGE,
    ])
}

/// A running validator.
pub struct Validator {
    /// The application (committed state and speculation).
    pub app: LedgerApp,
    /// The consensus engine task.
    pub engine: Handle<()>,
    /// The marshal task.
    pub marshal: Handle<()>,
    /// The gossip task.
    pub gossip: Handle<()>,
}

const PAGE_SIZE: std::num::NonZeroU16 = NZU16!(4096);
const PAGE_CACHE_PAGES: std::num::NonZeroUsize = NZUsize!(256);
/// Blocks per archive section: a section is one file pair.
const ITEMS_PER_SECTION: NonZeroU64 = NZU64!(1024);
/// Trellis has one consensus epoch (a fixed validator set); epochs of the ledger are separate.
const CONSENSUS_EPOCH_LEN: NonZeroU64 = NZU64!(u64::MAX);

fn archive_config<C: Clone>(prefix: &str, name: &str, page_cache: &CacheRef, codec_config: C) -> immutable::Config<C> {
    let buffer = NZUsize!(1 << 16);
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 1 << 12,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1 << 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1 << 26,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: ITEMS_PER_SECTION,
        codec_config,
        replay_buffer: buffer,
        freezer_key_write_buffer: buffer,
        freezer_value_write_buffer: buffer,
        ordinal_write_buffer: buffer,
    }
}

/// Starts a validator: restores its consensus journal and block archives from `context`'s
/// storage, then runs until its tasks are aborted.
pub async fn start<E, S, R, P, B>(
    context: E,
    config: ValidatorConfig,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
) -> Result<Validator, String>
where
    E: Clock + Spawner + Storage + Metrics + Supervisor + rand_core::CryptoRng + rand_core::Rng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey> + Clone,
{
    config.timing.validate()?;
    let me = config.key.public_key();
    let scheme = Scheme::signer(&config.namespace, config.validators.clone(), config.key.clone())
        .ok_or_else(|| format!("{me} is not in the validator set"))?;
    let node = config.node.clone();
    let genesis = node
        .block(0)
        .map_err(|e| e.to_string())?
        .ok_or("the chain store has no genesis block")?;
    let genesis = BftBlock::new(genesis);
    let genesis_digest = digest_of(genesis.block().header.hash());
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
    let prefix = config.partition.clone();
    let mailbox_size = NZUsize!(1024);

    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size,
            deque_size: 16,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.blocks);

    let certificate_codec =
        <Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded();
    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(&prefix, "finalizations", &page_cache, certificate_codec),
    )
    .await
    .map_err(|e| format!("cannot open the finalization archive: {e}"))?;
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", &page_cache, ()),
    )
    .await
    .map_err(|e| format!("cannot open the block archive: {e}"))?;

    let epocher = FixedEpocher::new(CONSENSUS_EPOCH_LEN);
    let (actor, mailbox, _floor) = Actor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: ConstantProvider::new(scheme.clone()),
            epocher: epocher.clone(),
            start: Start::Genesis(Digested::precomputed(genesis.clone(), genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size,
            view_retention: ViewDelta::new(16),
            prunable_items_per_section: NZU64!(64),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(1 << 16),
            key_write_buffer: NZUsize!(1 << 16),
            value_write_buffer: NZUsize!(1 << 16),
            block_codec_config: (),
            max_repair: NZUsize!(64),
            max_pending_acks: NZUsize!(1),
            strategy: Sequential,
        },
    )
    .await;

    let app = LedgerApp::new(
        node.clone(),
        AppConfig {
            block_interval: config.timing.block_interval,
        },
    );
    let marshal_handle = actor.start(Finalizer::new(app.clone()), buffer, resolver);
    let inline = Inline::new(context.child("inline"), app.clone(), mailbox, epocher);

    let timing = &config.timing;
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<commonware_cryptography::Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            partition: format!("{prefix}-simplex"),
            mailbox_size,
            epoch: Epoch::zero(),
            floor: simplex::Floor::Genesis(genesis_digest),
            replay_buffer: NZUsize!(1 << 20),
            write_buffer: NZUsize!(1 << 20),
            page_cache,
            leader_timeout: timing.leader_timeout,
            certification_timeout: timing.certification_timeout,
            timeout_retry: timing.timeout_retry,
            view_retention: ViewDelta::new(16),
            skip: SkipPolicy::Enabled {
                timeout: timing.skip_timeout,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
            track_historical_votes: false,
        },
    );
    let engine = engine.start(channels.votes, channels.certificates, channels.resolver);
    let gossip = gossip::start(context.child("gossip"), node, channels.txs);
    Ok(Validator {
        app,
        engine,
        marshal: marshal_handle,
        gossip,
    })
}
