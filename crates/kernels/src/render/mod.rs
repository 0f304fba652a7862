//! The path tracer: renders one rectangular tile of a scene.
//!
//! Input (little-endian): `TRT1`, frame width and height, tile x, y, width and height, samples
//! per pixel, maximum bounces (all `u32`), the sampler seed (`u64`), then the scene text (see
//! [`scene`]). Output: the tile's pixels, row by row, 3 bytes (sRGB-ish, gamma 2) each.

pub mod scene;
mod trace;
pub mod vector;

use crate::input::{bad, InputError, Reader};
pub use scene::{Scene, DEMO_SCENE};
use trace::Ray;
use vector::{Sampler, Vec3};

/// The largest frame side, pixels.
pub const MAX_FRAME_SIDE: u32 = 16_384;
/// The largest tile side, pixels (a 1024² tile is 3 MiB of output).
pub const MAX_TILE_SIDE: u32 = 1024;
/// The most samples per pixel.
pub const MAX_SAMPLES: u32 = 4096;
/// The most bounces per path.
pub const MAX_DEPTH: u32 = 32;

/// One tile of one frame: everything the kernel needs besides the scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// The tile's left column.
    pub x: u32,
    /// The tile's top row.
    pub y: u32,
    /// The tile's width, pixels.
    pub tile_width: u32,
    /// The tile's height, pixels.
    pub tile_height: u32,
    /// Samples per pixel.
    pub samples: u32,
    /// Maximum bounces per path.
    pub depth: u32,
    /// The sampler seed: the same seed renders the same bits.
    pub seed: u64,
}

impl Tile {
    /// Splits a frame into `tiles` tiles (a square number of tiles gives a grid; otherwise
    /// horizontal bands), in row-major order.
    pub fn grid(width: u32, height: u32, tiles: u32, samples: u32, depth: u32, seed: u64) -> Vec<Self> {
        let tiles = tiles.max(1);
        let side = (1..=tiles).rev().find(|s| s * s == tiles);
        let (cols, rows) = match side {
            Some(s) => (s, s),
            None => (1, tiles),
        };
        let (cols, rows) = (cols.min(width).max(1), rows.min(height).max(1));
        let mut out = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let (x0, x1) = (width * c / cols, width * (c + 1) / cols);
                let (y0, y1) = (height * r / rows, height * (r + 1) / rows);
                out.push(Self {
                    width,
                    height,
                    x: x0,
                    y: y0,
                    tile_width: x1 - x0,
                    tile_height: y1 - y0,
                    samples,
                    depth,
                    seed,
                });
            }
        }
        out
    }

    /// The kernel input for this tile of `scene_text`.
    pub fn encode(&self, scene_text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(44 + scene_text.len());
        out.extend_from_slice(b"TRT1");
        for v in [
            self.width,
            self.height,
            self.x,
            self.y,
            self.tile_width,
            self.tile_height,
            self.samples,
            self.depth,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(scene_text);
        out
    }

    /// The output size of this tile, bytes.
    pub fn output_len(&self) -> usize {
        self.tile_width as usize * self.tile_height as usize * 3
    }
}

/// Reads and checks a tile input: the tile, and the parsed scene.
pub fn decode(input: &[u8]) -> Result<(Tile, Scene), InputError> {
    let mut r = Reader::new(input);
    r.magic(b"TRT1")?;
    let width = r.bounded("frame width", MAX_FRAME_SIDE)?;
    let height = r.bounded("frame height", MAX_FRAME_SIDE)?;
    let x = r.u32("tile x")?;
    let y = r.u32("tile y")?;
    let tile_width = r.bounded("tile width", MAX_TILE_SIDE)?;
    let tile_height = r.bounded("tile height", MAX_TILE_SIDE)?;
    if u64::from(x) + u64::from(tile_width) > u64::from(width)
        || u64::from(y) + u64::from(tile_height) > u64::from(height)
    {
        return Err(bad("the tile does not lie inside the frame"));
    }
    let samples = r.bounded("samples per pixel", MAX_SAMPLES)?;
    let depth = r.bounded("bounce depth", MAX_DEPTH)?;
    let seed = r.u64("seed")?;
    let scene = Scene::parse(r.rest())?;
    r.finish()?;
    Ok((
        Tile {
            width,
            height,
            x,
            y,
            tile_width,
            tile_height,
            samples,
            depth,
            seed,
        },
        scene,
    ))
}

