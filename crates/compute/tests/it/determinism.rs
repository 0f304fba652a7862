//! The same job gives the same bytes, fuel and commitment on every run, and the wasm build of a
//! kernel computes exactly what the native build does.

use trellis_compute::{
    blob_hash, commitment,
    kernels::{self, GUEST_WASM, INFER_ENTRY, RENDER_ENTRY},
    Executor, Limits, Outcome, Trap,
};
use trellis_kernels::{mlp, render};

const LIMITS: Limits = Limits {
    fuel: 5_000_000_000,
    memory_bytes: 64 << 20,
};

fn run(entry: &str, input: &[u8], limits: Limits) -> trellis_compute::Execution {
    let exec = Executor::new();
    let module = exec.load(GUEST_WASM).expect("the reference module loads");
    exec.run(&module, entry, input, limits).expect("runs")
}

#[test]
fn a_rendered_tile_is_bit_identical_to_native_and_to_every_other_run() {
    let tile = render::Tile::grid(48, 32, 4, 4, 5, 11)[3];
    let input = tile.encode(render::DEMO_SCENE.as_bytes());
    let native = render::run(&input).expect("native render");

    let first = run(RENDER_ENTRY, &input, LIMITS);
    let Outcome::Output { bytes } = &first.outcome else {
        panic!("render failed: {:?}", first.outcome)
    };
    assert_eq!(bytes.len(), tile.output_len());
    assert_eq!(bytes, &native, "wasm and native pixels differ");
    assert!(first.fuel_used > 1_000_000, "fuel {}", first.fuel_used);

    // A fresh executor and module: same outcome, same fuel, same commitment.
    let second = run(RENDER_ENTRY, &input, LIMITS);
    assert_eq!(first, second);
    let (m, i) = (blob_hash(GUEST_WASM), blob_hash(&input));
    assert_eq!(
        commitment(&m, RENDER_ENTRY, &i, &first),
        commitment(&m, RENDER_ENTRY, &i, &second)
    );

    // A different seed is a different job.
    let other = render::Tile { seed: 12, ..tile }.encode(render::DEMO_SCENE.as_bytes());
    assert_ne!(run(RENDER_ENTRY, &other, LIMITS).outcome, first.outcome);
}

#[test]
fn inference_in_wasm_gives_the_native_logits() {
    let data = mlp::spirals(40, 9);
    let mut model = mlp::Model::new(&[2, 16, 16, 2], 4);
    model.train(&data, 60, 0.05);
    let samples: Vec<Vec<f32>> = data.iter().map(|(x, _)| x.clone()).collect();
    let input = model.job_input(&samples);
    let ex = run(INFER_ENTRY, &input, LIMITS);
    let Outcome::Output { bytes } = ex.outcome else {
        panic!("inference failed: {:?}", ex.outcome)
    };
    let got = mlp::outputs(&bytes, 2);
    assert_eq!(got.len(), samples.len());
    for (s, g) in samples.iter().zip(&got) {
        let want = model.forward(s);
        assert_eq!(
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_commitment_changes_with_output_fuel_or_input() {
    let input = kernels::benchmark_input();
    let ex = run(RENDER_ENTRY, &input, kernels::BENCHMARK_LIMITS);
    let (m, i) = (blob_hash(GUEST_WASM), blob_hash(&input));
    let honest = commitment(&m, RENDER_ENTRY, &i, &ex);

    let mut inflated = ex.clone();
    inflated.fuel_used += 1;
    assert_ne!(
        commitment(&m, RENDER_ENTRY, &i, &inflated),
        honest,
        "inflating fuel must show"
    );

    let mut wrong = ex.clone();
    if let Outcome::Output { bytes } = &mut wrong.outcome {
        bytes[0] ^= 1;
    }
    assert_ne!(
        commitment(&m, RENDER_ENTRY, &i, &wrong),
        honest,
        "one flipped bit must show"
    );
    assert_ne!(commitment(&m, RENDER_ENTRY, &blob_hash(b"other"), &ex), honest);
    assert_ne!(commitment(&m, INFER_ENTRY, &i, &ex), honest);
}

#[test]
fn a_job_over_its_fuel_budget_stops_at_exactly_the_budget() {
    let input = kernels::benchmark_input();
    let full = run(RENDER_ENTRY, &input, kernels::BENCHMARK_LIMITS);
    let budget = full.fuel_used / 2;
    let cut = run(
        RENDER_ENTRY,
        &input,
        Limits {
            fuel: budget,
            ..kernels::BENCHMARK_LIMITS
        },
    );
    assert_eq!(cut.outcome, Outcome::Trapped { trap: Trap::OutOfFuel });
    assert_eq!(cut.fuel_used, budget);
    assert_eq!(
        cut,
        run(
            RENDER_ENTRY,
            &input,
            Limits {
                fuel: budget,
                ..kernels::BENCHMARK_LIMITS
            }
        )
    );
}

#[test]
fn a_bad_input_is_refused_with_the_kernels_reason() {
    let ex = run(RENDER_ENTRY, b"TRT1\x01\0", LIMITS);
    let Outcome::Refused { message } = ex.outcome else {
        panic!("{:?}", ex.outcome)
    };
    assert!(message.contains("ends inside"), "{message}");
    let scene =
        render::Tile::grid(8, 8, 1, 1, 1, 1)[0].encode(b"camera from 0 1 -4 to 0 0 0 fov 40\nsphere 0 0 0 1 plasma\n");
    let Outcome::Refused { message } = run(RENDER_ENTRY, &scene, LIMITS).outcome else {
        panic!("accepted a bad scene")
    };
    assert!(message.contains("line 2: unknown material `plasma`"), "{message}");
}
