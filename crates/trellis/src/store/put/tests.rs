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

/// `count` usable providers (staked, reachable, in good standing) asking nothing.
fn usable(count: u8) -> Vec<ProviderInfo> {
    (0..count)
        .map(|i| ProviderInfo {
            address: DeviceAddress::from(trellis_primitives::Keypair::from_seed([i; 32]).public()),
            owner: AccountAddress::from(trellis_primitives::Keypair::from_seed([i; 32]).public()),
            stake: trellis_primitives::Amount::from_units(1),
            eligible: true,
            capabilities: Vec::new(),
            location: None,
            endpoint: Some(format!("http://127.0.0.1:{}", 9000 + u16::from(i))),
            slashed: trellis_primitives::Amount::from_units(0),
            reputation_ppm: 1_000_000,
        })
        .collect()
}

/// `--pieces` is checked against the ledger's bound and the providers that can take a piece,
/// before any work; within them, `n` pieces need a third of them (no cap at the default 30).
#[test]
fn a_piece_count_beyond_the_ledger_or_the_providers_is_refused_before_any_work() {
    let pieces = |n| PutOptions {
        data_pieces: None,
        pieces: Some(n),
        ..PutOptions::for_test(1, 2)
    };
    let refused = |n, providers: &[ProviderInfo]| format!("{:#}", terms_shape(&pieces(n), providers).unwrap_err());
    assert!(refused(1, &usable(4)).contains("--pieces must be 2 to 128"));
    assert!(refused(129, &usable(130)).contains("--pieces must be 2 to 128"));
    assert!(refused(5, &usable(4)).contains("5 pieces need 5 providers; 4 can take pieces now"));
    let mut slashed = usable(5);
    slashed[0].slashed = trellis_primitives::Amount::from_units(1);
    assert!(refused(5, &slashed).contains("4 can take pieces now (5 registered)"));
    let (params, _) = terms_shape(&pieces(60), &usable(60)).unwrap();
    assert_eq!((params.data_shards, params.parity_shards), (20, 40));
    let (params, _) = terms_shape(&pieces(128), &usable(128)).unwrap();
    assert_eq!((params.data_shards, params.parity_shards), (43, 85));
}
