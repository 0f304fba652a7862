//! `trellis agent storage`: the software a storage operator runs next to their disks. It serves
//! piece uploads, ranged downloads and audit challenges over HTTP for the device onboarded on
//! chain, keeps pieces on disk within the declared capacity, and drops pieces no open deal assigns
//! to it any more.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use trellis_ledger::TxKind;
use trellis_primitives::{Amount, DeviceAddress, Keypair};
use trellis_storage::{
    chain::NodeApi,
    provider::{Limits, PieceStore, Provider},
};

/// How often pieces of closed or moved deals are looked for.
const COLLECT_EVERY: Duration = Duration::from_secs(30);
/// A download serial with no new window for this long is over: its served bytes are claimed.
const DOWNLOAD_IDLE: Duration = Duration::from_secs(5);

/// Arguments of `trellis agent storage`.
#[derive(Debug, Args)]
pub(crate) struct StorageArgs {
    /// File holding the device's ed25519 seed in hex: the key onboarded on chain as a storage
    /// device.
    #[arg(long)]
    key_file: PathBuf,
    /// Directory for pieces (created if missing).
    #[arg(long)]
    dir: PathBuf,
    /// Space to offer, e.g. `50GiB`, `500MiB`, `2TB` or plain bytes.
    #[arg(long, value_parser = parse_size, default_value = "50GiB")]
    capacity: u64,
    /// Listen address for clients and auditors (port 0 picks a free port; the URL is written
    /// to <dir>/provider.url).
    #[arg(long, env = "TRELLIS_PROVIDER_LISTEN", default_value = "0.0.0.0:8650")]
    listen: SocketAddr,
    /// The URL clients reach this provider at, as published on chain (default: from --listen).
    #[arg(long)]
    public_url: Option<String>,
    /// Node API base URL.
    #[arg(long, env = "TRELLIS_API", default_value = "http://127.0.0.1:8645")]
    node: String,
    /// How often served downloads are claimed on chain (egress payment), seconds. The device
    /// key pays the claims' fees: fund its account with a little TRL.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    claim_every_secs: u64,
    /// Uploads received at once (each holds a writer thread and its piece's room); more wait
    /// with 503 and retry.
    #[arg(long, env = "TRELLIS_PROVIDER_MAX_UPLOADS", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    max_uploads: u16,
    /// Downloads served at once (each holds a reader thread); more wait with 503 and retry.
    #[arg(long, env = "TRELLIS_PROVIDER_MAX_DOWNLOADS", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    max_downloads: u16,
}

/// Parses a whole number of bytes with an optional unit (`B`, `KiB`/`KB`, `MiB`/`MB`,
/// `GiB`/`GB`, `TiB`/`TB`; the binary and decimal units are what they say).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size: expected a whole number and a unit, e.g. 50GiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
            ))
        }
    };
    n.checked_mul(scale).ok_or_else(|| format!("`{text}` is too large"))
}

/// Runs the provider until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: StorageArgs) -> Result<()> {
    // Checked before the key or the node: a configuration error costs nothing to report.
    if args.public_url.is_none() && args.listen.ip().is_unspecified() {
        let port = match args.listen.port() {
            0 => "PORT".to_string(),
            port => port.to_string(),
        };
        bail!(
            "listening on {}, every interface, gives clients no address to reach this provider at: pass \
             --public-url http://HOST:{port} (the address clients use, as published on chain), or --listen a specific address",
            args.listen,
        );
    }
    let seed = crate::bft_node::read_seed(&args.key_file)?;
    let key = Keypair::from_seed(*seed);
    let device = DeviceAddress::from(key.public());
    let node = NodeApi::new(&args.node)?;
    let me = check_registration(&node, &device).await?;
    let dir = args.dir.clone();
    let capacity = args.capacity;
    let store = tokio::task::spawn_blocking(move || PieceStore::open(&dir, capacity))
        .await?
        .with_context(|| format!("cannot open the piece store in {}", args.dir.display()))?;
    let chain_id = node.status().await?.chain_id;
    store.check_chain(&chain_id)?;
    if store.used() > capacity {
        tracing::warn!(
            used = store.used(),
            capacity,
            "stored pieces exceed the configured capacity"
        );
    }
    // A URL left by an earlier run would point supervisors at a port nobody serves.
    let url_file = args.dir.join("provider.url");
    if let Err(e) = std::fs::remove_file(&url_file) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e).with_context(|| format!("cannot remove {}", url_file.display()));
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let url = args.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let on_chain = me.endpoint.clone();
    if on_chain.as_deref() != Some(url.as_str()) {
        tracing::warn!(
            published = ?on_chain,
            serving = %url,
            "the endpoint on chain is not this provider's URL; clients will not find it until the owner runs \
             `trellis wallet endpoint --device {device} --url {url}`"
        );
    }
    let limits = Limits {
        max_uploads: usize::from(args.max_uploads),
        max_downloads: usize::from(args.max_downloads),
        ..Limits::default()
    };
    let provider = Provider::with_limits(store, node, Keypair::from_seed(*seed), limits)
        .with_context(|| format!("cannot open the egress log in {}", args.dir.display()))?;
    provider.set_egress_price(me.capability(trellis_storage::EGRESS_PRICE).unwrap_or(0));
    tokio::spawn(provider.clone().collect_forever(COLLECT_EVERY));
    let signer = crate::client::Signer::new(crate::client::Client::new(&args.node)?, key).await?;
    tokio::spawn(claim_forever(
        provider.clone(),
        signer,
        Duration::from_secs(args.claim_every_secs),
    ));
    std::fs::write(&url_file, &url).with_context(|| format!("cannot write {}", url_file.display()))?;
    println!(
        "storage provider {device} serving {url}: {} of {} bytes used",
        provider.store().used(),
        capacity
    );
    provider
        .serve(listener, crate::run::shutdown_signal())
        .await
        .context("the provider server failed")?;
    Ok(())
}

