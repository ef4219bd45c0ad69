//! The project's own rigged humanoid (`cargo xtask gen-avatar`): a body modelled as
//! smoothly blended signed-distance parts on the rest skeleton ([`body`]), meshed by
//! surface nets ([`mesh`]) at three resolutions (body, head, hands), skinned to the VRM
//! bones by distance to each bone's parts, coloured by region, with the 52 ARKit morph
//! targets on the head ([`face`]) and eyeballs on the eye bones so they can look around;
//! written as a binary glTF ([`glb`]).
//!
//! The seed's appearance options (§5.2: gender, hair colour, eye colour, skin tone) are
//! [`Appearance`]. Everything is deterministic: the same appearance gives the same file.

pub mod body;
pub mod face;
pub mod glb;
pub mod mesh;
pub mod sdf;

use glam::Vec3;
use serde::{Deserialize, Serialize};

use crate::face::blend_shapes::BlendShape;
use crate::pose::Pose;
use crate::skeleton::{HumanBone, Skeleton};
use body::{Body, Region};

/// How the body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presentation {
    /// Narrower shoulders, wider hips, a bust, long hair.
    Feminine,
    /// Broader shoulders and jaw, short hair.
    Masculine,
    /// In between, short hair.
    Androgynous,
}

/// Skin tones, lightest to darkest (Fitzpatrick I–VI), as sRGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SkinTone {
    I,
    II,
    III,
    IV,
    V,
    VI,
}

impl SkinTone {
    /// sRGB colour.
    #[must_use]
    pub const fn srgb(self) -> [f32; 3] {
        match self {
            Self::I => [0.96, 0.83, 0.75],
            Self::II => [0.91, 0.74, 0.63],
            Self::III => [0.82, 0.63, 0.50],
            Self::IV => [0.68, 0.49, 0.36],
            Self::V => [0.49, 0.33, 0.23],
            Self::VI => [0.32, 0.21, 0.15],
        }
    }
}

/// Hair colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum HairColor {
    Black,
    DarkBrown,
    Brown,
    Auburn,
    Red,
    Blonde,
    Grey,
}

impl HairColor {
    /// sRGB colour.
    #[must_use]
    pub const fn srgb(self) -> [f32; 3] {
        match self {
            Self::Black => [0.06, 0.05, 0.05],
            Self::DarkBrown => [0.17, 0.11, 0.07],
            Self::Brown => [0.33, 0.21, 0.12],
            Self::Auburn => [0.45, 0.2, 0.1],
            Self::Red => [0.62, 0.26, 0.12],
            Self::Blonde => [0.80, 0.66, 0.42],
            Self::Grey => [0.62, 0.61, 0.60],
        }
    }
}

/// Eye (iris) colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum EyeColor {
    Brown,
    Hazel,
    Green,
    Blue,
    Grey,
}

impl EyeColor {
    /// sRGB colour.
    #[must_use]
    pub const fn srgb(self) -> [f32; 3] {
        match self {
            Self::Brown => [0.30, 0.17, 0.08],
            Self::Hazel => [0.45, 0.35, 0.15],
            Self::Green => [0.25, 0.45, 0.25],
            Self::Blue => [0.25, 0.42, 0.65],
            Self::Grey => [0.50, 0.55, 0.58],
        }
    }
}

/// The seed's appearance options, plus height and clothes colours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Appearance {
    /// Body shape.
    pub presentation: Presentation,
    /// Standing height in metres.
    pub height: f32,
    /// Skin tone.
    pub skin_tone: SkinTone,
    /// Hair colour.
    pub hair_color: HairColor,
    /// Eye colour.
    pub eye_color: EyeColor,
    /// Shirt colour (sRGB).
    pub top: [f32; 3],
    /// Trousers colour (sRGB).
    pub bottom: [f32; 3],
}

impl Default for Appearance {
    /// The default companion.
    fn default() -> Self {
        Self {
            presentation: Presentation::Feminine,
            height: 1.68,
            skin_tone: SkinTone::III,
            hair_color: HairColor::DarkBrown,
            eye_color: EyeColor::Hazel,
            top: [0.16, 0.30, 0.55],
            bottom: [0.13, 0.13, 0.15],
        }
    }
}

impl Appearance {
    /// The sRGB colour of `region`.
    #[must_use]
    pub fn colour(&self, region: Region) -> [f32; 3] {
        let skin = self.skin_tone.srgb();
        let hair = self.hair_color.srgb();
        match region {
            Region::Skin => skin,
            Region::Lips => [skin[0] * 0.86, skin[1] * 0.58, skin[2] * 0.58],
            Region::Mouth => [0.32, 0.07, 0.08],
            Region::Hair => hair,
            Region::Brows => hair.map(|c| c * 0.8),
            Region::Top => self.top,
            Region::Bottom => self.bottom,
            Region::Shoes => [0.09, 0.08, 0.08],
        }
    }
}

