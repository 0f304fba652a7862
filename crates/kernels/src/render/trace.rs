//! Ray–object intersection and the path-tracing loop.

use super::{
    scene::{Material, Object, Scene, Shape},
    vector::{Sampler, Vec3},
};

/// Rays start this far off a surface so they do not hit it again through rounding.
const EPSILON: f32 = 1.0e-3;
/// Nothing in a scene is farther (coordinates are bounded by 10^4).
const FAR: f32 = 1.0e6;

/// A ray `origin + t · dir`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ray {
    /// Where it starts.
    pub origin: Vec3,
    /// Where it goes (unit length).
    pub dir: Vec3,
}

struct Hit {
    t: f32,
    point: Vec3,
    /// Unit normal facing against the ray.
    normal: Vec3,
    /// Whether the ray hit the outside of the surface.
    outside: bool,
    material: Material,
}

fn intersect(object: &Object, ray: &Ray, t_max: f32) -> Option<Hit> {
    let (t, outward) = match object.shape {
        Shape::Sphere { center, radius } => {
            let oc = ray.origin - center;
            let half_b = oc.dot(ray.dir);
            let c = oc.length_squared() - radius * radius;
            let disc = half_b * half_b - c;
            if disc < 0.0 {
                return None;
            }
            let root = disc.sqrt();
            let mut t = -half_b - root;
            if t < EPSILON || t > t_max {
                t = -half_b + root;
                if t < EPSILON || t > t_max {
                    return None;
                }
            }
            let point = ray.origin + ray.dir * t;
            (t, (point - center) * (1.0 / radius))
        }
        Shape::Ground { height } => {
            if ray.dir.y.abs() < 1e-7 {
                return None;
            }
            let t = (height - ray.origin.y) / ray.dir.y;
            if t < EPSILON || t > t_max {
                return None;
            }
            (t, Vec3::new(0.0, 1.0, 0.0))
        }
    };
    let point = ray.origin + ray.dir * t;
    let outside = ray.dir.dot(outward) < 0.0;
    let normal = if outside { outward } else { -outward };
    Some(Hit {
        t,
        point,
        normal,
        outside,
        material: object.material,
    })
}

fn nearest(scene: &Scene, ray: &Ray) -> Option<Hit> {
    let mut best: Option<Hit> = None;
    for object in &scene.objects {
        let t_max = best.as_ref().map_or(FAR, |h| h.t);
        if let Some(hit) = intersect(object, ray, t_max) {
            best = Some(hit);
        }
    }
    best
}

fn sky(scene: &Scene, dir: Vec3) -> Vec3 {
    let t = 0.5 * (dir.y + 1.0);
    Vec3::splat(1.0 - t) + scene.sky * t
}

/// Schlick's approximation of Fresnel reflectance (Schlick 1994).
fn reflectance(cosine: f32, ratio: f32) -> f32 {
    let r0 = (1.0 - ratio) / (1.0 + ratio);
    let r0 = r0 * r0;
    let m = 1.0 - cosine;
    r0 + (1.0 - r0) * (m * m * m * m * m)
}

/// The radiance arriving along `ray`, following at most `max_depth` bounces.
pub(super) fn radiance(scene: &Scene, mut ray: Ray, max_depth: u32, rng: &mut Sampler) -> Vec3 {
    let light = Vec3::default();
    let mut throughput = Vec3::splat(1.0);
    for _ in 0..max_depth {
        let Some(hit) = nearest(scene, &ray) else {
            return light + throughput.hadamard(sky(scene, ray.dir));
        };
        let (dir, albedo) = match hit.material {
            Material::Light(emit) => return light + throughput.hadamard(emit),
            Material::Diffuse(albedo) => (diffuse(hit.normal, rng), albedo),
            Material::Checker(a, b, scale) => {
                let parity = ((hit.point.x * scale).floor() + (hit.point.z * scale).floor()) as i64 & 1;
                (diffuse(hit.normal, rng), if parity == 0 { a } else { b })
            }
            Material::Metal(albedo, fuzz) => {
                let dir = (ray.dir.reflect(hit.normal) + rng.in_unit_ball() * fuzz).unit();
                if dir.dot(hit.normal) <= 0.0 {
                    return light;
                }
                (dir, albedo)
            }
            Material::Glass(ior) => (refract(ray.dir, &hit, ior, rng), Vec3::splat(1.0)),
        };
        throughput = throughput.hadamard(albedo);
        ray = Ray { origin: hit.point, dir };
    }
    light
}

fn diffuse(normal: Vec3, rng: &mut Sampler) -> Vec3 {
    let d = normal + rng.in_unit_ball().unit();
    if d.length_squared() < 1e-8 {
        normal
    } else {
        d.unit()
    }
}

fn refract(dir: Vec3, hit: &Hit, ior: f32, rng: &mut Sampler) -> Vec3 {
    let ratio = if hit.outside { 1.0 / ior } else { ior };
    let cos = (-dir).dot(hit.normal).min(1.0);
    let sin2 = 1.0 - cos * cos;
    if ratio * ratio * sin2 > 1.0 || reflectance(cos, ratio) > rng.unit() {
        return dir.reflect(hit.normal);
    }
    let perp = (dir + hit.normal * cos) * ratio;
    let para = hit.normal * -(1.0 - perp.length_squared()).abs().sqrt();
    (perp + para).unit()
}
