//! Happy paths: submit, finality, balances, proofs, OpenAPI coverage, the block stream.

use crate::server::{transfer, user, Server, MIN_FEE};
use futures::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};
use trellis_ledger::{store::state_leaf, MerkleProof};
use trellis_primitives::{AccountAddress, Encode, Hash};

fn units(v: &Value) -> u64 {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_transfers_commit_and_balances_and_supply_match_exactly() {
    let s = Server::start().await;
    let raw = transfer(&user(1), &user(3), 1_234, 0, MIN_FEE);
    let (st, v) = s.post_raw(raw.to_bytes(), "application/octet-stream").await;
    assert_eq!(st, 202, "{v}");
    let id1 = v["tx_id"].as_str().unwrap().to_string();
    assert_eq!(id1, raw.id().to_hex());
    let json = transfer(&user(2), &user(3), 766, 0, 2 * MIN_FEE);
    let body = serde_json::json!({ "tx": hex::encode(json.to_bytes()) }).to_string();
    let (st, v) = s.post_raw(body.into_bytes(), "application/json").await;
    assert_eq!(st, 202, "{v}");
    let id2 = v["tx_id"].as_str().unwrap().to_string();
    for id in [&id1, &id2] {
        let status = s.wait_committed(id).await;
        assert_eq!(status["receipt"]["status"], "success", "{status}");
        let height = status["height"].as_u64().unwrap();
        let (_, block) = s.get(&format!("/v1/blocks/{height}")).await;
        assert!(block["tx_ids"].as_array().unwrap().iter().any(|t| t == id.as_str()));
    }
    let account = |i: u8| AccountAddress::from(user(i).public());
    let (_, v) = s.get(&format!("/v1/accounts/{}", account(3))).await;
    assert_eq!(units(&v["account"]["balance"]), 1_000_000 + 1_234 + 766);
    let (_, v) = s.get(&format!("/v1/accounts/{}", account(1))).await;
    assert_eq!(units(&v["account"]["balance"]), 1_000_000 - 1_234 - MIN_FEE);
    assert_eq!(v["account"]["nonce"], 1);
    let (_, v) = s.get("/v1/supply").await;
    assert_eq!(units(&v["supply"]["burned"]), 3 * MIN_FEE);
    assert_eq!(units(&v["circulating"]), 3_000_000 - 3 * MIN_FEE);
    assert_eq!(s.nonce(&user(2)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_proof_verifies_against_the_state_root() {
    let s = Server::start().await;
    let address = AccountAddress::from(user(2).public());
    let (st, v) = s.get(&format!("/v1/accounts/{address}/proof")).await;
    assert_eq!(st, 200, "{v}");
    let key = hex::decode(v["key"].as_str().unwrap()).unwrap();
    let value = hex::decode(v["value"].as_str().unwrap()).unwrap();
    let root: Hash = v["state_root"].as_str().unwrap().parse().unwrap();
    let proof: MerkleProof = serde_json::from_value(v["proof"].clone()).unwrap();
    assert!(proof.verify(state_leaf(&key, &value), &root));
    let mut forged = value.clone();
    forged[0] ^= 1;
    assert!(!proof.verify(state_leaf(&key, &forged), &root));
    // The root is the tip's (a block may have been committed since; then the heights differ).
    let (_, block) = s.get(&format!("/v1/blocks/{}", v["height"])).await;
    assert_eq!(block["block"]["header"]["state_root"], v["state_root"]);
    let stranger = AccountAddress::from(user(77).public());
    assert_eq!(s.get(&format!("/v1/accounts/{stranger}/proof")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_and_every_route_answers() {
    let s = Server::start().await;
    let (st, doc) = s.get("/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), trellis_api::openapi::PATHS.len());
    let address = AccountAddress::from(user(1).public()).to_string();
    for path in trellis_api::openapi::PATHS {
        assert!(paths.contains_key(*path), "{path} missing from the document");
        if *path == "/v1/txs" || *path == "/v1/events/blocks" {
            continue;
        }
        let concrete = path
            .replace("{id}", &"00".repeat(32))
            .replace("{address}", &address)
            .replace("{height}", "0");
        let r = s.http.get(format!("{}{concrete}", s.url)).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        // Device routes get a real account key here, hence a 400; everything else must be 200.
        let expected = if concrete.starts_with("/v1/devices/") { 400 } else { 200 };
        assert_eq!(status, expected, "{concrete}: {body}");
        assert!(
            !body.contains("no such route"),
            "{concrete} fell through to the fallback"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_stream_delivers_committed_blocks() {
    let s = Server::start().await;
    let r = s.http.get(format!("{}/v1/events/blocks", s.url)).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut stream = r.bytes_stream();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    let event = loop {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .expect("no block event within 10 s");
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
        if let Some(start) = text.find("event: block\ndata: ") {
            let rest = &text[start + "event: block\ndata: ".len()..];
            if let Some(end) = rest.find('\n') {
                break serde_json::from_str::<Value>(&rest[..end]).unwrap();
            }
        }
    };
    assert!(event["height"].as_u64().unwrap() >= 1, "{event}");
    let (_, block) = s.get(&format!("/v1/blocks/{}", event["height"])).await;
    assert_eq!(block["hash"], event["hash"]);
}