/// Renders a tile input to its pixels.
pub fn run(input: &[u8]) -> Result<Vec<u8>, InputError> {
    let (tile, scene) = decode(input)?;
    Ok(render_tile(&tile, &scene))
}

/// Renders `tile` of `scene`.
pub fn render_tile(tile: &Tile, scene: &Scene) -> Vec<u8> {
    let cam = scene.camera;
    let w = (cam.from - cam.to).unit();
    let u = Vec3::new(0.0, 1.0, 0.0).cross(w).unit();
    let v = w.cross(u);
    let aspect = tile.width as f32 / tile.height as f32;
    let half_h = cam.half_height;
    let half_w = aspect * half_h;
    let corner = cam.from - u * half_w + v * half_h - w;
    let (across, down) = (u * (2.0 * half_w), v * (-2.0 * half_h));
    let inv_samples = 1.0 / tile.samples as f32;

    let mut out = Vec::with_capacity(tile.output_len());
    for py in tile.y..tile.y + tile.tile_height {
        for px in tile.x..tile.x + tile.tile_width {
            let mut sum = Vec3::default();
            for s in 0..tile.samples {
                let mut rng = Sampler::for_sample(tile.seed, px, py, s);
                let sx = (px as f32 + rng.unit()) / tile.width as f32;
                let sy = (py as f32 + rng.unit()) / tile.height as f32;
                let dir = (corner + across * sx + down * sy - cam.from).unit();
                sum = sum + trace::radiance(scene, Ray { origin: cam.from, dir }, tile.depth, &mut rng);
            }
            let c = sum * inv_samples;
            for channel in [c.x, c.y, c.z] {
                // Gamma 2, then clamp; `as u8` saturates, identically in wasm (trunc_sat).
                out.push((channel.max(0.0).sqrt().min(1.0) * 255.99) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile_input(tile: &Tile) -> Vec<u8> {
        tile.encode(DEMO_SCENE.as_bytes())
    }

    #[test]
    fn grid_covers_the_frame_exactly_once() {
        for tiles in [1, 4, 16, 6] {
            let grid = Tile::grid(100, 60, tiles, 1, 1, 0);
            assert_eq!(grid.len(), tiles as usize);
            let area: u32 = grid.iter().map(|t| t.tile_width * t.tile_height).sum();
            assert_eq!(area, 100 * 60, "{tiles} tiles");
        }
    }

    #[test]
    fn tiles_render_the_same_pixels_as_the_whole_frame() {
        let whole = Tile::grid(24, 16, 1, 2, 4, 9)[0];
        let frame = run(&tile_input(&whole)).expect("frame");
        for t in Tile::grid(24, 16, 4, 2, 4, 9) {
            let part = run(&tile_input(&t)).expect("tile");
            assert_eq!(part.len(), t.output_len());
            for row in 0..t.tile_height as usize {
                let src = ((t.y as usize + row) * 24 + t.x as usize) * 3;
                let dst = row * t.tile_width as usize * 3;
                assert_eq!(
                    &frame[src..src + t.tile_width as usize * 3],
                    &part[dst..dst + t.tile_width as usize * 3]
                );
            }
        }
    }

    #[test]
    fn the_picture_is_not_blank_and_the_seed_matters() {
        let t = Tile::grid(32, 24, 1, 4, 6, 1)[0];
        let a = run(&tile_input(&t)).expect("render");
        let distinct: std::collections::BTreeSet<&[u8]> = a.chunks(3).collect();
        assert!(distinct.len() > 100, "only {} colours", distinct.len());
        let b = run(&tile_input(&Tile { seed: 2, ..t })).expect("render");
        assert_ne!(a, b);
        assert_eq!(a, run(&tile_input(&t)).expect("render"));
    }

    #[test]
    fn bad_tiles_are_refused() {
        let t = Tile::grid(32, 24, 1, 1, 1, 1)[0];
        let outside = Tile {
            x: 20,
            tile_width: 20,
            ..t
        };
        assert!(run(&tile_input(&outside))
            .expect_err("outside")
            .0
            .contains("inside the frame"));
        let zero = Tile { samples: 0, ..t };
        assert!(run(&tile_input(&zero))
            .expect_err("zero")
            .0
            .contains("samples per pixel"));
        assert!(run(&tile_input(&t)[..30]).expect_err("short").0.contains("ends inside"));
        assert!(run(b"PNG!....").expect_err("magic").0.contains("not a TRT1"));
    }
}
