//! One epoch of proof-of-coverage: verdicts for every beacon and witness, then reward shares.

use crate::{
    config::CoverageConfig,
    density::PPM,
    redundancy::{beacon_units, RedundancyConfig},
    reports::{BeaconReport, WitnessReport},
    verify::{verify_beacon, verify_witnesses, BeaconInvalid, VerifyContext, WitnessInvalid},
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use trellis_primitives::{AccountAddress, DeviceAddress};
use trellis_rewards::{shares::ShareBreakdown, DeviceShare, Pool};

/// A beacon, its verdict, and its witnesses' verdicts in canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PocOutcome {
    /// The beacon.
    pub beacon: BeaconReport,
    /// Its verdict.
    pub verdict: Result<(), BeaconInvalid>,
    /// Its witnesses (empty when the beacon is invalid: they are not judged).
    pub witnesses: Vec<(WitnessReport, Result<(), WitnessInvalid>)>,
}

/// Verdicts for an epoch. Beacons are judged in (receive time, beaconer) order so "one beacon per
/// interval" is decided the same way everywhere; `history` holds each hotspot's last valid
/// beacon before the epoch and the window's links for the location fit. Witnesses are matched to
/// beacons by payload.
pub fn verify_epoch(
    ctx: &VerifyContext<'_>,
    beacons: &[BeaconReport],
    witnesses: &[WitnessReport],
    history: &History,
) -> Vec<PocOutcome> {
    let last_beacon_ms = &history.last_beacon_ms;
    let mut ordered: Vec<&BeaconReport> = beacons.iter().collect();
    ordered.sort_by(|a, b| (a.received_ms, a.beaconer, &a.payload).cmp(&(b.received_ms, b.beaconer, &b.payload)));
    let mut by_payload: BTreeMap<&[u8], Vec<WitnessReport>> = BTreeMap::new();
    for w in witnesses {
        by_payload.entry(w.payload.as_slice()).or_default().push(w.clone());
    }
    let mut last = last_beacon_ms.clone();
    let mut outcomes: Vec<PocOutcome> = ordered
        .into_iter()
        .map(
            |beacon| match verify_beacon(ctx, beacon, last.get(&beacon.beaconer).copied()) {
                Ok(facts) => {
                    last.insert(beacon.beaconer, beacon.received_ms);
                    let heard = by_payload
                        .get(beacon.payload.as_slice())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let witnesses = verify_witnesses(ctx, beacon, &facts, heard);
                    PocOutcome {
                        beacon: beacon.clone(),
                        verdict: Ok(()),
                        witnesses,
                    }
                }
                Err(reason) => PocOutcome {
                    beacon: beacon.clone(),
                    verdict: Err(reason),
                    witnesses: Vec::new(),
                },
            },
        )
        .collect();
    if let Some(check) = &ctx.config.environment {
        crate::environment::apply(check, ctx, &mut outcomes);
        if let Some(fit) = &ctx.config.location_fit {
            crate::locate::apply(fit, check, ctx, &history.recent_links, &mut outcomes);
        }
    }
    outcomes
}

/// What earlier epochs' verdicts say, for rules that span epochs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Each hotspot's last valid beacon (receive time), for the beacon interval.
    pub last_beacon_ms: BTreeMap<DeviceAddress, u64>,
    /// Hotspots with a valid witness of someone else in the window.
    pub recent_witnessers: BTreeSet<DeviceAddress>,
    /// Hotspots with a witnessed valid beacon in the window.
    pub recent_beaconers: BTreeSet<DeviceAddress>,
    /// The window's links as the location fit uses them (see [`History::absorb`]).
    pub recent_links: Vec<PastLink>,
}

/// A link of an earlier epoch: a witness that passed every check of its own before the location
/// fit, of a beacon that did too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastLink {
    /// Who transmitted.
    pub beaconer: DeviceAddress,
    /// Who heard it.
    pub witness: DeviceAddress,
    /// The beacon's conducted power, centi-dBm.
    pub tx_power_centi_dbm: i64,
    /// The beacon's frequency.
    pub frequency_hz: u64,
    /// What the witness heard, centi-dBm.
    pub rssi_centi_dbm: i64,
}

/// Whether a verdict leaves the link standing as a measurement: valid, or invalid only because
/// the location fit put one end elsewhere (which is what the next epochs' fits judge again).
fn measured<E: PartialEq>(verdict: &Result<(), E>, located_elsewhere: E) -> bool {
    match verdict {
        Ok(()) => true,
        Err(e) => *e == located_elsewhere,
    }
}

impl History {
    /// Epochs before the current one that a verifier with `config` reads: the longer of the
    /// reciprocity window and the location fit's.
    pub fn epochs_read(config: &CoverageConfig) -> u64 {
        let fit = config.location_fit.as_ref().map_or(0, |f| f.window_epochs);
        config.reciprocity_window_epochs.max(fit)
    }

