//! Bad input gets a 4xx with a machine-readable code, never a 5xx or a hang.

use crate::server::{transfer, user, Server, MIN_FEE};
use serde_json::json;
use trellis_ledger::tx::MAX_TX_BYTES;
use trellis_primitives::{DeviceAddress, Encode};

fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_transactions_get_4xx_with_codes() {
    let s = Server::start().await;
    let good = transfer(&user(1), &user(2), 5, 0, MIN_FEE).to_bytes();
    let (st, v) = s.post_raw(b"garbage".to_vec(), "application/octet-stream").await;
    assert_eq!((st, code(&v)), (400, "invalid_transaction"));
    let (st, v) = s
        .post_raw(good[..good.len() - 1].to_vec(), "application/octet-stream")
        .await;
    assert_eq!((st, code(&v)), (400, "invalid_transaction"));
    let mut trailing = good.clone();
    trailing.push(0);
    let (st, v) = s.post_raw(trailing, "application/octet-stream").await;
    assert_eq!((st, code(&v)), (400, "invalid_transaction"));
    let (st, v) = s.post_raw(vec![0; MAX_TX_BYTES + 1], "application/octet-stream").await;
    assert_eq!((st, code(&v)), (413, "too_large"));
    let (st, v) = s
        .post_raw(vec![0; 2 * MAX_TX_BYTES + 1025], "application/octet-stream")
        .await;
    assert_eq!((st, code(&v)), (413, "too_large"));
    let (st, v) = s
        .post_raw(json!({"tx": "zz"}).to_string().into_bytes(), "application/json")
        .await;
    assert_eq!((st, code(&v)), (400, "invalid_hex"));
    let (st, v) = s
        .post_raw(json!({"nope": 1}).to_string().into_bytes(), "application/json")
        .await;
    assert_eq!((st, code(&v)), (400, "invalid_json"));
    let (st, v) = s.post_raw(good, "text/plain").await;
    assert_eq!((st, code(&v)), (415, "unsupported_media_type"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_unknown_things_are_4xx() {
    let s = Server::start().await;
    let (st, v) = s.get("/v1/accounts/tr1nope").await;
    assert_eq!((st, code(&v)), (400, "invalid_parameter"));
    let device = DeviceAddress::from(user(9).public()).to_string();
    let (st, v) = s.get(&format!("/v1/accounts/{device}")).await;
    assert_eq!(
        (st, code(&v)),
        (400, "invalid_parameter"),
        "a device address is not an account"
    );
    let (st, v) = s.get(&format!("/v1/devices/{device}")).await;
    assert_eq!((st, code(&v)), (404, "not_found"));
    let (st, v) = s.get(&format!("/v1/devices/{device}/locations")).await;
    assert_eq!((st, code(&v)), (404, "not_found"));
    let (st, v) = s.get("/v1/no/such/route").await;
    assert_eq!((st, code(&v)), (404, "not_found"));
    let (st, v) = s.get("/v1/txs/xyz").await;
    assert_eq!((st, code(&v)), (400, "invalid_parameter"));
    let (st, v) = s.get(&format!("/v1/txs/{}", "ab".repeat(32))).await;
    assert_eq!((st, v["status"].as_str()), (200, Some("unknown")));
    let (st, v) = s.get("/v1/blocks/999999").await;
    assert_eq!((st, code(&v)), (404, "not_found"));
    let (st, v) = s.get("/v1/blocks/-1").await;
    assert_eq!((st, code(&v)), (400, "invalid_parameter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mempool_refusals_are_422_with_the_reason() {
    let s = Server::start().await;
    let submit = |tx: trellis_ledger::Transaction| s.post_raw(tx.to_bytes(), "application/octet-stream");
    let mut wrong_chain = transfer(&user(1), &user(2), 5, 0, MIN_FEE);
    wrong_chain.body.chain_id = "other".into();
    let wrong_chain = trellis_ledger::Transaction::sign(wrong_chain.body, &user(1));
    let (st, v) = submit(wrong_chain).await;
    assert_eq!((st, code(&v)), (422, "wrong_chain"));
    let (st, v) = submit(transfer(&user(1), &user(2), 5, 0, MIN_FEE - 1)).await;
    assert_eq!((st, code(&v)), (422, "fee_too_low"));
    let tx = transfer(&user(1), &user(2), 5, 0, MIN_FEE);
    let (st, v) = submit(tx.clone()).await;
    assert_eq!(st, 202, "{v}");
    let (st, v) = submit(tx.clone()).await;
    // Either still waiting (duplicate) or already committed (nonce used).
    assert_eq!(st, 422);
    assert!(["duplicate", "nonce_too_low"].contains(&code(&v)), "{v}");
    s.wait_committed(&tx.id().to_hex()).await;
    let (st, v) = submit(tx).await;
    assert_eq!((st, code(&v)), (422, "nonce_too_low"));
    let metrics = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("trellis_txs_refused_total{reason=\"fee_too_low\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("trellis_chain_height"));
}
