//! `trellis bench ingest`: signed device reports accepted per second by the real ingest over HTTP
//! on loopback (decode, checks, batched signature verification, fsynced report log), beside the
//! raw ed25519 batch verification rate of the same signatures measured in the same run.

use anyhow::{Context, Result};
use clap::Args;
use prost::Message;
use std::{sync::Arc, time::Instant};
use trellis_ingest::{DeviceDirectory, IngestConfig};
use trellis_primitives::{keys::verify_batch, DeviceAddress, Keypair, Signature, SignedMessage};
use trellis_proto::{report::Kind, signing_hash, Envelope, Report, Witness};

/// Options of `trellis bench ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestBenchArgs {
    /// Reports to send.
    #[arg(long, default_value_t = 20_000)]
    reports: usize,
    /// Distinct devices sending them.
    #[arg(long, default_value_t = 2_000)]
    devices: usize,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Reports per request: 1 posts each to `/v1/reports`, more posts them in groups to
    /// `/v1/reports/batch` (as a gateway relaying its devices would).
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

struct Everyone;

impl DeviceDirectory for Everyone {
    fn is_registered<'a>(&'a self, _: &'a DeviceAddress) -> trellis_ingest::Lookup<'a> {
        Box::pin(async { true })
    }
}

fn key(i: usize) -> Keypair {
    let mut seed = [0x1b; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Keypair::from_seed(seed)
}

/// Runs the benchmark and prints a Markdown table.
pub(crate) async fn run(args: IngestBenchArgs) -> Result<()> {
    anyhow::ensure!(
        args.reports > 0 && args.devices > 0 && args.concurrency > 0 && args.batch > 0,
        "all counts must be positive"
    );
    anyhow::ensure!(
        args.batch <= trellis_ingest::admit::MAX_BATCH_REPORTS,
        "--batch is at most {} reports per request",
        trellis_ingest::admit::MAX_BATCH_REPORTS
    );
    let keys: Vec<Keypair> = (0..args.devices).map(key).collect();
    let now = trellis_chain::node::wall_clock_ms();
    eprintln!("signing {} reports (not timed)", args.reports);
    let bodies: Vec<Vec<u8>> = (0..args.reports)
        .map(|i| {
            let witness = Witness {
                payload: (i as u64).to_le_bytes().to_vec(),
                frequency_hz: 904_300_000,
                rssi_centi_dbm: -9_000,
                snr_centi_db: 400,
            };
            let report = Report {
                timestamp_ms: now,
                kind: Some(Kind::Witness(witness)),
            };
            Envelope::sign(&report, &keys[i % args.devices]).encode_to_vec()
        })
        .collect();

    // Raw limit: batch verification of exactly these signatures, 1,024 per batch, one core.
    let envelopes: Vec<Envelope> = bodies
        .iter()
        .map(|b| Envelope::decode(b))
        .collect::<Result<_, _>>()
        .context("bench envelope")?;
    let hashes: Vec<_> = envelopes.iter().map(|e| signing_hash(&e.body)).collect();
    let sigs: Vec<Signature> = envelopes.iter().map(|e| e.signature).collect();
    let items: Vec<SignedMessage<'_>> = envelopes
        .iter()
        .zip(&hashes)
        .zip(&sigs)
        .map(|((e, h), s)| SignedMessage {
            message: h.as_bytes(),
            signature: s,
            signer: e.device.key(),
        })
        .collect();
    let started = Instant::now();
    for chunk in items.chunks(1_024) {
        verify_batch(chunk).context("bench batch invalid")?;
    }
    let raw = items.len() as f64 / started.elapsed().as_secs_f64();

    let dir = tempfile::tempdir()?;
    let mut config = IngestConfig::new(
        "127.0.0.1:0".parse()?,
        dir.path().join("wal"),
        dir.path().join("archive"),
    );
    config.rate_burst = u64::MAX / 120_000;
    config.rate_per_minute = u64::MAX / 120_000;
    let ingest = trellis_ingest::start(config, Arc::new(Everyone))
        .await
        .map_err(anyhow::Error::msg)?;
    let url = if args.batch == 1 {
        format!("http://{}/v1/reports", ingest.addr)
    } else {
        format!("http://{}/v1/reports/batch", ingest.addr)
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    // Requests are prepared before the clock starts, like the signatures.
    let requests: Vec<bytes::Bytes> = if args.batch == 1 {
        bodies.into_iter().map(bytes::Bytes::from).collect()
    } else {
        bodies
            .chunks(args.batch)
            .map(|c| bytes::Bytes::from(trellis_ingest::admit::join_batch(c)))
            .collect()
    };
    let requests = Arc::new(requests);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let single = args.batch == 1;
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (http, url, requests, next) = (http.clone(), url.clone(), requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut accepted = 0usize;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = requests.get(i) else { break };
                    let Ok(response) = http.post(&url).body(body.clone()).send().await else {
                        continue;
                    };
                    accepted += if single {
                        usize::from(response.status().as_u16() == 202)
                    } else {
                        let answer: serde_json::Value = response.json().await.unwrap_or_default();
                        answer["accepted"].as_u64().unwrap_or(0) as usize
                    };
                }
                accepted
            })
        })
        .collect();
    let mut accepted = 0;
    for w in workers {
        accepted += w.await?;
    }
    let took = started.elapsed().as_secs_f64();
    ingest.shutdown().await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        accepted == args.reports,
        "only {accepted} of {} reports were accepted",
        args.reports
    );
    let rate = accepted as f64 / took;
    println!("| measurement | rate | ratio to raw batch verify |");
    println!("|---|---:|---:|");
    println!("| raw ed25519 batch verify, 1024 per batch (1 core) | {raw:.0} sig/s | 1.00 |");
    println!(
        "| ingest: accepted reports over HTTP, {} connections, {} per request, fsynced log | {rate:.0} reports/s | {:.2} |",
        args.concurrency,
        args.batch,
        rate / raw
    );
    println!();
    println!(
        "{} reports from {} devices in {took:.2}s; client and server share this machine's cores.",
        args.reports, args.devices
    );
    Ok(())
}
