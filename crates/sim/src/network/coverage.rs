//! Hotspots on the simulated air: every hotspot beacons once an epoch with the entropy of the
//! latest simulated block; every radio in range hears it at the RSSI the propagation model gives
//! (a forger reports its own number); colluders also hear each other over an off-band channel.
//! The coverage crate's `run_epoch` — the oracle's code — judges it all and computes the shares.

use super::{
    block_hash, draw, ideal,
    ingest::{Arrival, Door},
    limit,
    population::{distance_m, east_north_m, Attack, Class, Population},
    DeviceEpoch, NetworkConfig, EPOCH_MS, START_MS,
};
use crate::air::AirModel;
use h3o::{CellIndex, LatLng, Resolution};
use std::collections::{BTreeMap, VecDeque};
use trellis_coverage::{
    entropy::beacon_payload,
    epoch::{run_epoch, History, PocOutcome},
    redundancy::RedundancyConfig,
    reports::from_log,
    CoverageConfig, HotspotFacts,
};
use trellis_primitives::{DeviceAddress, Hash, Location};
use trellis_proto::{report::Kind, Beacon, Witness};
use trellis_rewards::DeviceShare;

const FREQUENCY_HZ: u64 = 904_300_000;
const TX_POWER_DBM: f64 = 27.0;
/// 3 dBi at each end.
const GAINS_DBI: f64 = 6.0;
/// A gateway reports at most this many beacons it heard per beacon (the nearest).
const MAX_HEARD: usize = 30;
/// One honest hotspot in this many is put to the ideal test each epoch, to set its threshold.
const HONEST_SAMPLE: usize = 10;
/// Entropy blocks per epoch (one every ten minutes: beacons use the latest).
const SLOTS: u32 = 6;
/// Rejection reasons that are evidence of cheating rather than bad luck (a device is accused
/// when they are a tenth of its reports).
const EVIDENCE: [&str; 10] = [
    "beacon_location_inconsistent",
    "beacon_located_elsewhere",
    "witness_located_elsewhere",
    "witness_location_inconsistent",
    "witness_rssi_above_free_space",
    "witness_rssi_above_environment",
    "witness_rssi_below_sensitivity",
    "witness_same_owner",
    "witness_too_far",
    "witness_wrong_region",
];

pub(super) struct Coverage {
    config: CoverageConfig,
    redundancy: RedundancyConfig,
    /// Dense urban-suburban propagation: exponent 3.5 keeps range to a few km.
    air: AirModel,
    /// The colluders' channel: plausible for the asserted distance, hardly any fading.
    offband: AirModel,
    facts: BTreeMap<DeviceAddress, HotspotFacts>,
    /// Hotspot indexes by the resolution-6 cell of where their radio really is.
    by_cell: BTreeMap<CellIndex, Vec<usize>>,
    /// Colluding groups' members.
    groups: BTreeMap<(Attack, u32), Vec<usize>>,
    /// The last epochs' outcomes, newest last.
    window: VecDeque<Vec<PocOutcome>>,
    seed: u64,
}

fn cell6(p: (f64, f64)) -> Option<CellIndex> {
    LatLng::new(p.0, p.1).ok().map(|ll| ll.to_cell(Resolution::Six))
}

impl Coverage {
    pub(super) fn new(config: &NetworkConfig, pop: &Population) -> Self {
        let mut facts = BTreeMap::new();
        let mut by_cell: BTreeMap<CellIndex, Vec<usize>> = BTreeMap::new();
        let mut groups: BTreeMap<(Attack, u32), Vec<usize>> = BTreeMap::new();
        for i in pop.of(Class::Hotspot) {
            let d = &pop.devices[i];
            facts.insert(
                d.address,
                HotspotFacts {
                    is_hotspot: true,
                    location: Location::from_degrees(d.asserted.0, d.asserted.1).ok(),
                    gain_centi_dbi: 300,
                    region: 1,
                    owner: Some(d.owner),
                },
            );
            if let Some(c) = cell6(d.actual) {
                by_cell.entry(c).or_default().push(i);
            }
            if let Some(a @ (Attack::SybilCluster | Attack::WitnessRing)) = d.attack {
                groups.entry((a, d.group)).or_default().push(i);
            }
        }
        Coverage {
            config: CoverageConfig {
                beacon_interval_ms: EPOCH_MS / 2,
                ..CoverageConfig::default()
            },
            redundancy: RedundancyConfig::default(),
            air: AirModel {
                exponent: 3.5,
                shadowing_sigma_db: 6.0,
                sensitivity_dbm: -130.0,
            },
            offband: AirModel {
                exponent: 2.5,
                shadowing_sigma_db: 1.0,
                sensitivity_dbm: -200.0,
            },
            facts,
            by_cell,
            groups,
            window: VecDeque::new(),
            seed: config.seed,
        }
    }

