//! A kernel's input is untrusted bytes (the provider runs it; the client checks its own). The
//! decoders must never panic and must refuse anything outside their bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trellis_kernels::{mlp, render};

fuzz_target!(|data: &[u8]| {
    if let Ok((tile, scene)) = render::decode(data) {
        assert!(tile.tile_width <= render::MAX_TILE_SIDE && tile.tile_height <= render::MAX_TILE_SIDE);
        assert!(scene.objects.len() <= render::scene::MAX_OBJECTS);
    }
    if let Ok((model, samples)) = mlp::decode(data) {
        assert!(model.layers.len() <= mlp::MAX_LAYERS as usize);
        assert!(samples.iter().all(|s| s.len() == model.io().0));
    }
});
