//! `trellis sim`: projections and simulations.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use trellis_primitives::{Amount, UNITS_PER_TRL};
use trellis_rewards::{EmissionSchedule, NetEmission};
use trellis_sim::{
    chart::tokenomics_svg,
    tokenomics::{project, to_csv, Scenario, TokenomicsParams},
};

/// Simulation commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Project supply, emission, burn and net emission for demand scenarios; writes CSV and SVG.
    ///
    /// Example: trellis sim tokenomics --years 10 --scenario all --out docs
    Tokenomics(TokenomicsArgs),
    /// Run a whole network in one process through the real verifier and reward code: honest
    /// devices of every class and every kind of cheater on one map, many epochs; writes a
    /// Markdown report with SVG charts. Same seed, same report bytes.
    ///
    /// Example: trellis sim network --seed 7 --epochs 24 --hotspots 1000 --out docs/sim
    Network(NetworkArgs),
}

/// Options of `trellis sim network`.
#[derive(Debug, Args)]
pub(crate) struct NetworkArgs {
    /// Seeds every draw.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Epochs (of one simulated hour) to run.
    #[arg(long, default_value_t = 24)]
    epochs: u32,
    /// Hotspots.
    #[arg(long, default_value_t = 1_000)]
    hotspots: u32,
    /// Weather stations.
    #[arg(long, default_value_t = 500)]
    stations: u32,
    /// Energy meters.
    #[arg(long, default_value_t = 100)]
    meters: u32,
    /// Storage providers.
    #[arg(long, default_value_t = 100)]
    storage: u32,
    /// Compute providers.
    #[arg(long, default_value_t = 50)]
    compute: u32,
    /// Cheaters per attack, basis points of their class (at least one group each).
    #[arg(long, default_value_t = 300)]
    cheater_bps: u32,
    /// Share of compute jobs replayed by a verifier, ppm.
    #[arg(long, default_value_t = 200_000)]
    sample_ppm: u32,
    /// Directory for network-report.md and the SVG charts.
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// Options of `trellis sim tokenomics`.
#[derive(Debug, Args)]
pub(crate) struct TokenomicsArgs {
    /// Years to project.
    #[arg(long, default_value_t = 10)]
    years: u32,
    /// constant, growth, shock, or all.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// USD burned for credits per day at the start.
    #[arg(long, default_value = "2000")]
    demand_usd_per_day: String,
    /// Monthly demand growth in percent (growth and shock).
    #[arg(long, default_value = "2")]
    growth_pct_per_month: String,
    /// TRL price in USD (held constant).
    #[arg(long, default_value = "1.5")]
    price_usd: String,
    /// Supply at genesis, in TRL.
    #[arg(long, default_value = "10000000")]
    genesis_supply_trl: u64,
    /// Emission per daily epoch in the first period, in TRL.
    #[arg(long, default_value = "10000")]
    emission_trl_per_day: u64,
    /// Days between halvings.
    #[arg(long, default_value_t = 730)]
    halving_days: u64,
    /// Re-mint burned TRL up to this many TRL per day (Helium-style net emissions); 0 = off.
    #[arg(long, default_value_t = 0)]
    net_emission_cap_trl: u64,
    /// Directory for tokenomics-<scenario>.csv and .svg.
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// Parses a non-negative decimal with up to `decimals` places into integer units of 10^-decimals.
fn fixed(text: &str, decimals: u32, what: &str) -> Result<u64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{what} `{text}` is not a non-negative decimal number");
    }
    if frac.len() > decimals as usize {
        bail!("{what} `{text}` has more than {decimals} decimal places");
    }
    let scale = 10u64.pow(decimals);
    let whole: u64 = whole.parse().with_context(|| format!("{what} `{text}` is too large"))?;
    let frac_units: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = decimals as usize).parse()?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(frac_units))
        .with_context(|| format!("{what} `{text}` is too large"))
}