    fn history(&self) -> History {
        let mut h = History::default();
        // Newest first: `back` 1 is the previous epoch.
        for (back, outcomes) in (1..).zip(self.window.iter().rev()) {
            h.absorb_epoch(&self.config, back, outcomes);
        }
        h
    }

    /// The epoch's beacons and witnesses, through ingest, verified; flags and shares.
    pub(super) fn epoch(
        &mut self,
        e: u32,
        pop: &Population,
        door: &mut Door,
        out: &mut [DeviceEpoch],
    ) -> Vec<DeviceShare> {
        let start = START_MS + u64::from(e) * EPOCH_MS;
        let slot_ms = EPOCH_MS / u64::from(SLOTS);
        let mut entropy_times: BTreeMap<Hash, u64> = BTreeMap::new();
        for back in [e.saturating_sub(1), e] {
            for s in 0..SLOTS {
                let t = START_MS + u64::from(back) * EPOCH_MS + u64::from(s) * slot_ms;
                entropy_times.insert(block_hash(self.seed, back, s), t);
            }
        }
        let mut arrivals = Vec::new();
        let hotspots: Vec<usize> = pop.of(Class::Hotspot).collect();
        for &b in &hotspots {
            let dev = &pop.devices[b];
            let at =
                start + draw(self.seed, &[b"beacon at", &dev.address.key().0, &e.to_le_bytes()]) % (EPOCH_MS - slot_ms);
            let slot = u32::try_from((at - start) / slot_ms).unwrap_or(0);
            let entropy = block_hash(self.seed, e, slot);
            let payload = beacon_payload(&entropy, &dev.address).to_vec();
            arrivals.push(Arrival {
                key: &dev.key,
                received_ms: at,
                timestamp_ms: at - 40,
                kind: Kind::Beacon(Beacon {
                    entropy: entropy.0.to_vec(),
                    payload: payload.clone(),
                    frequency_hz: FREQUENCY_HZ,
                    tx_power_centi_dbm: (TX_POWER_DBM * 100.0) as i64,
                }),
            });
            let round = u64::from(e);
            // Who hears it over the air: radios in the 19 resolution-6 cells around it.
            let mut heard: Vec<(f64, usize, f64)> = Vec::new();
            // A link of `d` metres to hotspot `w` over `model`, if it carries.
            let link = |model: &AirModel, w: usize, d: f64| {
                let to = &pop.devices[w].address;
                model
                    .rssi_dbm(&dev.address, to, round, TX_POWER_DBM, GAINS_DBI, d, FREQUENCY_HZ)
                    .map(|rssi| (d, w, rssi))
            };
            if let Some(c) = cell6(dev.actual) {
                for near in c.grid_disk::<Vec<_>>(2) {
                    for &w in self.by_cell.get(&near).into_iter().flatten() {
                        if w == b {
                            continue;
                        }
                        heard.extend(link(&self.air, w, distance_m(dev.actual, pop.devices[w].actual)));
                    }
                }
            }
            heard.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            heard.truncate(MAX_HEARD);
            // Colluders hear the other members of their group off-band, wherever they are.
            if let Some(a @ (Attack::SybilCluster | Attack::WitnessRing)) = dev.attack {
                for &w in self.groups.get(&(a, dev.group)).into_iter().flatten() {
                    if w != b {
                        heard.extend(link(
                            &self.offband,
                            w,
                            distance_m(dev.asserted, pop.devices[w].asserted),
                        ));
                    }
                }
            }
            for (_, w, rssi) in heard {
                let wd = &pop.devices[w];
                let rssi_centi = if wd.attack == Some(Attack::RssiForger) {
                    -3_000
                } else {
                    (rssi * 100.0).round() as i64
                };
                let heard_at =
                    at + 200 + draw(self.seed, &[b"witness at", &wd.address.key().0, &e.to_le_bytes()]) % 800;
                arrivals.push(Arrival {
                    key: &wd.key,
                    received_ms: heard_at,
                    timestamp_ms: heard_at - 40,
                    kind: Kind::Witness(Witness {
                        payload: payload.clone(),
                        frequency_hz: FREQUENCY_HZ,
                        rssi_centi_dbm: rssi_centi,
                        snr_centi_db: 0,
                    }),
                });
            }
        }
        let frames = door.pass(arrivals);
        let (beacons, witnesses) = from_log(&frames, start, start + EPOCH_MS);
        let history = self.history();
        let (outcomes, shares): (Vec<PocOutcome>, Vec<DeviceShare>) = run_epoch(
            &self.config,
            &self.redundancy,
            &self.facts,
            &entropy_times,
            &history,
            &beacons,
            &witnesses,
        );
        let index: BTreeMap<DeviceAddress, usize> = hotspots.iter().map(|&i| (pop.devices[i].address, i)).collect();
        self.limits(e, pop, &index, &history, &outcomes, out);
        self.window.push_back(outcomes.clone());
        while self.window.len() as u64 > History::epochs_read(&self.config) {
            self.window.pop_front();
        }
        for s in &shares {
            if let Some(&i) = index.get(&s.device) {
                let evidence: Vec<(&String, &u32)> = s
                    .breakdown
                    .rejected_reports
                    .iter()
                    .filter(|(r, _)| EVIDENCE.contains(&r.as_str()))
                    .collect();
                let against: u32 = evidence.iter().map(|(_, n)| **n).sum();
                let reports = s.breakdown.counted_reports + s.breakdown.rejected_reports.values().sum::<u32>();
                // Accused when at least a tenth of its reports carry evidence: a verdict costs
                // only the link it is about, and one odd link among many is fading or a
                // neighbour's lie, not this device's fraud.
                out[i].flagged = against > 0 && u64::from(against) * 10 >= u64::from(reports);
                out[i].reasons = evidence.into_iter().map(|(r, _)| r.clone()).collect();
            }
        }
        shares
    }

