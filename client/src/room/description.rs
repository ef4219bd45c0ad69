//! The room file format (`assets/environments/*.toml`): materials, shapes, reusable
//! prefabs and where they are placed, the sun, the sky, where the user and the companion
//! stand. Parsing and [`RoomDescription::parts`] are plain Rust so they are tested without
//! a renderer; [`super::spawn`] turns the parts into Bevy entities.

use std::collections::BTreeMap;

use glam::{EulerRot, Quat, Vec3};
use serde::Deserialize;

/// A whole room.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomDescription {
    /// Display name.
    pub name: String,
    /// Clear colour (linear-ish sRGB 0–1).
    pub sky: [f32; 3],
    /// Ambient light.
    pub ambient: Ambient,
    /// Where the user enters.
    pub spawn: Placement,
    /// Where the companion stands.
    pub companion: Placement,
    /// The sun.
    pub sun: Sun,
    /// Named materials.
    pub materials: BTreeMap<String, MaterialDesc>,
    /// Loose objects (optionally repeated).
    #[serde(default)]
    pub objects: Vec<PartDesc>,
    /// Reusable groups of parts.
    #[serde(default)]
    pub prefabs: BTreeMap<String, Prefab>,
    /// Prefab instances.
    #[serde(default)]
    pub place: Vec<PlaceDesc>,
}

/// Ambient light.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ambient {
    /// sRGB colour.
    pub color: [f32; 3],
    /// Brightness in Bevy's ambient units (cd/m²).
    pub brightness: f32,
}

/// A position on the floor with a heading.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Metres.
    pub position: Vec3,
    /// Heading in degrees, counter-clockwise seen from above; 0 looks towards −Z.
    #[serde(default)]
    pub yaw_deg: f32,
}

impl Placement {
    /// The heading as a rotation about +Y.
    #[must_use]
    pub fn rotation(&self) -> Quat {
        Quat::from_rotation_y(self.yaw_deg.to_radians())
    }
}

/// The directional sun light.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sun {
    /// Heading of the light's direction in degrees.
    pub yaw_deg: f32,
    /// Elevation of the direction in degrees (negative: shining downwards).
    pub pitch_deg: f32,
    /// Lux.
    pub illuminance: f32,
    /// sRGB colour.
    pub color: [f32; 3],
}

impl Sun {
    /// The light's orientation (it shines along its local −Z).
    #[must_use]
    pub fn rotation(&self) -> Quat {
        Quat::from_euler(EulerRot::YXZ, self.yaw_deg.to_radians(), self.pitch_deg.to_radians(), 0.0)
    }
}

/// A PBR material.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialDesc {
    /// sRGB base colour.
    pub color: [f32; 3],
    /// Perceptual roughness 0–1.
    #[serde(default = "half")]
    pub roughness: f32,
    /// Metallic 0–1.
    #[serde(default)]
    pub metallic: f32,
    /// Linear emissive colour (may exceed 1).
    #[serde(default)]
    pub emissive: Option<[f32; 3]>,
}

fn half() -> f32 {
    0.5
}

/// A primitive shape, centred on its position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Axis-aligned box of `size` (before rotation).
    Box {
        /// Full extents.
        size: Vec3,
    },
    /// Upright cylinder.
    Cylinder {
        /// Radius.
        radius: f32,
        /// Full height.
        height: f32,
    },
    /// Sphere.
    Sphere {
        /// Radius.
        radius: f32,
    },
    /// Upright capsule.
    Capsule {
        /// Radius.
        radius: f32,
        /// Length of the straight part.
        length: f32,
    },
}

/// The shape kinds a part may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    /// Needs `size`.
    Box,
    /// Needs `radius` and `height`.
    Cylinder,
    /// Needs `radius`.
    Sphere,
    /// Needs `radius` and `length`.
    Capsule,
}

