//! Happy paths: submit, finality, exact balances and supply, account proofs.

use crate::server::{account, transfer, units, user, Server, FUNDED, MIN_FEE};
use serde_json::json;
use trellis_ledger::{store::state_leaf, Account, MerkleProof};
use trellis_primitives::{Decode, Encode, Hash};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_as_raw_bytes_and_as_hex_json_commit_with_exact_balances_and_burned_fees() {
    let s = Server::start().await;
    let raw = transfer(&user(1), &user(3), 1_234, 0, MIN_FEE);
    let (status, v) = s.post(raw.to_bytes(), "application/octet-stream").await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["tx_id"], raw.id().to_hex().as_str(), "{v}");

    let hexed = transfer(&user(2), &user(3), 766, 0, 2 * MIN_FEE);
    let body = json!({ "tx": hex::encode(hexed.to_bytes()) }).to_string();
    let (status, v) = s.post(body.into_bytes(), "application/json; charset=utf-8").await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["tx_id"], hexed.id().to_hex().as_str(), "{v}");

    for tx in [&raw, &hexed] {
        let id = tx.id().to_hex();
        let committed = s.wait_committed(&id).await;
        assert_eq!(committed["tx_id"], id.as_str(), "{committed}");
        assert_eq!(committed["receipt"]["status"], "success", "{committed}");
        assert_eq!(committed["receipt"]["tx_id"], id.as_str(), "{committed}");
        // The block it names holds it, at the index it names.
        let (status, block) = s.get(&format!("/v1/blocks/{}", committed["height"])).await;
        assert_eq!(status, 200, "{block}");
        let index = committed["index"].as_u64().unwrap() as usize;
        assert_eq!(block["tx_ids"][index], id.as_str(), "{block}");
        assert_eq!(block["receipts"][index]["status"], "success", "{block}");
    }

    let (_, v) = s.get(&format!("/v1/accounts/{}", account(3))).await;
    assert_eq!(units(&v["account"]["balance"]), FUNDED + 1_234 + 766, "{v}");
    assert_eq!(v["account"]["nonce"], 0, "{v}");
    let (_, v) = s.get(&format!("/v1/accounts/{}", account(1))).await;
    assert_eq!(units(&v["account"]["balance"]), FUNDED - 1_234 - MIN_FEE, "{v}");
    assert_eq!(v["account"]["nonce"], 1, "{v}");
    let (_, v) = s.get(&format!("/v1/accounts/{}", account(2))).await;
    assert_eq!(units(&v["account"]["balance"]), FUNDED - 766 - 2 * MIN_FEE, "{v}");
    assert_eq!(v["account"]["nonce"], 1, "{v}");

    // Fees are burned: nothing else happened on this chain.
    let fees = MIN_FEE + 2 * MIN_FEE;
    let (status, v) = s.get("/v1/supply").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(units(&v["supply"]["issued"]), 3 * FUNDED, "{v}");
    assert_eq!(units(&v["supply"]["burned"]), fees, "{v}");
    assert_eq!(units(&v["circulating"]), 3 * FUNDED - fees, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_proof_verifies_against_the_state_root_and_fails_for_a_modified_value() {
    let s = Server::start().await;
    let (status, v) = s.get(&format!("/v1/accounts/{}/proof", account(2))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["address"], account(2).to_string().as_str(), "{v}");
    let key = hex::decode(v["key"].as_str().unwrap()).unwrap();
    let value = hex::decode(v["value"].as_str().unwrap()).unwrap();
    let root: Hash = v["state_root"].as_str().unwrap().parse().unwrap();
    let proof: MerkleProof = serde_json::from_value(v["proof"].clone()).unwrap();

    // The value is the account, and the leaf is rebuilt here rather than trusted.
    let state = Account::from_bytes(&value).unwrap();
    assert_eq!(state.balance.units(), crate::server::FUNDED, "{v}");
    let leaf = state_leaf(&key, &value);
    assert_eq!(v["leaf"], leaf.to_hex().as_str(), "{v}");
    assert!(proof.verify(leaf, &root), "proof does not verify: {v}");

    let mut forged = value.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert!(!proof.verify(state_leaf(&key, &forged), &root));
    let mut other_key = key.clone();
    *other_key.last_mut().unwrap() ^= 1;
    assert!(!proof.verify(state_leaf(&other_key, &value), &root));
    let mut moved = proof.clone();
    moved.index = (moved.index + 1) % moved.leaf_count;
    assert!(!moved.verify(leaf, &root));

    // The root is the one committed in the block at the height the proof names.
    let (status, block) = s.get(&format!("/v1/blocks/{}", v["height"])).await;
    assert_eq!(status, 200, "{block}");
    assert_eq!(block["block"]["header"]["state_root"], v["state_root"], "{block}");
}