/// Meshing resolution (grid step in metres per body).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Torso and limbs.
    pub body: f32,
    /// Head and face.
    pub head: f32,
    /// Hands.
    pub hands: f32,
    /// Eyeball segments around.
    pub eye_segments: u32,
}

impl Quality {
    /// The committed asset: ~45 k vertices.
    pub const FINAL: Self = Self { body: 0.009, head: 0.003, hands: 0.003, eye_segments: 24 };
    /// Coarse, for tests (a fraction of a second).
    pub const PREVIEW: Self = Self { body: 0.03, head: 0.008, hands: 0.008, eye_segments: 8 };
}

/// How a mesh is shaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Material {
    /// Skin, hair and cloth (vertex colours, matte).
    Body,
    /// Eyeballs (vertex colours, glossy).
    Eyes,
}

/// A morph target as sparse vertex offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Morph {
    /// The ARKit shape it implements.
    pub shape: BlendShape,
    /// (vertex index, position offset) for every vertex it moves.
    pub deltas: Vec<(u32, Vec3)>,
}

/// One skinned mesh of the avatar (T-pose, model space).
#[derive(Debug, Clone, PartialEq)]
pub struct SkinnedMesh {
    /// Name.
    pub name: String,
    /// Positions.
    pub positions: Vec<Vec3>,
    /// Unit normals.
    pub normals: Vec<Vec3>,
    /// Linear RGBA vertex colours.
    pub colours: Vec<[f32; 4]>,
    /// Triangles.
    pub indices: Vec<u32>,
    /// Up to four bones per vertex ([`HumanBone::index`]).
    pub joints: Vec<[u16; 4]>,
    /// Their weights, summing to 1.
    pub weights: Vec<[f32; 4]>,
    /// Morph targets.
    pub morphs: Vec<Morph>,
    /// Shading.
    pub material: Material,
}

/// A generated avatar.
#[derive(Debug, Clone)]
pub struct GeneratedAvatar {
    /// Its skeleton.
    pub skeleton: Skeleton,
    /// How it looks.
    pub appearance: Appearance,
    /// Body, head, hands, eyes.
    pub meshes: Vec<SkinnedMesh>,
}

/// Generates the avatar for `appearance` at `quality`.
#[must_use]
pub fn generate(appearance: &Appearance, quality: Quality) -> GeneratedAvatar {
    let skeleton = Skeleton::from_height(appearance.height);
    let h = skeleton.proportions.height;
    let bodies = body::build(&skeleton, appearance);
    let rest = skeleton.rest(&Pose::IDENTITY);
    let pivot = rest[HumanBone::Head.index()].position;
    let marks = face::Landmarks { eye: (rest[HumanBone::LeftEye.index()].position - pivot) / h };
    let slit = body::mouth_slit(pivot, h);

    let mut meshes = Vec::new();
    for (name, part, step, radius) in [
        ("body", &bodies.body, quality.body, 0.03 * h),
        ("head", &bodies.head, quality.head, 0.015 * h),
        ("hands", &bodies.hands, quality.hands, 0.008 * h),
    ] {
        let (lo, hi) = part.bounds(step * 2.0);
        let tri = mesh::surface_nets(&|p| part.distance(p), lo, hi, step);
        let mut skinned = skin(name, tri, part, radius, appearance);
        if name == "head" {
            for vertex in 0..skinned.positions.len() {
                if slit.distance(skinned.positions[vertex]) < 0.0012 * h {
                    skinned.colours[vertex] = linear(appearance.colour(Region::Mouth));
                }
            }
            skinned.morphs = BlendShape::ALL
                .into_iter()
                .map(|shape| Morph {
                    shape,
                    deltas: skinned
                        .positions
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| {
                            let d = face::displacement(shape, (*p - pivot) / h, &marks) * h;
                            (d.length() > 1e-5).then_some((i as u32, d))
                        })
                        .collect(),
                })
                .collect();
        }
        meshes.push(skinned);
    }
    meshes.push(eyes(&skeleton, appearance, quality.eye_segments));
    GeneratedAvatar { skeleton, appearance: *appearance, meshes }
}

