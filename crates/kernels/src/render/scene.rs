//! The scene format: one object per line, plain text, so a scene is easy to write by hand.
//!
//! ```text
//! # a comment
//! camera from 0 1.2 -4 to 0 0.6 0 fov 40
//! sky 0.55 0.7 1.0
//! ground 0 checker 0.9 0.9 0.9 0.2 0.3 0.5 2
//! sphere 0 1 0 1 glass 1.5
//! sphere -2.1 1 0 1 metal 0.8 0.6 0.2 0.05
//! sphere 2.1 1 0 1 diffuse 0.7 0.2 0.2
//! sphere 0 6 0 2 light 6 6 6
//! ```
//!
//! Materials: `diffuse R G B`, `metal R G B FUZZ`, `glass IOR`, `light R G B`, and for the
//! ground also `checker R G B R G B SCALE`.

use super::vector::{tan_degrees, Vec3};
use crate::input::{bad, InputError};

/// The largest scene text accepted, bytes.
pub const MAX_SCENE_BYTES: usize = 64 * 1024;
/// The most objects in a scene: every ray tests every object, so this bounds cost per ray.
pub const MAX_OBJECTS: usize = 256;

/// How a surface scatters light.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Material {
    /// Lambertian reflection with this albedo.
    Diffuse(Vec3),
    /// Mirror reflection tinted by the albedo, blurred by `fuzz` (0 = perfect mirror).
    Metal(Vec3, f32),
    /// A dielectric with this index of refraction.
    Glass(f32),
    /// An emitter of this radiance.
    Light(Vec3),
    /// A diffuse checkerboard of two albedos with squares `1/scale` wide.
    Checker(Vec3, Vec3, f32),
}

/// A renderable shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// A sphere.
    Sphere {
        /// Its centre.
        center: Vec3,
        /// Its radius (> 0).
        radius: f32,
    },
    /// The infinite horizontal plane `y = height`.
    Ground {
        /// Its height.
        height: f32,
    },
}

/// A shape with its material.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    /// The geometry.
    pub shape: Shape,
    /// The surface.
    pub material: Material,
}

/// Where the camera stands and looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Eye position.
    pub from: Vec3,
    /// The point looked at.
    pub to: Vec3,
    /// Half the vertical field of view, as `tan(fov / 2)`.
    pub half_height: f32,
}

/// A parsed scene.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// The camera.
    pub camera: Camera,
    /// The colour of the sky straight up (the horizon is white).
    pub sky: Vec3,
    /// Everything that can be hit.
    pub objects: Vec<Object>,
}

impl Scene {
    /// Parses scene text, naming the line of the first mistake.
    pub fn parse(text: &[u8]) -> Result<Self, InputError> {
        if text.len() > MAX_SCENE_BYTES {
            return Err(bad(format!("scene is {} bytes; at most {MAX_SCENE_BYTES}", text.len())));
        }
        let text = std::str::from_utf8(text).map_err(|_| bad("scene is not UTF-8 text"))?;
        let mut camera = None;
        let mut sky = Vec3::new(0.5, 0.7, 1.0);
        let mut objects = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = Words {
                words: line.split_whitespace(),
                line: i + 1,
            };
            let shape = match words.word()? {
                "camera" => {
                    camera = Some(words.camera()?);
                    words.end()?;
                    continue;
                }
                "sky" => {
                    sky = words.colour()?;
                    words.end()?;
                    continue;
                }
                "sphere" => {
                    let center = words.vec3()?;
                    let radius = words.number()?;
                    if radius <= 0.0 {
                        return Err(words.error("sphere radius must be positive"));
                    }
                    Shape::Sphere { center, radius }
                }
                "ground" => Shape::Ground {
                    height: words.number()?,
                },
                other => return Err(words.error(&format!("unknown object `{other}`"))),
            };
            let material = words.material(matches!(shape, Shape::Ground { .. }))?;
            words.end()?;
            if objects.len() == MAX_OBJECTS {
                return Err(words.error(&format!("more than {MAX_OBJECTS} objects")));
            }
            objects.push(Object { shape, material });
        }
        let camera = camera.ok_or_else(|| bad("scene has no `camera` line"))?;
        Ok(Self { camera, sky, objects })
    }
}

struct Words<'a> {
    words: std::str::SplitWhitespace<'a>,
    line: usize,
}

impl<'a> Words<'a> {
    fn error(&self, msg: &str) -> InputError {
        bad(format!("scene line {}: {msg}", self.line))
    }

