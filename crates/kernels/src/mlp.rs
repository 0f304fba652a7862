//! Inference of a dense neural network (a multi-layer perceptron), batch at a time.
//!
//! Input (little-endian): `TMLP`, the layer count, then per layer its input and output widths
//! and activation (`0` linear, `1` ReLU) as `u32`, its weights (`f32`, output-major: the row of
//! output `o` is `weights[o·in .. (o+1)·in]`) and biases (`f32`); then the sample count and
//! the samples (`f32`, the first layer's width each). Output: each sample's last-layer values
//! (`f32`, little-endian). Only `+ *` and `max` are used, so the logits are bit-identical
//! everywhere.
//!
//! [`Model::train`] (native only, not a job) fits a small model to data, for the demo.

use crate::input::{bad, InputError, Reader};

/// The most layers.
pub const MAX_LAYERS: u32 = 16;
/// The widest layer.
pub const MAX_WIDTH: u32 = 4096;
/// The most parameters in a model (16 MiB of `f32`).
pub const MAX_PARAMS: usize = 4 << 20;
/// The most samples in one batch.
pub const MAX_SAMPLES: u32 = 1 << 16;

/// One dense layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Whether ReLU follows.
    pub relu: bool,
    /// `outputs × inputs`, output-major.
    pub weights: Vec<f32>,
    /// One per output.
    pub biases: Vec<f32>,
}

/// A model: layers whose widths chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// First to last.
    pub layers: Vec<Layer>,
}

impl Model {
    /// The widths of the input and of the output.
    pub fn io(&self) -> (usize, usize) {
        let first = self.layers.first().map_or(0, |l| l.inputs);
        (first, self.layers.last().map_or(0, |l| l.outputs))
    }

