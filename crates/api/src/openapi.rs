//! The OpenAPI 3.1 document served at `/openapi.json`.
//!
//! Written by hand (no derive macro): it is short, and a test checks every route the router
//! serves appears here, so the two cannot drift apart.

use serde_json::{json, Value};

/// Paths the router serves, as they appear in the document.
pub const PATHS: &[&str] = &[
    "/v1/status",
    "/v1/txs",
    "/v1/txs/{id}",
    "/v1/accounts/{address}",
    "/v1/accounts/{address}/proof",
    "/v1/devices/{address}",
    "/v1/devices/{address}/locations",
    "/v1/blocks/latest",
    "/v1/blocks/{height}",
    "/v1/supply",
    "/v1/params",
    "/v1/events/blocks",
    "/v1/epochs/{epoch}",
    "/v1/manifests/{epoch}",
    "/v1/rewards/{epoch}",
    "/v1/rewards/{epoch}/devices/{device}",
    "/v1/rewards/{epoch}/devices/{device}/reports",
    "/v1/storage/audits/{epoch}",
    "/v1/storage/moves",
    "/v1/deals/{id}",
    "/v1/accounts/{address}/deals",
    "/v1/providers",
    "/v1/jobs/{id}",
    "/v1/accounts/{address}/jobs",
    "/v1/compute/providers",
    "/v1/compute/devices/{device}/duties",
    "/v1/devices",
    "/v1/accounts/{address}/devices",
    "/v1/map",
    "/v1/blocks",
    "/v1/epochs",
    "/v1/deals",
    "/v1/jobs",
    "/data/v1/epochs",
    "/data/v1/streams",
    "/data/v1/streams/{device}",
    "/data/v1/account",
    "/data/v1/devices/{device}/readings",
    "/data/v1/cells/{cell}/readings",
    "/metrics",
    "/openapi.json",
];

/// A GET with query parameters `(name, description)`.
fn get_query(summary: &str, query: &[(&str, &str)]) -> Value {
    let mut op = get(summary, None);
    op["get"]["parameters"] = query
        .iter()
        .map(|(name, description)| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } }))
        .collect();
    op
}