/// Runs a simulation command.
pub(crate) fn run(command: SimCommand) -> Result<()> {
    let args = match command {
        SimCommand::Tokenomics(args) => args,
        SimCommand::Network(args) => return network(args),
    };
    let scenarios: Vec<Scenario> = match args.scenario.as_str() {
        "all" => vec![Scenario::Constant, Scenario::Growth, Scenario::Shock],
        one => vec![one.parse().map_err(anyhow::Error::msg)?],
    };
    if args.years == 0 || args.years > 100 {
        bail!("--years must be in 1..=100");
    }
    if args.halving_days == 0 {
        bail!("--halving-days must be at least 1");
    }
    let price = fixed(&args.price_usd, 6, "--price-usd")?;
    if price == 0 {
        bail!("--price-usd must be greater than zero");
    }
    let growth_bps =
        u32::try_from(fixed(&args.growth_pct_per_month, 2, "--growth-pct-per-month")?).context("growth too large")?;
    let trl = |n: u64| Amount::from_units(n.saturating_mul(UNITS_PER_TRL));
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    for scenario in scenarios {
        let params = TokenomicsParams {
            years: args.years,
            scenario,
            initial_demand_micro_usd_per_day: fixed(&args.demand_usd_per_day, 6, "--demand-usd-per-day")?,
            growth_bps_per_month: growth_bps,
            price_micro_usd_per_trl: price,
            genesis_supply: trl(args.genesis_supply_trl),
            schedule: EmissionSchedule {
                initial_epoch_emission: trl(args.emission_trl_per_day),
                halving_period_epochs: args.halving_days,
                supply_cap: None,
                net_emission: match args.net_emission_cap_trl {
                    0 => NetEmission::Off,
                    cap => NetEmission::Cap {
                        max_per_epoch: trl(cap),
                    },
                },
            },
        };
        let rows = project(&params);
        let base = args.out.join(format!("tokenomics-{}", scenario.name()));
        let csv = base.with_extension("csv");
        let svg = base.with_extension("svg");
        std::fs::write(&csv, to_csv(&rows)).with_context(|| format!("cannot write {}", csv.display()))?;
        let title = format!(
            "Trellis tokenomics, {} demand (${}/day start, {}%/month, TRL at ${})",
            scenario.name(),
            args.demand_usd_per_day,
            args.growth_pct_per_month,
            args.price_usd
        );
        std::fs::write(&svg, tokenomics_svg(&rows, &title))
            .with_context(|| format!("cannot write {}", svg.display()))?;
        if let Some(last) = rows.last() {
            println!(
                "{:<8} after {} years: supply {}, last month emitted {}, burned {}  -> {} and {}",
                scenario.name(),
                args.years,
                last.supply,
                last.emitted,
                last.burned,
                csv.display(),
                svg.display()
            );
        }
    }
    Ok(())
}

/// Runs `trellis sim network`.
fn network(args: NetworkArgs) -> Result<()> {
    if args.epochs == 0 || args.epochs > 10_000 {
        bail!("--epochs must be in 1..=10000");
    }
    if args.cheater_bps > 5_000 || args.sample_ppm > 1_000_000 {
        bail!("--cheater-bps is at most 5000 and --sample-ppm at most 1000000");
    }
    if args.hotspots + args.stations + args.meters + args.storage + args.compute == 0 {
        bail!("the network needs at least one device");
    }
    let config = trellis_sim::network::NetworkConfig {
        seed: args.seed,
        epochs: args.epochs,
        hotspots: args.hotspots,
        stations: args.stations,
        meters: args.meters,
        storage: args.storage,
        compute: args.compute,
        cheater_bps: args.cheater_bps,
        compute_sample_ppm: args.sample_ppm,
    };
    let bar = indicatif::ProgressBar::new(u64::from(args.epochs));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] epoch {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("simulating {} devices", config.devices()));
    let run = trellis_sim::network::run(&config, |e| bar.set_position(u64::from(e)))?;
    bar.finish_and_clear();
    let summary = run.summary();
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let report = trellis_sim::network::report::markdown(&run, &summary);
    let path = args.out.join("network-report.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    for (name, svg) in [
        (
            "network-capture.svg",
            trellis_sim::network::report::capture_svg(&summary),
        ),
        ("network-coverage.svg", trellis_sim::network::report::coverage_svg(&run)),
    ] {
        let p = args.out.join(name);
        std::fs::write(&p, svg).with_context(|| format!("cannot write {}", p.display()))?;
    }
    print!("{report}");
    eprintln!(
        "report written to {} (charts network-capture.svg, network-coverage.svg beside it)",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fixed;

    #[test]
    fn fixed_point_parsing_is_exact_and_strict() {
        assert_eq!(fixed("1.5", 6, "x").unwrap(), 1_500_000);
        assert_eq!(fixed("2000", 6, "x").unwrap(), 2_000_000_000);
        assert!(fixed("-1", 6, "x").is_err());
        assert!(fixed("1.1234567", 6, "x").is_err());
        assert!(fixed("abc", 6, "x").is_err());
    }
}
