//! What a run shows: per attack, how often and how soon it was caught and what it earned next
//! to an honest device of its class; false positives among honest devices; reward inequality;
//! and the coverage map. Markdown and SVG, in integer arithmetic where numbers are judged, so
//! the bytes repeat for the same run.

use super::{
    population::{Attack, Class},
    NetworkRun, EPOCH_MS,
};
use std::collections::BTreeMap;

/// Appends a formatted line to a `String`.
macro_rules! out {
    ($s:expr, $($t:tt)*) => {{
        $s.push_str(&format!($($t)*));
        $s.push('\n');
    }};
}

/// One attack's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackRow {
    /// The attack.
    pub attack: Attack,
    /// Cheating devices.
    pub devices: u64,
    /// Their share of their class's devices, ppm.
    pub device_share_ppm: u64,
    /// Share of their device-epochs in which they were flagged or (outside compute) earned
    /// nothing, ppm.
    pub detection_ppm: u64,
    /// Mean epochs until a cheater was first flagged or unpaid (ceil); `None` if never.
    pub epochs_to_detection: Option<u64>,
    /// Cheaters never flagged nor unpaid in any epoch.
    pub never_detected: u64,
    /// What a cheater earned on average, as ppm of what an honest device of the class earned.
    pub capture_ppm: u64,
    /// The cheaters' share of everything paid to their class, ppm.
    pub reward_share_ppm: u64,
    /// Where only the links can tell (Sybil identities): the share of cheater-epochs the ideal
    /// test misses on the readings drawn, at its 1 % false-alarm threshold, ppm — what a
    /// cheater earning like an honest device whenever undetected would capture against a
    /// perfect verifier ([`super::ideal`]).
    pub limit_ppm: Option<u64>,
    /// The same limit as an expectation over fading, from the links' expected heard strengths:
    /// the mean chance an ideal detector would miss a cheater in an epoch, ppm
    /// ([`super::limit`]).
    pub expected_limit_ppm: Option<u64>,
}

/// One class's honest outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRow {
    /// The class.
    pub class: Class,
    /// Honest devices.
    pub honest: u64,
    /// Honest device-epochs flagged with evidence of cheating, ppm.
    pub false_positive_ppm: u64,
    /// Why, by reason: device-epochs.
    pub false_positive_reasons: BTreeMap<String, u64>,
    /// Mean paid to an honest device over the run, base units.
    pub honest_mean_paid: u64,
    /// Gini coefficient of what the class's devices were paid, ppm.
    pub gini_ppm: u64,
}

/// The report's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Per attack.
    pub attacks: Vec<AttackRow>,
    /// Per class.
    pub classes: Vec<ClassRow>,
    /// Gini of every device's total pay, ppm.
    pub gini_ppm: u64,
    /// The ideal test's threshold, thousandths of σ²: the 99th percentile (nearest rank) of its
    /// statistic over the sampled honest hotspot-epochs; `None` if none was sampled.
    pub ideal_threshold_milli: Option<i64>,
    /// Honest hotspot-epochs the ideal test sampled.
    pub ideal_honest_samples: u64,
}

fn ppm(num: u128, den: u128) -> u64 {
    if den == 0 {
        return 0;
    }
    u64::try_from(num * 1_000_000 / den).unwrap_or(u64::MAX)
}

/// Gini coefficient of `values`, ppm: `(2 Σ i·x_(i)) / (n Σ x) − (n + 1) / n`, i from 1.
pub fn gini_ppm(values: &[u64]) -> u64 {
    let mut v: Vec<u128> = values.iter().map(|&x| u128::from(x)).collect();
    v.sort_unstable();
    let n = v.len() as u128;
    let total: u128 = v.iter().sum();
    if n == 0 || total == 0 {
        return 0;
    }
    let weighted: u128 = v.iter().enumerate().map(|(i, x)| (i as u128 + 1) * x).sum();
    let a = 2 * weighted * 1_000_000 / (n * total);
    let b = (n + 1) * 1_000_000 / n;
    u64::try_from(a.saturating_sub(b)).unwrap_or(0)
}

impl NetworkRun {
    /// Each device's total pay over the run.
    pub fn totals(&self) -> Vec<u64> {
        let mut t = vec![0u64; self.population.devices.len()];
        for epoch in &self.epochs {
            for (i, d) in epoch.iter().enumerate() {
                t[i] = t[i].saturating_add(d.paid);
            }
        }
        t
    }

