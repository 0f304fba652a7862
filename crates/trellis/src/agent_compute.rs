//! `trellis agent compute`: the software a compute operator runs. It measures the machine's
//! capability score with the standard benchmark job, publishes the device's offer, accepts
//! the module and input of jobs the chain assigns it, runs them in the deterministic executor
//! (at most `--slots` at once), commits each result on chain, and replays the jobs the chain
//! draws it to verify.
//!
//! It signs with the device's own key (a hot key that can commit, replay and publish offers
//! but moves none of the owner's funds); the device's account pays those fees, so fund it
//! with a little TRL (`trellis wallet transfer --to <device as tr1…>`).

use crate::client::{Client, Signer};
use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use std::{
    collections::BTreeSet,
    net::SocketAddr,
    path::PathBuf,
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};
use trellis_compute::{
    blobs::RunRecord,
    chain::{JobView, NodeApi},
    commitment,
    kernels::{self, GUEST_WASM, RENDER_ENTRY},
    limits::MAX_OUTPUT_BYTES,
    provider::Provider,
    transfer, Behaviour, Executor, Limits, ModuleCache, Outcome,
};
use trellis_ledger::{
    tx::{ComputeClaim, ComputeTx},
    TxKind,
};
use trellis_primitives::{AccountAddress, Credits, DeviceAddress, Hash, Keypair};

/// Arguments of `trellis agent compute`.
#[derive(Debug, Args)]
pub(crate) struct ComputeArgs {
    /// File holding the device's ed25519 seed in hex: the key onboarded on chain as a compute
    /// device. It also signs commitments; its account pays their fees.
    #[arg(long)]
    key_file: PathBuf,
    /// Directory for modules, inputs and run records (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Jobs run at once (one core each).
    #[arg(long, default_value_t = 2)]
    slots: u16,
    /// Ask, in credits per 10^9 fuel (10^9 WebAssembly operators: ~0.05 s of one core).
    #[arg(long, default_value_t = 10)]
    price: u64,
    /// Listen address for consumers and verifiers (port 0 picks a free port; the URL is
    /// written to <dir>/provider.url).
    #[arg(long, env = "TRELLIS_COMPUTE_LISTEN", default_value = "0.0.0.0:8660")]
    listen: SocketAddr,
    /// The URL consumers reach this provider at, as published on chain (default: from --listen).
    #[arg(long)]
    public_url: Option<String>,
    /// Node API base URL.
    #[arg(long, env = "TRELLIS_API", default_value = "http://127.0.0.1:8645")]
    node: String,
    /// How often the chain is asked for new duties, ms.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// For tests and the simulator: cheat (`wrong-output`, `inflate-fuel`).
    #[arg(long, hide = true, value_parser = Behaviour::parse, default_value = "honest")]
    misbehave: Behaviour,
}

/// Compiled job modules a provider keeps (each a few MiB of machine code at most).
const MODULE_CACHE: usize = 16;

struct Worker {
    provider: Provider,
    signer: Signer,
    slots: Arc<tokio::sync::Semaphore>,
    /// Compiled modules, shared by every slot.
    modules: Arc<ModuleCache>,
    busy: Mutex<BTreeSet<Hash>>,
    behaviour: Behaviour,
    http: reqwest::Client,
}

