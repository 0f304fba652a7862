//! Well-formed transactions the mempool refuses: 422 with the mempool's reason code.

use crate::server::{code, transfer, user, Server, CHAIN, MIN_FEE};
use trellis_ledger::{Transaction, TxBody};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_422_wrong_chain_fee_too_low_duplicate_and_nonce_too_low() {
    let s = Server::start().await;

    let other_chain = TxBody {
        chain_id: format!("{CHAIN}-other"),
        ..transfer(&user(1), &user(2), 5, 0, MIN_FEE).body
    };
    let (status, v) = s.submit(&Transaction::sign(other_chain, &user(1))).await;
    assert_eq!((status, code(&v)), (422, "wrong_chain"), "{v}");

    let (status, v) = s.submit(&transfer(&user(1), &user(2), 5, 0, MIN_FEE - 1)).await;
    assert_eq!((status, code(&v)), (422, "fee_too_low"), "{v}");

    // Nonce 1 before nonce 0: it waits for the gap to fill, so it is certainly still in the
    // mempool when submitted again.
    let second = transfer(&user(1), &user(2), 7, 1, MIN_FEE);
    let (status, v) = s.submit(&second).await;
    assert_eq!(status, 202, "{v}");
    let (status, v) = s.submit(&second).await;
    assert_eq!((status, code(&v)), (422, "duplicate"), "{v}");
    let (_, v) = s.get(&format!("/v1/txs/{}", second.id())).await;
    assert_eq!(v["status"], "pending", "{v}");

    // Filling the gap commits both, in nonce order.
    let first = transfer(&user(1), &user(2), 5, 0, MIN_FEE);
    let (status, v) = s.submit(&first).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["tx_id"], first.id().to_hex().as_str(), "{v}");
    let first_at = s.wait_committed(&first.id().to_hex()).await;
    let second_at = s.wait_committed(&second.id().to_hex()).await;
    let position = |v: &serde_json::Value| (v["height"].as_u64().unwrap(), v["index"].as_u64().unwrap());
    assert!(position(&first_at) < position(&second_at), "{first_at} {second_at}");

    // Both nonces are now used: resubmitting either is a replay.
    for tx in [&first, &second] {
        let (status, v) = s.submit(tx).await;
        assert_eq!((status, code(&v)), (422, "nonce_too_low"), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_for_a_far_future_nonce_and_an_unfunded_signer_are_422() {
    let s = Server::start().await;
    let (status, v) = s.submit(&transfer(&user(1), &user(2), 5, 1_000, MIN_FEE)).await;
    assert_eq!((status, code(&v)), (422, "nonce_too_high"), "{v}");
    let (status, v) = s.submit(&transfer(&user(50), &user(2), 5, 0, MIN_FEE)).await;
    assert_eq!((status, code(&v)), (422, "cannot_pay_fee"), "{v}");
}