/// One part of an object or prefab, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartDesc {
    /// The kind of shape.
    pub shape: ShapeKind,
    /// Box extents.
    #[serde(default)]
    pub size: Option<Vec3>,
    /// Cylinder, sphere or capsule radius.
    #[serde(default)]
    pub radius: Option<f32>,
    /// Cylinder height.
    #[serde(default)]
    pub height: Option<f32>,
    /// Capsule length.
    #[serde(default)]
    pub length: Option<f32>,
    /// Centre, metres.
    pub position: Vec3,
    /// Euler angles X, Y, Z in degrees (applied Y, then X, then Z).
    #[serde(default)]
    pub rotation_deg: Vec3,
    /// Material name.
    pub material: String,
    /// Copies along a step (loose objects only).
    #[serde(default)]
    pub repeat: Option<Repeat>,
}

impl PartDesc {
    /// The shape with its dimensions, checked to be present and positive.
    pub fn shape(&self) -> Result<Shape, RoomError> {
        let need = |v: Option<f32>, name: &str| match v {
            Some(v) if v.is_finite() && v > 0.0 => Ok(v),
            Some(v) => Err(RoomError::Invalid(format!("{:?} {name} {v} is non-positive", self.shape))),
            None => Err(RoomError::Invalid(format!("{:?} needs {name}", self.shape))),
        };
        Ok(match self.shape {
            ShapeKind::Box => {
                let size = self.size.ok_or_else(|| RoomError::Invalid("box needs size".into()))?;
                for v in size.to_array() {
                    need(Some(v), "size")?;
                }
                Shape::Box { size }
            }
            ShapeKind::Cylinder => {
                Shape::Cylinder { radius: need(self.radius, "radius")?, height: need(self.height, "height")? }
            }
            ShapeKind::Sphere => Shape::Sphere { radius: need(self.radius, "radius")? },
            ShapeKind::Capsule => {
                Shape::Capsule { radius: need(self.radius, "radius")?, length: need(self.length, "length")? }
            }
        })
    }
}

/// `count` copies, each moved by `step` from the previous.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// Number of copies (1–256).
    pub count: u32,
    /// Offset between copies.
    pub step: Vec3,
}

/// A reusable group of parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefab {
    /// Parts relative to the prefab's origin.
    pub parts: Vec<PartDesc>,
}

/// A prefab instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceDesc {
    /// Prefab name.
    pub prefab: String,
    /// Origin, metres.
    pub position: Vec3,
    /// Heading in degrees.
    #[serde(default)]
    pub yaw_deg: f32,
    /// A point light carried by this instance (e.g. a lamp).
    #[serde(default)]
    pub light: Option<PointLightDesc>,
}

/// A point light.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointLightDesc {
    /// sRGB colour.
    pub color: [f32; 3],
    /// Lumens.
    pub intensity: f32,
    /// Metres.
    pub range: f32,
    /// Offset from the instance origin.
    pub offset: Vec3,
}

/// A part in room space, ready to spawn.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedPart {
    /// Shape and size.
    pub shape: Shape,
    /// Centre.
    pub translation: Vec3,
    /// Orientation.
    pub rotation: Quat,
    /// Material name (checked to exist).
    pub material: String,
}

/// A point light in room space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedLight {
    /// Position.
    pub translation: Vec3,
    /// sRGB colour.
    pub color: [f32; 3],
    /// Lumens.
    pub intensity: f32,
    /// Metres.
    pub range: f32,
}

/// Why a room file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// Not valid TOML / wrong fields.
    #[error("room file: {0}")]
    Parse(String),
    /// A reference or value is wrong.
    #[error("room file: {0}")]
    Invalid(String),
}

impl RoomDescription {
    /// Parses and checks a room file.
    pub fn parse(text: &str) -> Result<Self, RoomError> {
        let room: Self = toml::from_str(text).map_err(|e| RoomError::Parse(e.to_string()))?;
        room.parts()?;
        Ok(room)
    }