    /// Sets the limits of detection from the links the location fit judged — the window's
    /// (`history`, as the verifier read it) and the epoch's (`current`), collected by the
    /// coverage crate's own rule for what stands as a measurement; `index` maps hotspots'
    /// addresses to their places in `pop`:
    /// - every Sybil identity's [`DeviceEpoch::ideal_miss_ppm`], from the links' expected heard
    ///   strengths ([`limit`]);
    /// - [`DeviceEpoch::ideal_gain_milli`] for every Sybil identity and one honest hotspot in
    ///   [`HONEST_SAMPLE`] (a different one each epoch), from the readings, less the links
    ///   with other cheaters ([`ideal`]).
    fn limits(
        &self,
        e: u32,
        pop: &Population,
        index: &BTreeMap<DeviceAddress, usize>,
        history: &History,
        current: &[PocOutcome],
        out: &mut [DeviceEpoch],
    ) {
        let mut now = History::default();
        now.absorb_links(current);
        let sybil = |i: usize| pop.devices[i].attack == Some(Attack::SybilCluster);
        let sampled = |i: usize| match pop.devices[i].attack {
            Some(Attack::SybilCluster) => true,
            None => (i + e as usize).is_multiple_of(HONEST_SAMPLE),
            Some(_) => false,
        };
        let mean = |d: f64| self.air.mean_rssi_dbm(TX_POWER_DBM, GAINS_DBI, d, FREQUENCY_HZ);
        let mut expected: BTreeMap<usize, Vec<limit::LinkMeans>> = BTreeMap::new();
        let mut heard: BTreeMap<usize, Vec<ideal::Heard>> = BTreeMap::new();
        for l in history.recent_links.iter().chain(&now.recent_links) {
            let (Some(&b), Some(&w)) = (index.get(&l.beaconer), index.get(&l.witness)) else {
                continue;
            };
            let (db, dw) = (&pop.devices[b], &pop.devices[w]);
            let link = limit::LinkMeans {
                claimed_dbm: mean(distance_m(db.asserted, dw.asserted)),
                real_dbm: mean(distance_m(db.actual, dw.actual)),
            };
            for end in [b, w].into_iter().filter(|&i| sybil(i)) {
                expected.entry(end).or_default().push(link);
            }
            for (me, other) in [(b, w), (w, b)] {
                if !sampled(me) || pop.devices[other].attack.is_some() {
                    continue;
                }
                let (east_m, north_m) = east_north_m(pop.devices[me].asserted, pop.devices[other].asserted);
                heard.entry(me).or_default().push(ideal::Heard {
                    east_m,
                    north_m,
                    rssi_dbm: l.rssi_centi_dbm as f64 / 100.0,
                });
            }
        }
        let test = ideal::Ideal {
            at_1m_dbm: mean(1.0),
            exponent: self.air.exponent,
            sigma_db: self.air.shadowing_sigma_db,
            floor_dbm: self.air.sensitivity_dbm,
            radius_m: self.config.location_fit.as_ref().map_or(8_000, |f| f.search_radius_m) as f64,
        };
        for i in pop.of(Class::Hotspot).filter(|&i| sampled(i)) {
            if sybil(i) {
                let links = expected.get(&i).map_or(&[][..], Vec::as_slice);
                out[i].ideal_miss_ppm = Some(limit::miss_ppm(
                    links,
                    self.air.shadowing_sigma_db,
                    self.air.sensitivity_dbm,
                ));
            }
            let links = heard.get(&i).map_or(&[][..], Vec::as_slice);
            out[i].ideal_gain_milli = Some((test.improvement(links) * 1_000.0).round() as i64);
        }
    }
}
