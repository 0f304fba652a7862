//! Weather stations and energy meters on the simulated weather, scored each epoch by the QoD
//! scorer the oracle runs (`trellis_sensor::score_epoch`), each device's last reading of the
//! previous epoch as its baseline.

use super::{
    draw,
    ingest::{Arrival, Door},
    population::{distance_m, Attack, Class, Population},
    DeviceEpoch, NetworkConfig, EPOCH_MS, START_MS,
};
use crate::weather::{Meter, WeatherField};
use std::collections::BTreeMap;
use trellis_primitives::DeviceAddress;
use trellis_rewards::DeviceShare;
use trellis_sensor::{
    epoch_readings, reading::centre_centi_deg, score_epoch, sensor_shares, Measurement, QodConfig, Reading,
    SensorFacts, SensorKind,
};

/// Readings every five minutes: twelve an epoch.
const INTERVAL_MS: u64 = 300_000;

pub(super) struct Sensors {
    config: QodConfig,
    field: WeatherField,
    facts: BTreeMap<DeviceAddress, SensorFacts>,
    meters: BTreeMap<usize, Meter>,
    /// What each stuck sensor keeps repeating.
    stuck: BTreeMap<usize, Measurement>,
    /// Each copier's victim: the nearest honest station.
    victim: BTreeMap<usize, usize>,
    baselines: BTreeMap<DeviceAddress, Reading>,
    seed: u64,
}

impl Sensors {
    pub(super) fn new(config: &NetworkConfig, pop: &Population) -> Self {
        let mut facts = BTreeMap::new();
        let mut meters = BTreeMap::new();
        for class in [Class::Weather, Class::Energy] {
            for i in pop.of(class) {
                let d = &pop.devices[i];
                facts.insert(
                    d.address,
                    SensorFacts {
                        owner: d.owner,
                        kind: Some(if class == Class::Weather {
                            SensorKind::Weather
                        } else {
                            SensorKind::Energy
                        }),
                        cell: Some(d.asserted_cell),
                        centre_centi_deg: centre_centi_deg(d.asserted_cell),
                        interval_s: Some(INTERVAL_MS / 1_000),
                        capacity_w: Some(5_000),
                    },
                );
                if class == Class::Energy {
                    let key = draw(config.seed, &[b"meter", &d.address.key().0]);
                    meters.insert(
                        i,
                        Meter {
                            capacity_w: 5_000,
                            base_load_w: 500 + key % 500,
                            produced_mwh_total: key % 1_000_000_000,
                            consumed_mwh_total: (key >> 24) % 1_000_000_000,
                            at_ms: START_MS,
                        },
                    );
                }
            }
        }
        let honest: Vec<usize> = pop
            .of(Class::Weather)
            .filter(|&i| pop.devices[i].attack.is_none())
            .collect();
        let mut victim = BTreeMap::new();
        for i in pop
            .of(Class::Weather)
            .filter(|&i| pop.devices[i].attack == Some(Attack::CopiedReadings))
        {
            let me = pop.devices[i].actual;
            let nearest = honest.iter().copied().min_by(|&a, &b| {
                distance_m(me, pop.devices[a].actual).total_cmp(&distance_m(me, pop.devices[b].actual))
            });
            if let Some(v) = nearest {
                victim.insert(i, v);
            }
        }
        Sensors {
            config: QodConfig::default(),
            field: WeatherField { seed: config.seed },
            facts,
            meters,
            stuck: BTreeMap::new(),
            victim,
            baselines: BTreeMap::new(),
            seed: config.seed,
        }
    }

    /// The station's own measurement schedule: its offset within each interval.
    fn offset(&self, pop: &Population, i: usize) -> u64 {
        draw(self.seed, &[b"sensor offset", &pop.devices[i].address.key().0]) % (INTERVAL_MS - 5_000)
    }

    pub(super) fn epoch(
        &mut self,
        e: u32,
        pop: &Population,
        door: &mut Door,
        out: &mut [DeviceEpoch],
    ) -> Vec<DeviceShare> {
        let start = START_MS + u64::from(e) * EPOCH_MS;
        let mut arrivals = Vec::new();
        for i in pop.of(Class::Weather).chain(pop.of(Class::Energy)) {
            let d = &pop.devices[i];
            for k in 0..EPOCH_MS / INTERVAL_MS {
                let (source, delay) = match (d.attack, self.victim.get(&i)) {
                    (Some(Attack::CopiedReadings), Some(&v)) => (v, 1_000),
                    _ => (i, 0),
                };
                let at = start + k * INTERVAL_MS + self.offset(pop, source);
                let measurement = match d.class {
                    Class::Energy => {
                        let Some(meter) = self.meters.get_mut(&i) else { continue };
                        let (lat, lng) = centre_centi_deg(d.asserted_cell).unwrap_or((0, 0));
                        let before = (meter.produced_mwh_total, meter.at_ms);
                        meter.advance(lat, lng, at, draw(self.seed, &[b"load", &d.address.key().0]));
                        if d.attack == Some(Attack::InflatedMeter) {
                            meter.produced_mwh_total += 20_000 * (at - before.1) / 3_600;
                        }
                        meter.measurement()
                    }
                    _ => {
                        let s = &pop.devices[source];
                        let mut m = self.field.measure(
                            s.actual.0,
                            s.actual.1,
                            at,
                            u64::from_le_bytes(s.address.key().0[..8].try_into().unwrap_or([0; 8])),
                        );
                        match d.attack {
                            Some(Attack::StuckSensor) => m = self.stuck.entry(i).or_insert(m).clone(),
                            Some(Attack::FabricatedReadings) => {
                                if let Measurement::Weather {
                                    temperature_centi_c, ..
                                } = &mut m
                                {
                                    *temperature_centi_c += 900;
                                }
                            }
                            _ => {}
                        }
                        m
                    }
                };
                arrivals.push(Arrival {
                    key: &d.key,
                    received_ms: at + delay + 150,
                    timestamp_ms: at + delay,
                    kind: measurement.to_report(d.asserted_cell),
                });
            }
        }
        let frames = door.pass(arrivals);
        let readings = epoch_readings(&frames, start, start + EPOCH_MS);
        let qod = score_epoch(&self.config, &self.facts, &self.baselines, &readings, EPOCH_MS);
        for r in &readings {
            self.baselines.insert(r.device, r.clone());
        }
        let index: BTreeMap<DeviceAddress, usize> = pop
            .of(Class::Weather)
            .chain(pop.of(Class::Energy))
            .map(|i| (pop.devices[i].address, i))
            .collect();
        for q in &qod.devices {
            if let Some(&i) = index.get(&q.device) {
                let mut reasons: Vec<String> = q
                    .device_flags
                    .iter()
                    .filter(|f| f.disqualifies())
                    .map(|f| f.code().to_string())
                    .collect();
                // A tenth of the readings flagged is evidence too (a broken or lying sensor).
                if u64::from(q.readings - q.valid) * 10 > u64::from(q.readings) {
                    reasons.extend(q.flagged.keys().cloned());
                }
                out[i].flagged = !reasons.is_empty();
                out[i].reasons = reasons;
            }
        }
        sensor_shares(&self.config, &self.facts, &qod)
    }
}
