//! Devnet's compute market: one `trellis agent compute` process per compute device on loopback,
//! each staked, with a funded hot key and a published endpoint; they run the jobs consumers post
//! and replay the ones the chain draws them to verify.

use crate::testnet::NodeProcess;
use anyhow::Result;
use std::path::Path;
use trellis_chain::Node;
use trellis_primitives::Keypair;

/// Compute providers devnet runs: a job, its verifier and an arbiter on three different
/// machines, with one to spare.
pub(crate) const COMPUTE_PROVIDERS: u32 = 4;
/// Slots each devnet compute provider offers.
const SLOTS: &str = "2";
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
    crate::devnet_storage::fund_hot_keys(node, owner, names)?;
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
