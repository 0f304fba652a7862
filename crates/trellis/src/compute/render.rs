//! `trellis compute render`: a frame as tiles on many providers, assembled into a PNG.

use super::{run_job, JobResult, MarketArgs};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use futures::future::join_all;
use std::{path::PathBuf, sync::Arc, time::Instant};
use trellis_compute::{
    kernels::{GUEST_WASM, RENDER_ENTRY},
    Outcome,
};
use trellis_kernels::render::{Scene, Tile};

/// Fuel budgeted per path bounce per object, measured on the demo scene (~1,000 per bounce
/// per object) with headroom; only fuel used is paid, the budget only bounds the escrow.
const FUEL_PER_BOUNCE_OBJECT: u64 = 4_000;

/// Arguments of `trellis compute render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The scene file (see the format in `trellis_kernels::render::scene`); `demo` renders the
    /// built-in scene.
    scene: String,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
    /// Tiles (jobs); a square number gives a grid.
    #[arg(long, default_value_t = 16)]
    tiles: u32,
    /// Frame width, pixels.
    #[arg(long, default_value_t = 320)]
    width: u32,
    /// Frame height, pixels.
    #[arg(long, default_value_t = 240)]
    height: u32,
    /// Samples per pixel.
    #[arg(long, default_value_t = 16)]
    samples: u32,
    /// Bounces per path.
    #[arg(long, default_value_t = 6)]
    depth: u32,
    /// Sampler seed (the same seed renders the same picture).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    market: MarketArgs,
}

pub(super) async fn run(args: RenderArgs) -> Result<()> {
    let text = if args.scene == "demo" {
        trellis_kernels::render::DEMO_SCENE.as_bytes().to_vec()
    } else {
        std::fs::read(&args.scene).with_context(|| format!("cannot read the scene {}", args.scene))?
    };
    let scene = Scene::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.scene))?;
    if args.tiles == 0 || args.tiles > 1024 || args.width == 0 || args.height == 0 {
        bail!("--tiles must be 1 to 1024 and the frame at least 1×1");
    }
    let tiles = Tile::grid(args.width, args.height, args.tiles, args.samples, args.depth, args.seed);
    for t in &tiles {
        trellis_kernels::render::decode(&t.encode(&text))
            .map_err(|e| anyhow::anyhow!("tile {}×{} at ({}, {}): {e}", t.tile_width, t.tile_height, t.x, t.y))?;
    }
    super::check_locally(GUEST_WASM, RENDER_ENTRY, text.len() + 44)?;
    let market = args.market.market().await?;
    let module = Arc::new(GUEST_WASM.to_vec());
    let bar = tile_bar(tiles.len() as u64, args.market.quiet);
    let started = Instant::now();
    let objects = scene.objects.len() as u64 + 1;
    let jobs = tiles.iter().enumerate().map(|(i, tile)| {
        let (market, module, bar) = (&market, module.clone(), bar.clone());
        let samples = u64::from(tile.tile_width) * u64::from(tile.tile_height) * u64::from(tile.samples);
        let fuel = (samples * (u64::from(tile.depth) + 1) * objects * FUEL_PER_BOUNCE_OBJECT)
            .clamp(10_000_000, trellis_ledger::tx::MAX_JOB_FUEL);
        let terms = args.market.terms(RENDER_ENTRY, fuel, 64 << 20);
        let input = Arc::new(tile.encode(&text));
        async move {
            let result = run_job(market, module, input, &terms, format!("tile {i}").as_bytes()).await;
            bar.inc(1);
            result
        }
    });
    let results: Vec<Result<JobResult>> = join_all(jobs).await;
    bar.finish_and_clear();
    let mut image = vec![0u8; args.width as usize * args.height as usize * 3];
    let (mut paid, mut verified, mut fuel) = (0u64, 0usize, 0u64);
    let mut providers = std::collections::BTreeSet::new();
    for (tile, result) in tiles.iter().zip(results) {
        let result = result.with_context(|| format!("tile at ({}, {})", tile.x, tile.y))?;
        let Outcome::Output { bytes } = &result.record.outcome else {
            bail!(
                "tile at ({}, {}) did not render: {:?}",
                tile.x,
                tile.y,
                result.record.outcome
            );
        };
        if bytes.len() != tile.output_len() {
            bail!(
                "tile at ({}, {}) has {} bytes, expected {}",
                tile.x,
                tile.y,
                bytes.len(),
                tile.output_len()
            );
        }
        let row = tile.tile_width as usize * 3;
        for (r, src) in bytes.chunks(row).enumerate() {
            let at = ((tile.y as usize + r) * args.width as usize + tile.x as usize) * 3;
            image[at..at + row].copy_from_slice(src);
        }
        paid += result.paid.0;
        fuel += result.record.fuel_used;
        verified += usize::from(result.verified);
        providers.extend(result.providers);
    }
    write_png(&args.out, args.width, args.height, &image)?;
    println!(
        "rendered {}×{} in {} tiles on {} providers in {:.1}s: {fuel} fuel, {paid} credits paid, {verified} tiles replayed by a verifier; every tile matched its settled commitment; wrote {}",
        args.width,
        args.height,
        tiles.len(),
        providers.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

fn tile_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} tiles, {elapsed}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message("render");
    bar
}

/// Writes RGB8 pixels as a PNG.
pub(crate) fn write_png(path: &std::path::Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer.write_image_data(rgb).context("writing the PNG")?;
    writer.finish().context("finishing the PNG")?;
    Ok(())
}
