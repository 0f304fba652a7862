//! The coverage verifier run over the ingest report log for an epoch: verdicts and shares.

use anyhow::{Context, Result};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};
use trellis_chain::Node;
use trellis_coverage::{
    density::{hip17_defaults, transmit_scales},
    epoch::{coverage_shares, verify_epoch, PocOutcome, ShareInputs},
    redundancy::RedundancyConfig,
    verify::VerifyContext,
    BeaconReport, CoverageConfig, HotspotFacts, WitnessReport,
};
use trellis_ledger::{DeviceClass, StateRead};
use trellis_primitives::{AccountAddress, DeviceAddress, Epoch, Hash};
use trellis_proto::{report::Kind, Envelope};
use trellis_rewards::DeviceShare;

/// Every hotspot is in one regulatory region until region plans are on chain.
const DEVNET_REGION: u16 = 1;

/// Coverage shares from the report log.
pub(crate) struct CoverageSource {
    pub(crate) node: Node,
    /// The ingest object store directory.
    pub(crate) archive_dir: PathBuf,
    pub(crate) config: CoverageConfig,
    pub(crate) redundancy: RedundancyConfig,
}

/// Verdicts and shares of an epoch.
pub(crate) struct CoverageEpoch {
    pub(crate) outcomes: Vec<PocOutcome>,
    pub(crate) shares: Vec<DeviceShare>,
}

impl CoverageSource {
    /// The epoch's block timestamps: [first block of `epoch`, first block of the next).
    fn time_range(&self, epoch: Epoch, len: u64) -> Result<Option<(u64, u64)>> {
        let store = self.node.store();
        let start = store.block(epoch.0 * len)?.map(|b| b.header.timestamp_ms);
        let end = store.block((epoch.0 + 1) * len)?.map(|b| b.header.timestamp_ms);
        Ok(start.zip(end))
    }

    /// Verdicts and shares for `epoch` (which must be complete).
    pub(crate) fn run(&self, epoch: Epoch) -> Result<CoverageEpoch> {
        let len = self.node.with_state(|s, _| s.params())?.epoch_len_blocks;
        let Some((start_ms, end_ms)) = self.time_range(epoch, len)? else {
            return Ok(CoverageEpoch {
                outcomes: Vec::new(),
                shares: Vec::new(),
            });
        };
        let frames = tokio::runtime::Handle::current().block_on(async {
            let store = object_store::local::LocalFileSystem::new_with_prefix(&self.archive_dir)?;
            trellis_ingest::log::read_all(&store).await.map_err(anyhow::Error::from)
        })?;
        let (mut beacons, mut witnesses) = (Vec::new(), Vec::new());
        for frame in frames
            .into_iter()
            .filter(|f| (start_ms..end_ms).contains(&f.received_ms))
        {
            let Some(signed) = frame.report else { continue };
            let Ok(env) = Envelope::decode(&prost::Message::encode_to_vec(&signed)) else {
                continue;
            };
            match env.report.kind {
                Some(Kind::Beacon(b)) => {
                    let Ok(entropy) = <[u8; 32]>::try_from(b.entropy.as_slice()) else {
                        continue;
                    };
                    beacons.push(BeaconReport {
                        beaconer: env.device,
                        entropy: Hash(entropy),
                        payload: b.payload,
                        frequency_hz: b.frequency_hz,
                        tx_power_centi_dbm: b.tx_power_centi_dbm,
                        received_ms: frame.received_ms,
                    });
                }
                Some(Kind::Witness(w)) => witnesses.push(WitnessReport {
                    witness: env.device,
                    payload: w.payload,
                    frequency_hz: w.frequency_hz,
                    rssi_centi_dbm: w.rssi_centi_dbm,
                    received_ms: frame.received_ms,
                }),
                _ => {}
            }
        }
        // Entropy: hashes of blocks from a lifespan before the epoch to its end.
        let mut entropy_times: BTreeMap<Hash, u64> = BTreeMap::new();
        let lifespan_blocks = len.max(1) * 2;
        let first = (epoch.0 * len).saturating_sub(lifespan_blocks);
        for height in first..=(epoch.0 + 1) * len {
            if let Some(block) = self.node.store().block(height)? {
                entropy_times.insert(block.header.hash(), block.header.timestamp_ms);
            }
        }
        let devices = self
            .node
            .with_state(|s, _| -> Result<BTreeMap<DeviceAddress, trellis_ledger::Device>> {
                let mut out = BTreeMap::new();
                for d in beacons
                    .iter()
                    .map(|b| b.beaconer)
                    .chain(witnesses.iter().map(|w| w.witness))
                {
                    if let Some(dev) = s.device(&d)? {
                        out.insert(d, dev);
                    }
                }
                Ok(out)
            })?;
        let facts = |d: &DeviceAddress| {
            devices.get(d).map(|dev| HotspotFacts {
                is_hotspot: dev.class == DeviceClass::Hotspot,
                location: dev.location.as_ref().map(|l| l.location),
                gain_centi_dbi: dev
                    .location
                    .as_ref()
                    .and_then(|l| l.antenna)
                    .map_or(0, |a| i64::from(a.gain_dbi_tenths) * 10),
                region: DEVNET_REGION,
            })
        };
        let entropy_time = |h: &Hash| entropy_times.get(h).copied();
        let (denylist, edges) = (BTreeSet::new(), BTreeSet::new());
        let ctx = VerifyContext {
            config: &self.config,
            hotspot: &facts,
            entropy_time_ms: &entropy_time,
            denylist: &denylist,
            denylisted_edges: &edges,
        };
        let outcomes = verify_epoch(&ctx, &beacons, &witnesses, &BTreeMap::new());
        let cells: BTreeMap<DeviceAddress, h3o::CellIndex> = devices
            .iter()
            .filter(|(_, d)| d.class == DeviceClass::Hotspot)
            .filter_map(|(a, d)| d.location.as_ref().map(|l| (*a, l.location.cell())))
            .collect();
        let scales = transmit_scales(&cells, &hip17_defaults());
        let owner = |d: &DeviceAddress| -> Option<AccountAddress> { devices.get(d).map(|dev| dev.owner) };
        let (recent_w, recent_b) = (BTreeSet::new(), BTreeSet::new());
        let inputs = ShareInputs {
            redundancy: &self.redundancy,
            transmit_scale_ppm: &scales,
            owner: &owner,
            recent_witnessers: &recent_w,
            recent_beaconers: &recent_b,
        };
        let shares = coverage_shares(&outcomes, &inputs);
        Ok(CoverageEpoch { outcomes, shares })
    }
}

/// Writes the epoch's verdicts (one JSON document, canonical order) next to the reward archive.
pub(crate) fn write_verdicts(dir: &std::path::Path, epoch: Epoch, outcomes: &[PocOutcome]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("verdicts-{}.json", epoch.0));
    std::fs::write(&path, serde_json::to_vec_pretty(outcomes)?)
        .with_context(|| format!("cannot write {}", path.display()))
}