    /// The model's bytes (the start of a job input).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = b"TMLP".to_vec();
        push_u32(&mut out, self.layers.len());
        for l in &self.layers {
            push_u32(&mut out, l.inputs);
            push_u32(&mut out, l.outputs);
            push_u32(&mut out, usize::from(l.relu));
            for v in l.weights.iter().chain(&l.biases) {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// A job input: this model and a batch of samples.
    pub fn job_input(&self, samples: &[Vec<f32>]) -> Vec<u8> {
        let mut out = self.encode();
        push_u32(&mut out, samples.len());
        for v in samples.iter().flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// The last layer's values for one sample.
    pub fn forward(&self, sample: &[f32]) -> Vec<f32> {
        let mut x = sample.to_vec();
        for l in &self.layers {
            let mut y = Vec::with_capacity(l.outputs);
            for o in 0..l.outputs {
                let row = &l.weights[o * l.inputs..(o + 1) * l.inputs];
                let mut acc = l.biases[o];
                for (w, v) in row.iter().zip(&x) {
                    acc += w * v;
                }
                y.push(if l.relu { acc.max(0.0) } else { acc });
            }
            x = y;
        }
        x
    }
}

fn push_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
}

/// Reads and checks a job input.
pub fn decode(input: &[u8]) -> Result<(Model, Vec<Vec<f32>>), InputError> {
    let mut r = Reader::new(input);
    r.magic(b"TMLP")?;
    let count = r.bounded("layer count", MAX_LAYERS)?;
    let mut layers: Vec<Layer> = Vec::new();
    let mut params = 0usize;
    for i in 0..count {
        let inputs = r.bounded("layer input width", MAX_WIDTH)? as usize;
        let outputs = r.bounded("layer output width", MAX_WIDTH)? as usize;
        let relu = match r.u32("activation")? {
            0 => false,
            1 => true,
            other => {
                return Err(bad(format!(
                    "layer {i}: activation {other} is not 0 (linear) or 1 (ReLU)"
                )))
            }
        };
        if let Some(prev) = layers.last() {
            if prev.outputs != inputs {
                return Err(bad(format!(
                    "layer {i} takes {inputs} inputs but layer {} gives {}",
                    i - 1,
                    prev.outputs
                )));
            }
        }
        params += inputs * outputs + outputs;
        if params > MAX_PARAMS {
            return Err(bad(format!("model has more than {MAX_PARAMS} parameters")));
        }
        let weights = floats(&mut r, inputs * outputs, "weights")?;
        let biases = floats(&mut r, outputs, "biases")?;
        layers.push(Layer {
            inputs,
            outputs,
            relu,
            weights,
            biases,
        });
    }
    let model = Model { layers };
    let n = r.bounded("sample count", MAX_SAMPLES)? as usize;
    let width = model.io().0;
    let samples = (0..n)
        .map(|_| floats(&mut r, width, "samples"))
        .collect::<Result<Vec<_>, _>>()?;
    r.finish()?;
    Ok((model, samples))
}

fn floats(r: &mut Reader<'_>, n: usize, what: &str) -> Result<Vec<f32>, InputError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = r.f32(what)?;
        if !v.is_finite() {
            return Err(bad(format!("{what} hold a NaN or infinity")));
        }
        out.push(v);
    }
    Ok(out)
}

/// Runs a job input: every sample's outputs, concatenated.
pub fn run(input: &[u8]) -> Result<Vec<u8>, InputError> {
    let (model, samples) = decode(input)?;
    let mut out = Vec::with_capacity(samples.len() * model.io().1 * 4);
    for s in &samples {
        for v in model.forward(s) {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// Splits a job output into per-sample outputs of `width` values.
pub fn outputs(bytes: &[u8], width: usize) -> Vec<Vec<f32>> {
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    values.chunks(width.max(1)).map(<[f32]>::to_vec).collect()
}

/// The index of the largest value (the predicted class).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

impl Model {
    /// A model of these widths (`[in, hidden…, out]`) with small weights from `seed`
    /// (ReLU between layers, linear output).
    pub fn new(widths: &[usize], seed: u64) -> Self {
        let mut rng = crate::render::vector::Sampler::for_sample(seed, 0, 0, 0);
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let scale = (2.0 / w[0] as f32).sqrt();
                Layer {
                    inputs: w[0],
                    outputs: w[1],
                    relu: i + 2 < widths.len(),
                    weights: (0..w[0] * w[1]).map(|_| (rng.unit() * 2.0 - 1.0) * scale).collect(),
                    biases: vec![0.0; w[1]],
                }
            })
            .collect();
        Self { layers }
    }

    /// Fits the model to labelled samples by plain SGD on softmax cross-entropy.
    pub fn train(&mut self, data: &[(Vec<f32>, usize)], epochs: usize, rate: f32) {
        for _ in 0..epochs {
            for (x, label) in data {
                self.step(x, *label, rate);
            }
        }
    }

    fn step(&mut self, x: &[f32], label: usize, rate: f32) {
        // Forward, keeping every layer's input.
        let mut acts = vec![x.to_vec()];
        for l in &self.layers {
            let a = acts.last().map(Vec::as_slice).unwrap_or(&[]);
            let y = (0..l.outputs)
                .map(|o| {
                    let acc: f32 = l.biases[o]
                        + l.weights[o * l.inputs..(o + 1) * l.inputs]
                            .iter()
                            .zip(a)
                            .map(|(w, v)| w * v)
                            .sum::<f32>();
                    if l.relu {
                        acc.max(0.0)
                    } else {
                        acc
                    }
                })
                .collect();
            acts.push(y);
        }
        let logits = acts.last().cloned().unwrap_or_default();
        let peak = logits.iter().copied().fold(f32::MIN, f32::max);
        let exps: Vec<f32> = logits.iter().map(|v| (v - peak).exp()).collect();
        let total: f32 = exps.iter().sum();
        let mut grad: Vec<f32> = exps
            .iter()
            .enumerate()
            .map(|(i, e)| e / total - if i == label { 1.0 } else { 0.0 })
            .collect();
        for (li, l) in self.layers.iter_mut().enumerate().rev() {
            let (input, output) = (&acts[li], &acts[li + 1]);
            if l.relu {
                for (g, y) in grad.iter_mut().zip(output) {
                    if *y <= 0.0 {
                        *g = 0.0;
                    }
                }
            }
            let mut back = vec![0.0f32; l.inputs];
            for (o, g) in grad.iter().enumerate() {
                let row = &mut l.weights[o * l.inputs..(o + 1) * l.inputs];
                for ((w, b), x) in row.iter_mut().zip(back.iter_mut()).zip(input) {
                    *b += *w * g;
                    *w -= rate * g * x;
                }
                l.biases[o] -= rate * g;
            }
            grad = back;
        }
    }
}

/// Two interleaved spirals, `n` points each, labelled 0 and 1: a classic problem no linear
/// model solves. Deterministic in `seed`.
pub fn spirals(n: usize, seed: u64) -> Vec<(Vec<f32>, usize)> {
    let mut rng = crate::render::vector::Sampler::for_sample(seed, 1, 1, 1);
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let r = i as f32 / n as f32;
        let angle = r * 3.0 * std::f32::consts::PI;
        for label in 0..2 {
            let a = angle + label as f32 * std::f32::consts::PI;
            let (jx, jy) = ((rng.unit() - 0.5) * 0.08, (rng.unit() - 0.5) * 0.08);
            out.push((vec![r * a.cos() + jx, r * a.sin() + jy], label));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trained_model_separates_the_spirals_and_run_matches_forward() {
        let data = spirals(100, 3);
        let mut model = Model::new(&[2, 24, 24, 2], 5);
        model.train(&data, 400, 0.05);
        let correct = data.iter().filter(|(x, l)| argmax(&model.forward(x)) == *l).count();
        assert!(correct * 100 >= data.len() * 85, "{correct}/{} correct", data.len());
        let samples: Vec<Vec<f32>> = data.iter().map(|(x, _)| x.clone()).collect();
        let out = run(&model.job_input(&samples)).expect("run");
        let got = outputs(&out, 2);
        assert_eq!(got.len(), samples.len());
        for (s, g) in samples.iter().zip(&got) {
            assert_eq!(&model.forward(s), g);
        }
    }

    #[test]
    fn malformed_models_are_refused() {
        let model = Model::new(&[2, 3, 2], 1);
        let good = model.job_input(&[vec![0.5, 0.5]]);
        assert!(run(&good).is_ok());
        assert!(run(&good[..good.len() - 1])
            .expect_err("short")
            .0
            .contains("ends inside"));
        let mut chained = model.clone();
        chained.layers[1].inputs = 4;
        chained.layers[1].weights = vec![0.0; 8];
        assert!(run(&chained.job_input(&[vec![0.0, 0.0]]))
            .expect_err("chain")
            .0
            .contains("takes 4 inputs"));
        let mut nan = model.clone();
        nan.layers[0].weights[0] = f32::NAN;
        assert!(run(&nan.job_input(&[vec![0.0, 0.0]]))
            .expect_err("nan")
            .0
            .contains("NaN"));
        let mut extra = good.clone();
        extra.push(0);
        assert!(run(&extra).expect_err("trailing").0.contains("trailing"));
    }
}