    /// Folds in the outcomes of the epoch `back` epochs before the current one (1 = the
    /// previous): its links if it is inside the fit's window, its beacons and reciprocity if it
    /// is inside the reciprocity window.
    pub fn absorb_epoch(&mut self, config: &CoverageConfig, back: u64, outcomes: &[PocOutcome]) {
        if config.location_fit.as_ref().is_some_and(|f| back <= f.window_epochs) {
            self.absorb_links(outcomes);
        }
        if back <= config.reciprocity_window_epochs {
            self.absorb_reciprocity(outcomes);
        }
    }

    /// Folds in one earlier epoch's outcomes, all of them. Links are kept when both the beacon and the witness
    /// stand as measurements (valid, or invalid only as located elsewhere: a located-elsewhere
    /// beacon keeps its witnesses' verdicts for this), so a hotspot the fit caught stays judged on
    /// the whole window rather than escaping on the next epoch's thinner evidence.
    pub fn absorb(&mut self, outcomes: &[PocOutcome]) {
        self.absorb_links(outcomes);
        self.absorb_reciprocity(outcomes);
    }

    /// Folds in one earlier epoch's links only (the location fit's window is longer than the
    /// reciprocity window: see [`crate::locate::LocationFit::window_epochs`]).
    pub fn absorb_links(&mut self, outcomes: &[PocOutcome]) {
        for o in outcomes
            .iter()
            .filter(|o| measured(&o.verdict, BeaconInvalid::LocatedElsewhere))
        {
            for (w, _) in o
                .witnesses
                .iter()
                .filter(|(_, v)| measured(v, WitnessInvalid::LocatedElsewhere))
            {
                self.recent_links.push(PastLink {
                    beaconer: o.beacon.beaconer,
                    witness: w.witness,
                    tx_power_centi_dbm: o.beacon.tx_power_centi_dbm,
                    frequency_hz: o.beacon.frequency_hz,
                    rssi_centi_dbm: w.rssi_centi_dbm,
                });
            }
        }
    }

    /// Folds in one earlier epoch's last beacons and reciprocity only.
    pub fn absorb_reciprocity(&mut self, outcomes: &[PocOutcome]) {
        for o in outcomes.iter().filter(|o| o.verdict.is_ok()) {
            let last = self.last_beacon_ms.entry(o.beacon.beaconer).or_insert(0);
            *last = (*last).max(o.beacon.received_ms);
            let mut heard = false;
            for (w, v) in &o.witnesses {
                if v.is_ok() {
                    heard = true;
                    self.recent_witnessers.insert(w.witness);
                }
            }
            if heard {
                self.recent_beaconers.insert(o.beacon.beaconer);
            }
        }
    }
}

/// Inputs of the share computation beyond the verdicts.
pub struct ShareInputs<'a> {
    /// HIP-15 parameters.
    pub redundancy: &'a RedundancyConfig,
    /// HIP-17 transmit scale per hotspot (ppm); missing means full scale.
    pub transmit_scale_ppm: &'a BTreeMap<DeviceAddress, u64>,
    /// Who is paid for each hotspot.
    pub owner: &'a dyn Fn(&DeviceAddress) -> Option<AccountAddress>,
    /// Hotspots with a valid witness of someone else in the reciprocity window before this epoch.
    pub recent_witnessers: &'a BTreeSet<DeviceAddress>,
    /// Hotspots with a witnessed valid beacon in the reciprocity window before this epoch.
    pub recent_beaconers: &'a BTreeSet<DeviceAddress>,
}

#[derive(Default)]
struct Tally {
    micro_units: u64,
    breakdown: ShareBreakdown,
    beacon_micro: u64,
    witness_micro: u64,
}