/// Claims payment for served downloads every `every`, forever (see [`claim_due`]).
async fn claim_forever(provider: Provider, signer: crate::client::Signer, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = claim_due(&provider, &signer).await {
            tracing::warn!(error = %format!("{e:#}"), "egress claims not sent; retried later");
        }
    }
}

/// Submits `ClaimEgress` for every finished or expiring download, a batch at a time. A batch the
/// ledger refuses is retried order by order, so one bad order (a client without credits, say)
/// does not hold up the others; orders the ledger will never pay are forgotten.
async fn claim_due(provider: &Provider, signer: &crate::client::Signer) -> Result<()> {
    let current = trellis_primitives::Epoch(provider.node().status().await?.epoch);
    let (expired, due): (Vec<_>, Vec<_>) = provider
        .egress()
        .due(DOWNLOAD_IDLE, current)?
        .into_iter()
        .partition(|c| c.order.order.payable_in(current) == Err(trellis_ledger::OrderExpiry::Expired));
    if !expired.is_empty() {
        tracing::warn!(orders = expired.len(), "egress orders expired before they were paid");
        provider.egress().forget(&expired)?;
    }
    for batch in due.chunks(trellis_ledger::MAX_EGRESS_CLAIMS) {
        let claim = |claims: Vec<trellis_ledger::EgressClaim>| TxKind::ClaimEgress {
            device: provider.device(),
            claims,
        };
        let included = signer.include(claim(batch.to_vec())).await?;
        if included.failure.is_none() {
            provider.egress().forget(batch)?;
            tracing::info!(
                orders = batch.len(),
                bytes = batch.iter().map(|c| c.bytes).sum::<u64>(),
                "egress claimed"
            );
            continue;
        }
        for one in batch {
            let included = signer.include(claim(vec![*one])).await?;
            match included.failure {
                None => provider.egress().forget(std::slice::from_ref(one))?,
                Some((code, message)) if code == "bad_egress_order" || code == "egress_order_used" => {
                    tracing::warn!(code, message, "the ledger will not pay an egress order; dropping it");
                    provider.egress().forget(std::slice::from_ref(one))?;
                }
                Some((code, message)) => tracing::warn!(code, message, "egress order not paid yet; retried later"),
            }
        }
    }
    Ok(())
}

/// Refuses to start for a device that is not a staked storage provider, saying how to fix it.
async fn check_registration(node: &NodeApi, device: &DeviceAddress) -> Result<trellis_storage::chain::ProviderInfo> {
    let providers = node.providers().await?;
    let Some(me) = providers.iter().find(|p| &p.address == device) else {
        bail!(
            "device {device} is not onboarded as a storage device on {} (onboard it with class `storage` first)",
            node.url()
        );
    };
    if !me.eligible {
        let min: serde_json::Value = node.get("/v1/providers").await?.unwrap_or_default();
        let min: Amount = serde_json::from_value(min["min_collateral"].clone()).unwrap_or_default();
        let short = min.checked_sub(me.stake).unwrap_or_default();
        let amount = short.to_string();
        bail!(
            "device {device} has {} of collateral; storage providers need at least {min}: its owner stakes the rest \
             with `trellis wallet stake --keystore OWNER.json --device {device} --amount {}`",
            me.stake,
            amount.trim_end_matches(" TRL")
        );
    }
    Ok(me.clone())
}

#[cfg(test)]
mod tests {
    use super::{parse_size, StorageArgs};
    use clap::Parser;
    use trellis_storage::provider::Limits;

    #[test]
    fn the_limit_flags_default_to_the_providers_own_limits() {
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: StorageArgs,
        }
        let cli = Cli::try_parse_from(["agent", "--key-file", "k", "--dir", "d"]).unwrap();
        let defaults = Limits::default();
        assert_eq!(usize::from(cli.args.max_uploads), defaults.max_uploads);
        assert_eq!(usize::from(cli.args.max_downloads), defaults.max_downloads);
        assert!(Cli::try_parse_from(["agent", "--key-file", "k", "--dir", "d", "--max-uploads", "0"]).is_err());
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units_and_refuse_nonsense() {
        assert_eq!(parse_size("50GiB"), Ok(50 << 30));
        assert_eq!(parse_size("2TB"), Ok(2_000_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64 mib"), Ok(64 << 20));
        assert!(parse_size("1.5GiB").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("20000000TiB").unwrap_err().contains("too large"));
    }
}