fn get(summary: &str, param: Option<(&str, &str)>) -> Value {
    let mut op = json!({
        "summary": summary,
        "responses": {
            "200": { "description": "OK" },
            "400": { "description": "Malformed parameter", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
            "404": { "description": "Not found", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
        }
    });
    if let Some((name, description)) = param {
        op["parameters"] = json!([{ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } }]);
    }
    json!({ "get": op })
}

/// The sensor data gateway's routes (kept apart: one `json!` of every path exceeds the macro's
/// recursion limit).
fn data_paths() -> Vec<(&'static str, Value)> {
    vec![
        ("/data/v1/epochs", get("Sensor data: the epochs with scored readings (QoD archives), newest first. Free.", None)),
        ("/data/v1/streams", get_query("Sensor data catalogue of an epoch (free): every weather station and energy meter with readings, valid readings, QoD in ppm, device flags and the price of its readings in credits.", &[
                ("epoch", "the epoch, default the newest scored"),
                ("valid_only", "price only the readings without a flag"),
            ])),
        ("/data/v1/streams/{device}", get_query("One device's quality of data in an epoch (free): readings, valid, expected, completeness and QoD in ppm, flagged readings by flag, device flags, mean temperature and humidity against its neighbours' median.", &[
                ("epoch", "the epoch, default the newest scored"),
            ])),
        ("/data/v1/account", get("The signing account's data allowance (credits spent on chain with the data-access purpose), what this gateway has charged and what remains. Signed request: headers x-trellis-account, x-trellis-timestamp (ms) and x-trellis-signature (hex ed25519 over the data-request hash of method, path with query and timestamp); 401 otherwise.", None)),
        ("/data/v1/devices/{device}/readings", get_query("One device's readings in an epoch with their QoD flags, charged 1 credit per reading returned against the signer's allowance (signed request as for /data/v1/account; 402 when the allowance does not cover it, nothing charged). Headers x-trellis-credits-charged and x-trellis-credits-remaining.", &[
                ("epoch", "the epoch, default the newest scored"),
                ("valid_only", "only readings that passed every check"),
            ])),
        ("/data/v1/cells/{cell}/readings", get_query("The readings of every device located in an H3 cell (resolution 0..=12), metered like /data/v1/devices/{device}/readings.", &[
                ("epoch", "the epoch, default the newest scored"),
                ("valid_only", "only readings that passed every check"),
            ])),
    ]
}

/// The document.
pub fn document() -> Value {
    let error_ref = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Trellis node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON API of a Trellis node. Amounts are strings of base units (1 TRL = 10^8 units). Errors are {\"error\": {\"code\", \"message\"}}."
        },
        "paths": {
            "/v1/status": get("Chain status: chain id, tip height/hash/state root, epoch, mempool size, finality, and the verifier keys (auditors and repairers; storage providers serve them free).", None),
            "/v1/txs": {
                "post": {
                    "summary": "Submit a signed transaction: raw canonical bytes (application/octet-stream) or {\"tx\": \"<hex>\"} (application/json). Returns its id; poll /v1/txs/{id} for finality.",
                    "requestBody": { "required": true, "content": {
                        "application/octet-stream": { "schema": { "type": "string", "format": "binary", "maxLength": 16384 } },
                        "application/json": { "schema": { "type": "object", "required": ["tx"], "properties": { "tx": { "type": "string", "description": "hex of the canonical encoding" } } } }
                    } },
                    "responses": {
                        "202": { "description": "Accepted into the mempool", "content": { "application/json": { "schema": { "type": "object", "properties": { "tx_id": { "type": "string" } } } } } },
                        "400": { "description": "Does not decode", "content": error_ref },
                        "413": { "description": "Body larger than 16 KiB (32 KiB for hex JSON)", "content": error_ref },
                        "415": { "description": "Unsupported content type", "content": error_ref },
                        "422": { "description": "Refused by the mempool (nonce, fee, balance, chain id)", "content": error_ref }
                    }
                }
            },
            "/v1/txs/{id}": get("Transaction status: pending, committed (final, with receipt), rejected (with reason) or unknown.", Some(("id", "transaction id, 64 hex digits"))),
            "/v1/accounts/{address}": get("Account balance, nonce, credits and unbonding entries.", Some(("address", "bech32m tr1… address"))),
            "/v1/accounts/{address}/proof": get("The account's state entry with a Merkle inclusion proof under the tip's state root.", Some(("address", "bech32m tr1… address"))),
            "/v1/devices/{address}": get("A registered device.", Some(("address", "bech32m trd1… device address"))),
            "/v1/devices/{address}/locations": get("Every location assertion of a device, oldest first.", Some(("address", "bech32m trd1… device address"))),
            "/v1/blocks/latest": get("The latest committed block with receipts.", None),
            "/v1/blocks/{height}": get("A committed block with receipts.", Some(("height", "block height"))),
            "/v1/supply": get("Supply accounting: issued, burned, circulating, credits minted and spent.", None),
            "/v1/params": get("Current chain parameters.", None),
            "/v1/events/blocks": get("Server-sent events: one `block` event per committed block.", None),
            "/v1/epochs/{epoch}": get("An epoch: its block range, whether it is complete, TRL burned in it (the net-emission input), the credits each device earned from consumers in it (compute_earned: jobs; storage_earned: settled deal epochs, the running epoch of deals closed in it, and egress; egress: bytes and credits claimed under clients' orders), the compute pool's units (compute_verified: credits of replay-confirmed work over the chance it was replayed), what a credit was worth (credit_value: earned credits are paid first from each pool at it) and its manifest if posted.", Some(("epoch", "epoch number"))),
            "/v1/manifests/{epoch}": get("The reward manifest posted on chain for an epoch: root, total, owner count, claimed so far.", Some(("epoch", "epoch number"))),
            "/v1/rewards/{epoch}": get("The oracle's archived result for an epoch: emission, pools, carry, every owner's and device's payout (404 if this node keeps no archive).", Some(("epoch", "epoch number"))),
            "/v1/rewards/{epoch}/devices/{device}": {
                "get": {
                    "summary": "Why a device earned what it earned in an epoch: its shares with counted/rejected reports and multipliers, and its payouts.",
                    "parameters": [
                        { "name": "epoch", "in": "path", "required": true, "schema": { "type": "string" } },
                        { "name": "device", "in": "path", "required": true, "description": "bech32m trd1… device address", "schema": { "type": "string" } }
                    ],
                    "responses": { "200": { "description": "OK" }, "400": { "description": "Malformed parameter" }, "404": { "description": "No archive, or no share for the device" } }
                }
            },
            "/v1/rewards/{epoch}/devices/{device}/reports": {
                "get": {
                    "summary": "Every report a device sent in an epoch (beacons and witnesses) with its verdict and, if rejected, the reason.",
                    "parameters": [
                        { "name": "epoch", "in": "path", "required": true, "schema": { "type": "string" } },
                        { "name": "device", "in": "path", "required": true, "description": "bech32m trd1… device address", "schema": { "type": "string" } }
                    ],
                    "responses": { "200": { "description": "OK" }, "400": { "description": "Malformed parameter" }, "404": { "description": "No verdicts archived for the epoch" } }
                }
            },
            "/v1/storage/audits/{epoch}": get("The storage auditor's archived audits of an epoch: block entropy and the auditor's signature of it (together the challenge seed), audit configuration, and every challenged piece with its deal, provider, chunk indices and verdict (404 if this node keeps no archive or the epoch was not audited).", Some(("epoch", "epoch number"))),
            "/v1/storage/moves": get_query("Committed piece moves (repairs) in the newest blocks, newest first: height, transaction, deal, piece index, new provider, signer.", &[("blocks", "how many of the newest blocks to scan, 1..=10000, default 1000")]),
            "/v1/deals/{id}": get("An open storage deal: client, coding, pieces with their providers and Merkle roots, escrow, paid, epochs settled, end epoch, and the client's open reports of bad downloads (each piece reported gets an audit on every chunk a challenge allows).", Some(("id", "deal id (the content commitment, hex)"))),
            "/v1/accounts/{address}/deals": get("Every open storage deal of a client.", Some(("address", "bech32m tr1… account address"))),
            "/v1/providers": get("Storage providers: address, owner, collateral and whether it meets the minimum, declared capacity and price, location, endpoint URL.", None),
            "/v1/jobs/{id}": get("A compute job: client, spec, escrow, runs with their providers, prices and commitments, verifications, status; and what the rules derive: drawn for replay, the replayer due, when it can be finalized.", Some(("id", "job id (hex)"))),
            "/v1/accounts/{address}/jobs": get("Every compute job a client posted.", Some(("address", "bech32m tr1… account address"))),
            "/v1/compute/providers": get("Compute providers: address, owner, collateral, whether it can be matched, endpoint, standing offer (slots, ask per 10^9 fuel, capability score, active jobs).", None),
            "/v1/compute/devices/{device}/duties": get("What a compute device has to do: open jobs assigned to it that it has not committed, and jobs it was drawn to replay.", Some(("device", "bech32m trd1… device address"))),
            "/v1/devices": get_query("Registered devices in address order, one page at a time; `next` is the `after` of the following page.", &[
                ("class", "hotspot, storage, compute, sensor or energy"),
                ("owner", "bech32m tr1… owner account"),
                ("cell", "an H3 cell (resolution 0..=12): devices located inside it"),
                ("after", "device address to start after (from `next`)"),
                ("limit", "1..=1000, default 200"),
            ]),
            "/v1/accounts/{address}/devices": get("The devices an account owns (same page shape and query parameters as /v1/devices).", Some(("address", "bech32m tr1… account address"))),
            "/v1/map": get_query("Located devices aggregated into H3 cells: per cell its boundary and centre in degrees, device counts by class, declared storage capacity, compute slots and stake, and (from the newest archived reward epoch, `scale_epoch`) the lowest and highest HIP-17 transmit scale of its hotspots in ppm; `unlocated` counts devices without a location.", &[
                ("res", "H3 resolution 0..=12, default 7"),
                ("class", "only devices of this class"),
            ]),
            "/v1/blocks": get_query("Block headers newest first: height, hash, time, transaction count, state root; `next` is the `before` of the following page.", &[
                ("before", "height to start below (exclusive); default the tip, inclusive"),
                ("limit", "1..=100, default 20"),
            ]),
            "/v1/epochs": get_query("Epochs newest first with TRL minted (posted manifest total), burned and claimed, and the manifest root: the economy over time.", &[
                ("before", "epoch to start below (exclusive)"),
                ("limit", "1..=500, default 100"),
            ]),
            "/v1/deals": get_query("Open storage deals in id order: client, size, coding, epochs, escrow and paid credits; `total` counts all.", &[("limit", "1..=500, default 100")]),
            "/v1/jobs": get_query("Compute jobs newest first: client, entry, providers, verifications, status, escrow and paid credits; `total` counts all.", &[("limit", "1..=500, default 100")]),
            "/metrics": get("Prometheus text metrics.", None),
            "/openapi.json": get("This document.", None)
        },
        "components": { "schemas": { "Error": {
            "type": "object", "required": ["error"],
            "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } }
        } } }
    });
    for (path, op) in data_paths() {
        doc["paths"][path] = op;
    }
    doc
}