    /// The numbers the report shows.
    pub fn summary(&self) -> Summary {
        let totals = self.totals();
        let devices = &self.population.devices;
        let mut classes = Vec::new();
        let mut honest_mean: BTreeMap<Class, u64> = BTreeMap::new();
        let mut class_paid: BTreeMap<Class, u128> = BTreeMap::new();
        for class in Class::ALL {
            let members: Vec<usize> = self.population.of(class).collect();
            if members.is_empty() {
                continue;
            }
            let honest: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| devices[i].attack.is_none())
                .collect();
            let paid: u128 = honest.iter().map(|&i| u128::from(totals[i])).sum();
            let mean = u64::try_from(paid / honest.len().max(1) as u128).unwrap_or(u64::MAX);
            honest_mean.insert(class, mean);
            class_paid.insert(class, members.iter().map(|&i| u128::from(totals[i])).sum());
            let flagged: u128 = self
                .epochs
                .iter()
                .map(|e| honest.iter().filter(|&&i| e[i].flagged).count() as u128)
                .sum();
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            for e in &self.epochs {
                for &i in &honest {
                    for r in e[i].reasons.iter().filter(|_| e[i].flagged) {
                        *reasons.entry(r.clone()).or_default() += 1;
                    }
                }
            }
            let class_totals: Vec<u64> = members.iter().map(|&i| totals[i]).collect();
            classes.push(ClassRow {
                class,
                honest: honest.len() as u64,
                false_positive_ppm: ppm(flagged, honest.len() as u128 * self.epochs.len() as u128),
                false_positive_reasons: reasons,
                honest_mean_paid: mean,
                gini_ppm: gini_ppm(&class_totals),
            });
        }
        let mut honest_gains: Vec<i64> = self
            .epochs
            .iter()
            .flat_map(|e| {
                (0..devices.len())
                    .filter(|&i| devices[i].attack.is_none())
                    .filter_map(|i| e[i].ideal_gain_milli)
            })
            .collect();
        honest_gains.sort_unstable();
        let ideal_threshold_milli = (!honest_gains.is_empty())
            .then(|| honest_gains[(honest_gains.len() * 99).div_ceil(100).clamp(1, honest_gains.len()) - 1]);
        let mut attacks = Vec::new();
        for attack in Attack::ALL {
            let cheaters: Vec<usize> = (0..devices.len())
                .filter(|&i| devices[i].attack == Some(attack))
                .collect();
            if cheaters.is_empty() {
                continue;
            }
            let class = attack.class();
            let class_n = self.population.of(class).count() as u128;
            // Unpaid counts as caught, except in compute: there every run nobody replayed earns
            // no pool units, honest or not, so an unpaid epoch says nothing.
            let unpaid_is_caught = class != Class::Compute;
            let caught = |e: &[super::DeviceEpoch], i: usize| e[i].flagged || (unpaid_is_caught && e[i].units == 0);
            let detected: u128 = self
                .epochs
                .iter()
                .map(|e| cheaters.iter().filter(|&&i| caught(e, i)).count() as u128)
                .sum();
            let firsts: Vec<u64> = cheaters
                .iter()
                .filter_map(|&i| self.epochs.iter().position(|e| caught(e, i)).map(|p| p as u64 + 1))
                .collect();
            let paid: u128 = cheaters.iter().map(|&i| u128::from(totals[i])).sum();
            let mean = paid / cheaters.len() as u128;
            let misses: Vec<u64> = self
                .epochs
                .iter()
                .flat_map(|e| cheaters.iter().filter_map(|&i| e[i].ideal_miss_ppm))
                .collect();
            attacks.push(AttackRow {
                attack,
                devices: cheaters.len() as u64,
                device_share_ppm: ppm(cheaters.len() as u128, class_n),
                detection_ppm: ppm(detected, cheaters.len() as u128 * self.epochs.len() as u128),
                epochs_to_detection: (!firsts.is_empty())
                    .then(|| firsts.iter().sum::<u64>().div_ceil(firsts.len() as u64)),
                never_detected: (cheaters.len() - firsts.len()) as u64,
                capture_ppm: ppm(mean, u128::from(honest_mean.get(&class).copied().unwrap_or(0))),
                reward_share_ppm: ppm(paid, class_paid.get(&class).copied().unwrap_or(0)),
                limit_ppm: ideal_threshold_milli.and_then(|t| {
                    let gains: Vec<i64> = self
                        .epochs
                        .iter()
                        .flat_map(|e| cheaters.iter().filter_map(|&i| e[i].ideal_gain_milli))
                        .collect();
                    let missed = gains.iter().filter(|g| **g < t).count();
                    (!gains.is_empty()).then(|| ppm(missed as u128, gains.len() as u128))
                }),
                expected_limit_ppm: (!misses.is_empty()).then(|| misses.iter().sum::<u64>() / misses.len() as u64),
            });
        }
        Summary {
            attacks,
            classes,
            gini_ppm: gini_ppm(&totals),
            ideal_threshold_milli,
            ideal_honest_samples: honest_gains.len() as u64,
        }
    }
}

