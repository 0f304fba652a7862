//! The OpenAPI document lists every route, and every listed route is served.

use crate::server::{account, code, transfer, user, Server, MIN_FEE};
use trellis_api::openapi::PATHS;
use trellis_primitives::DeviceAddress;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lists_every_path_and_every_path_is_served() {
    let s = Server::start().await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in PATHS {
        assert!(paths.contains_key(*path), "{path} is missing from the document");
    }
    assert_eq!(paths.len(), PATHS.len(), "the document lists paths PATHS does not");

    // What the router's fallback answers, to tell it apart from a handler's own 404.
    let (_, _, fallback) = s.get_text("/v1/no/such/route").await;

    // Real parameters: a committed transaction, its block, a funded account. No device can be
    // registered without a maker, so device routes get a well-formed unknown device (a 404 from
    // the handler, not the fallback).
    let tx = transfer(&user(1), &user(2), 1, 0, MIN_FEE);
    assert_eq!(s.submit(&tx).await.0, 202);
    let committed = s.wait_committed(&tx.id().to_hex()).await;
    let height = committed["height"].to_string();
    let address = account(1).to_string();
    let device = DeviceAddress::from(user(9).public()).to_string();

    for path in PATHS {
        if matches!(*path, "/v1/txs" | "/v1/events/blocks") {
            continue; // POST-only, and an endless stream: covered elsewhere.
        }
        let concrete = if path.starts_with("/v1/devices/") {
            path.replace("{address}", &device)
        } else if path.contains("{device}") && !path.contains("{epoch}") {
            path.replace("{device}", &device)
        } else if path.contains("{epoch}") {
            path.replace("{epoch}", "0").replace("{device}", &device)
        } else {
            path.replace("{id}", &tx.id().to_hex())
                .replace("{address}", &address)
                .replace("{height}", &height)
                .replace("{cell}", "872830828ffffff")
        };
        assert!(!concrete.contains('{'), "{path}: unknown parameter");
        let (status, content_type, body) = s.get_text(&concrete).await;
        assert_ne!(body, fallback, "{concrete} fell through to the fallback");
        // Unknown devices, no manifest posted yet, no reward archive, no storage deal: the
        // handlers' own 404s.
        let own_404 = concrete.starts_with("/v1/devices/")
            || concrete.starts_with("/v1/deals/")
            || concrete.starts_with("/v1/jobs/")
            || (path.contains("{epoch}") && !path.starts_with("/v1/epochs/"));
        // Sensor data: no archive on this node, and the metered routes want a signature.
        if concrete.starts_with("/data/") {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(
                matches!((status, code(&v)), (404, "not_found") | (401, "unauthorized")),
                "{concrete}: {status} {body}"
            );
            continue;
        }
        if own_404 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!((status, code(&v)), (404, "not_found"), "{concrete}: {body}");
            continue;
        }
        assert_eq!(status, 200, "{concrete}: {body}");
        if *path == "/metrics" {
            assert!(content_type.starts_with("text/plain"), "{concrete}: {content_type}");
        } else {
            assert!(
                content_type.starts_with("application/json"),
                "{concrete}: {content_type}"
            );
            let _: serde_json::Value = serde_json::from_str(&body).unwrap();
        }
    }

    // Spot checks that the parameters were used.
    let (_, v) = s.get(&format!("/v1/txs/{}", tx.id())).await;
    assert_eq!(v["status"], "committed", "{v}");
    let (_, v) = s.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(v["block"]["header"]["height"].to_string(), height, "{v}");
    let (_, v) = s.get("/v1/status").await;
    assert_eq!(v["chain_id"], crate::server::CHAIN, "{v}");
}
