//! Ingest on a real loopback server: every rejection reason, durability across a crash, batching.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod batch;
mod s3;

use prost::Message;
use std::{collections::BTreeSet, sync::Arc};
use trellis_ingest::{log::read_all, start, DeviceDirectory, IngestConfig, Rejection, RunningIngest};
use trellis_primitives::{DeviceAddress, Keypair};
use trellis_proto::{report::Kind, Envelope, Heartbeat, Report, Witness, MAX_ENVELOPE_BYTES};

struct Registry(BTreeSet<DeviceAddress>);

impl DeviceDirectory for Registry {
    fn is_registered<'a>(&'a self, device: &'a DeviceAddress) -> trellis_ingest::Lookup<'a> {
        let known = self.0.contains(device);
        Box::pin(async move { known })
    }
}

fn device(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn heartbeat(key: &Keypair, uptime_s: u64) -> Vec<u8> {
    let report = Report {
        timestamp_ms: now_ms(),
        kind: Some(Kind::Heartbeat(Heartbeat { uptime_s })),
    };
    Envelope::sign(&report, key).encode_to_vec()
}

struct Fixture {
    dir: tempfile::TempDir,
    ingest: RunningIngest,
    url: String,
}

fn config(dir: &std::path::Path) -> IngestConfig {
    let mut c = IngestConfig::new("127.0.0.1:0".parse().unwrap(), dir.join("wal"), dir.join("archive"));
    c.rate_burst = 5;
    c.rate_per_minute = 1;
    c
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(tune: impl FnOnce(&mut IngestConfig)) -> Fixture {
    fixture_with_store(tune).await
}

/// A fixture whose archive may be reconfigured by `tune` (the local `archive` dir otherwise).
async fn fixture_with_store(tune: impl FnOnce(&mut IngestConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry((1..=50).map(|n| DeviceAddress::from(device(n).public())).collect());
    let mut c = config(dir.path());
    tune(&mut c);
    let ingest = start(c, Arc::new(registry)).await.unwrap();
    let url = format!("http://{}/v1/reports", ingest.addr);
    Fixture { dir, ingest, url }
}

async fn post(url: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
}

fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

async fn archived(dir: &std::path::Path) -> Vec<trellis_proto::LoggedReport> {
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir.join("archive")).unwrap();
    read_all(&store).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_reports_reach_the_archive_with_their_receive_time() {
    let f = fixture().await;
    let sent: Vec<Vec<u8>> = (1..=3).map(|n| heartbeat(&device(n), u64::from(n))).collect();
    for body in &sent {
        let (status, v) = post(&f.url, body.clone()).await;
        assert_eq!(status, 202, "{v}");
        assert_eq!(v["status"], "accepted");
    }
    assert_eq!(f.ingest.metrics.accepted("heartbeat"), 3);
    let dir = f.dir;
    f.ingest.shutdown().await.unwrap();
    let frames = archived(dir.path()).await;
    assert_eq!(frames.len(), 3);
    for (frame, body) in frames.iter().zip(&sent) {
        assert_eq!(
            frame.report.as_ref().unwrap().encode_to_vec(),
            *body,
            "logged exactly as received"
        );
        assert!(frame.received_ms > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_has_its_status_code_and_counter() {
    let f = fixture().await;
    let (s, v) = post(&f.url, vec![0xff; 20]).await;
    assert_eq!((s, code(&v)), (400, "malformed"));
    let (s, v) = post(&f.url, vec![0; MAX_ENVELOPE_BYTES + 1]).await;
    assert_eq!((s, code(&v)), (413, "too_large"));
    let stale = Report {
        timestamp_ms: now_ms() - 3_600_000,
        kind: Some(Kind::Heartbeat(Heartbeat { uptime_s: 1 })),
    };
    let (s, v) = post(&f.url, Envelope::sign(&stale, &device(1)).encode_to_vec()).await;
    assert_eq!((s, code(&v)), (422, "stale_timestamp"));
    let (s, v) = post(&f.url, heartbeat(&device(99), 1)).await;
    assert_eq!((s, code(&v)), (403, "unknown_device"));
    // A registered device's key on a report signed by someone else.
    let mut forged = Envelope::sign(
        &Report {
            timestamp_ms: now_ms(),
            kind: Some(Kind::Heartbeat(Heartbeat { uptime_s: 9 })),
        },
        &device(77),
    );
    forged.device = device(2).public().0.to_vec();
    let (s, v) = post(&f.url, forged.encode_to_vec()).await;
    assert_eq!((s, code(&v)), (401, "bad_signature"));
    // Identical bodies from two devices are two reports, not a duplicate.
    let report = Report {
        timestamp_ms: now_ms(),
        kind: Some(Kind::Heartbeat(Heartbeat { uptime_s: 5 })),
    };
    assert_eq!(
        post(&f.url, Envelope::sign(&report, &device(5)).encode_to_vec())
            .await
            .0,
        202
    );
    assert_eq!(
        post(&f.url, Envelope::sign(&report, &device(6)).encode_to_vec())
            .await
            .0,
        202
    );
    let once = heartbeat(&device(3), 42);
    assert_eq!(post(&f.url, once.clone()).await.0, 202);
    let (s, v) = post(&f.url, once).await;
    assert_eq!((s, code(&v)), (409, "duplicate"));
    // Burst of 5, one per minute after: device 4's sixth distinct report is refused.
    for i in 0..5 {
        assert_eq!(post(&f.url, heartbeat(&device(4), 100 + i)).await.0, 202);
    }
    let (s, v) = post(&f.url, heartbeat(&device(4), 200)).await;
    assert_eq!((s, code(&v)), (429, "rate_limited"));
    for r in [
        Rejection::Malformed,
        Rejection::TooLarge,
        Rejection::StaleTimestamp,
        Rejection::UnknownDevice,
        Rejection::BadSignature,
        Rejection::Duplicate,
        Rejection::RateLimited,
    ] {
        assert_eq!(f.ingest.metrics.rejected(r), 1, "{r:?}");
    }
    let metrics = reqwest::get(format!("http://{}/metrics", f.ingest.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("trellis_ingest_rejected_total{reason=\"bad_signature\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trellis_ingest_accepted_total{kind=\"heartbeat\"} 8"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_ingest_crashes() {
    let f = fixture().await;
    let mut acked = Vec::new();
    for n in 1..=20u8 {
        let body = heartbeat(&device(n), 7);
        if post(&f.url, body.clone()).await.0 == 202 {
            acked.push(body);
        }
    }
    assert_eq!(acked.len(), 20);
    let dir = f.dir;
    // Crash: no roll, no flush beyond what each acknowledgement already made durable.
    f.ingest.abort().await;
    assert!(
        archived(dir.path()).await.is_empty(),
        "nothing was rolled before the crash"
    );
    // Restart on the same directories: the write-ahead segment is recovered into the archive.
    let registry = Registry(BTreeSet::new());
    let again = start(config(dir.path()), Arc::new(registry)).await.unwrap();
    let frames = archived(dir.path()).await;
    let logged: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| f.report.as_ref().unwrap().encode_to_vec())
        .collect();
    assert_eq!(logged, acked);
    again.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_are_verified_in_batches() {
    // A linger of 20 ms makes grouping certain even on a loaded machine.
    let f = fixture_with(|c| c.batch_wait_ms = 20).await;
    let url = f.url.clone();
    let tasks: Vec<_> = (1..=50u8)
        .map(|n| {
            let url = url.clone();
            tokio::spawn(async move {
                let witness = Witness {
                    payload: vec![n; 16],
                    frequency_hz: 904_300_000,
                    rssi_centi_dbm: -9_000,
                    snr_centi_db: 500,
                };
                let report = Report {
                    timestamp_ms: now_ms(),
                    kind: Some(Kind::Witness(witness)),
                };
                post(&url, Envelope::sign(&report, &device(n)).encode_to_vec()).await.0
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    assert_eq!(f.ingest.metrics.accepted("witness"), 50);
    let metrics = reqwest::get(format!("http://{}/metrics", f.ingest.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let batches: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trellis_ingest_batches_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        batches < 50,
        "50 concurrent reports should share batches, got {batches}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_uploaded_twice_after_a_crash_is_stored_once() {
    use trellis_ingest::log::ReportLog;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("archive")).unwrap();
    let store: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path().join("archive")).unwrap());
    let wal = dir.path().join("wal");
    let mut log = ReportLog::open(&wal, store.clone(), 60_000).await.unwrap();
    let signed = <trellis_proto::SignedReport as Message>::decode(heartbeat(&device(1), 3).as_slice()).unwrap();
    let frame = trellis_proto::LoggedReport {
        received_ms: 5,
        report: Some(signed),
    };
    log.append(&[frame.clone(), frame], 1_000).await.unwrap();
    // Keep a copy of the write-ahead file, as a crash between upload and delete would.
    let segment = std::fs::read_dir(&wal).unwrap().next().unwrap().unwrap().path();
    let copy = std::fs::read(&segment).unwrap();
    log.roll().await.unwrap();
    assert!(!segment.exists());
    std::fs::write(&segment, copy).unwrap();
    drop(log);
    ReportLog::open(&wal, store, 60_000).await.unwrap();
    assert_eq!(
        archived(dir.path()).await.len(),
        2,
        "the re-upload replaced the object, it did not add one"
    );
}