/// `ppm` as a percentage with two decimals.
pub fn percent(ppm: u64) -> String {
    format!("{}.{:02} %", ppm / 10_000, ppm % 10_000 / 100)
}

/// TRL with two decimals from base units.
fn trl(units: u64) -> String {
    let cents = units / (trellis_primitives::UNITS_PER_TRL / 100);
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The report in Markdown.
pub fn markdown(run: &NetworkRun, summary: &Summary) -> String {
    let c = &run.config;
    let mut s = String::new();
    out!(s, "# Trellis network simulation\n");
    out!(
        s,
        "Seed {}, {} epochs of {} min, {} devices: {} hotspots, {} weather stations, {} energy meters, {} storage providers, {} compute providers (map {:.0} km square). Every verdict by the verifiers' own code; every payout by the reward engine.\n",
        c.seed,
        c.epochs,
        EPOCH_MS / 60_000,
        c.devices(),
        c.hotspots,
        c.stations,
        c.meters,
        c.storage,
        c.compute,
        run.population.side_km
    );
    out!(
        s,
        "Ingest admitted {} signed reports{}.\n",
        run.ingest_admitted,
        if run.ingest_refused.is_empty() {
            " and refused none".to_string()
        } else {
            format!(
                " and refused {}",
                run.ingest_refused
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    out!(s, "## Attacks\n");
    out!(s, "| attack | class | devices | of class | detected (device-epochs) | epochs to detection | never detected | earns vs honest | limit of detection | expected limit | share of class pay |");
    out!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for a in &summary.attacks {
        out!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            a.attack.name(),
            a.attack.class().name(),
            a.devices,
            percent(a.device_share_ppm),
            percent(a.detection_ppm),
            a.epochs_to_detection.map_or("never".to_string(), |e| e.to_string()),
            a.never_detected,
            percent(a.capture_ppm),
            a.limit_ppm.map_or("—".to_string(), percent),
            a.expected_limit_ppm.map_or("—".to_string(), percent),
            percent(a.reward_share_ppm)
        );
    }
    out!(s, "\n## Honest devices\n");
    out!(s, "| class | honest devices | false positives (device-epochs) | why | mean pay per device (TRL) | Gini of class pay |");
    out!(s, "|---|---:|---:|---|---:|---:|");
    for r in &summary.classes {
        out!(
            s,
            "| {} | {} | {} | {} | {} | {}.{:03} |",
            r.class.name(),
            r.honest,
            percent(r.false_positive_ppm),
            if r.false_positive_reasons.is_empty() {
                "—".to_string()
            } else {
                r.false_positive_reasons
                    .iter()
                    .map(|(k, v)| format!("{k} ×{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            trl(r.honest_mean_paid),
            r.gini_ppm / 1_000_000,
            r.gini_ppm % 1_000_000 / 1_000
        );
    }
    out!(
        s,
        "\nGini of all devices' pay: {}.{:03}. \"Detected\" counts device-epochs in which the verifiers flagged the device with evidence (a physics violation, a failed proof, a replay mismatch, a disqualifying QoD verdict) or (outside compute, where only replayed runs earn pool units) paid it nothing; \"earns vs honest\" is a cheater's mean pay over the run as a share of an honest device's of the same class; \"limit of detection\", where only a cheater's radio links can give it away (Sybil identities), is the share of its epochs a perfect verifier would still miss on the readings it drew — the likelihood-ratio test with the true propagation model, the same links less those with other cheaters, searching the same disc, at a threshold ({}) that flags 1 % of {} sampled honest hotspot-epochs: what it would capture, earning like an honest device whenever missed; \"expected limit\" is the same verifier's miss chance averaged over fading rather than taken on the readings drawn.",
        summary.gini_ppm / 1_000_000,
        summary.gini_ppm % 1_000_000 / 1_000,
        summary.ideal_threshold_milli.map_or("none sampled".to_string(), |t| format!("{}.{:02} σ²", t / 1_000, t.rem_euclid(1_000) / 10)),
        summary.ideal_honest_samples
    );
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A horizontal bar per attack: what a cheater earns as a share of an honest device of its
/// class (log-free, clipped at 150 %), with the 5 % line.
pub fn capture_svg(summary: &Summary) -> String {
    let (w, row, left) = (820.0, 26.0, 250.0);
    let h = 70.0 + row * summary.attacks.len() as f64;
    let scale = |ppm: u64| (ppm.min(1_500_000) as f64 / 1_500_000.0) * (w - left - 90.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"22\" font-size=\"15\">What a cheater earns, as a share of an honest device of its class</text>\n"
    );
    for (i, a) in summary.attacks.iter().enumerate() {
        let y = 40.0 + row * i as f64;
        let color = if a.capture_ppm <= 50_000 { "#2a9d8f" } else { "#e76f51" };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            left - 8.0,
            y + 15.0,
            escape(a.attack.name()),
            y + 3.0,
            scale(a.capture_ppm).max(1.0),
            row - 8.0,
            left + scale(a.capture_ppm) + 6.0,
            y + 15.0,
            percent(a.capture_ppm)
        ));
    }
    let x5 = left + scale(50_000);
    let x100 = left + scale(1_000_000);
    s.push_str(&format!(
        "<line x1=\"{x5:.1}\" y1=\"32\" x2=\"{x5:.1}\" y2=\"{:.1}\" stroke=\"#264653\" stroke-dasharray=\"4 3\"/>\n<text x=\"{x5:.1}\" y=\"{:.1}\" font-size=\"11\">5 %</text>\n<line x1=\"{x100:.1}\" y1=\"32\" x2=\"{x100:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-dasharray=\"2 3\"/>\n<text x=\"{x100:.1}\" y=\"{:.1}\" font-size=\"11\">honest</text>\n</svg>\n",
        h - 24.0,
        h - 10.0,
        h - 24.0,
        h - 10.0
    ));
    s
}

/// The map: resolution-7 hexes shaded by the coverage units their hotspots earned over the run,
/// cheaters' asserted places as red dots.
pub fn coverage_svg(run: &NetworkRun) -> String {
    use h3o::{CellIndex, LatLng, Resolution};
    let mut hexes: BTreeMap<CellIndex, u64> = BTreeMap::new();
    for (&cell, &units) in &run.coverage_cells {
        if let Some(hex) = CellIndex::try_from(cell).ok().and_then(|c| c.parent(Resolution::Seven)) {
            *hexes.entry(hex).or_default() += units;
        }
    }
    let (w, h) = (760.0, 760.0);
    let (lat0, lng0) = run.population.origin;
    let top = super::population::offset(
        run.population.origin,
        run.population.side_km * 1_000.0,
        run.population.side_km * 1_000.0,
    );
    let x = |ll: LatLng| 20.0 + (ll.lng() - lng0) / (top.1 - lng0) * (w - 40.0);
    let y = |ll: LatLng| h - 40.0 - (ll.lat() - lat0) / (top.0 - lat0) * (h - 80.0);
    let max = hexes.values().copied().max().unwrap_or(1).max(1);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"#f8f9fa\"/>\n<text x=\"10\" y=\"22\" font-size=\"15\">Coverage units earned per resolution-7 hex over {} epochs (darker: more); red: cheaters' asserted places</text>\n",
        run.config.epochs
    );
    for (hex, units) in &hexes {
        let shade = 230 - (u128::from(*units) * 200 / u128::from(max)) as u64;
        let points: Vec<String> = hex
            .boundary()
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(*p), y(*p)))
            .collect();
        s.push_str(&format!(
            "<polygon points=\"{}\" fill=\"rgb({shade},{},{})\" stroke=\"white\" stroke-width=\"0.5\"/>\n",
            points.join(" "),
            (shade + 20).min(255),
            255
        ));
    }
    for d in run
        .population
        .devices
        .iter()
        .filter(|d| d.attack.is_some() && d.class == Class::Hotspot)
    {
        if let Ok(ll) = LatLng::new(d.asserted.0, d.asserted.1) {
            s.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#d62828\"/>\n",
                x(ll),
                y(ll)
            ));
        }
    }
    s.push_str("</svg>\n");
    s
}
