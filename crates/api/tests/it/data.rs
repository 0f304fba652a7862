//! The sensor data gateway: a catalogue for free, readings only to signed requests, charged per
//! reading against the allowance bought on chain, never twice for one signature, and a meter
//! that survives restarts.

use crate::server::{account, code, user, Server, CHAIN, MIN_FEE};
use serde_json::Value;
use std::collections::BTreeMap;
use trellis_api::data::{request_hash, DataMeter};
use trellis_ledger::{state::DATA_ACCESS, Transaction, TxBody, TxKind};
use trellis_primitives::{Amount, Credits, DeviceAddress, Epoch, Keypair, Location};
use trellis_sensor::{
    reading::centre_centi_deg, score_epoch, Measurement, QodConfig, Reading, SensorArchive, SensorFacts, SensorKind,
};

fn station(seed: u8) -> DeviceAddress {
    Keypair::from_seed([seed; 32]).public().into()
}

/// An archive for epoch 3: station 50 with 30 minute readings (the last five out of range),
/// station 51 with 80.
fn write_archive(dir: &std::path::Path) -> SensorArchive {
    let cell = Location::from_degrees(37.77, -122.42).unwrap().index();
    let facts = || SensorFacts {
        owner: account(1),
        kind: Some(SensorKind::Weather),
        cell: Some(cell),
        centre_centi_deg: centre_centi_deg(cell),
        interval_s: Some(60),
        capacity_w: None,
    };
    let facts: BTreeMap<_, _> = [(station(50), facts()), (station(51), facts())].into_iter().collect();
    let mut readings = Vec::new();
    for (seed, n) in [(50u8, 30u64), (51, 80)] {
        for i in 0..n {
            let t = 1_800_000_000_000 + i * 60_000;
            readings.push(Reading {
                device: station(seed),
                timestamp_ms: t,
                received_ms: t + 100,
                gps_cell: cell,
                measurement: Measurement::Weather {
                    // Station 50's last five readings are 99 °C: out of range.
                    temperature_centi_c: if seed == 50 && i >= 25 {
                        9_900
                    } else {
                        1_500 + (i as i64 % 7) * 3 + i64::from(seed)
                    },
                    humidity_centi_pct: 6_000 + (i as u32 % 5) * 7,
                    pressure_pa: 101_300 + (i as u32 % 3),
                    wind_speed_cm_s: 200,
                    wind_direction_deg: 90,
                    rain_um: 0,
                },
            });
        }
    }
    let config = QodConfig::default();
    let qod = score_epoch(&config, &facts, &BTreeMap::new(), &readings, 80 * 60_000);
    let archive = SensorArchive {
        epoch: Epoch(3),
        settings: config,
        start_ms: 1_800_000_000_000,
        end_ms: 1_800_000_000_000 + 80 * 60_000,
        qod,
    };
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join(SensorArchive::file_name(Epoch(3))),
        serde_json::to_vec(&archive).unwrap(),
    )
    .unwrap();
    archive
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// GET `path` signed by `signer` for `account_of` at `timestamp_ms`; status, body, charged header.
async fn signed(
    s: &Server,
    path: &str,
    signer: &Keypair,
    account_of: &Keypair,
    timestamp_ms: u64,
) -> (u16, Value, Option<u64>) {
    let sig = signer.sign(request_hash("GET", path, timestamp_ms).as_bytes());
    let r = s
        .http
        .get(format!("{}{path}", s.url))
        .header(
            "x-trellis-account",
            trellis_primitives::AccountAddress::from(account_of.public()).to_string(),
        )
        .header("x-trellis-timestamp", timestamp_ms.to_string())
        .header("x-trellis-signature", hex::encode(sig.0))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let charged = r
        .headers()
        .get("x-trellis-credits-charged")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, r.json().await.unwrap(), charged)
}

async fn send(s: &Server, from: &Keypair, nonce: u64, kind: TxKind) {
    let body = TxBody {
        chain_id: CHAIN.into(),
        signer: from.public().into(),
        nonce,
        fee: Amount::from_units(MIN_FEE),
        kind,
    };
    let (status, v) = s.submit(&Transaction::sign(body, from)).await;
    assert_eq!(status, 202, "{v}");
    let done = s.wait_committed(v["tx_id"].as_str().unwrap()).await;
    assert_eq!(done["receipt"]["status"], "success", "{done}");
}

