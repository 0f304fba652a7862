//! `trellis ingest run` as its own process in front of a devnet node: registered devices are
//! accepted (the registry is read over the node's API), unknown ones get a typed rejection, and
//! what was accepted is in the archive after a graceful stop.

use crate::harness::{start_devnet, Proc, DEADLINE};
use prost::Message as _;
use std::{path::Path, time::Instant};
use trellis_primitives::Keypair;
use trellis_proto::{report::Kind, Envelope, Heartbeat, Report};

fn demo_key(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key("trellis devnet demo key 2026", name.as_bytes()))
}

fn post(url: &str, key: &Keypair, uptime_s: u64) -> (u16, serde_json::Value) {
    let report = Report {
        timestamp_ms: trellis_chain::node::wall_clock_ms(),
        kind: Some(Kind::Heartbeat(Heartbeat { uptime_s })),
    };
    let body = Envelope::sign(&report, key).encode_to_vec();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/reports"))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
    })
}

fn archived(dir: &Path) -> Vec<trellis_proto::LoggedReport> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap();
    rt.block_on(trellis_ingest::log::read_all(&store)).unwrap()
}

#[test]
fn standalone_ingest_reads_the_registry_from_the_node_and_archives_what_it_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, _, api) = start_devnet(&dir.path().join("devnet"), &dir.path().join("devnet.log"));
    let (wal, archive) = (dir.path().join("wal"), dir.path().join("archive"));
    let config = dir.path().join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "node = \"{api}\"\nlisten = \"127.0.0.1:0\"\nwal_dir = {wal:?}\narchive_dir = {archive:?}\n\
             segment_roll_ms = 600000\ntimestamp_window_ms = 60000\nrate_burst = 20\nrate_per_minute = 600\n\
             dedup_capacity = 1000\nbatch_max = 64\nbatch_wait_ms = 0\nqueue_max = 1024\n"
        ),
    )
    .unwrap();
    let mut ingest = Proc::spawn(
        &["ingest", "run", "--config", config.to_str().unwrap()],
        &dir.path().join("ingest.log"),
    );
    let url = ingest
        .wait_for_line("ingest listening on", DEADLINE)
        .iter()
        .find_map(|l| {
            l.split_whitespace()
                .nth(3)
                .map(|u| u.trim_end_matches("/v1/reports").to_string())
        })
        .unwrap();

    let hotspot = demo_key("device-hotspot-0");
    let (status, body) = post(&url, &hotspot, 1);
    assert_eq!(status, 202, "{body}");
    // Answered from the cache the second time; a different body is a new report.
    assert_eq!(post(&url, &hotspot, 2).0, 202);
    let stranger = Keypair::from_seed([9; 32]);
    let (status, body) = post(&url, &stranger, 1);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "unknown_device", "{body}");

    // A graceful stop rolls the open segment into the archive.
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &ingest.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + DEADLINE;
    while ingest.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ingest did not stop");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let reports = archived(&archive);
    assert_eq!(reports.len(), 2, "exactly the two accepted heartbeats are archived");
    drop(devnet);
}
