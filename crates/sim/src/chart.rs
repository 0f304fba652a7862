//! Dependency-free SVG line charts (deterministic bytes for the same data).

use crate::tokenomics::MonthRow;
use trellis_primitives::UNITS_PER_TRL;

/// One line.
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// Stroke colour.
    pub color: &'a str,
    /// One value per x step.
    pub values: Vec<f64>,
}

const PANEL_W: f64 = 760.0;
const PANEL_H: f64 = 250.0;
const MARGIN_L: f64 = 90.0;
const MARGIN_T: f64 = 42.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}B", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Appends one panel (axes, grid, lines, legend) at vertical offset `top`.
pub fn panel(out: &mut String, top: f64, title: &str, x_label: &str, series: &[Series<'_>]) {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0).max(2);
    let max = nice_max(series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max));
    let min = {
        let m = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::min);
        if m < 0.0 {
            -nice_max(-m)
        } else {
            0.0
        }
    };
    let x = |i: usize| MARGIN_L + (i as f64) * (PANEL_W - MARGIN_L - 20.0) / ((n - 1) as f64);
    let y = |v: f64| top + MARGIN_T + (max - v) * (PANEL_H - MARGIN_T - 40.0) / (max - min);
    out.push_str(&format!(
        "<text x=\"{MARGIN_L}\" y=\"{:.1}\" font-size=\"15\" font-weight=\"bold\">{title}</text>\n",
        top + 18.0
    ));
    for k in 0..=4 {
        let v = min + (max - min) * f64::from(k) / 4.0;
        out.push_str(&format!(
            "<line x1=\"{MARGIN_L}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
            PANEL_W - 20.0,
            MARGIN_L - 6.0,
            y(v) + 4.0,
            human(v),
            y = y(v)
        ));
    }
    let years = (n as f64 / 12.0).ceil() as usize;
    for yr in 0..=years {
        let i = (yr * 12).min(n - 1);
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{yr}</text>\n",
            x(i),
            top + PANEL_H - 22.0
        ));
    }
    out.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{x_label}</text>\n",
        (MARGIN_L + PANEL_W) / 2.0,
        top + PANEL_H - 6.0
    ));
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
            s.color,
            points.join(" ")
        ));
        let lx = MARGIN_L + 10.0 + 150.0 * k as f64;
        out.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>\n",
            top + MARGIN_T - 4.0,
            s.color,
            lx + 16.0,
            top + MARGIN_T,
            s.label
        ));
    }
}

fn trl(units: u64) -> f64 {
    units as f64 / UNITS_PER_TRL as f64
}

/// The tokenomics chart: supply on top, monthly emission/burn/net below.
pub fn tokenomics_svg(rows: &[MonthRow], title: &str) -> String {
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{PANEL_W}\" height=\"{}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        2.0 * PANEL_H + 30.0
    );
    out.push_str(&format!(
        "<text x=\"{MARGIN_L}\" y=\"20\" font-size=\"17\">{title}</text>\n"
    ));
    let supply = Series {
        label: "supply (TRL)",
        color: "#1f77b4",
        values: rows.iter().map(|r| trl(r.supply.units())).collect(),
    };
    panel(&mut out, 25.0, "Circulating supply", "years", &[supply]);
    let flows = [
        Series {
            label: "emitted / month",
            color: "#2ca02c",
            values: rows.iter().map(|r| trl(r.emitted.units())).collect(),
        },
        Series {
            label: "burned / month",
            color: "#d62728",
            values: rows.iter().map(|r| trl(r.burned.units())).collect(),
        },
        Series {
            label: "net emission",
            color: "#9467bd",
            values: rows
                .iter()
                .map(|r| r.net_units() as f64 / UNITS_PER_TRL as f64)
                .collect(),
        },
    ];
    panel(
        &mut out,
        25.0 + PANEL_H,
        "Monthly emission, burn and net emission (TRL)",
        "years",
        &flows,
    );
    out.push_str("</svg>\n");
    out
}