#[tokio::test]
async fn readings_are_sold_per_reading_against_the_allowance_bought_on_chain() {
    let s = Server::start_with_data().await;
    let archive = write_archive(&s.archive);
    let (alice, bob) = (user(1), user(2));

    // The catalogue is free and says what each stream costs.
    let (status, v) = s.get("/data/v1/streams").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["epoch"], 3);
    let prices: BTreeMap<String, u64> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["device"].as_str().unwrap().to_string(),
                x["price_credits"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(prices[&station(50).to_string()], 30);
    assert_eq!(prices[&station(51).to_string()], 80);
    assert_eq!(s.get("/data/v1/epochs").await.1["epochs"], serde_json::json!([3]));

    let path = format!("/data/v1/devices/{}/readings", station(50));
    // Unsigned: 401 with a hint.
    let (status, v) = s.get(&path).await;
    assert_eq!((status, code(&v)), (401, "unauthorized"), "{v}");
    // Signed, but no allowance yet: 402.
    let (status, v, _) = signed(&s, &path, &alice, &alice, now_ms()).await;
    assert_eq!((status, code(&v)), (402, "payment_required"), "{v}");

    // Buy credits (burn), then spend 100 of them on data.
    send(
        &s,
        &alice,
        0,
        TxKind::BurnForCredits {
            amount: Amount::from_units(500_000),
            beneficiary: account(1),
        },
    )
    .await;
    send(
        &s,
        &alice,
        1,
        TxKind::SpendCredits {
            amount: Credits(100),
            purpose: DATA_ACCESS,
        },
    )
    .await;
    let (status, v, _) = signed(&s, "/data/v1/account", &alice, &alice, now_ms()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["allowance"].as_u64(), v["used"].as_u64(), v["remaining"].as_u64()),
        (Some(100), Some(0), Some(100))
    );

    // 30 readings for 30 credits, exactly the archive's, verdicts included.
    let t = now_ms();
    let (status, v, charged) = signed(&s, &path, &alice, &alice, t).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (charged, v["charged"].as_u64(), v["remaining"].as_u64()),
        (Some(30), Some(30), Some(70))
    );
    let expected: Vec<Value> = archive
        .qod
        .readings
        .iter()
        .filter(|r| r.reading.device == station(50))
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(v["readings"].as_array().unwrap(), &expected);
    assert_eq!(
        expected
            .iter()
            .filter(|r| r["flags"] == serde_json::json!(["out_of_range:temperature"]))
            .count(),
        5
    );
    // The same signed request again is refused, not charged twice.
    let (status, v, _) = signed(&s, &path, &alice, &alice, t).await;
    assert_eq!(status, 401, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("already used"), "{v}");
    // Only the valid ones: 25 credits.
    let (status, v, charged) = signed(&s, &format!("{path}?valid_only=true"), &alice, &alice, now_ms()).await;
    assert_eq!((status, charged), (200, Some(25)), "{v}");
    assert_eq!(v["remaining"], 45);
    // 80 readings do not fit in 45: refused and nothing charged.
    let big = format!("/data/v1/devices/{}/readings?epoch=3", station(51));
    let (status, v, _) = signed(&s, &big, &alice, &alice, now_ms()).await;
    assert_eq!((status, code(&v)), (402, "payment_required"), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("45 left"), "{v}");
    assert_eq!(
        signed(&s, "/data/v1/account", &alice, &alice, now_ms()).await.1["used"],
        55
    );

    // Bob cannot spend Alice's allowance: his key does not sign for her account.
    let (status, _, _) = signed(&s, &path, &bob, &alice, now_ms()).await;
    assert_eq!(status, 401);
    // A request from ten minutes ago is stale.
    let (status, v, _) = signed(&s, &path, &alice, &alice, now_ms() - 600_000).await;
    assert_eq!(status, 401, "{v}");
    // Bad inputs are 4xx, never a charge.
    for (p, want) in [
        (format!("/data/v1/devices/{}/readings", station(52)), 404),
        (format!("{path}?epoch=9"), 404),
        (format!("{path}?limit=3"), 400),
        ("/data/v1/devices/nonsense/readings".to_string(), 400),
        ("/data/v1/cells/zz/readings".to_string(), 400),
    ] {
        let (status, v, charged) = signed(&s, &p, &alice, &alice, now_ms()).await;
        assert_eq!((status, charged), (want, None), "{p}: {v}");
    }
    assert_eq!(
        signed(&s, "/data/v1/account", &alice, &alice, now_ms()).await.1["used"],
        55
    );
}

#[test]
fn the_meter_survives_a_restart_and_never_overdraws() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meter.redb");
    let a = account(7);
    {
        let m = DataMeter::open(&path).unwrap();
        assert_eq!(m.charge(&a, 40, 100).unwrap(), Ok(60));
        assert_eq!(m.charge(&a, 61, 100).unwrap(), Err(60));
        assert_eq!(m.used(&a).unwrap(), 40);
    }
    let m = DataMeter::open(&path).unwrap();
    assert_eq!(m.used(&a).unwrap(), 40);
    assert_eq!(m.charge(&a, 60, 100).unwrap(), Ok(0));
    assert_eq!(m.charge(&a, 1, 100).unwrap(), Err(0));
    // A bigger allowance (more bought on chain) lets the account continue.
    assert_eq!(m.charge(&a, 1, 150).unwrap(), Ok(49));
}
