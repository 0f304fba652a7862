//! Paid downloads against a real node: a provider serves only within the client's signed
//! orders, keeps them across a restart, and the ledger pays what it served from the client's
//! credits; repairers' orders are free.

use crate::provider::{code, device, key, order_by, put, serve, stored_file, Chain};
use std::time::{Duration, Instant};
use trellis_ledger::{StateRead, TxKind};
use trellis_primitives::{AccountAddress, Credits, Epoch};
use trellis_storage::protocol::ORDER_HEADER;

async fn download(url: &str, deal: &trellis_primitives::Hash, range: &str, order: Option<String>) -> (u16, Vec<u8>) {
    let mut r = reqwest::Client::new()
        .get(format!("{url}/v1/pieces/{deal}/0"))
        .header("range", range);
    if let Some(order) = order {
        r = r.header(ORDER_HEADER, order);
    }
    let response = r.send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

fn error(body: &[u8]) -> String {
    code(&serde_json::from_slice(body).unwrap_or_default()).to_string()
}

async fn epoch(chain: &Chain) -> u64 {
    let status: serde_json::Value = reqwest::get(format!("{}/v1/status", chain.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    status["epoch"].as_u64().unwrap()
}

/// What the provider would claim now, once the windows just served have finished sending.
async fn due_now(provider: &trellis_storage::provider::Provider, epoch: u64) -> Vec<trellis_ledger::EgressClaim> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let due = provider.egress().due(Duration::ZERO, Epoch(epoch)).unwrap();
        if !due.is_empty() || Instant::now() > deadline {
            return due;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn downloads_are_served_within_signed_orders_and_paid_from_the_clients_credits() {
    let chain = Chain::start().await;
    let file = stored_file(&chain, 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, provider) = serve(&chain, dir.path(), 1 << 30).await;
    provider.set_egress_price(2_000);
    let piece = file.pieces[0].clone();
    assert_eq!(put(&url, &file.id, 0, piece.clone()).await.0, 201);
    let id = file.id;
    let order = |signer, provider, serial, bytes, price, expires| {
        order_by(signer, &id, provider, serial, bytes, price, expires)
    };

    // Refused: no order, garbage, a stranger's, another provider's, too cheap, too far ahead.
    let now = epoch(&chain).await;
    let cases = [
        (None, 402, "order_required"),
        (Some("zz".to_string()), 400, "invalid_order"),
        (Some(hex::encode([1u8; 40])), 400, "invalid_order"),
        (
            Some(order("carol", "p1", 1, 1 << 20, 2_000, now + 4)),
            403,
            "not_deal_client",
        ),
        (
            Some(order("alice", "p2", 1, 1 << 20, 2_000, now + 4)),
            403,
            "wrong_order",
        ),
        (
            Some(order("alice", "p1", 1, 1 << 20, 1_999, now + 4)),
            402,
            "price_too_low",
        ),
        (
            Some(order("alice", "p1", 1, 1 << 20, 2_000, now + 1_000)),
            400,
            "invalid_order",
        ),
    ];
    for (header, status, expected) in cases {
        let (got, body) = download(&url, &id, "bytes=0-999", header).await;
        assert_eq!((got, error(&body)), (status, expected.to_string()));
    }
    let other_chain = trellis_ledger::EgressOrder {
        deal: id,
        client: key("alice").public().into(),
        provider: device("p1"),
        serial: [1; 16],
        bytes: 1 << 20,
        price_per_gib: Credits(2_000),
        expires: Epoch(now + 4),
    };
    let signed = other_chain.sign("another-chain", &key("alice"));
    use trellis_primitives::Encode;
    let (got, body) = download(&url, &id, "bytes=0-999", Some(hex::encode(signed.to_bytes()))).await;
    assert_eq!((got, error(&body)), (403, "bad_order_signature".to_string()));
    assert_eq!(provider.egress().pending(), (0, 0), "nothing refused is owed");

    // Windows under one serial: each within the cumulative allowance of its order.
    let expires = epoch(&chain).await + 4;
    let (got, bytes) = download(
        &url,
        &id,
        "bytes=0-9999",
        Some(order("alice", "p1", 7, 10_000, 2_000, expires)),
    )
    .await;
    assert!((got, &bytes[..]) == (206, &piece[..10_000]), "first window: {got}");
    let (got, body) = download(
        &url,
        &id,
        "bytes=10000-19999",
        Some(order("alice", "p1", 7, 10_000, 2_000, expires)),
    )
    .await;
    assert_eq!((got, error(&body)), (402, "order_exhausted".to_string()));
    let (got, bytes) = download(
        &url,
        &id,
        "bytes=10000-19999",
        Some(order("alice", "p1", 7, 20_000, 2_000, expires)),
    )
    .await;
    assert!(
        (got, &bytes[..]) == (206, &piece[10_000..20_000]),
        "second window: {got}"
    );
    // A repairer's order (a verifier key) is free and not recorded.
    let (got, _) = download(
        &url,
        &id,
        "bytes=0-999",
        Some(order("verifier", "p1", 8, 1_000, 0, expires)),
    )
    .await;
    assert_eq!(got, 206);
    assert_eq!(provider.egress().pending(), (1, 20_000));

    // The book survives a restart of the provider on the same directory.
    drop(provider);
    let (url, provider) = serve(&chain, dir.path(), 1 << 30).await;
    assert_eq!(provider.egress().pending(), (1, 20_000));

    // The provider's owner claims; 20,000 bytes at 2,000 per GiB round up to 1 credit.
    let alice = AccountAddress::from(key("alice").public());
    let credits = |chain: &Chain| chain.node.with_state(|s, _| s.account(&alice)).unwrap().credits;
    let before = credits(&chain);
    let due = due_now(&provider, epoch(&chain).await).await;
    assert_eq!(due.len(), 1);
    let claim = TxKind::ClaimEgress {
        device: device("p1"),
        claims: due.clone(),
    };
    chain.run("bob", claim, &[]).await;
    provider.egress().forget(&due).unwrap();
    assert_eq!(credits(&chain), Credits(before.0 - 1));
    assert_eq!(provider.egress().pending(), (0, 0));

    // The ledger pays a serial once: resending its order buys nothing more.
    let (got, body) = download(
        &url,
        &id,
        "bytes=0-9999",
        Some(order("alice", "p1", 7, 30_000, 2_000, expires)),
    )
    .await;
    assert_eq!((got, error(&body)), (402, "order_claimed".to_string()));
    // A client whose serial was claimed while it paused goes on under a new one.
    let signer = trellis_storage::client::OrderSigner::new(
        std::sync::Arc::new(key("alice")),
        crate::provider::CHAIN,
        Epoch(epoch(&chain).await),
    );
    let orders = signer.for_piece(id, device("p1"), Credits(2_000));
    let piece_ref = trellis_storage::client::PieceRef {
        deal: id,
        index: 0,
        root: file.terms.pieces[0].root,
        len: piece.len() as u64,
    };
    let fetch = |to: &str| {
        let dest = dir.path().join(to);
        let (url, orders, piece_ref) = (url.clone(), orders.clone(), piece_ref);
        async move {
            let http = reqwest::Client::new();
            trellis_storage::client::download_piece(&http, &url, &piece_ref, &orders, &dest, None, |_| {}).await
        }
    };
    fetch("first").await.unwrap();
    let due = due_now(&provider, epoch(&chain).await).await;
    assert_eq!(
        due.iter().map(|c| c.bytes).collect::<Vec<_>>(),
        vec![piece.len() as u64]
    );
    provider.egress().forget(&due).unwrap();
    fetch("again").await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("again")).unwrap(), piece);
    let (serials, bytes) = provider.egress().pending();
    assert_eq!(
        (serials, bytes),
        (1, piece.len() as u64),
        "the second download is owed under a new serial"
    );
    let renewed = due_now(&provider, epoch(&chain).await).await;
    assert_eq!(renewed.len(), 1);
    assert_ne!(renewed[0].order.order.serial, due[0].order.order.serial);

    // An order is only good until its epoch ends.
    let deadline = Instant::now() + Duration::from_secs(20);
    while epoch(&chain).await <= expires {
        assert!(
            Instant::now() < deadline,
            "the chain did not reach epoch {}",
            expires + 1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (got, body) = download(
        &url,
        &id,
        "bytes=0-999",
        Some(order("alice", "p1", 9, 1_000, 2_000, expires)),
    )
    .await;
    assert_eq!((got, error(&body)), (402, "order_expired".to_string()));
}
