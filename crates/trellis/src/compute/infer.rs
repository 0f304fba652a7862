//! `trellis compute infer`: neural-network inference on the market, checked against local
//! logits. The model (a small MLP on the two-spirals problem) is trained here first.

use super::{report, run_job, MarketArgs};
use anyhow::{bail, Result};
use clap::Args;
use std::sync::Arc;
use trellis_compute::{
    kernels::{GUEST_WASM, INFER_ENTRY},
    Outcome,
};
use trellis_kernels::mlp;

/// Arguments of `trellis compute infer`.
#[derive(Debug, Args)]
pub(crate) struct InferArgs {
    /// Points per spiral (the batch is twice this).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Training epochs (here, before the job).
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    /// Data and weight seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    #[command(flatten)]
    market: MarketArgs,
}

pub(super) async fn run(args: InferArgs) -> Result<()> {
    if args.samples == 0 || args.samples > 16_384 {
        bail!("--samples must be 1 to 16384");
    }
    let data = mlp::spirals(args.samples, args.seed);
    let mut model = mlp::Model::new(&[2, 24, 24, 2], args.seed);
    model.train(&data, args.epochs, 0.05);
    let batch: Vec<Vec<f32>> = data.iter().map(|(x, _)| x.clone()).collect();
    let input = model.job_input(&batch);
    super::check_locally(GUEST_WASM, INFER_ENTRY, input.len())?;
    let market = args.market.market().await?;
    // ~10 fuel per multiply-add measured, with headroom; decoding costs ~20 per parameter.
    let macs: u64 = model.layers.iter().map(|l| (l.inputs * l.outputs) as u64).sum();
    let fuel = (batch.len() as u64 * macs * 40 + macs * 100).max(100_000_000);
    let terms = args.market.terms(INFER_ENTRY, fuel, 64 << 20);
    let result = run_job(
        &market,
        Arc::new(GUEST_WASM.to_vec()),
        Arc::new(input),
        &terms,
        b"infer",
    )
    .await?;
    report(&result);
    let Outcome::Output { bytes } = &result.record.outcome else {
        bail!("inference did not finish: {:?}", result.record.outcome);
    };
    let logits = mlp::outputs(bytes, 2);
    if logits.len() != batch.len() {
        bail!("the result holds {} samples, the batch {}", logits.len(), batch.len());
    }
    let identical = batch.iter().zip(&logits).all(|(x, l)| {
        model
            .forward(x)
            .iter()
            .map(|v| v.to_bits())
            .eq(l.iter().map(|v| v.to_bits()))
    });
    let correct = data
        .iter()
        .zip(&logits)
        .filter(|((_, label), l)| mlp::argmax(l) == *label)
        .count();
    println!(
        "inference of {} points: {correct} classified correctly ({:.1} %); logits {} to the local model's",
        batch.len(),
        100.0 * correct as f64 / batch.len() as f64,
        if identical { "bit-identical" } else { "DIFFERENT" }
    );
    if !identical {
        bail!("the market's logits differ from the local model's");
    }
    Ok(())
}