/// Runs the provider until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: ComputeArgs) -> Result<()> {
    let seed = crate::bft_node::read_seed(&args.key_file)?;
    let key = Keypair::from_seed(*seed);
    let device = DeviceAddress::from(key.public());
    let client = Client::new(&args.node)?.follow_blocks();
    check_device(&client, &device).await?;
    let store = trellis_compute::blobs::BlobStore::open(&args.dir)
        .with_context(|| format!("cannot open the job store in {}", args.dir.display()))?;
    let node = NodeApi::new(&args.node)?;
    let provider = Provider::new(store, node, device);

    let score = benchmark_score()?;
    let signer = Signer::new(client, key).await?;
    let offer = ComputeTx::SetOffer {
        device,
        slots: args.slots,
        price_per_gfuel: Credits(args.price),
        score,
    };
    signer.send(TxKind::Compute(offer)).await.with_context(|| {
        format!(
            "cannot publish the offer; the device account {} pays its fees: fund it with a little TRL",
            AccountAddress::from(device.key().to_owned())
        )
    })?;

    let url_file = args.dir.join("provider.url");
    if let Err(e) = std::fs::remove_file(&url_file) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e).with_context(|| format!("cannot remove {}", url_file.display()));
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let url = args.public_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
        )
    });
    std::fs::write(&url_file, &url).with_context(|| format!("cannot write {}", url_file.display()))?;
    println!(
        "compute provider {device} serving {url}: {} slots at {} credits per 10^9 fuel, score {score}",
        args.slots, args.price
    );

    let worker = Arc::new(Worker {
        provider: provider.clone(),
        signer,
        slots: Arc::new(tokio::sync::Semaphore::new(usize::from(args.slots.max(1)))),
        modules: Arc::new(ModuleCache::new(MODULE_CACHE)),
        busy: Mutex::new(BTreeSet::new()),
        behaviour: args.misbehave,
        http: transfer::http(),
    });
    tokio::spawn(worker.poll_forever(Duration::from_millis(args.poll_ms.max(50))));
    provider
        .serve(listener, crate::run::shutdown_signal())
        .await
        .context("the provider server failed")
}

/// Refuses to start for a device that is not a compute device.
async fn check_device(client: &Client, device: &DeviceAddress) -> Result<()> {
    let record = client
        .get(&format!("/v1/devices/{device}"))
        .await
        .with_context(|| format!("device {device} is not onboarded"))?;
    let class = record["device"]["class"].as_str().unwrap_or("");
    if class != "compute" {
        bail!("device {device} is onboarded as `{class}`, not `compute`");
    }
    Ok(())
}

/// Runs the standard benchmark job and returns the score: fuel per second / 10^6.
fn benchmark_score() -> Result<u64> {
    let exec = Executor::new();
    let module = exec.load(GUEST_WASM).context("the reference module does not load")?;
    let input = kernels::benchmark_input();
    let started = Instant::now();
    let ex = exec.run(&module, RENDER_ENTRY, &input, kernels::BENCHMARK_LIMITS)?;
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    if !matches!(ex.outcome, Outcome::Output { .. }) {
        bail!("the benchmark job did not produce its image: {:?}", ex.outcome);
    }
    Ok(((ex.fuel_used as f64 / secs) / 1e6).max(1.0) as u64)
}

