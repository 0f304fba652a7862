//! A validator on a real network: Commonware's authenticated `lookup` transport (every peer's
//! key and address are configured; connections are mutually authenticated and encrypted) on the
//! tokio runtime, with the consensus journal and block archives in a storage directory.

use crate::validator::{self, channel, Channels, Timing, Validator, ValidatorConfig};
use commonware_cryptography::{
    ed25519::{PrivateKey, PublicKey},
    ChaCha20Poly1305, Signer as _,
};
use commonware_p2p::{authenticated::lookup, Address, AddressableManager as _};
use commonware_runtime::{tokio, Handle, Quota, Supervisor as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, ordered::Set, NZUsize, NZU32};
use std::{net::SocketAddr, time::Duration};
use trellis_chain::Node;

/// A validator's identity and where to reach it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its consensus and network key.
    pub key: PublicKey,
    /// Its p2p address.
    pub address: SocketAddr,
}

/// What a networked validator needs.
pub struct NetConfig {
    /// This validator's key.
    pub key: PrivateKey,
    /// Address to listen on for peers.
    pub listen: SocketAddr,
    /// The whole validator set, this validator included.
    pub peers: Vec<Peer>,
    /// Separates this chain's signatures and handshakes from any other's (the chain id).
    pub namespace: Vec<u8>,
    /// Timeouts and pacing.
    pub timing: Timing,
}

/// Messages per second a peer may send on one channel before it is throttled. Generous: the
/// limit is there to stop floods, not to shape honest traffic.
const PEER_QUOTA: Quota = Quota::per_second(NZU32!(10_000));

/// A running networked validator.
pub struct NetValidator {
    /// The validator.
    pub validator: Validator,
    /// The network task.
    pub network: Handle<()>,
}

/// Starts the network and the validator on `context`.
pub async fn start(context: tokio::Context, config: NetConfig, node: Node) -> Result<NetValidator, String> {
    let me = config.key.public_key();
    let keys: Vec<PublicKey> = config.peers.iter().map(|p| p.key.clone()).collect();
    let validators = Set::try_from(keys).map_err(|_| "the validator set lists a key twice".to_string())?;
    if validators.position(&me).is_none() {
        return Err(format!("this validator's key {me} is not in the validator set"));
    }
    let addresses: Map<PublicKey, Address> = config
        .peers
        .iter()
        .map(|p| (p.key.clone(), Address::Symmetric(p.address)))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| "the validator set lists a key twice".to_string())?;
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: config.key.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut namespace = config.namespace.clone();
    namespace.extend_from_slice(b"/p2p");
    let p2p = lookup::Config::local(
        handshake,
        &namespace,
        config.listen,
        NZUsize!(validators.len().max(1)),
        validator::max_message_size(validators.len() as u32),
        NZUsize!(1024),
    );
    let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
    oracle.track(0, addresses);
    let pairs = channel::ALL.map(|ch| network.register(ch, PEER_QUOTA)).into();
    let channels = Channels::from_pairs(pairs).ok_or("channel registration")?;
    let network = network.start();
    let validator = validator::start(
        context.child("validator"),
        ValidatorConfig {
            key: config.key,
            validators,
            namespace: config.namespace,
            partition: "trellis".into(),
            node,
            timing: config.timing,
        },
        channels,
        oracle.clone(),
        oracle,
    )
    .await?;
    Ok(NetValidator { validator, network })
}
