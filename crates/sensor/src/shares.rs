//! The sensor/energy pool's shares: QoD × the device's share of its hex.
//!
//! Units are ppm of one perfect device-epoch: a station with QoD 1.0 alone in its hex earns
//! 1,000,000 units; `n` scoring devices of one kind in one hex (at `density_resolution`) split
//! the hex, so each earns `qod / n`. Deploying where nobody measures pays; piling devices into one
//! hex does not, which is also what makes Sybil clusters in one place unprofitable.

use crate::{
    config::QodConfig,
    qod::{DeviceFlag, EpochQod},
    reading::{SensorFacts, SensorKind},
};
use h3o::{CellIndex, Resolution};
use std::collections::BTreeMap;
use trellis_primitives::DeviceAddress;
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};

/// The hex a device's reward is shared in.
fn density_hex(config: &QodConfig, facts: &SensorFacts) -> Option<CellIndex> {
    let res = Resolution::try_from(config.density_resolution).ok()?;
    CellIndex::try_from(facts.cell?).ok()?.parent(res)
}

/// One share per device that sent readings and has an owner on chain (zero units when nothing
/// counted, so the reasons reach the explorer).
pub fn sensor_shares(
    config: &QodConfig,
    facts: &BTreeMap<DeviceAddress, SensorFacts>,
    epoch: &EpochQod,
) -> Vec<DeviceShare> {
    let mut per_hex: BTreeMap<(SensorKind, CellIndex), u64> = BTreeMap::new();
    for q in epoch.devices.iter().filter(|q| q.qod_ppm > 0) {
        if let (Some(kind), Some(hex)) = (q.kind, facts.get(&q.device).and_then(|f| density_hex(config, f))) {
            *per_hex.entry((kind, hex)).or_default() += 1;
        }
    }
    epoch
        .devices
        .iter()
        .filter_map(|q| {
            let f = facts.get(&q.device)?;
            let sharing = q
                .kind
                .zip(density_hex(config, f))
                .and_then(|key| per_hex.get(&key).copied())
                .unwrap_or(1)
                .max(1);
            let mut rejected = q.flagged.clone();
            for flag in &q.device_flags {
                *rejected.entry(flag.code().to_string()).or_default() += 1;
            }
            let gps_bps = if q.device_flags.contains(&DeviceFlag::NoGpsFix) {
                u64::from(config.no_gps_bps)
            } else {
                10_000
            };
            Some(DeviceShare {
                device: q.device,
                owner: f.owner,
                pool: Pool::SensorEnergy,
                units: q.qod_ppm / sharing,
                earned_credits: 0,
                breakdown: ShareBreakdown {
                    counted_reports: q.valid,
                    rejected_reports: rejected,
                    factors: vec![
                        ("expected_readings".into(), u64::from(q.expected)),
                        ("completeness_ppm".into(), q.completeness_ppm),
                        ("gps_bps".into(), gps_bps),
                        ("qod_ppm".into(), q.qod_ppm),
                        ("hex_devices".into(), sharing),
                    ],
                },
            })
        })
        .collect()
}
