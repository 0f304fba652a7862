//! Supply, emission, burn and net emission over years, for a demand scenario.

use serde::{Deserialize, Serialize};
use trellis_primitives::{Amount, Epoch, UNITS_PER_TRL};
use trellis_rewards::EmissionSchedule;

/// How demand for credits (USD burned per day) evolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Demand stays at its starting level.
    Constant,
    /// Demand compounds monthly by `growth_bps_per_month`.
    Growth,
    /// Growth, then at the start of year 3 demand drops to 20 % and grows back from there.
    Shock,
}

impl std::str::FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "constant" => Ok(Scenario::Constant),
            "growth" => Ok(Scenario::Growth),
            "shock" => Ok(Scenario::Shock),
            other => Err(format!("unknown scenario `{other}`: use constant, growth or shock")),
        }
    }
}

impl Scenario {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Constant => "constant",
            Scenario::Growth => "growth",
            Scenario::Shock => "shock",
        }
    }
}

/// Model parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenomicsParams {
    /// Years to project.
    pub years: u32,
    /// Demand pattern.
    pub scenario: Scenario,
    /// USD burned for credits per day at the start, in micro-USD.
    pub initial_demand_micro_usd_per_day: u64,
    /// Monthly demand growth in basis points (growth and shock scenarios).
    pub growth_bps_per_month: u32,
    /// TRL price in micro-USD (held constant: the model shows supply mechanics, not price).
    pub price_micro_usd_per_trl: u64,
    /// Supply at genesis.
    pub genesis_supply: Amount,
    /// Emission schedule (one epoch = one day).
    pub schedule: EmissionSchedule,
}

/// One month of the projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MonthRow {
    /// Month index from 0.
    pub month: u32,
    /// TRL minted in the month (schedule plus re-minted burns).
    pub emitted: Amount,
    /// TRL burned for credits in the month.
    pub burned: Amount,
    /// Supply at the end of the month.
    pub supply: Amount,
    /// Demand at the end of the month, micro-USD per day.
    pub demand_micro_usd_per_day: u64,
}

impl MonthRow {
    /// Emitted minus burned, in base units (negative when burns exceed emission).
    pub fn net_units(&self) -> i128 {
        i128::from(self.emitted.units()) - i128::from(self.burned.units())
    }
}

/// Days per model month (12 × 30 = 360-day model years keep months equal; documented).
pub const DAYS_PER_MONTH: u32 = 30;

/// Runs the projection.
pub fn project(p: &TokenomicsParams) -> Vec<MonthRow> {
    let months = p.years * 12;
    let mut rows = Vec::with_capacity(months as usize);
    let mut supply = u128::from(p.genesis_supply.units());
    let mut issued = supply;
    let mut demand = u128::from(p.initial_demand_micro_usd_per_day);
    let mut burned_yesterday: u128 = 0;
    let mut day: u64 = 0;
    for month in 0..months {
        if p.scenario == Scenario::Shock && month == 24 {
            demand /= 5;
        }
        let (mut emitted, mut burned) = (0u128, 0u128);
        for _ in 0..DAYS_PER_MONTH {
            let issued_amount = Amount::from_units(u64::try_from(issued).unwrap_or(u64::MAX));
            let last_burn = Amount::from_units(u64::try_from(burned_yesterday).unwrap_or(u64::MAX));
            let e = u128::from(p.schedule.emission(Epoch(day), issued_amount, last_burn).units());
            // Burn is what demand buys at the price, but never more than exists.
            let want = demand * u128::from(UNITS_PER_TRL) / u128::from(p.price_micro_usd_per_trl.max(1));
            let b = want.min(supply + e);
            supply = supply + e - b;
            issued += e;
            emitted += e;
            burned += b;
            burned_yesterday = b;
            day += 1;
        }
        if p.scenario != Scenario::Constant {
            demand = demand * (10_000 + u128::from(p.growth_bps_per_month)) / 10_000;
        }
        let clamp = |v: u128| Amount::from_units(u64::try_from(v).unwrap_or(u64::MAX));
        rows.push(MonthRow {
            month,
            emitted: clamp(emitted),
            burned: clamp(burned),
            supply: clamp(supply),
            demand_micro_usd_per_day: u64::try_from(demand).unwrap_or(u64::MAX),
        });
    }
    rows
}