/// Coverage-pool shares for an epoch.
///
/// Reciprocity (Helium's rule against one-way participants): a beaconer earns only if it also
/// witnessed others (this epoch or in the window), and a witness earns only if it also beaconed
/// with at least one valid witness. Units are HIP-15 micro-units times the beaconer's HIP-17
/// transmit scale; only the first `max_witnesses` valid witnesses of a beacon count.
pub fn coverage_shares(outcomes: &[PocOutcome], inputs: &ShareInputs<'_>) -> Vec<DeviceShare> {
    let mut witnessed_others: BTreeSet<DeviceAddress> = inputs.recent_witnessers.clone();
    let mut beaconed_heard: BTreeSet<DeviceAddress> = inputs.recent_beaconers.clone();
    for o in outcomes.iter().filter(|o| o.verdict.is_ok()) {
        let valid: Vec<&WitnessReport> = o.witnesses.iter().filter(|(_, v)| v.is_ok()).map(|(w, _)| w).collect();
        if !valid.is_empty() {
            beaconed_heard.insert(o.beacon.beaconer);
        }
        witnessed_others.extend(valid.iter().map(|w| w.witness));
    }
    let mut tallies: BTreeMap<DeviceAddress, Tally> = BTreeMap::new();
    let reject = |tallies: &mut BTreeMap<DeviceAddress, Tally>, d: DeviceAddress, reason: String| {
        *tallies
            .entry(d)
            .or_default()
            .breakdown
            .rejected_reports
            .entry(reason)
            .or_default() += 1;
    };
    for o in outcomes {
        if let Err(reason) = o.verdict {
            reject(
                &mut tallies,
                o.beacon.beaconer,
                format!("beacon_{}", serde_reason(&reason)),
            );
            continue;
        }
        let mut valid = Vec::new();
        for (w, verdict) in &o.witnesses {
            match verdict {
                Ok(()) if (valid.len() as u32) < inputs.redundancy.max_witnesses => valid.push(w.witness),
                Ok(()) => reject(&mut tallies, w.witness, "witness_over_cap".into()),
                Err(reason) => reject(&mut tallies, w.witness, format!("witness_{}", serde_reason(reason))),
            }
        }
        let units = beacon_units(inputs.redundancy, valid.len() as u32);
        let scale = inputs
            .transmit_scale_ppm
            .get(&o.beacon.beaconer)
            .copied()
            .unwrap_or(PPM);
        let scaled = |micro: u64| (u128::from(micro) * u128::from(scale) / u128::from(PPM)) as u64;
        if witnessed_others.contains(&o.beacon.beaconer) {
            let t = tallies.entry(o.beacon.beaconer).or_default();
            t.micro_units += scaled(units.beaconer_micro);
            t.beacon_micro += scaled(units.beaconer_micro);
            t.breakdown.counted_reports += 1;
        } else {
            reject(&mut tallies, o.beacon.beaconer, "beacon_no_reciprocity".into());
        }
        for w in valid {
            if beaconed_heard.contains(&w) {
                let t = tallies.entry(w).or_default();
                t.micro_units += scaled(units.per_witness_micro);
                t.witness_micro += scaled(units.per_witness_micro);
                t.breakdown.counted_reports += 1;
            } else {
                reject(&mut tallies, w, "witness_no_reciprocity".into());
            }
        }
    }
    tallies
        .into_iter()
        .filter_map(|(device, mut t)| {
            let owner = (inputs.owner)(&device)?;
            t.breakdown.factors = vec![
                ("beacon_micro_units".into(), t.beacon_micro),
                ("witness_micro_units".into(), t.witness_micro),
                (
                    "transmit_scale_ppm".into(),
                    inputs.transmit_scale_ppm.get(&device).copied().unwrap_or(PPM),
                ),
            ];
            Some(DeviceShare {
                device,
                owner,
                pool: Pool::Coverage,
                units: t.micro_units,
                earned_credits: 0,
                breakdown: t.breakdown,
            })
        })
        .collect()
}

fn serde_reason<T: Serialize>(reason: &T) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// One epoch as the reward oracle runs it, for anyone who holds the same inputs (the oracle, an
/// auditor, the network simulator): verdicts for every report, HIP-17 transmit scales from the
/// asserted cells of the hotspots in `hotspots` (the epoch's reporters' chain facts), then the
/// coverage pool's shares. `entropy_times` maps block hashes to their block times.
pub fn run_epoch(
    config: &crate::CoverageConfig,
    redundancy: &RedundancyConfig,
    hotspots: &BTreeMap<DeviceAddress, crate::HotspotFacts>,
    entropy_times: &BTreeMap<trellis_primitives::Hash, u64>,
    history: &History,
    beacons: &[BeaconReport],
    witnesses: &[WitnessReport],
) -> (Vec<PocOutcome>, Vec<DeviceShare>) {
    let hotspot = |d: &DeviceAddress| hotspots.get(d).cloned();
    let entropy_time = |h: &trellis_primitives::Hash| entropy_times.get(h).copied();
    let (denylist, edges) = (BTreeSet::new(), BTreeSet::new());
    let ctx = VerifyContext {
        config,
        hotspot: &hotspot,
        entropy_time_ms: &entropy_time,
        denylist: &denylist,
        denylisted_edges: &edges,
    };
    let outcomes = verify_epoch(&ctx, beacons, witnesses, history);
    let cells: BTreeMap<DeviceAddress, h3o::CellIndex> = hotspots
        .iter()
        .filter(|(_, h)| h.is_hotspot)
        .filter_map(|(a, h)| h.location.map(|l| (*a, l.cell())))
        .collect();
    let scales = crate::density::transmit_scales(&cells, &crate::density::hip17_defaults());
    let owner = |d: &DeviceAddress| hotspots.get(d).and_then(|h| h.owner);
    let inputs = ShareInputs {
        redundancy,
        transmit_scale_ppm: &scales,
        owner: &owner,
        recent_witnessers: &history.recent_witnessers,
        recent_beaconers: &history.recent_beaconers,
    };
    let shares = coverage_shares(&outcomes, &inputs);
    (outcomes, shares)
}
