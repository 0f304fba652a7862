//! `trellis agent sensor`: the software an operator runs next to a weather station or an energy
//! meter. It takes readings from the device (or simulates them), signs each with the device key
//! and sends it to ingest.
//!
//! Sources: `sim` (a simulated station or meter at the asserted location), `csv:PATH` (a file,
//! one reading per line, sent one per interval), `stdin` (the same lines, sent as they arrive:
//! pipe a device's serial output in), `http:ADDR` (a device on the LAN POSTs lines to
//! `http://ADDR/readings`). Line formats, numbers in decimal units:
//!
//! ```text
//! weather: [timestamp_ms],temperature_c,humidity_pct,pressure_hpa,wind_m_s,wind_dir_deg,rain_mm[,lat,lng]
//! energy:  [timestamp_ms],produced_kwh_total,consumed_kwh_total[,lat,lng]
//! ```
//!
//! An empty timestamp means "now"; `lat,lng` is the device's GPS fix if it has one. Lines starting
//! with `#` or a letter (a header) are skipped.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use prost::Message as _;
use std::{path::PathBuf, time::Duration};
use tokio::{io::AsyncBufReadExt as _, sync::mpsc};
use trellis_primitives::{DeviceAddress, Keypair, Location};
use trellis_proto::{Envelope, Report};
use trellis_sensor::{
    line::{parse_line, Sample},
    Measurement, SensorKind,
};
use trellis_sim::weather::{Meter, WeatherField};

/// Arguments of `trellis agent sensor`.
#[derive(Debug, Args)]
pub(crate) struct SensorArgs {
    #[command(flatten)]
    device: crate::agent::DeviceAgentArgs,
    /// Where readings come from: sim, csv:PATH, stdin or http:ADDR (see `trellis agent sensor
    /// --help` for the line format).
    #[arg(long, default_value = "sim")]
    source: String,
    /// Seconds between readings for `sim` and `csv:`. Default: the interval declared on chain.
    #[arg(long)]
    interval_secs: Option<u64>,
    /// Stop after this many readings (0: run until Ctrl-C or the end of the input).
    #[arg(long, default_value_t = 0)]
    readings: u64,
    /// Seed of the simulated weather (every station of one network should share it).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulate a device without a GPS receiver.
    #[arg(long)]
    no_gps: bool,
    /// The simulated meter's registers survive restarts here. Default: <key-file>.meter.json.
    #[arg(long)]
    meter_state: Option<PathBuf>,
    /// Cheat, for demonstrating that QoD catches it (devnet's dishonest sensors): `stuck`,
    /// `offset:CENTI_C`, `copy:DEVICE` or `inflate:WATTS`.
    #[arg(long, hide = true)]
    cheat: Option<String>,
}

/// How a simulated device misbehaves.
#[derive(Debug, Clone, PartialEq)]
enum Cheat {
    /// Repeats its first reading forever.
    Stuck,
    /// Reports the temperature this many hundredths of °C off.
    Offset(i64),
    /// Re-signs another station's readings a second after it.
    Copy(DeviceAddress),
    /// Adds phantom production, watts.
    Inflate(u64),
}

fn parse_cheat(text: &str) -> Result<Cheat> {
    Ok(match text.split_once(':') {
        None if text == "stuck" => Cheat::Stuck,
        Some(("offset", v)) => Cheat::Offset(v.parse().context("offset:CENTI_C")?),
        Some(("copy", v)) => Cheat::Copy(v.parse().map_err(|e| anyhow::anyhow!("copy:DEVICE: {e}"))?),
        Some(("inflate", v)) => Cheat::Inflate(v.parse().context("inflate:WATTS")?),
        _ => bail!("unknown cheat `{text}`"),
    })
}

/// What the chain says about this device.
struct Registered {
    kind: SensorKind,
    position: (f64, f64),
    interval_s: u64,
    capacity_w: u64,
}

async fn registered(http: &reqwest::Client, node: &str, device: &DeviceAddress) -> Result<Registered> {
    let url = format!("{node}/v1/devices/{device}");
    let r = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("node unreachable at {node}"))?;
    if !r.status().is_success() {
        bail!("{url}: {} (is the device onboarded?)", r.status());
    }
    let v: serde_json::Value = r.json().await?;
    let d = &v["device"];
    let kind = match d["class"].as_str() {
        Some("sensor") => SensorKind::Weather,
        Some("energy") => SensorKind::Energy,
        other => bail!(
            "device {device} is a {} device, not a sensor or energy meter",
            other.unwrap_or("unknown")
        ),
    };
    let cell: Location = serde_json::from_value(d["location"]["location"].clone())
        .context("the device has no asserted location yet (wallet assert-location)")?;
    let centre = h3o::LatLng::from(cell.cell());
    let capability = |name: &str| {
        d["capabilities"]
            .as_array()
            .and_then(|caps| caps.iter().find(|c| c["name"] == name))
            .and_then(|c| c["value"].as_u64())
    };
    Ok(Registered {
        kind,
        position: (centre.lat(), centre.lng()),
        interval_s: capability("interval_s").unwrap_or(300),
        capacity_w: capability("capacity_w").unwrap_or(5_000),
    })
}

