//! Devnet's sensor network, checked from outside: honest stations and meters earn from the
//! sensor/energy pool, each of Mallory's dishonest sensors earns nothing for the reason its cheat
//! deserves, and the full audit re-scores the raw readings.

use crate::harness::{alter_reports, copy_dir, get, stdout, trellis, units, DEADLINE};
use serde_json::Value;
use std::path::Path;

/// The address devnet printed for `name` (the first word of its line).
fn device_named(lines: &[String], name: &str) -> String {
    lines
        .iter()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(name)).then(|| words.next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("devnet printed no `{name}` device"))
}

/// The sensor/energy share of `device` in `epoch`, if the device reported in it.
fn sensor_share(url: &str, epoch: u64, device: &str) -> Option<Value> {
    let b = get(url, &format!("/v1/rewards/{epoch}/devices/{device}")).ok()?;
    let share = b["shares"]
        .as_array()?
        .iter()
        .find(|s| s["pool"] == "sensor_energy")?
        .clone();
    Some(serde_json::json!({ "share": share, "payouts": b["payouts"] }))
}

fn readings_in(share: &Value) -> u64 {
    share["share"]["breakdown"]["counted_reports"].as_u64().unwrap()
}

/// Runs the checks against a running devnet; `archive` is its reward archive, `reports` its
/// ingest archive, `scratch` a directory for a tampered copy.
pub fn check_devnet_sensors(url: &str, lines: &[String], devnet: &Path, scratch: &Path) {
    let archive = &devnet.join("node").join("rewards");
    let reports = &devnet.join("ingest").join("archive");
    let honest = [device_named(lines, "sensor"), device_named(lines, "energy")];
    let cheats = [
        ("sensor-stuck", "flatline:temperature"),
        ("sensor-copier", "copies_another_device"),
        ("sensor-fabricator", "disagrees_with_neighbours"),
        ("energy-inflator", "production_above_irradiance"),
    ];
    let cheaters: Vec<(String, &str)> = cheats.iter().map(|(n, why)| (device_named(lines, n), *why)).collect();
    // An epoch settled after every agent had been reporting throughout: each device has at least
    // three readings in it and the honest ones counted at least three.
    let deadline = std::time::Instant::now() + DEADLINE;
    let epoch = 'found: loop {
        for e in 1..40 {
            let settled = get(url, &format!("/v1/manifests/{e}"))
                .is_ok_and(|m| m["manifest"]["claimed"] == m["manifest"]["total"]);
            if !settled {
                break;
            }
            let full = |d: &str| {
                let path = archive.join(format!("sensor-{e}.json"));
                let Ok(bytes) = std::fs::read(path) else { return false };
                let doc: Value = serde_json::from_slice(&bytes).unwrap();
                doc["devices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|q| q["device"] == d && q["readings"].as_u64().unwrap() >= 3)
            };
            let honest_counted = honest
                .iter()
                .all(|d| sensor_share(url, e, d).is_some_and(|s| readings_in(&s) >= 3));
            if honest_counted && cheaters.iter().all(|(d, _)| full(d)) {
                break 'found e;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no epoch scored every devnet sensor"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    for d in &honest {
        let s = sensor_share(url, epoch, d).unwrap();
        assert!(s["share"]["units"].as_u64().unwrap() > 0, "honest {d}: {s}");
        assert!(units(&s["payouts"][0]["amount"]) > 0, "honest {d} is paid: {s}");
    }
    for (d, why) in &cheaters {
        let s = sensor_share(url, epoch, d).unwrap_or_else(|| panic!("{d} has a share with its reasons"));
        assert_eq!(s["share"]["units"], 0, "{why}: {s}");
        assert!(
            s["share"]["breakdown"]["rejected_reports"][why].as_u64().unwrap_or(0) > 0,
            "{d} should be rejected for {why}: {s}"
        );
        assert!(s["payouts"].as_array().unwrap().is_empty(), "{s}");
    }
    // The archive carries the readings themselves; the honest station's are clean.
    let doc: Value =
        serde_json::from_slice(&std::fs::read(archive.join(format!("sensor-{epoch}.json"))).unwrap()).unwrap();
    let station: Vec<&Value> = doc["readings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["device"] == honest[0].as_str())
        .collect();
    assert!(station.len() >= 3, "{station:?}");
    let flagged: Vec<&Value> = station
        .iter()
        .filter(|r| !r["flags"].as_array().unwrap().is_empty())
        .copied()
        .collect();
    assert!(
        flagged.is_empty(),
        "the honest station's readings are clean: {flagged:?}"
    );
    assert_eq!(station[0]["measurement"]["kind"], "weather");

    buy_and_fetch(url, devnet, epoch, &honest[0], &doc);
    readings_from_stdin_and_files(url, devnet, lines, scratch);

    // The full audit re-scores the raw readings; tamper with one honest reading and it objects.
    let audit = |reports: &Path| {
        trellis(
            &[
                "rewards",
                "audit",
                "--epoch",
                &epoch.to_string(),
                "--api",
                url,
                "--archive",
                archive.to_str().unwrap(),
                "--reports",
                reports.to_str().unwrap(),
            ],
            &[],
        )
    };
    let out = audit(reports);
    assert!(stdout(&out).starts_with("MATCH"), "{}", stdout(&out));
    let altered = scratch.join("altered-sensor-reports");
    copy_dir(reports, &altered);
    let window = (doc["start_ms"].as_u64().unwrap())..(doc["end_ms"].as_u64().unwrap());
    let station: trellis_primitives::DeviceAddress = honest[0].parse().unwrap();
    let changed = alter_reports(&altered, window, &station, |kind| match kind {
        trellis_proto::report::Kind::Weather(w) => {
            w.temperature_centi_c = 9_999; // 99.99 °C
            true
        }
        _ => false,
    });
    assert!(changed);
    // (The first device named may be the copier: its readings no longer match the station's.)
    let out = audit(&altered);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("sensor units in the archive") && stdout(&out).contains("recomputed from the readings"),
        "{}",
        stdout(&out)
    );
}

/// A consumer buys a data allowance with credits and fetches the station's readings, by device
/// and by cell, paying one credit per reading.
fn buy_and_fetch(url: &str, devnet: &Path, epoch: u64, station: &str, doc: &Value) {
    let consumer = devnet.join("wallets").join("consumer.json");
    let env = [
        ("TRELLIS_PASSPHRASE", "devnet"),
        ("TRELLIS_KEYSTORE", consumer.to_str().unwrap()),
        ("TRELLIS_API", url),
    ];
    let run = |args: &[&str]| {
        let out = trellis(args, &env);
        assert!(
            out.status.success(),
            "trellis {args:?}: {}{}",
            stdout(&out),
            crate::harness::stderr(&out)
        );
        out
    };
    run(&["wallet", "burn", "--amount", "1"]);
    run(&["data", "buy", "--credits", "1000"]);
    let e = epoch.to_string();
    let streams = stdout(&run(&["data", "streams", "--epoch", &e]));
    assert!(streams.contains(station), "{streams}");
    let archived: Vec<&Value> = doc["readings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["device"] == station)
        .collect();
    let out = run(&["data", "get", "--device", station, "--epoch", &e, "--format", "csv"]);
    let csv = stdout(&out);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), archived.len(), "{csv}");
    assert!(
        rows.iter().all(|r| r.starts_with(station) && r.contains(",weather,")),
        "{csv}"
    );
    assert_eq!(
        rows[0].split(',').nth(1).unwrap(),
        archived[0]["timestamp_ms"].to_string()
    );
    assert!(crate::harness::stderr(&out).contains(&format!("charged {} credits", archived.len())));
    // Every valid reading in the station's res-7 hex (the copier and fabricator are elsewhere).
    let device: Value = get(url, &format!("/v1/devices/{station}")).unwrap();
    let cell: h3o::CellIndex = device["device"]["location"]["location"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hex = cell.parent(h3o::Resolution::Seven).unwrap().to_string();
    let out = run(&["data", "get", "--cell", &hex, "--epoch", &e, "--valid-only"]);
    let got: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(got.iter().any(|r| r["device"] == station), "{got:?}");
    assert!(got.iter().all(|r| r["flags"].as_array().unwrap().is_empty()));
    let balance = stdout(&run(&["data", "balance"]));
    let used = archived.len() + got.len();
    assert!(
        balance.contains(&format!(
            "allowance 1000 credits, used {used}, remaining {}",
            1000 - used
        )),
        "{balance}"
    );
}

/// An operator's own station feeding the agent from stdin and from a CSV file: every line
/// becomes a signed reading that ingest accepts, and a bad line is skipped with a warning.
fn readings_from_stdin_and_files(url: &str, devnet: &Path, lines: &[String], scratch: &Path) {
    use std::io::Write;
    let ingest = lines
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("ingest:")
                .map(|r| r.split_whitespace().next().unwrap().to_string())
        })
        .unwrap()
        .trim_end_matches("/v1/reports")
        .to_string();
    // The stuck station's key: Mallory's own agent keeps running beside it, which is harmless.
    let seed = devnet.join("agents").join("sensor-stuck.seed");
    let base = [
        "agent",
        "sensor",
        "--key-file",
        seed.to_str().unwrap(),
        "--node",
        url,
        "--ingest",
        &ingest,
    ];
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args(base)
        .args(["--source", "stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    writeln!(input, "# temperature_c,humidity_pct,...").unwrap();
    writeln!(input, ",18.25,64.5,1012.8,3.1,240,0").unwrap();
    writeln!(input, "now,18.31,64.4,1012.8,3.0,238,0.2,37.775,-122.425").unwrap();
    writeln!(input, ",not,a,reading").unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    assert!(
        stdout(&out).contains("stopped: 2 readings sent, 0 refused"),
        "{}",
        stdout(&out)
    );
    assert!(
        crate::harness::stderr(&out).contains("skipped an unreadable line"),
        "{}",
        crate::harness::stderr(&out)
    );

    let csv = scratch.join("readings.csv");
    std::fs::write(&csv, "timestamp_ms,temperature_c,humidity_pct,pressure_hpa,wind_m_s,wind_dir_deg,rain_mm\n,17.5,70,1013,2,180,0\n,17.6,70.2,1013,2.2,181,0\n").unwrap();
    let source = format!("csv:{}", csv.display());
    let out = trellis(
        &[&base[..], &["--source", &source, "--interval-secs", "1"]].concat(),
        &[],
    );
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    assert!(
        stdout(&out).contains("stopped: 2 readings sent, 0 refused"),
        "{}",
        stdout(&out)
    );
    // A device on the LAN POSTing its lines to the agent's HTTP source.
    let log = scratch.join("http-agent.log");
    let mut child = std::process::Command::new(crate::harness::BIN)
        .args(base)
        .args(["--source", "http:127.0.0.1:0", "--readings", "2"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("listening for readings on http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the HTTP source never listened: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let post = |body: &str| {
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            tcp,
            "POST /readings HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut tcp, &mut answer).unwrap();
        answer
    };
    let refused = post(",not,a,reading\n");
    assert!(
        refused.starts_with("HTTP/1.1 400") && refused.contains("line 1"),
        "{refused}"
    );
    let answer = post(",16.5,71,1013.2,1.5,200,0\n,16.6,70.8,1013.2,1.4,201,0\n");
    assert!(
        answer.starts_with("HTTP/1.1 202") && answer.contains("2 readings queued"),
        "{answer}"
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the HTTP-fed agent did not stop after 2 readings"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("stopped: 2 readings sent, 0 refused"), "{text}");
    // A file that is not there is a clear error, not a hang.
    let out = trellis(&[&base[..], &["--source", "csv:/no/such/file.csv"]].concat(), &[]);
    assert!(!out.status.success());
    assert!(
        crate::harness::stderr(&out).contains("cannot open /no/such/file.csv"),
        "{}",
        crate::harness::stderr(&out)
    );
}