impl Worker {
    /// Looks for duties at every new block (the node's event stream), after an upload, or every
    /// `every` when the stream is down.
    async fn poll_forever(self: Arc<Self>, every: Duration) {
        let mut blocks = self.signer.blocks();
        loop {
            tokio::select! {
                _ = blocks.next(every) => {}
                _ = self.provider.uploaded() => {}
            }
            let device = self.provider.device();
            let duties = match self.provider.node().duties(&device).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read duties");
                    continue;
                }
            };
            for view in duties.runs {
                let store = self.provider.store();
                let ready = store.has(&view.job.spec.module) && store.has(&view.job.spec.input);
                if ready && self.claim_slot(&view.id) {
                    tokio::spawn(self.clone().run_job(view));
                }
            }
            for view in duties.replays {
                if self.claim_slot(&view.id) {
                    tokio::spawn(self.clone().replay_job(view));
                }
            }
        }
    }

    /// Marks a job as being worked on here; false if it already is.
    fn claim_slot(&self, id: &Hash) -> bool {
        self.busy.lock().map(|mut b| b.insert(*id)).unwrap_or(false)
    }

    fn release(&self, id: &Hash) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(id);
        }
    }

    /// Executes `module` on `input` for `view` (blocking, in a slot).
    async fn execute(&self, view: &JobView, module: Vec<u8>, input: Vec<u8>) -> Result<trellis_compute::Execution> {
        let _permit = self.slots.acquire().await?;
        let metrics = self.provider.metrics();
        metrics.busy.fetch_add(1, Ordering::Relaxed);
        let spec = view.job.spec.clone();
        let limits = Limits {
            fuel: spec.fuel,
            memory_bytes: spec.memory_bytes,
        };
        let modules = self.modules.clone();
        let run = tokio::task::spawn_blocking(move || {
            let compiled = modules.load(&module)?;
            modules.executor().run(&compiled, &spec.entry, &input, limits)
        })
        .await;
        metrics.busy.fetch_sub(1, Ordering::Relaxed);
        let ex = run??;
        metrics.fuel.fetch_add(ex.fuel_used, Ordering::Relaxed);
        Ok(ex)
    }

    async fn run_job(self: Arc<Self>, view: JobView) {
        let id = view.id;
        if let Err(e) = self.try_run(&view).await {
            self.provider.metrics().submit_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = %id, error = %e, "job run failed");
        }
        self.release(&id);
    }

    async fn try_run(&self, view: &JobView) -> Result<()> {
        let spec = &view.job.spec;
        let store = self.provider.store();
        // A record left by a run whose commit did not land: commit it again, same claim.
        let record = match store.run(&view.id)? {
            Some(r) => r,
            None => {
                let module = store.get(&spec.module)?.ok_or_else(|| anyhow!("module vanished"))?;
                let input = store.get(&spec.input)?.ok_or_else(|| anyhow!("input vanished"))?;
                let honest = self.execute(view, module, input).await?;
                let limits = Limits {
                    fuel: spec.fuel,
                    memory_bytes: spec.memory_bytes,
                };
                let claimed = self.behaviour.claim(honest, limits);
                let record = RunRecord {
                    job: view.id,
                    commitment: commitment(&spec.module, &spec.entry, &spec.input, &claimed),
                    fuel_used: claimed.fuel_used,
                    outcome: claimed.outcome,
                };
                store.put_run(&record)?;
                self.provider.metrics().runs.fetch_add(1, Ordering::Relaxed);
                record
            }
        };
        let claim = ComputeClaim {
            commitment: record.commitment,
            fuel_used: record.fuel_used,
        };
        let op = ComputeTx::Commit {
            job: view.id,
            device: self.provider.device(),
            claim,
        };
        let height = self.signer.send(TxKind::Compute(op)).await?;
        tracing::info!(job = %view.id, fuel = record.fuel_used, height, "committed");
        Ok(())
    }

    async fn replay_job(self: Arc<Self>, view: JobView) {
        let id = view.id;
        match self.try_replay(&view).await {
            Ok(()) => {
                self.provider.metrics().replays.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.provider.metrics().submit_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(job = %id, error = %e, "replay failed");
            }
        }
        self.release(&id);
    }

    async fn try_replay(&self, view: &JobView) -> Result<()> {
        let spec = &view.job.spec;
        let endpoints = self.provider.node().endpoints().await?;
        let mut last = None;
        let mut blobs = None;
        for run in &view.job.runs {
            let Some(endpoint) = endpoints.get(&run.provider).cloned() else {
                continue;
            };
            match transfer::fetch_job_blobs(&self.http, &endpoint, spec).await {
                Ok(b) => {
                    blobs = Some(b);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let (module, input) =
            blobs.ok_or_else(|| anyhow!("no provider served the job's module and input: {last:?}"))?;
        let ex = self.execute(view, module, input).await?;
        if let Outcome::Output { bytes } = &ex.outcome {
            debug_assert!(bytes.len() <= MAX_OUTPUT_BYTES);
        }
        let claim = ComputeClaim {
            commitment: commitment(&spec.module, &spec.entry, &spec.input, &ex),
            fuel_used: ex.fuel_used,
        };
        let op = ComputeTx::Verify {
            job: view.id,
            device: self.provider.device(),
            claim,
        };
        let height = self.signer.send(TxKind::Compute(op)).await?;
        tracing::info!(job = %view.id, height, "replayed");
        Ok(())
    }
}