    fn word(&mut self) -> Result<&'a str, InputError> {
        let line = self.line;
        self.words
            .next()
            .ok_or_else(|| bad(format!("scene line {line}: line ends too early")))
    }

    fn keyword(&mut self, want: &str) -> Result<(), InputError> {
        let got = self.word()?;
        if got != want {
            return Err(self.error(&format!("expected `{want}`, found `{got}`")));
        }
        Ok(())
    }

    fn number(&mut self) -> Result<f32, InputError> {
        let w = self.word()?;
        let v: f32 = w.parse().map_err(|_| self.error(&format!("`{w}` is not a number")))?;
        // Bounded magnitudes keep every product finite, so no NaN or infinity enters the maths.
        if !v.is_finite() || v.abs() > 1.0e4 {
            return Err(self.error(&format!("`{w}` is out of range (|x| ≤ 10000)")));
        }
        Ok(v)
    }

    fn vec3(&mut self) -> Result<Vec3, InputError> {
        Ok(Vec3::new(self.number()?, self.number()?, self.number()?))
    }

    fn colour(&mut self) -> Result<Vec3, InputError> {
        let c = self.vec3()?;
        if c.x < 0.0 || c.y < 0.0 || c.z < 0.0 {
            return Err(self.error("colours are not negative"));
        }
        Ok(c)
    }

    fn camera(&mut self) -> Result<Camera, InputError> {
        self.keyword("from")?;
        let from = self.vec3()?;
        self.keyword("to")?;
        let to = self.vec3()?;
        self.keyword("fov")?;
        let fov = self.number()?;
        if !(1.0..=170.0).contains(&fov) {
            return Err(self.error("fov is in degrees, 1 to 170"));
        }
        let dir = from - to;
        if dir.length_squared() < 1e-6 || (dir.x * dir.x + dir.z * dir.z) < 1e-9 {
            return Err(self.error("the camera must look at a point away from it, not straight up or down"));
        }
        Ok(Camera {
            from,
            to,
            half_height: tan_degrees(fov / 2.0),
        })
    }

    fn material(&mut self, ground: bool) -> Result<Material, InputError> {
        Ok(match self.word()? {
            "diffuse" => Material::Diffuse(self.colour()?),
            "metal" => {
                let albedo = self.colour()?;
                let fuzz = self.number()?;
                if !(0.0..=1.0).contains(&fuzz) {
                    return Err(self.error("metal fuzz is 0 to 1"));
                }
                Material::Metal(albedo, fuzz)
            }
            "glass" => {
                let ior = self.number()?;
                if !(1.0..=4.0).contains(&ior) {
                    return Err(self.error("glass index of refraction is 1 to 4"));
                }
                Material::Glass(ior)
            }
            "light" => Material::Light(self.colour()?),
            "checker" if ground => {
                let (a, b) = (self.colour()?, self.colour()?);
                let scale = self.number()?;
                if scale <= 0.0 {
                    return Err(self.error("checker scale must be positive"));
                }
                Material::Checker(a, b, scale)
            }
            other => return Err(self.error(&format!("unknown material `{other}`"))),
        })
    }

    fn end(&mut self) -> Result<(), InputError> {
        match self.words.next() {
            None => Ok(()),
            Some(w) => Err(self.error(&format!("unexpected `{w}` at the end of the line"))),
        }
    }
}

/// The scene the README renders and the capability benchmark uses.
pub const DEMO_SCENE: &str = "\
# Trellis demo scene: three spheres over a checkered floor, lit by the sky and one lamp.
camera from 0 1.4 -5.5 to 0 0.8 0 fov 38
sky 0.55 0.7 1.0
ground 0 checker 0.85 0.85 0.85 0.15 0.25 0.45 1.5
sphere 0 1 0 1 glass 1.5
sphere -2.2 1 0.6 1 metal 0.85 0.65 0.25 0.03
sphere 2.2 1 0.6 1 diffuse 0.75 0.18 0.15
sphere 0.9 0.35 -1.6 0.35 diffuse 0.2 0.6 0.3
sphere -6 9 -4 3 light 4 4 3.6
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scene_parses() {
        let s = Scene::parse(DEMO_SCENE.as_bytes()).expect("demo scene");
        assert_eq!(s.objects.len(), 6);
        assert!(matches!(s.objects[1].material, Material::Glass(_)));
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases: [(&str, &str); 7] = [
            ("sphere 0 0 0 1 diffuse 1 1 1", "no `camera`"),
            ("camera from 0 0 0 to 0 0 0 fov 40", "line 1: the camera"),
            (
                "camera from 0 1 -4 to 0 0 0 fov 40\nsphere 0 0 0 -1 diffuse 1 1 1",
                "line 2: sphere radius",
            ),
            (
                "camera from 0 1 -4 to 0 0 0 fov 40\nsphere 0 0 0 1 plasma",
                "line 2: unknown material `plasma`",
            ),
            (
                "camera from 0 1 -4 to 0 0 0 fov 40\nsphere 0 0 0 1 checker 1 1 1 0 0 0 1",
                "unknown material `checker`",
            ),
            (
                "camera from 0 1 -4 to 0 0 0 fov 40\nsphere 0 0 nan 1 diffuse 1 1 1",
                "`nan` is out of range",
            ),
            ("camera from 0 1 -4 to 0 0 0 fov 40 extra", "unexpected `extra`"),
        ];
        for (text, want) in cases {
            let err = Scene::parse(text.as_bytes()).expect_err(text).0;
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
