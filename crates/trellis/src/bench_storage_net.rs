//! The storage pipeline end to end on loopback, and the cost of audits, for `bench storage`.
//!
//! A real node (redb, sequencer, HTTP API) and real provider servers run in this process on
//! loopback; the client path is exactly `trellis store put` / `store get` (`store_file`,
//! `fetch_file`): code the file while every piece streams to its provider, open the deal,
//! commit; download in parallel with root checks, decode, write.

use crate::{
    config::NodeConfig,
    devnet::wait_all,
    store::{fetch_file, store_file, PutOptions},
};
use anyhow::{ensure, Result};
use rand::{RngCore as _, SeedableRng as _};
use std::{io::Write as _, path::Path, time::Instant};
use trellis_chain::Node;
use trellis_ledger::{
    Capability, DeviceClass, Genesis, GenesisAccount, GenesisMaker, StateRead, Transaction, TxBody, TxKind,
};
use trellis_primitives::{Amount, DeviceAddress, Encode as _, Hash, Keypair};
use trellis_storage::{
    audit::{challenge_for, challenge_seed, seed_message},
    chain::NodeApi,
    client::TRANSFER_IDLE_TIMEOUT,
    protocol::{Answer, SignedChallenge},
    provider::{PieceId, PieceStore, Provider},
    PieceTree,
};

fn key(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key("trellis bench storage", name.as_bytes()))
}

/// What the pipeline run measured.
pub(crate) struct PipelineFigures {
    pub(crate) put_mib_s: f64,
    pub(crate) get_mib_s: f64,
    pub(crate) disk_write_mib_s: f64,
    /// Cores busy on average during `put` and `get`: CPU-seconds of this whole process (client,
    /// node and providers) per second.
    pub(crate) put_cores: f64,
    pub(crate) get_cores: f64,
    /// The same writes through the page cache, MiB/s.
    pub(crate) cached_write_mib_s: f64,
}

fn sign(node: &Node, signer: &Keypair, nonce: u64, kind: TxKind) -> Result<Transaction> {
    let (chain_id, fee) = node.with_state(|s, _| -> Result<_> { Ok((s.chain_id()?, s.params()?.min_fee)) })?;
    Ok(Transaction::sign(
        TxBody {
            chain_id,
            signer: signer.public().into(),
            nonce,
            fee,
            kind,
        },
        signer,
    ))
}

/// Onboards and stakes `providers` storage devices for `owner`, buys the client credits.
fn setup_chain(node: &Node, owner: &Keypair, client: &Keypair, providers: u32) -> Result<()> {
    let devices: Vec<Keypair> = (0..providers).map(|i| key(&format!("provider-{i}"))).collect();
    let price = Capability {
        name: "price_per_gib_epoch".into(),
        value: 1_000,
    };
    let benchmark = BenchDevices {
        owner,
        maker: &key("maker"),
        class: DeviceClass::Storage,
        capabilities: vec![price],
    };
    benchmark.onboard(node, &devices, client)
}

/// Devices a benchmark onboards: who owns them, the maker that attests them, what they are.
pub(crate) struct BenchDevices<'a> {
    pub(crate) owner: &'a Keypair,
    pub(crate) maker: &'a Keypair,
    pub(crate) class: DeviceClass,
    pub(crate) capabilities: Vec<Capability>,
}

impl BenchDevices<'_> {
    /// Onboards every device with 100 TRL bonded, and buys `client` 1,000 TRL of credits.
    pub(crate) fn onboard(&self, node: &Node, devices: &[Keypair], client: &Keypair) -> Result<()> {
        let mut nonce = node.with_state(|s, _| s.account(&self.owner.public().into()))?.nonce;
        let mut ids = Vec::new();
        for dk in devices {
            let onboard = TxKind::OnboardDevice {
                device: dk.public().into(),
                maker: self.maker.public(),
                class: self.class,
                capabilities: self.capabilities.clone(),
            };
            ids.push(node.submit(sign(node, self.owner, nonce, onboard)?.cosign(self.maker).cosign(dk))?);
            let stake = TxKind::Stake {
                device: dk.public().into(),
                amount: Amount::from_trl(100).unwrap_or_default(),
            };
            ids.push(node.submit(sign(node, self.owner, nonce + 1, stake)?)?);
            nonce += 2;
        }
        let burn = TxKind::BurnForCredits {
            amount: Amount::from_trl(1_000).unwrap_or_default(),
            beneficiary: client.public().into(),
        };
        ids.push(node.submit(sign(node, client, 0, burn)?)?);
        wait_all(node, &ids)
    }
}

