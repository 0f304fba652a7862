//! `trellis data`: buy sensor data with credits and fetch it from a node's data gateway.

use crate::{
    client::Client,
    wallet::{unlock, ApiArg, KeystoreArg, TxArgs},
};
use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::Value;
use trellis_ledger::{state::DATA_ACCESS, TxKind};
use trellis_primitives::{Credits, DeviceAddress};

/// Sensor data commands.
#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Add credits to your data allowance (spends them on chain; readings are then charged
    /// against it, 1 credit per reading).
    ///
    /// Example: trellis data buy --credits 5000 --keystore me.json
    Buy {
        #[command(flatten)]
        tx: TxArgs,
        /// Credits to spend on data.
        #[arg(long)]
        credits: u64,
    },
    /// Your data allowance: bought, used, remaining.
    ///
    /// Example: trellis data balance --keystore me.json
    Balance {
        #[command(flatten)]
        keystore: KeystoreArg,
        #[command(flatten)]
        api: ApiArg,
    },
    /// What data an epoch has (free): every station and meter, its quality of data and price.
    ///
    /// Example: trellis data streams --epoch 12
    Streams {
        /// The epoch (default: the newest scored).
        #[arg(long)]
        epoch: Option<u64>,
        #[command(flatten)]
        api: ApiArg,
    },
    /// Fetch readings of one device or of every device in an H3 cell, charged per reading.
    ///
    /// Example: trellis data get --device trd1... --valid-only --format csv --keystore me.json
    Get {
        /// One device's readings.
        #[arg(long, conflicts_with = "cell", required_unless_present = "cell")]
        device: Option<DeviceAddress>,
        /// Readings of every device located in this H3 cell (any resolution).
        #[arg(long)]
        cell: Option<String>,
        /// The epoch (default: the newest scored).
        #[arg(long)]
        epoch: Option<u64>,
        /// Only readings that passed every quality check.
        #[arg(long)]
        valid_only: bool,
        /// json or csv.
        #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
        format: String,
        #[command(flatten)]
        keystore: KeystoreArg,
        #[command(flatten)]
        api: ApiArg,
    },
}

/// One reading as a CSV row (decimal units, like the sensor agent's input).
fn csv_row(r: &Value) -> String {
    let m = &r["measurement"];
    let n = |k: &str| m[k].as_i64().unwrap_or(0);
    let fixed = |v: i64, places: u32| {
        let scale = 10i64.pow(places);
        let sign = if v < 0 { "-" } else { "" };
        format!(
            "{sign}{}.{:0width$}",
            v.abs() / scale,
            v.abs() % scale,
            width = places as usize
        )
    };
    let flags: Vec<&str> = r["flags"]
        .as_array()
        .map_or(Vec::new(), |f| f.iter().filter_map(Value::as_str).collect());
    let values = match m["kind"].as_str() {
        Some("weather") => format!(
            "weather,{},{},{},{},{},{},,",
            fixed(n("temperature_centi_c"), 2),
            fixed(n("humidity_centi_pct"), 2),
            fixed(n("pressure_pa"), 2),
            fixed(n("wind_speed_cm_s"), 2),
            n("wind_direction_deg"),
            fixed(n("rain_um"), 3),
        ),
        _ => format!(
            "energy,,,,,,,{},{}",
            fixed(n("produced_mwh_total"), 6),
            fixed(n("consumed_mwh_total"), 6)
        ),
    };
    format!(
        "{},{},{},{values},{}",
        r["device"].as_str().unwrap_or(""),
        r["timestamp_ms"],
        r["received_ms"],
        flags.join(";")
    )
}

/// Runs a data command.
pub(crate) async fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Buy { tx, credits } => {
            if credits == 0 {
                bail!("--credits must be at least 1");
            }
            crate::wallet::send(
                tx,
                TxKind::SpendCredits {
                    amount: Credits(credits),
                    purpose: DATA_ACCESS,
                },
            )
            .await?;
        }
        DataCommand::Balance { keystore, api } => {
            let key = unlock(&keystore)?;
            let v = Client::new(&api.api)?.get_signed("/data/v1/account", &key).await?;
            println!(
                "allowance {} credits, used {}, remaining {} ({} credit per reading)",
                v["allowance"], v["used"], v["remaining"], v["credits_per_reading"]
            );
        }
        DataCommand::Streams { epoch, api } => {
            let path = match epoch {
                Some(e) => format!("/data/v1/streams?epoch={e}"),
                None => "/data/v1/streams".to_string(),
            };
            let v = Client::new(&api.api)?.get(&path).await?;
            println!(
                "epoch {}: {} credit(s) per reading",
                v["epoch"], v["credits_per_reading"]
            );
            println!(
                "{:<64} {:<8} {:>8} {:>6} {:>8} {:>7}  flags",
                "device", "kind", "readings", "valid", "qod", "price"
            );
            for s in v["streams"].as_array().into_iter().flatten() {
                println!(
                    "{:<64} {:<8} {:>8} {:>6} {:>7.1}% {:>7}  {}",
                    s["device"].as_str().unwrap_or(""),
                    s["kind"].as_str().unwrap_or("-"),
                    s["readings"].as_u64().unwrap_or(0),
                    s["valid"].as_u64().unwrap_or(0),
                    s["qod_ppm"].as_u64().unwrap_or(0) as f64 / 10_000.0,
                    s["price_credits"].as_u64().unwrap_or(0),
                    s["device_flags"].as_array().map_or(String::new(), |f| f
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","))
                );
            }
        }
        DataCommand::Get {
            device,
            cell,
            epoch,
            valid_only,
            format,
            keystore,
            api,
        } => {
            let key = unlock(&keystore)?;
            let mut path = match (device, cell) {
                (Some(d), _) => format!("/data/v1/devices/{d}/readings"),
                (None, Some(c)) => format!("/data/v1/cells/{c}/readings"),
                (None, None) => bail!("give --device or --cell"),
            };
            let mut query = Vec::new();
            if let Some(e) = epoch {
                query.push(format!("epoch={e}"));
            }
            if valid_only {
                query.push("valid_only=true".into());
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let v = Client::new(&api.api)?.get_signed(&path, &key).await?;
            eprintln!(
                "epoch {}: {} readings, charged {} credits, {} remaining",
                v["epoch"],
                v["readings"].as_array().map_or(0, Vec::len),
                v["charged"],
                v["remaining"]
            );
            if format == "csv" {
                println!("device,timestamp_ms,received_ms,kind,temperature_c,humidity_pct,pressure_hpa,wind_m_s,wind_dir_deg,rain_mm,produced_kwh_total,consumed_kwh_total,flags");
                for r in v["readings"].as_array().into_iter().flatten() {
                    println!("{}", csv_row(r));
                }
            } else {
                println!("{}", serde_json::to_string_pretty(&v["readings"])?);
            }
        }
    }
    Ok(())
}