/// Skin weights (by distance to each bone's parts), colours (by the nearest part).
fn skin(name: &str, tri: mesh::TriMesh, body: &Body, radius: f32, look: &Appearance) -> SkinnedMesh {
    let mut joints = Vec::with_capacity(tri.positions.len());
    let mut weights = Vec::with_capacity(tri.positions.len());
    let mut colours = Vec::with_capacity(tri.positions.len());
    for &p in &tri.positions {
        let mut per_bone: Vec<(HumanBone, f32)> = Vec::new();
        for part in &body.parts {
            let d = part.distance(p).max(0.0);
            let w = (1.0 - d / radius).max(0.0).powi(2);
            if w > 0.0 {
                match per_bone.iter_mut().find(|(b, _)| *b == part.bone) {
                    Some(entry) => entry.1 += w,
                    None => per_bone.push((part.bone, w)),
                }
            }
        }
        per_bone.sort_by(|a, b| b.1.total_cmp(&a.1));
        per_bone.truncate(4);
        let total: f32 = per_bone.iter().map(|(_, w)| w).sum();
        let nearest = body.nearest(p);
        if total <= 0.0 {
            per_bone = vec![(nearest.map_or(HumanBone::Hips, |n| n.bone), 1.0)];
        }
        let total: f32 = per_bone.iter().map(|(_, w)| w).sum();
        let mut j = [0u16; 4];
        let mut w = [0.0f32; 4];
        for (k, (bone, weight)) in per_bone.iter().enumerate() {
            j[k] = bone.index() as u16;
            w[k] = weight / total;
        }
        joints.push(j);
        weights.push(w);
        colours.push(linear(look.colour(nearest.map_or(Region::Skin, |n| n.region))));
    }
    SkinnedMesh {
        name: name.to_owned(),
        positions: tri.positions,
        normals: tri.normals,
        colours,
        indices: tri.indices,
        joints,
        weights,
        morphs: Vec::new(),
        material: Material::Body,
    }
}

/// Two eyeballs (UV spheres) on the eye bones: sclera, iris, pupil.
fn eyes(skeleton: &Skeleton, look: &Appearance, segments: u32) -> SkinnedMesh {
    let h = skeleton.proportions.height;
    let radius = 0.0072 * h;
    let rest = skeleton.rest(&Pose::IDENTITY);
    let mut mesh = SkinnedMesh {
        name: "eyes".into(),
        positions: Vec::new(),
        normals: Vec::new(),
        colours: Vec::new(),
        indices: Vec::new(),
        joints: Vec::new(),
        weights: Vec::new(),
        morphs: Vec::new(),
        material: Material::Eyes,
    };
    let rings = segments.max(4);
    let around = segments.max(4) * 2;
    for bone in [HumanBone::LeftEye, HumanBone::RightEye] {
        let centre = rest[bone.index()].position;
        let base = mesh.positions.len() as u32;
        for ring in 0..=rings {
            // Polar angle from +Z (the eye's forward), so the iris is a cap of rings.
            let theta = std::f32::consts::PI * ring as f32 / rings as f32;
            for step in 0..=around {
                let phi = std::f32::consts::TAU * step as f32 / around as f32;
                let n = Vec3::new(theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos());
                mesh.positions.push(centre + n * radius);
                mesh.normals.push(n);
                let colour = if theta < 0.2 {
                    [0.02, 0.02, 0.02]
                } else if theta < 0.5 {
                    look.eye_color.srgb()
                } else if theta < 0.56 {
                    look.eye_color.srgb().map(|c| c * 0.45)
                } else {
                    [0.93, 0.91, 0.88]
                };
                mesh.colours.push(linear(colour));
                mesh.joints.push([bone.index() as u16, 0, 0, 0]);
                mesh.weights.push([1.0, 0.0, 0.0, 0.0]);
            }
        }
        let stride = around + 1;
        for ring in 0..rings {
            for step in 0..around {
                let a = base + ring * stride + step;
                let b = a + stride;
                // Outward-facing: (a, a+1, b+1), (a, b+1, b) wind counter-clockwise seen
                // from outside for this parameterisation.
                mesh.indices.extend_from_slice(&[a, b, b + 1, a, b + 1, a + 1]);
            }
        }
    }
    mesh
}

/// sRGB to linear RGBA.
fn linear(srgb: [f32; 3]) -> [f32; 4] {
    let f = |c: f32| if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) };
    [f(srgb[0]), f(srgb[1]), f(srgb[2]), 1.0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_avatar_is_complete() {
        let avatar = generate(&Appearance::default(), Quality::PREVIEW);
        assert_eq!(avatar.meshes.len(), 4);
        for mesh in &avatar.meshes {
            assert!(!mesh.positions.is_empty(), "{} is empty", mesh.name);
            assert_eq!(mesh.positions.len(), mesh.normals.len());
            assert_eq!(mesh.positions.len(), mesh.weights.len());
            for w in &mesh.weights {
                assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            }
            assert!(mesh.indices.iter().all(|&i| (i as usize) < mesh.positions.len()));
        }
        let head = &avatar.meshes[1];
        assert_eq!(head.morphs.len(), 52);
        assert!(head.morphs.iter().all(|m| !m.deltas.is_empty()), "every ARKit shape moves the head");
        // The body stands on the floor and reaches the avatar's height.
        let top = avatar.meshes.iter().flat_map(|m| &m.positions).map(|p| p.y).fold(0.0, f32::max);
        let bottom = avatar.meshes.iter().flat_map(|m| &m.positions).map(|p| p.y).fold(9.0, f32::min);
        assert!((top - 1.68).abs() < 0.05, "top of head at {top}");
        assert!(bottom.abs() < 0.03, "soles at {bottom}");
    }
}
