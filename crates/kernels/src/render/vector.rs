//! Three-component vectors and the sampler. Only exactly rounded IEEE operations.

use std::ops::{Add, Mul, Neg, Sub};

/// A point, direction or RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Vec3 {
    /// x, or red.
    pub x: f32,
    /// y, or green.
    pub y: f32,
    /// z, or blue.
    pub z: f32,
}

impl Vec3 {
    /// A vector from its components.
    pub const fn new(x: f32, y: f32, z: f32) -> Self {
        Self { x, y, z }
    }

    /// The same value in all three components.
    pub const fn splat(v: f32) -> Self {
        Self::new(v, v, v)
    }

    /// Dot product.
    pub fn dot(self, o: Self) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    /// Cross product.
    pub fn cross(self, o: Self) -> Self {
        Self::new(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    /// Squared length.
    pub fn length_squared(self) -> f32 {
        self.dot(self)
    }

    /// The unit vector in this direction (zero stays zero).
    pub fn unit(self) -> Self {
        let len = self.length_squared().sqrt();
        if len == 0.0 {
            return self;
        }
        self * (1.0 / len)
    }

    /// Component-wise product (colour filtering).
    pub fn hadamard(self, o: Self) -> Self {
        Self::new(self.x * o.x, self.y * o.y, self.z * o.z)
    }

    /// Mirror reflection about the normal `n`.
    pub fn reflect(self, n: Self) -> Self {
        self - n * (2.0 * self.dot(n))
    }
}

impl Add for Vec3 {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self::new(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for Vec3 {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self::new(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f32> for Vec3 {
    type Output = Self;
    fn mul(self, s: f32) -> Self {
        Self::new(self.x * s, self.y * s, self.z * s)
    }
}

impl Neg for Vec3 {
    type Output = Self;
    fn neg(self) -> Self {
        Self::new(-self.x, -self.y, -self.z)
    }
}

/// The path tracer's random numbers: xorshift64* seeded through splitmix64, so every pixel
/// sample has its own well-mixed stream derived only from the job's seed and its coordinates.
pub struct Sampler(u64);

impl Sampler {
    /// The stream for one pixel sample.
    pub fn for_sample(seed: u64, px: u32, py: u32, sample: u32) -> Self {
        // Coordinates fill disjoint bit ranges (sample < 2^13, py < 2^15 at our limits); the seed
        // is mixed on its own first, so neighbouring seeds do not just permute the same streams.
        let coords = (u64::from(px) << 40) ^ (u64::from(py) << 20) ^ u64::from(sample);
        let z = splitmix64(splitmix64(seed) ^ coords);
        Self(if z == 0 { 1 } else { z })
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64* (Vigna 2016).
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`, from the top 24 bits (exactly representable in `f32`).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in the unit ball, by rejection (bounded; the fallback is practically unreachable).
    pub fn in_unit_ball(&mut self) -> Vec3 {
        for _ in 0..64 {
            let p = Vec3::new(
                self.unit() * 2.0 - 1.0,
                self.unit() * 2.0 - 1.0,
                self.unit() * 2.0 - 1.0,
            );
            if p.length_squared() < 1.0 {
                return p;
            }
        }
        Vec3::default()
    }
}

/// The splitmix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `tan` of an angle in degrees in `(0, 90)`, from Taylor series of `sin` and `cos` in basic
/// operations only (accurate to ~1e-6 there), so every platform computes the same bits.
pub fn tan_degrees(deg: f32) -> f32 {
    let x = deg * (core::f32::consts::PI / 180.0);
    let x2 = x * x;
    let (mut sin, mut cos) = (x, 1.0f32);
    let (mut ts, mut tc) = (x, 1.0f32);
    for k in 1..10u16 {
        let k = f32::from(k);
        ts = -ts * x2 / ((2.0 * k) * (2.0 * k + 1.0));
        tc = -tc * x2 / ((2.0 * k - 1.0) * (2.0 * k));
        sin += ts;
        cos += tc;
    }
    sin / cos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tan_series_matches_the_library_closely() {
        for deg in [1.0f32, 20.0, 45.0, 60.0, 80.0] {
            let ours = tan_degrees(deg);
            let lib = deg.to_radians().tan();
            assert!((ours - lib).abs() / lib < 1e-4, "{deg}: {ours} vs {lib}");
        }
    }

    #[test]
    fn sampler_streams_differ_per_pixel_and_stay_in_range() {
        let a: Vec<f32> = (0..8)
            .map(|_| 0.0)
            .scan(Sampler::for_sample(7, 1, 2, 0), |s, _| Some(s.unit()))
            .collect();
        let b: Vec<f32> = (0..8)
            .map(|_| 0.0)
            .scan(Sampler::for_sample(7, 2, 1, 0), |s, _| Some(s.unit()))
            .collect();
        assert_ne!(a, b);
        assert!(a.iter().chain(&b).all(|v| (0.0..1.0).contains(v)));
        let mut s = Sampler::for_sample(1, 0, 0, 0);
        assert!((0..1000).all(|_| s.in_unit_ball().length_squared() < 1.0));
    }
}
