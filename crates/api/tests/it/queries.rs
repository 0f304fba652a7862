//! GET routes with malformed or unknown parameters: 400 `invalid_parameter` or 404 `not_found`,
//! always as a JSON error body.

use crate::server::{account, code, user, Server};
use trellis_primitives::DeviceAddress;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_parameters_are_400_invalid_parameter() {
    let s = Server::start().await;
    let device = DeviceAddress::from(user(9).public()).to_string();
    let account = account(1).to_string();
    assert!(device.starts_with("trd1") && account.starts_with("tr1"));

    for path in [
        "/v1/accounts/tr1nope".to_string(),
        "/v1/accounts/nope/proof".to_string(),
        // A device address is well-formed bech32m but not an account.
        format!("/v1/accounts/{device}"),
        format!("/v1/accounts/{device}/proof"),
        // And the other way round.
        format!("/v1/devices/{account}"),
        format!("/v1/devices/{account}/locations"),
        "/v1/txs/xyz".to_string(),
        format!("/v1/txs/{}", "ab".repeat(31)),
        "/v1/blocks/-1".to_string(),
        "/v1/blocks/one".to_string(),
        "/v1/blocks/18446744073709551616".to_string(),
        // Not UTF-8 once percent-decoded.
        "/v1/accounts/%FF".to_string(),
        "/v1/txs/%C0".to_string(),
        "/v1/blocks/%FF".to_string(),
        // Two-segment routes too.
        "/v1/rewards/1/devices/%FF".to_string(),
        format!("/v1/rewards/%FF/devices/{device}/reports"),
        format!("/v1/rewards/x/devices/{device}"),
        format!("/v1/rewards/1/devices/{account}/reports"),
    ] {
        let (status, v) = s.get(&path).await;
        assert_eq!((status, code(&v)), (400, "invalid_parameter"), "{path}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_things_are_404_not_found_and_an_unknown_tx_is_status_unknown() {
    let s = Server::start().await;
    let device = DeviceAddress::from(user(9).public());
    let unfunded = account(77);

    for path in [
        format!("/v1/devices/{device}"),
        format!("/v1/devices/{device}/locations"),
        format!("/v1/accounts/{unfunded}/proof"),
        "/v1/blocks/999999999".to_string(),
        "/v1/no/such/route".to_string(),
        "/no/such/page".to_string(),
    ] {
        let (status, v) = s.get(&path).await;
        assert_eq!((status, code(&v)), (404, "not_found"), "{path}: {v}");
        assert!(v["error"]["message"].is_string(), "{path}: {v}");
    }

    // Ids are opaque hashes: one never seen is a status, not an error.
    let id = "ab".repeat(32);
    let (status, v) = s.get(&format!("/v1/txs/{id}")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "unknown", "{v}");
    assert_eq!(v["tx_id"], id.as_str(), "{v}");

    // An account with no state entry reads as the default (empty) account.
    let (status, v) = s.get(&format!("/v1/accounts/{unfunded}")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["account"]["balance"], "0", "{v}");
}
