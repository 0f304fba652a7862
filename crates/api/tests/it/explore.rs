//! The listing routes the explorer reads, on a chain with blocks but no devices (no maker can be
//! registered here): exact pages, empty states, bounded limits, and the page itself.

use crate::server::{code, transfer, user, Server, MIN_FEE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_newest_first_and_empty_states_are_empty_not_errors() {
    let s = Server::start().await;
    // One transfer per block (each waits for the last), so the chain has several blocks.
    let mut tx_height = 0;
    for nonce in 0..3 {
        let tx = transfer(&user(1), &user(2), 5, nonce, MIN_FEE);
        assert_eq!(s.submit(&tx).await.0, 202);
        tx_height = s.wait_committed(&tx.id().to_hex()).await["height"].as_u64().unwrap();
    }

    // Blocks: newest first, contiguous, and `next` continues exactly below the page.
    let (status, page) = s.get("/v1/blocks?limit=3").await;
    assert_eq!(status, 200, "{page}");
    let heights: Vec<u64> = page["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    let tip = page["tip"].as_u64().unwrap();
    assert!(tip >= 3, "{page}");
    assert_eq!(heights, vec![tip, tip - 1, tip - 2]);
    assert_eq!(page["next"], tip - 2);
    let (_, older) = s.get(&format!("/v1/blocks?before={}&limit=100", tip - 2)).await;
    let older: Vec<u64> = older["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["height"].as_u64().unwrap())
        .collect();
    assert_eq!(older, (0..tip - 2).rev().collect::<Vec<_>>());
    let (_, bottom) = s.get("/v1/blocks?before=1").await;
    assert_eq!(bottom["blocks"].as_array().unwrap().len(), 1);
    assert_eq!(bottom["next"], serde_json::Value::Null);
    let (_, with_tx) = s.get(&format!("/v1/blocks?before={}&limit=1", tx_height + 1)).await;
    assert_eq!(with_tx["blocks"][0]["tx_count"], 1, "{with_tx}");

    // Epoch 0 is in progress; nothing minted yet, fees burned.
    let (_, epochs) = s.get("/v1/epochs").await;
    assert_eq!(epochs["current"], 0);
    assert_eq!(epochs["epochs"].as_array().unwrap().len(), 1);
    assert_eq!(epochs["epochs"][0]["complete"], false);
    assert_eq!(epochs["epochs"][0]["minted"], serde_json::Value::Null);

    // No devices, deals or jobs: empty lists and an empty map.
    for (path, key) in [
        ("/v1/devices", "devices"),
        ("/v1/deals", "deals"),
        ("/v1/jobs", "jobs"),
        ("/v1/map", "cells"),
        ("/v1/storage/moves", "moves"),
    ] {
        let (status, v) = s.get(path).await;
        assert_eq!(status, 200, "{path}: {v}");
        assert_eq!(v[key].as_array().unwrap().len(), 0, "{path}: {v}");
    }
    let (_, owned) = s
        .get(&format!("/v1/accounts/{}/devices", crate::server::account(1)))
        .await;
    assert_eq!(owned["devices"].as_array().unwrap().len(), 0, "{owned}");
    let (_, map) = s.get("/v1/map?res=3&class=storage").await;
    assert_eq!(
        (map["resolution"].as_u64(), map["unlocated"].as_u64()),
        (Some(3), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_400_invalid_parameter() {
    let s = Server::start().await;
    for path in [
        "/v1/map?res=13",
        "/v1/map?res=x",
        "/v1/map?class=router",
        "/v1/devices?class=Hotspot",
        "/v1/devices?limit=0",
        "/v1/devices?limit=1001",
        "/v1/devices?owner=tr1nope",
        "/v1/devices?cell=zz",
        "/v1/devices?after=tr1nope",
        "/v1/blocks?limit=101",
        "/v1/blocks?before=-1",
        "/v1/epochs?limit=501",
        "/v1/deals?limit=0",
        "/v1/jobs?limit=99999",
        "/v1/storage/moves?blocks=0",
        "/v1/storage/moves?blocks=10001",
        "/v1/storage/moves?blocks=many",
        "/v1/storage/audits/x",
        "/v1/storage/audits/-1",
    ] {
        let (status, v) = s.get(path).await;
        assert_eq!((status, code(&v)), (400, "invalid_parameter"), "{path}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_page_and_its_assets_are_served_and_a_browser_gets_a_404_page() {
    let s = Server::start().await;
    for path in ["/", "/map", "/devices/anything", "/epochs/3", "/jobs/ab"] {
        let (status, content_type, body) = s.get_text(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(content_type.starts_with("text/html"), "{path}: {content_type}");
        assert!(body.contains("<title>Trellis explorer</title>"), "{path}");
    }
    for (path, kind) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/views.js", "text/javascript"),
        ("/ui/map.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
        ("/ui/basemap.json", "application/json"),
    ] {
        let (status, content_type, body) = s.get_text(path).await;
        assert_eq!(
            (status, content_type.starts_with(kind)),
            (200, true),
            "{path}: {content_type}"
        );
        assert!(body.len() > 100, "{path}");
    }
    let (_, _, basemap) = s.get_text("/ui/basemap.json").await;
    let basemap: serde_json::Value = serde_json::from_str(&basemap).unwrap();
    assert!(basemap["features"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["coords"].as_array().unwrap().len() >= 3));

    // A browser navigating to a path that is no page gets an HTML 404 (the shell says "not
    // found"); an API client gets the JSON error.
    let r = s
        .http
        .get(format!("{}/no/such/page", s.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("Trellis explorer"));
    let (status, v) = s.get("/no/such/page").await;
    assert_eq!((status, code(&v)), (404, "not_found"));
}