/// CPU-seconds this process has used so far.
fn process_cpu_s() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Raw sequential write rate of this disk in 1 MiB writes with one fsync at the end: around the
/// page cache where the filesystem allows (`direct`, as pieces and fetched files are written),
/// or through it.
fn disk_write_rate(path: &Path, bytes: usize, direct: bool) -> Result<f64> {
    let block = vec![0x5au8; 1 << 20];
    let started = Instant::now();
    let file = std::fs::File::create(path)?;
    let file = if direct {
        let mut out = trellis_storage::direct::DirectWriter::new(file, block.len());
        for _ in 0..bytes.div_ceil(block.len()) {
            out.write_all(&block)?;
        }
        out.finish()?
    } else {
        let mut file = file;
        for _ in 0..bytes.div_ceil(block.len()) {
            file.write_all(&block)?;
        }
        file
    };
    file.sync_all()?;
    let rate = bytes as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(rate)
}

/// A node and storage providers serving on loopback, the client funded.
pub(crate) struct Loopback {
    /// Keeps the node running.
    _running: crate::run::RunningNode,
    /// The node's API.
    pub(crate) api: String,
}

/// Starts a node and `providers` providers (provider `i` with `capacity(i)` bytes of room) with
/// data under `dir`, onboarded, staked and published on chain, and buys the client credits.
pub(crate) async fn loopback(dir: &Path, providers: u32, capacity: impl Fn(u32) -> u64) -> Result<Loopback> {
    let (owner, client) = (key("owner"), key("client"));
    let accounts = [&owner, &client]
        .iter()
        .map(|k| GenesisAccount {
            address: k.public().into(),
            balance: Amount::from_trl(100_000).unwrap_or_default(),
        })
        .collect();
    let mut genesis = Genesis::single_authority("bench-storage", key("admin").public(), accounts);
    genesis.makers.push(GenesisMaker {
        key: key("maker").public(),
        name: "bench maker".into(),
    });
    genesis.initial_price_micro_usd_per_trl = Some(1_000_000);
    genesis.timestamp_ms = trellis_chain::node::wall_clock_ms();
    let genesis_path = dir.join("genesis.toml");
    std::fs::write(&genesis_path, toml::to_string_pretty(&genesis)?)?;
    let config = NodeConfig {
        data_dir: dir.join("node"),
        genesis: Some(genesis_path),
        api_listen: "127.0.0.1:0".parse()?,
        block_interval_ms: 20,
        empty_blocks: true,
        reward_archive: None,
        consensus: None,
    };
    let running = crate::run::start(&config).await?;
    let api = format!("http://{}", running.api_addr);
    let node = running.node.clone();
    let (o, c) = (key("owner"), key("client"));
    tokio::task::spawn_blocking(move || setup_chain(&node, &o, &c, providers)).await??;

    // Provider servers, and their endpoints on chain.
    let mut endpoints = Vec::new();
    for i in 0..providers {
        let store = PieceStore::open(&dir.join(format!("provider-{i}")), capacity(i))?;
        let provider = Provider::new(store, NodeApi::new(&api)?, key(&format!("provider-{i}")))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        endpoints.push(format!("http://{}", listener.local_addr()?));
        tokio::spawn(async move { provider.serve(listener, std::future::pending()).await });
    }
    let node = running.node.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let first = node.with_state(|s, _| s.account(&owner.public().into()))?.nonce;
        let mut ids = Vec::new();
        for (nonce, (i, url)) in (first..).zip(endpoints.into_iter().enumerate()) {
            let device = DeviceAddress::from(key(&format!("provider-{i}")).public());
            ids.push(node.submit(sign(&node, &owner, nonce, TxKind::SetEndpoint { device, url })?)?);
        }
        wait_all(&node, &ids)
    })
    .await??;
    Ok(Loopback { _running: running, api })
}

/// The key of the client [`loopback`] funds, and of provider `i` (`Some(i)`).
#[cfg(test)]
pub(crate) fn loopback_key(provider: Option<u32>) -> Keypair {
    match provider {
        Some(i) => key(&format!("provider-{i}")),
        None => key("client"),
    }
}