    /// Every part in room space: loose objects (with repeats) and prefab instances.
    /// Fails on an unknown material or prefab, a non-positive dimension or a bad repeat.
    pub fn parts(&self) -> Result<Vec<PlacedPart>, RoomError> {
        let mut out = Vec::new();
        for obj in &self.objects {
            let (count, step) = match obj.repeat {
                Some(r) if (1..=256).contains(&r.count) => (r.count, r.step),
                Some(r) => return Err(RoomError::Invalid(format!("repeat count {} is not within 1–256", r.count))),
                None => (1, Vec3::ZERO),
            };
            for i in 0..count {
                out.push(self.place_part(obj, step * i as f32, Quat::IDENTITY)?);
            }
        }
        for p in &self.place {
            let prefab = self
                .prefabs
                .get(&p.prefab)
                .ok_or_else(|| RoomError::Invalid(format!("unknown prefab {:?}", p.prefab)))?;
            let yaw = Quat::from_rotation_y(p.yaw_deg.to_radians());
            for part in &prefab.parts {
                if part.repeat.is_some() {
                    return Err(RoomError::Invalid(format!("prefab {:?}: repeat is for loose objects only", p.prefab)));
                }
                let mut placed = self.place_part(part, Vec3::ZERO, Quat::IDENTITY)?;
                placed.translation = p.position + yaw * placed.translation;
                placed.rotation = yaw * placed.rotation;
                out.push(placed);
            }
        }
        Ok(out)
    }

    /// The point lights carried by prefab instances.
    #[must_use]
    pub fn lights(&self) -> Vec<PlacedLight> {
        self.place
            .iter()
            .filter_map(|p| {
                p.light.map(|l| PlacedLight {
                    translation: p.position + Quat::from_rotation_y(p.yaw_deg.to_radians()) * l.offset,
                    color: l.color,
                    intensity: l.intensity,
                    range: l.range,
                })
            })
            .collect()
    }

    fn place_part(&self, part: &PartDesc, offset: Vec3, rotation: Quat) -> Result<PlacedPart, RoomError> {
        if !self.materials.contains_key(&part.material) {
            return Err(RoomError::Invalid(format!("unknown material {:?}", part.material)));
        }
        let shape = part.shape()?;
        let r = part.rotation_deg;
        let local = Quat::from_euler(EulerRot::YXZ, r.y.to_radians(), r.x.to_radians(), r.z.to_radians());
        Ok(PlacedPart {
            shape,
            translation: part.position + offset,
            rotation: rotation * local,
            material: part.material.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAFE: &str = include_str!("../../../assets/environments/cafe_terrace.toml");

    #[test]
    fn the_cafe_terrace_parses_and_is_room_sized() {
        let room = RoomDescription::parse(CAFE).expect("café terrace");
        let parts = room.parts().expect("parts");
        assert!(parts.len() > 100, "{} parts", parts.len());
        // Everything stands on or above the pavement and within a street-sized box.
        for p in &parts {
            assert!(p.translation.y > -0.2 && p.translation.y < 10.0, "{p:?}");
            assert!(p.translation.x.abs() <= 12.0 && p.translation.z.abs() <= 13.0, "{p:?}");
        }
        // The companion stands on the terrace, in front of the user.
        let (user, companion) = (room.spawn.position, room.companion.position);
        let d = companion - user;
        assert!(d.z < -1.0 && d.length() < 5.0, "companion at {companion}, user at {user}");
        assert_eq!(room.lights().len(), 1);
    }

    #[test]
    fn prefab_instances_are_rotated_about_their_origin() {
        let text = CAFE.replace(
            "[[place]]\nprefab = \"bistro_table\"\nposition = [0.55, 0.0, -0.9]",
            "[[place]]\nprefab = \"street_lamp\"\nposition = [0.0, 0.0, 0.0]\nyaw_deg = 90.0",
        );
        let room = RoomDescription::parse(&text).expect("parse");
        assert!(
            room.parts().expect("parts").iter().any(|p| p.translation.abs_diff_eq(Vec3::new(0.0, 3.95, 0.0), 1e-5))
        );
    }

    #[test]
    fn bad_references_are_named() {
        for (from, to, expect) in [
            ("material = \"cobble\"", "material = \"plasma\"", "unknown material \"plasma\""),
            ("prefab = \"planter\"", "prefab = \"fountain\"", "unknown prefab \"fountain\""),
            ("radius = 0.36", "radius = -1.0", "non-positive"),
            ("radius = 0.42,", "", "Sphere needs radius"),
            ("count = 12", "count = 0", "repeat count 0"),
            ("shape = \"box\"", "shape = \"torus\"", "torus"),
        ] {
            let err = RoomDescription::parse(&CAFE.replacen(from, to, 1)).expect_err(expect).to_string();
            assert!(err.contains(expect), "{expect}: {err}");
        }
    }
}
