//! Devnet's compute market: one `trellis agent compute` process per compute device on loopback,
//! each staked, with a funded hot key and a published endpoint; they run the jobs consumers post
//! and replay the ones the chain draws them to verify.

use crate::{
    devnet::{demo_key, wait_all},
    testnet::NodeProcess,
};
use anyhow::Result;
use std::path::Path;
use trellis_chain::Node;
use trellis_ledger::{StateRead, TxKind};
use trellis_primitives::{AccountAddress, Amount, Keypair};

/// Compute providers devnet runs: a job, its verifier and an arbiter on three different
/// machines, with one to spare.
pub(crate) const COMPUTE_PROVIDERS: u32 = 4;
/// Slots each devnet compute provider offers.
const SLOTS: &str = "2";
/// TRL a provider's hot key holds for the fees of its commitments and replays.
const HOT_KEY_TRL: u64 = 10;

/// What compute provider `i` asks, credits per 10^9 fuel: a spread, so matching has a choice.
pub(crate) fn provider_price(i: u32) -> u64 {
    10 + 5 * u64::from(i)
}

/// Starts one agent per compute device (`names`, onboarded and staked by devnet setup), after
/// funding each device's hot key and publishing each endpoint (signed by `owner`).
pub(crate) fn start_providers(
    dir: &Path,
    node: &Node,
    node_url: &str,
    owner: &Keypair,
    names: &[String],
) -> Result<Vec<NodeProcess>> {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents)?;
    let fee = node.with_state(|s, _| s.params())?.min_fee;
    let tx = crate::devnet::setup_signer(node, fee)?;
    let mut nonce = node.with_state(|s, _| s.account(&owner.public().into()))?.nonce;
    let mut pending = Vec::new();
    for name in names {
        let hot = AccountAddress::from(demo_key(name).public());
        if node.with_state(|s, _| s.account(&hot))?.balance < Amount::from_trl(1).unwrap_or_default() {
            let amount = Amount::from_trl(HOT_KEY_TRL).unwrap_or_default();
            pending.push(node.submit(tx(owner, nonce, TxKind::Transfer { to: hot, amount }))?);
            nonce += 1;
        }
    }
    wait_all(node, &pending)?;
    let mut processes = Vec::new();
    let mut urls = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let extra = [
            "--slots".into(),
            SLOTS.into(),
            "--price".into(),
            provider_price(i as u32).to_string().into(),
        ];
        let (process, url) = crate::devnet_storage::spawn_agent(&agents, name, "compute", &extra, node_url)?;
        urls.push((name.clone(), url));
        processes.push(process);
    }
    crate::devnet_storage::publish_endpoints(node, owner, urls)?;
    Ok(processes)
}