/// Stores and fetches a `mib` MiB file through `providers` providers on loopback.
pub(crate) async fn pipeline(mib: usize, providers: u32) -> Result<PipelineFigures> {
    let tmp = tempfile::tempdir()?;
    let client = key("client");
    let Loopback { api, _running } = loopback(tmp.path(), providers, |_| 1 << 40).await?;
    let bytes = mib << 20;
    let mut data = vec![0u8; bytes];
    rand_chacha::ChaCha20Rng::seed_from_u64(11).fill_bytes(&mut data);
    let file = tmp.path().join("file.bin");
    std::fs::write(&file, &data)?;
    let options = PutOptions {
        epochs: 10,
        price: None,
        data_pieces: None,
        pieces: None,
        quiet: true,
        idle: TRANSFER_IDLE_TIMEOUT,
    };
    let (started, cpu) = (Instant::now(), process_cpu_s());
    let id = store_file(&client, &api, &file, &options).await?;
    let put_s = started.elapsed().as_secs_f64();
    let put_cores = (process_cpu_s() - cpu) / put_s;
    let out = tmp.path().join("back.bin");
    let (started, cpu) = (Instant::now(), process_cpu_s());
    fetch_file(
        &std::sync::Arc::new(key("client")),
        &api,
        id,
        &out,
        true,
        TRANSFER_IDLE_TIMEOUT,
    )
    .await?;
    let get_s = started.elapsed().as_secs_f64();
    let get_cores = (process_cpu_s() - cpu) / get_s;
    let (put_mib_s, get_mib_s) = (mib as f64 / put_s, mib as f64 / get_s);
    ensure!(std::fs::read(&out)? == data, "the fetched file differs");
    let disk_write_mib_s = disk_write_rate(&tmp.path().join("disk-probe"), bytes, true)?;
    let cached_write_mib_s = disk_write_rate(&tmp.path().join("disk-probe"), bytes, false)?;
    Ok(PipelineFigures {
        put_mib_s,
        get_mib_s,
        put_cores,
        get_cores,
        disk_write_mib_s,
        cached_write_mib_s,
    })
}

/// What proving one piece for one epoch costs.
pub(crate) struct AuditFigures {
    pub(crate) piece_bytes: u64,
    /// Provider: check the challenge's signature, read the challenged chunks, build the
    /// proofs, sign.
    pub(crate) prove_s: f64,
    /// Auditor: sign the challenge, check every proof and the answer's signature.
    pub(crate) verify_s: f64,
    /// Challenge and answer on the wire.
    pub(crate) wire_bytes: u64,
}

/// Measures challenges of `chunks` chunks against one `piece_mib` MiB piece on disk, averaged
/// over `rounds` epochs.
pub(crate) fn audit_cost(piece_mib: usize, chunks: u16, rounds: u32) -> Result<AuditFigures> {
    let tmp = tempfile::tempdir()?;
    let store = PieceStore::open(tmp.path(), 1 << 40)?;
    let id = PieceId {
        deal: Hash([7; 32]),
        index: 0,
    };
    let mut piece = vec![0u8; piece_mib << 20];
    rand_chacha::ChaCha20Rng::seed_from_u64(3).fill_bytes(&mut piece);
    let tree = PieceTree::of(&piece);
    let reservation = store.reserve(piece.len() as u64).map_err(anyhow::Error::msg)?;
    let temp = store.temp_path(&id);
    std::fs::write(&temp, &piece)?;
    store.commit(&id, &temp, &tree, reservation)?;
    let (root, len) = (tree.root(), tree.len);
    drop((piece, tree));
    let device = key("provider-0");
    let address = DeviceAddress::from(device.public());
    let auditor = key("auditor");
    let verifiers = [auditor.public()];
    let (mut prove_s, mut verify_s, mut wire_bytes) = (0.0, 0.0, 0u64);
    for round in 0..rounds {
        let entropy = Hash(blake3::hash(&round.to_le_bytes()).into());
        // Once per epoch for all pieces, so not in the per-piece figure.
        let seed = challenge_seed(&entropy, &auditor.sign(seed_message(&entropy).as_bytes()));
        let started = Instant::now();
        let now = trellis_primitives::Epoch(u64::from(round));
        let challenge = challenge_for(&seed, &id.deal, 0, len, chunks);
        let signed = SignedChallenge::sign("bench", challenge, address, now, &auditor);
        verify_s += started.elapsed().as_secs_f64();
        let started = Instant::now();
        signed
            .check("bench", &verifiers, &address, now)
            .map_err(anyhow::Error::msg)?;
        let challenge = signed.challenge.clone();
        let tree = store.tree(&id)?;
        let mut proofs = Vec::with_capacity(challenge.chunks.len());
        for &c in &challenge.chunks {
            let (proof, intact) = store.prove_chunk(&id, &tree, c)?;
            ensure!(intact, "the stored piece is corrupt");
            proofs.push(proof);
        }
        let answer = Answer::sign(&challenge, proofs, &device);
        prove_s += started.elapsed().as_secs_f64();
        let started = Instant::now();
        answer
            .check(&challenge, &root, len, &address)
            .map_err(anyhow::Error::msg)?;
        verify_s += started.elapsed().as_secs_f64();
        wire_bytes += (signed.to_bytes().len() + answer.to_bytes().len()) as u64;
    }
    let n = f64::from(rounds.max(1));
    Ok(AuditFigures {
        piece_bytes: len,
        prove_s: prove_s / n,
        verify_s: verify_s / n,
        wire_bytes: wire_bytes / u64::from(rounds.max(1)),
    })
}