/// The projection as CSV (whole TRL with 8 decimals exact, no floats).
pub fn to_csv(rows: &[MonthRow]) -> String {
    let mut out = String::from("month,emitted_trl,burned_trl,net_emission_trl,supply_trl,demand_usd_per_day\n");
    for r in rows {
        let net = r.net_units();
        let sign = if net < 0 { "-" } else { "" };
        let net_abs = Amount::from_units(u64::try_from(net.unsigned_abs()).unwrap_or(u64::MAX));
        out.push_str(&format!(
            "{},{},{},{}{},{},{}.{:06}\n",
            r.month,
            decimal(r.emitted),
            decimal(r.burned),
            sign,
            decimal(net_abs),
            decimal(r.supply),
            r.demand_micro_usd_per_day / 1_000_000,
            r.demand_micro_usd_per_day % 1_000_000
        ));
    }
    out
}

fn decimal(a: Amount) -> String {
    format!("{}.{:08}", a.units() / UNITS_PER_TRL, a.units() % UNITS_PER_TRL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_rewards::NetEmission;

    fn params(scenario: Scenario, net: NetEmission) -> TokenomicsParams {
        TokenomicsParams {
            years: 4,
            scenario,
            initial_demand_micro_usd_per_day: 1_000_000_000, // $1,000/day
            growth_bps_per_month: 1_000,                     // +10 %/month
            price_micro_usd_per_trl: 1_000_000,              // $1
            genesis_supply: Amount::from_units(1_000_000 * UNITS_PER_TRL),
            schedule: EmissionSchedule {
                initial_epoch_emission: Amount::from_units(10_000 * UNITS_PER_TRL),
                halving_period_epochs: 360,
                supply_cap: None,
                net_emission: net,
            },
        }
    }

    #[test]
    fn constant_demand_numbers_written_out() {
        let rows = project(&params(Scenario::Constant, NetEmission::Off));
        // Month 0: 30 days × 10,000 TRL minted, 30 × 1,000 TRL burned ($1,000/day at $1).
        assert_eq!(rows[0].emitted.units(), 300_000 * UNITS_PER_TRL);
        assert_eq!(rows[0].burned.units(), 30_000 * UNITS_PER_TRL);
        assert_eq!(rows[0].supply.units(), 1_270_000 * UNITS_PER_TRL);
        // Month 12 is day 360: the first halving, 5,000 TRL a day.
        assert_eq!(rows[12].emitted.units(), 150_000 * UNITS_PER_TRL);
        assert_eq!(rows.len(), 48);
    }

    #[test]
    fn supply_is_genesis_plus_emitted_minus_burned() {
        for scenario in [Scenario::Constant, Scenario::Growth, Scenario::Shock] {
            let p = params(
                scenario,
                NetEmission::Cap {
                    max_per_epoch: Amount::from_units(500 * UNITS_PER_TRL),
                },
            );
            let rows = project(&p);
            let emitted: u128 = rows.iter().map(|r| u128::from(r.emitted.units())).sum();
            let burned: u128 = rows.iter().map(|r| u128::from(r.burned.units())).sum();
            let last = rows.last().unwrap().supply.units();
            assert_eq!(
                u128::from(last),
                u128::from(p.genesis_supply.units()) + emitted - burned,
                "{scenario:?}"
            );
        }
    }

    #[test]
    fn shock_cuts_demand_to_a_fifth_at_month_24_and_output_is_deterministic() {
        let growth = project(&params(Scenario::Growth, NetEmission::Off));
        let shock = project(&params(Scenario::Shock, NetEmission::Off));
        assert_eq!(growth[23], shock[23]);
        assert!(shock[24].burned.units() < growth[24].burned.units() / 4);
        assert_eq!(
            to_csv(&shock),
            to_csv(&project(&params(Scenario::Shock, NetEmission::Off)))
        );
    }

    #[test]
    fn net_emission_remints_burns_up_to_its_cap() {
        let off = project(&params(Scenario::Constant, NetEmission::Off));
        let cap = project(&params(
            Scenario::Constant,
            NetEmission::Cap {
                max_per_epoch: Amount::from_units(400 * UNITS_PER_TRL),
            },
        ));
        // Burns are 1,000 TRL/day; 400 of them are re-minted from day 1 on (29 days in month 0).
        assert_eq!(
            cap[0].emitted.units() - off[0].emitted.units(),
            29 * 400 * UNITS_PER_TRL
        );
        assert_eq!(
            cap[1].emitted.units() - off[1].emitted.units(),
            30 * 400 * UNITS_PER_TRL
        );
    }
}
