//! `store put` against a node and providers on loopback: pieces refused at upload move to a spare.

use super::*;
use crate::bench_storage_net::{loopback, loopback_key};
use std::sync::Arc;
use trellis_primitives::DeviceAddress;

/// Four providers, the first two with no room: three pieces always land on at least one of
/// those, whose staging is refused (full), so a piece moves to the one spare, coded again and
/// sent under the open deal. Whichever way the placement falls, exactly one piece moves, both
/// providers with room end up named in the deal holding their piece, and the file comes back
/// whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_piece_moves_to_the_spare() {
    let tmp = tempfile::tempdir().unwrap();
    let net = loopback(tmp.path(), 4, |i| if i < 2 { 1 } else { 1 << 30 })
        .await
        .unwrap();
    let (file, data) = test_file(tmp.path(), 5_000_000);
    let options = PutOptions::for_test(1, 3);
    let client = loopback_key(None);
    let id = store_file(&client, &net.api, &file, &options).await.unwrap();

    let deal = NodeApi::new(&net.api).unwrap().deal(&id).await.unwrap().unwrap();
    let named: Vec<DeviceAddress> = deal.terms.pieces.iter().map(|p| p.provider).collect();
    for i in [2, 3] {
        let address = DeviceAddress::from(loopback_key(Some(i)).public());
        let index = named.iter().position(|p| *p == address);
        let index = index.unwrap_or_else(|| panic!("provider {i} with room is not in the deal: {named:?}"));
        let piece = tmp.path().join(format!("provider-{i}/pieces/{id}/{index}.piece"));
        assert!(piece.exists(), "provider {i} does not hold piece {index}");
    }
    let moves: serde_json::Value = reqwest::get(format!("{}/v1/storage/moves?blocks=10000", net.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ours = moves["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["deal"] == id.to_string())
        .count();
    assert_eq!(ours, 1, "{moves}");

    let out = tmp.path().join("back.bin");
    crate::store::get::fetch_file(&Arc::new(client), &net.api, id, &out, true, TRANSFER_IDLE_TIMEOUT)
        .await
        .unwrap();
    assert!(std::fs::read(&out).unwrap() == data, "the file came back different");
}

/// Three providers, none with room: every staging is refused, so no deal is opened and the
/// client's credits are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_deal_is_opened_when_too_few_providers_take_their_piece() {
    let tmp = tempfile::tempdir().unwrap();
    let net = loopback(tmp.path(), 3, |_| 1).await.unwrap();
    let (file, _) = test_file(tmp.path(), 100_000);
    let client = loopback_key(None);
    let account = format!("{}/v1/accounts/{}", net.api, AccountAddress::from(client.public()));
    let credits = || async {
        let v: serde_json::Value = reqwest::get(&account).await.unwrap().json().await.unwrap();
        v["account"]["credits"].clone()
    };
    let before = credits().await;
    let err = store_file(&client, &net.api, &file, &PutOptions::for_test(1, 3))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("no deal was opened"), "{err:#}");
    assert_eq!(credits().await, before, "credits were escrowed for a file no one holds");
}
