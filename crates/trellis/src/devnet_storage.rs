//! Devnet's storage network: provider agent processes on loopback, each a staked storage device
//! with a published endpoint, audited every epoch by the reward oracle's storage auditor.

use crate::{
    devnet::{demo_key, demo_seed, wait_all},
    testnet::{spawn_trellis, NodeProcess},
};
use anyhow::Result;
use std::{ffi::OsString, path::Path};
use trellis_chain::Node;
use trellis_ledger::{DeviceClass, StateRead, TxKind};
use trellis_primitives::{AccountAddress, Amount, DeviceAddress, Keypair};

/// Storage providers devnet runs: enough for a 3-of-8 file that survives five losses.
pub(crate) const STORAGE_PROVIDERS: u32 = 8;
/// Space each devnet provider offers.
const PROVIDER_CAPACITY: &str = "2GiB";
/// What each devnet provider asks, in credits per GiB-epoch ($0.01 a GiB for a one-minute
/// devnet epoch: play money, priced so a tour file costs a visible few credits).
pub(crate) const PROVIDER_PRICE: u64 = 1_000;

/// What each devnet provider asks per GiB downloaded, in credits ($0.007 a GiB, Storj's egress
/// price).
pub(crate) const PROVIDER_EGRESS_PRICE: u64 = 700;
/// TRL a provider's hot key holds for the fees of its claims, commitments and replays.
const HOT_KEY_TRL: u64 = 10;

/// Funds the device keys of `names` (the hot keys their agents sign with) from `owner`, where
/// they hold less than 1 TRL.
pub(crate) fn fund_hot_keys(node: &Node, owner: &Keypair, names: &[String]) -> Result<()> {
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
    wait_all(node, &pending)
}

/// Demo key name of storage provider `i`.
pub(crate) fn provider_name(i: u32) -> String {
    format!("device-storage-{i}")
}

/// Starts one `trellis agent storage` process per provider and publishes each one's URL on
/// chain (signed by `owner`) when the chain does not have it yet.
pub(crate) fn start_providers(dir: &Path, node: &Node, node_url: &str, owner: &Keypair) -> Result<Vec<NodeProcess>> {
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents)?;
    let names: Vec<String> = (0..STORAGE_PROVIDERS).map(provider_name).collect();
    fund_hot_keys(node, owner, &names)?;
    let mut processes = Vec::new();
    let mut urls = Vec::new();
    for i in 0..STORAGE_PROVIDERS {
        let name = provider_name(i);
        // Claims every few seconds: devnet epochs are short, and the tour shows egress paid.
        let extra = [
            "--capacity".into(),
            PROVIDER_CAPACITY.into(),
            "--claim-every-secs".into(),
            "3".into(),
        ];
        let (process, url) = spawn_agent(&agents, &name, "storage", &extra, node_url)?;
        urls.push((name, url));
        processes.push(process);
    }
    publish_endpoints(node, owner, urls)?;
    Ok(processes)
}

/// Starts `trellis agent <kind>` for demo device `name` (its seed file, data directory and log
/// under `agents`) on a free loopback port with `extra` arguments; the process and its URL.
pub(crate) fn spawn_agent(
    agents: &Path,
    name: &str,
    kind: &str,
    extra: &[OsString],
    node_url: &str,
) -> Result<(NodeProcess, String)> {
    let seed_file = agents.join(format!("{name}.seed"));
    if !seed_file.exists() {
        crate::bft_node::write_validator_key(&seed_file, &demo_seed(name))?;
    }
    let data = agents.join(name);
    std::fs::create_dir_all(&data)?;
    let url_file = data.join("provider.url");
    if url_file.exists() {
        std::fs::remove_file(&url_file)?;
    }
    let mut args: Vec<OsString> = vec![
        "agent".into(),
        kind.into(),
        "--key-file".into(),
        seed_file.into_os_string(),
        "--dir".into(),
        data.into_os_string(),
    ];
    args.extend_from_slice(extra);
    args.extend([
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--node".into(),
        node_url.into(),
    ]);
    let log = agents.join(format!("{name}.log"));
    let mut process = spawn_trellis(&args, &log)?;
    let url = process.wait_for_file(&url_file, &log)?;
    Ok((process, url))
}

/// Publishes each named demo device's URL on chain (signed by `owner`) unless it is there.
pub(crate) fn publish_endpoints(node: &Node, owner: &Keypair, urls: Vec<(String, String)>) -> Result<()> {
    let fee = node.with_state(|s, _| s.params())?.min_fee;
    let tx = crate::devnet::setup_signer(node, fee)?;
    let mut nonce = node.with_state(|s, _| s.account(&owner.public().into()))?.nonce;
    let mut pending = Vec::new();
    for (name, url) in urls {
        let device = DeviceAddress::from(demo_key(&name).public());
        if node.with_state(|s, _| s.endpoint(&device))?.as_deref() == Some(url.as_str()) {
            continue;
        }
        pending.push(node.submit(tx(owner, nonce, TxKind::SetEndpoint { device, url }))?);
        nonce += 1;
    }
    wait_all(node, &pending)
}

/// How many honest devices of `class` devnet onboards.
pub(crate) fn count_for(class: DeviceClass) -> u32 {
    match class {
        DeviceClass::Hotspot => crate::hotspots::HONEST_HOTSPOTS,
        DeviceClass::Storage => STORAGE_PROVIDERS,
        DeviceClass::Compute => crate::devnet_compute::COMPUTE_PROVIDERS,
        DeviceClass::Sensor => crate::devnet_sensors::WEATHER_STATIONS,
        DeviceClass::Energy => crate::devnet_sensors::ENERGY_METERS,
    }
}
