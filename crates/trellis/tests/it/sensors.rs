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
pub fn check_devnet_sensors(url: &str, lines: &[String], archive: &Path, reports: &Path, scratch: &Path) {
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
