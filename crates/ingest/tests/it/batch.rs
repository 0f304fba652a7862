//! `POST /v1/reports/batch`: many envelopes per request, each judged on its own.

use super::*;
use trellis_ingest::admit::{join_batch, MAX_BATCH_REPORTS};

fn batch_url(f: &Fixture) -> String {
    format!("{}/batch", f.url)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_report_of_a_batch_gets_its_own_answer_in_order_and_one_commit() {
    let f = fixture().await;
    let good: Vec<Vec<u8>> = (1..=4).map(|n| heartbeat(&device(n), u64::from(n))).collect();
    let mut forged = heartbeat(&device(5), 5);
    let last = forged.len() - 1;
    forged[last - 70] ^= 1; // inside the signature
    let items = vec![
        good[0].clone(),
        heartbeat(&device(99), 1), // not registered
        good[1].clone(),
        forged,
        good[0].clone(), // the first one again
        vec![0xff; 12],  // framed fine, not an envelope
        good[2].clone(),
        good[3].clone(),
    ];
    let (status, v) = post(&batch_url(&f), join_batch(&items)).await;
    assert_eq!(status, 200, "{v}");
    let results = v["results"].as_array().unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_else(|| code(r)))
        .collect();
    assert_eq!(
        codes,
        [
            "accepted",
            "unknown_device",
            "accepted",
            "bad_signature",
            "duplicate",
            "malformed",
            "accepted",
            "accepted"
        ]
    );
    assert_eq!(v["accepted"], 4);
    let metrics = reqwest::get(format!("http://{}/metrics", f.ingest.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Everything queued before the first answer was awaited: one signature batch.
    assert_eq!(metric(&metrics, "trellis_ingest_batches_total"), 1, "{metrics}");
    assert_eq!(f.ingest.metrics.accepted("heartbeat"), 4);
    for r in [
        Rejection::UnknownDevice,
        Rejection::BadSignature,
        Rejection::Duplicate,
        Rejection::Malformed,
    ] {
        assert_eq!(f.ingest.metrics.rejected(r), 1, "{r:?}");
    }
    let dir = f.dir;
    f.ingest.shutdown().await.unwrap();
    let logged: Vec<Vec<u8>> = archived(dir.path())
        .await
        .iter()
        .map(|frame| frame.report.as_ref().unwrap().encode_to_vec())
        .collect();
    assert_eq!(logged, good, "exactly the accepted reports, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_broken_framing_is_refused_whole() {
    let f = fixture().await;
    let good = join_batch(&[heartbeat(&device(1), 1), heartbeat(&device(2), 2)]);
    // The last envelope is cut short: its length prefix promises more than follows.
    let (s, v) = post(&batch_url(&f), good[..good.len() - 3].to_vec()).await;
    assert_eq!((s, code(&v)), (400, "malformed"), "{v}");
    // An empty batch says nothing.
    let (s, v) = post(&batch_url(&f), Vec::new()).await;
    assert_eq!((s, code(&v)), (400, "malformed"), "{v}");
    // One report too many.
    let many: Vec<Vec<u8>> = (0..=MAX_BATCH_REPORTS as u64)
        .map(|n| heartbeat(&device(1), n))
        .collect();
    let (s, v) = post(&batch_url(&f), join_batch(&many)).await;
    assert_eq!((s, code(&v)), (413, "too_large"), "{v}");
    // An item over the envelope limit.
    let (s, v) = post(&batch_url(&f), join_batch(&[vec![0u8; MAX_ENVELOPE_BYTES + 1]])).await;
    assert_eq!((s, code(&v)), (413, "too_large"), "{v}");
    assert_eq!(f.ingest.metrics.accepted("heartbeat"), 0);
    let dir = f.dir;
    f.ingest.shutdown().await.unwrap();
    assert!(
        archived(dir.path()).await.is_empty(),
        "nothing of a refused batch is logged"
    );
}