/// The first 8 bytes of a device key: keys its simulated noise and its schedule offset.
fn key_u64(d: &DeviceAddress) -> u64 {
    u64::from_le_bytes(d.key().0[..8].try_into().unwrap_or([0; 8]))
}

/// The simulated device: samples on a fixed schedule (`offset + k × interval`), so a copier can
/// reproduce another station's instants exactly.
struct Simulator {
    field: WeatherField,
    kind: SensorKind,
    position: (f64, f64),
    centre_centi: (i32, i32),
    station: u64,
    gps_cell: u64,
    meter: Meter,
    meter_state: PathBuf,
    cheat: Option<Cheat>,
    stuck: Option<Measurement>,
}

impl Simulator {
    fn sample(&mut self, at_ms: u64) -> Result<Sample> {
        let measurement = match self.kind {
            SensorKind::Weather => {
                let mut m = self
                    .field
                    .measure(self.position.0, self.position.1, at_ms, self.station);
                if let (
                    Some(Cheat::Offset(c)),
                    Measurement::Weather {
                        temperature_centi_c, ..
                    },
                ) = (&self.cheat, &mut m)
                {
                    *temperature_centi_c += c;
                }
                m
            }
            SensorKind::Energy => {
                let before = self.meter.produced_mwh_total;
                let dt = at_ms.saturating_sub(self.meter.at_ms);
                self.meter
                    .advance(self.centre_centi.0, self.centre_centi.1, at_ms, self.station);
                if let Some(Cheat::Inflate(w)) = self.cheat {
                    self.meter.produced_mwh_total = before.max(self.meter.produced_mwh_total) + w * dt / 3_600;
                }
                let tmp = self.meter_state.with_extension("tmp");
                std::fs::write(&tmp, serde_json::to_vec(&self.meter)?)?;
                std::fs::rename(&tmp, &self.meter_state)?;
                self.meter.measurement()
            }
        };
        let measurement = match self.cheat {
            Some(Cheat::Stuck) => self.stuck.get_or_insert(measurement).clone(),
            _ => measurement,
        };
        Ok(Sample {
            timestamp_ms: Some(at_ms),
            measurement,
            gps_cell: self.gps_cell,
        })
    }
}

