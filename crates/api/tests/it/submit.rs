//! POST /v1/txs with bodies that are not a transaction: a 4xx with a machine-readable code.

use crate::server::{code, transfer, user, Server, MIN_FEE};
use serde_json::json;
use trellis_ledger::tx::MAX_TX_BYTES;
use trellis_primitives::Encode;

const OCTETS: &str = "application/octet-stream";
const JSON: &str = "application/json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_and_trailing_byte_transactions_are_400_invalid_transaction() {
    let s = Server::start().await;
    let good = transfer(&user(1), &user(2), 5, 0, MIN_FEE).to_bytes();

    for (what, body) in [
        ("garbage", b"garbage".to_vec()),
        ("empty", Vec::new()),
        ("truncated by one byte", good[..good.len() - 1].to_vec()),
        ("truncated to half", good[..good.len() / 2].to_vec()),
        ("one trailing byte", [good.as_slice(), &[0]].concat()),
    ] {
        let (status, v) = s.post(body, OCTETS).await;
        assert_eq!((status, code(&v)), (400, "invalid_transaction"), "{what}: {v}");
    }
    // The same bytes in the hex JSON form are refused the same way.
    let body = json!({ "tx": hex::encode([good.as_slice(), &[0]].concat()) }).to_string();
    let (status, v) = s.post(body.into_bytes(), JSON).await;
    assert_eq!((status, code(&v)), (400, "invalid_transaction"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_transaction_and_oversized_body_are_413_too_large() {
    let s = Server::start().await;
    // Within the route's body limit but longer than any transaction may be.
    let (status, v) = s.post(vec![0; MAX_TX_BYTES + 1], OCTETS).await;
    assert_eq!((status, code(&v)), (413, "too_large"), "{v}");
    // The same in hex JSON (about 32 KiB, still under the body limit).
    let body = json!({ "tx": hex::encode(vec![0; MAX_TX_BYTES + 1]) }).to_string();
    let (status, v) = s.post(body.into_bytes(), JSON).await;
    assert_eq!((status, code(&v)), (413, "too_large"), "{v}");
    // Over the route's body limit: refused before decoding, still as a JSON error.
    let route_limit = 2 * MAX_TX_BYTES + 1024;
    for content_type in [OCTETS, JSON] {
        let (status, v) = s.post(vec![b'0'; route_limit + 1], content_type).await;
        assert_eq!((status, code(&v)), (413, "too_large"), "{content_type}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hex_bad_json_and_unsupported_media_type_are_rejected_with_codes() {
    let s = Server::start().await;
    let good = transfer(&user(1), &user(2), 5, 0, MIN_FEE).to_bytes();

    let (status, v) = s.post(json!({ "tx": "zz" }).to_string().into_bytes(), JSON).await;
    assert_eq!((status, code(&v)), (400, "invalid_hex"), "{v}");
    let (status, v) = s.post(json!({ "tx": "abc" }).to_string().into_bytes(), JSON).await;
    assert_eq!((status, code(&v)), (400, "invalid_hex"), "odd length: {v}");

    for (what, body) in [
        ("no tx field", json!({ "transaction": hex::encode(&good) }).to_string()),
        ("tx not a string", json!({ "tx": 5 }).to_string()),
        ("not JSON", "{\"tx\":".to_string()),
    ] {
        let (status, v) = s.post(body.into_bytes(), JSON).await;
        assert_eq!((status, code(&v)), (400, "invalid_json"), "{what}: {v}");
    }

    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, v) = s.post(good.clone(), content_type).await;
        assert_eq!(
            (status, code(&v)),
            (415, "unsupported_media_type"),
            "{content_type}: {v}"
        );
    }
    // Nothing above reached the mempool.
    let (_, v) = s.get("/v1/status").await;
    assert_eq!(v["mempool_txs"], 0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_are_case_insensitive() {
    let s = Server::start().await;
    let tx = transfer(&user(1), &user(2), 5, 0, MIN_FEE);
    let body = json!({ "tx": hex::encode(tx.to_bytes()) }).to_string().into_bytes();
    let (st, v) = s.post(body, "Application/JSON; charset=UTF-8").await;
    assert_eq!(st, 202, "{v}");
    let (st, v) = s
        .post(
            transfer(&user(2), &user(1), 5, 0, MIN_FEE).to_bytes(),
            "APPLICATION/OCTET-STREAM",
        )
        .await;
    assert_eq!(st, 202, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_405_with_a_json_error() {
    let s = Server::start().await;
    let r = s.http.get(format!("{}/v1/txs", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&v), "method_not_allowed");
    let r = s.http.post(format!("{}/v1/status", s.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
}