/// Feeds lines from `reader` into `tx`, one per `pace` if given.
async fn feed_lines(
    kind: SensorKind,
    reader: impl tokio::io::AsyncBufRead + Unpin,
    pace: Option<Duration>,
    tx: mpsc::Sender<Sample>,
) -> Result<()> {
    let mut lines = reader.lines();
    let mut n = 0u64;
    while let Some(line) = lines.next_line().await? {
        n += 1;
        match parse_line(kind, &line) {
            Ok(Some(sample)) => {
                if tx.send(sample).await.is_err() {
                    break;
                }
                if let Some(p) = pace {
                    tokio::time::sleep(p).await;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(line = n, error = %format!("{e:#}"), "skipped an unreadable line"),
        }
    }
    Ok(())
}

/// Serves `POST /readings` (lines in the body) on `addr` for a device on the LAN.
async fn serve_http(kind: SensorKind, addr: std::net::SocketAddr, tx: mpsc::Sender<Sample>) -> Result<()> {
    use axum::{extract::State, http::StatusCode, routing::post, Router};
    async fn readings(
        State((kind, tx)): State<(SensorKind, mpsc::Sender<Sample>)>,
        body: String,
    ) -> (StatusCode, String) {
        let mut accepted = 0;
        for (i, line) in body.lines().enumerate() {
            match parse_line(kind, line) {
                Ok(Some(s)) => {
                    if tx.send(s).await.is_err() {
                        return (StatusCode::SERVICE_UNAVAILABLE, "agent stopping\n".into());
                    }
                    accepted += 1;
                }
                Ok(None) => {}
                Err(e) => return (StatusCode::BAD_REQUEST, format!("line {}: {e:#}\n", i + 1)),
            }
        }
        (StatusCode::ACCEPTED, format!("{accepted} readings queued\n"))
    }
    let app = Router::new().route("/readings", post(readings)).with_state((kind, tx));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    println!(
        "sensor agent listening for readings on http://{}/readings",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Runs `trellis agent sensor`.
pub(crate) async fn run(args: SensorArgs) -> Result<()> {
    let seed = crate::bft_node::read_seed(&args.device.key_file)?;
    let key = Keypair::from_seed(*seed);
    let device = DeviceAddress::from(key.public());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let node = args.device.node.trim_end_matches('/').to_string();
    let ingest = args.device.ingest.trim_end_matches('/').to_string();
    let reg = registered(&http, &node, &device).await?;
    let interval_s = args.interval_secs.unwrap_or(reg.interval_s);
    anyhow::ensure!(interval_s > 0, "the interval must be at least one second");
    let cheat = args.cheat.as_deref().map(parse_cheat).transpose()?;
    let (tx, mut rx) = mpsc::channel::<Sample>(256);
    let interval = Duration::from_secs(interval_s);
    let source = args.source.clone();
    let kind = reg.kind;
    let feeder: tokio::task::JoinHandle<Result<()>> = match source.split_once(':').unwrap_or((source.as_str(), "")) {
        ("sim", _) => {
            // The station being simulated (a copier simulates its victim at the victim's place).
            let (subject, position) = match &cheat {
                Some(Cheat::Copy(victim)) => (*victim, registered(&http, &node, victim).await?.position),
                _ => (device, reg.position),
            };
            let meter_state = args
                .meter_state
                .clone()
                .unwrap_or_else(|| args.device.key_file.with_extension("meter.json"));
            let now = trellis_chain::node::wall_clock_ms();
            let station = key_u64(&subject);
            let meter = match std::fs::read(&meter_state) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a meter state", meter_state.display()))?,
                Err(_) => Meter {
                    capacity_w: reg.capacity_w,
                    base_load_w: 600 + station % 400,
                    produced_mwh_total: station % 10_000_000_000,
                    consumed_mwh_total: (station >> 20) % 10_000_000_000,
                    at_ms: now,
                },
            };
            let centre_centi =
                trellis_sensor::reading::centre_centi_deg(Location::from_degrees(position.0, position.1)?.index())
                    .context("no cell centre")?;
            let mut sim = Simulator {
                field: WeatherField { seed: args.seed },
                kind,
                position,
                centre_centi,
                station,
                gps_cell: if args.no_gps {
                    0
                } else {
                    Location::from_degrees(reg.position.0, reg.position.1)?.index()
                },
                meter,
                meter_state,
                cheat: cheat.clone(),
                stuck: None,
            };
            let interval_ms = interval_s * 1_000;
            let delay_ms = if matches!(cheat, Some(Cheat::Copy(_))) {
                1_000
            } else {
                0
            };
            let offset = station % interval_ms;
            tokio::spawn(async move {
                loop {
                    let now = trellis_chain::node::wall_clock_ms();
                    let slot = (now.saturating_sub(offset + delay_ms)) / interval_ms + 1;
                    let at = slot * interval_ms + offset;
                    tokio::time::sleep(Duration::from_millis(at + delay_ms - now.min(at + delay_ms))).await;
                    let mut sample = sim.sample(at)?;
                    sample.timestamp_ms = Some(at + delay_ms);
                    if tx.send(sample).await.is_err() {
                        return Ok(());
                    }
                }
            })
        }
        ("csv", path) => {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot open {path}"))?;
            tokio::spawn(feed_lines(kind, tokio::io::BufReader::new(file), Some(interval), tx))
        }
        ("stdin", _) => tokio::spawn(feed_lines(
            kind,
            tokio::io::BufReader::new(tokio::io::stdin()),
            None,
            tx,
        )),
        ("http", addr) => {
            let addr: std::net::SocketAddr = addr.parse().context("http:ADDR needs an address like 0.0.0.0:8650")?;
            tokio::spawn(serve_http(kind, addr, tx))
        }
        _ => bail!(
            "unknown --source `{}`: use sim, csv:PATH, stdin or http:ADDR",
            args.source
        ),
    };
    println!(
        "{} {device} reporting every {interval_s} s from {} to {ingest}",
        kind.name(),
        args.source
    );
    let (mut sent, mut refused) = (0u64, 0u64);
    let stop = crate::run::shutdown_signal();
    tokio::pin!(stop);
    loop {
        let sample = tokio::select! {
            _ = &mut stop => break,
            s = rx.recv() => match s { Some(s) => s, None => break },
        };
        let report = Report {
            timestamp_ms: sample.timestamp_ms.unwrap_or_else(trellis_chain::node::wall_clock_ms),
            kind: Some(sample.measurement.to_report(sample.gps_cell)),
        };
        let body = Envelope::sign(&report, &key).encode_to_vec();
        let result = http
            .post(format!("{ingest}/v1/reports"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => sent += 1,
            Ok(r) => {
                refused += 1;
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                tracing::warn!(%status, %text, "ingest refused a reading");
            }
            Err(e) => {
                refused += 1;
                tracing::warn!(error = %e, "ingest unreachable");
            }
        }
        if args.readings > 0 && sent + refused >= args.readings {
            break;
        }
    }
    if feeder.is_finished() {
        match feeder.await {
            Ok(Err(e)) => return Err(e),
            Err(e) => bail!("reading source failed: {e}"),
            Ok(Ok(())) => {}
        }
    } else {
        feeder.abort();
    }
    println!(
        "{} {device} stopped: {sent} readings sent, {refused} refused",
        kind.name()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheats_parse() {
        assert_eq!(parse_cheat("stuck").unwrap(), Cheat::Stuck);
        assert_eq!(parse_cheat("offset:-900").unwrap(), Cheat::Offset(-900));
        assert_eq!(parse_cheat("inflate:4000").unwrap(), Cheat::Inflate(4_000));
        assert!(parse_cheat("copy:nonsense").is_err());
        assert!(parse_cheat("lazy").is_err());
    }
}
