//! Humanoid rigs in user avatars: which glTF node is which [`HumanBone`], and the
//! expression presets a model offers — read from VRM 1.0 (`VRMC_vrm`), VRM 0.x (`VRM`), or,
//! for a plain glTF, from nodes named with VRM bone names (as the generated avatar's are).
//!
//! VRM models rarely carry the 52 ARKit shapes; they carry presets (happy, angry, sad,
//! relaxed, surprised, the vowels aa/ih/ou/ee/oh, blink…) bound to their own morph
//! targets. [`preset_weights`] turns the face this crate computes into preset weights, so
//! the same face drives either kind of model.
//!
//! Not here: textures, MToon materials, spring bones, first-person settings.

use serde_json::Value;

use crate::face::blend_shapes::{BlendShape as S, BlendShapeWeights};
use crate::skeleton::HumanBone;

/// Where the bone map came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RigKind {
    /// `extensions.VRMC_vrm.humanoid.humanBones` (VRM 1.0).
    Vrm1,
    /// `extensions.VRM.humanoid.humanBones` (VRM 0.x).
    Vrm0,
    /// Node names that are VRM 1.0 bone names.
    NamedNodes,
}

/// A VRM expression preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // VRM 1.0's preset names
pub enum Preset {
    Happy,
    Angry,
    Sad,
    Relaxed,
    Surprised,
    Aa,
    Ih,
    Ou,
    Ee,
    Oh,
    Blink,
    BlinkLeft,
    BlinkRight,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Self; 13] = [
        Self::Happy,
        Self::Angry,
        Self::Sad,
        Self::Relaxed,
        Self::Surprised,
        Self::Aa,
        Self::Ih,
        Self::Ou,
        Self::Ee,
        Self::Oh,
        Self::Blink,
        Self::BlinkLeft,
        Self::BlinkRight,
    ];

    /// The VRM 1.0 name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Happy => "happy",
            Self::Angry => "angry",
            Self::Sad => "sad",
            Self::Relaxed => "relaxed",
            Self::Surprised => "surprised",
            Self::Aa => "aa",
            Self::Ih => "ih",
            Self::Ou => "ou",
            Self::Ee => "ee",
            Self::Oh => "oh",
            Self::Blink => "blink",
            Self::BlinkLeft => "blinkLeft",
            Self::BlinkRight => "blinkRight",
        }
    }

    /// The preset for a VRM 1.0 or 0.x preset name (0.x: joy, sorrow, fun, a, i, u, e,
    /// o, blink_l, blink_r).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        Some(match name.as_str() {
            "happy" | "joy" => Self::Happy,
            "angry" => Self::Angry,
            "sad" | "sorrow" => Self::Sad,
            "relaxed" | "fun" => Self::Relaxed,
            "surprised" => Self::Surprised,
            "aa" | "a" => Self::Aa,
            "ih" | "i" => Self::Ih,
            "ou" | "u" => Self::Ou,
            "ee" | "e" => Self::Ee,
            "oh" | "o" => Self::Oh,
            "blink" => Self::Blink,
            "blinkleft" | "blink_l" => Self::BlinkLeft,
            "blinkright" | "blink_r" => Self::BlinkRight,
            _ => return None,
        })
    }
}

/// One morph target an expression sets.
#[derive(Debug, Clone, PartialEq)]
pub struct MorphBind {
    /// The glTF mesh index.
    pub mesh: usize,
    /// The name of a node that shows that mesh (how an engine finds it in the scene).
    pub node: String,
    /// The morph target index in that mesh.
    pub target: usize,
    /// Weight at full expression, 0–1.
    pub weight: f32,
}

/// A model's humanoid description.
#[derive(Debug, Clone, PartialEq)]
pub struct Humanoid {
    /// Where it came from.
    pub kind: RigKind,
    /// The node name of each bone the model has.
    pub bones: Vec<(HumanBone, String)>,
    /// Expression presets and the morph targets they set.
    pub expressions: Vec<(Preset, Vec<MorphBind>)>,
}

impl Humanoid {
    /// The node name of `bone`, if the model has it.
    #[must_use]
    pub fn node(&self, bone: HumanBone) -> Option<&str> {
        self.bones.iter().find(|(b, _)| *b == bone).map(|(_, n)| n.as_str())
    }

    /// The bone a node named `name` is, if any.
    #[must_use]
    pub fn bone_of(&self, name: &str) -> Option<HumanBone> {
        self.bones.iter().find(|(_, n)| n == name).map(|(b, _)| *b)
    }
}

/// Why a file has no usable humanoid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RigError {
    /// Not a binary glTF.
    #[error("not a binary glTF (.glb/.vrm) file")]
    NotGlb,
    /// The JSON chunk does not parse.
    #[error("the glTF JSON does not parse: {0}")]
    Json(String),
    /// A required bone is missing.
    #[error("the humanoid has no {0} bone")]
    MissingBone(&'static str),
    /// A bone points at a node that does not exist.
    #[error("bone {bone} points at node {node}, which does not exist")]
    BadNode {
        /// The bone's name.
        bone: String,
        /// The node index.
        node: u64,
    },
}

/// The bones every humanoid must have (VRM's required set, minus the optional neck).
const REQUIRED: [HumanBone; 15] = [
    HumanBone::Hips,
    HumanBone::Spine,
    HumanBone::Head,
    HumanBone::LeftUpperLeg,
    HumanBone::LeftLowerLeg,
    HumanBone::LeftFoot,
    HumanBone::RightUpperLeg,
    HumanBone::RightLowerLeg,
    HumanBone::RightFoot,
    HumanBone::LeftUpperArm,
    HumanBone::LeftLowerArm,
    HumanBone::LeftHand,
    HumanBone::RightUpperArm,
    HumanBone::RightLowerArm,
    HumanBone::RightHand,
];

/// Reads the humanoid of a `.glb` / `.vrm` file.
///
/// # Errors
/// See [`RigError`].
pub fn read_glb(bytes: &[u8]) -> Result<Humanoid, RigError> {
    let word = |at: usize| -> Option<usize> {
        bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if bytes.get(0..4) != Some(b"glTF") || bytes.get(16..20) != Some(b"JSON") {
        return Err(RigError::NotGlb);
    }
    let length = word(12).ok_or(RigError::NotGlb)?;
    let json = bytes.get(20..20 + length).ok_or(RigError::NotGlb)?;
    let document: Value = serde_json::from_slice(json).map_err(|e| RigError::Json(e.to_string()))?;
    read_json(&document)
}

/// Reads the humanoid of a parsed glTF document.
///
/// # Errors
/// See [`RigError`].
pub fn read_json(document: &Value) -> Result<Humanoid, RigError> {
    let nodes = document["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    let node_name = |bone: &str, index: &Value| -> Result<String, RigError> {
        let i = index.as_u64().unwrap_or(u64::MAX);
        let node = usize::try_from(i).ok().and_then(|i| nodes.get(i));
        match node {
            Some(node) => Ok(node["name"].as_str().map_or_else(|| format!("node{i}"), str::to_owned)),
            None => Err(RigError::BadNode { bone: bone.to_owned(), node: i }),
        }
    };
    let mut bones = Vec::new();
    let mut expressions = Vec::new();
    let kind;
    if let Some(vrm) = document["extensions"].get("VRMC_vrm") {
        kind = RigKind::Vrm1;
        if let Some(map) = vrm["humanoid"]["humanBones"].as_object() {
            for (name, bone) in map {
                if let Some(b) = HumanBone::ALL.iter().find(|b| b.name() == name) {
                    bones.push((*b, node_name(name, &bone["node"])?));
                }
            }
        }
        if let Some(presets) = vrm["expressions"]["preset"].as_object() {
            for (name, expression) in presets {
                let Some(preset) = Preset::from_name(name) else { continue };
                let binds = expression["morphTargetBinds"].as_array().map(Vec::as_slice).unwrap_or_default();
                let binds = binds
                    .iter()
                    .filter_map(|bind| {
                        let index = usize::try_from(bind["node"].as_u64()?).ok()?;
                        let node = nodes.get(index)?;
                        Some(MorphBind {
                            mesh: usize::try_from(node["mesh"].as_u64()?).ok()?,
                            node: node["name"].as_str().map_or_else(|| format!("node{index}"), str::to_owned),
                            target: usize::try_from(bind["index"].as_u64()?).ok()?,
                            weight: (bind["weight"].as_f64().unwrap_or(1.0) as f32).clamp(0.0, 1.0),
                        })
                    })
                    .collect();
                expressions.push((preset, binds));
            }
        }
    } else if let Some(vrm) = document["extensions"].get("VRM") {
        kind = RigKind::Vrm0;
        for bone in vrm["humanoid"]["humanBones"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some(name) = bone["bone"].as_str() else { continue };
            if let Some(b) = vrm0_bone(name) {
                bones.push((b, node_name(name, &bone["node"])?));
            }
        }
        let groups = vrm["blendShapeMaster"]["blendShapeGroups"].as_array().map(Vec::as_slice).unwrap_or_default();
        for group in groups {
            let Some(preset) = group["presetName"].as_str().and_then(Preset::from_name) else { continue };
            let binds = group["binds"].as_array().map(Vec::as_slice).unwrap_or_default();
            let binds = binds
                .iter()
                .filter_map(|bind| {
                    let mesh = usize::try_from(bind["mesh"].as_u64()?).ok()?;
                    let (index, node) =
                        nodes.iter().enumerate().find(|(_, n)| n["mesh"].as_u64() == Some(mesh as u64))?;
                    Some(MorphBind {
                        mesh,
                        node: node["name"].as_str().map_or_else(|| format!("node{index}"), str::to_owned),
                        target: usize::try_from(bind["index"].as_u64()?).ok()?,
                        // VRM 0.x weights are percentages.
                        weight: (bind["weight"].as_f64().unwrap_or(100.0) as f32 / 100.0).clamp(0.0, 1.0),
                    })
                })
                .collect();
            expressions.push((preset, binds));
        }
    } else {
        kind = RigKind::NamedNodes;
        for node in nodes {
            let Some(name) = node["name"].as_str() else { continue };
            if let Some(b) = HumanBone::ALL.iter().find(|b| b.name() == name) {
                bones.push((*b, name.to_owned()));
            }
        }
    }
    for bone in REQUIRED {
        if !bones.iter().any(|(b, _)| *b == bone) {
            return Err(RigError::MissingBone(bone.name()));
        }
    }
    Ok(Humanoid { kind, bones, expressions })
}

/// VRM 0.x bone names: as VRM 1.0's, except the thumb, one joint further out (0.x's
/// thumbProximal is 1.0's thumbMetacarpal).
fn vrm0_bone(name: &str) -> Option<HumanBone> {
    let renamed = match name {
        "leftThumbProximal" => "leftThumbMetacarpal",
        "leftThumbIntermediate" => "leftThumbProximal",
        "rightThumbProximal" => "rightThumbMetacarpal",
        "rightThumbIntermediate" => "rightThumbProximal",
        other => other,
    };
    HumanBone::ALL.iter().find(|b| b.name() == renamed).copied()
}

/// Preset weights for a model that has VRM presets instead of ARKit shapes, from this
/// crate's face: emotions from the expression shapes, vowels from the mouth, blinks from
/// the lids.
#[must_use]
pub fn preset_weights(face: &BlendShapeWeights) -> Vec<(Preset, f32)> {
    let avg = |a: S, b: S| (face.get(a) + face.get(b)) * 0.5;
    let smile = avg(S::MouthSmileLeft, S::MouthSmileRight);
    let frown = avg(S::MouthFrownLeft, S::MouthFrownRight);
    let brow_down = avg(S::BrowDownLeft, S::BrowDownRight);
    let wide = avg(S::EyeWideLeft, S::EyeWideRight);
    let jaw = face.get(S::JawOpen);
    let round = face.get(S::MouthPucker).max(face.get(S::MouthFunnel));
    let stretch = avg(S::MouthStretchLeft, S::MouthStretchRight);
    let blink = (face.get(S::EyeBlinkLeft), face.get(S::EyeBlinkRight));
    let clamp = |v: f32| v.clamp(0.0, 1.0);
    vec![
        (Preset::Happy, clamp(smile * 1.2 - frown)),
        (Preset::Angry, clamp(brow_down * 1.1 - smile)),
        (Preset::Sad, clamp(frown * 0.8 + face.get(S::BrowInnerUp) * 0.5 - smile)),
        (Preset::Relaxed, clamp(smile * 0.6 * (1.0 - jaw))),
        (Preset::Surprised, clamp(wide * 1.1)),
        (Preset::Aa, clamp(jaw * 1.4 - round)),
        (Preset::Ou, clamp(round * 1.2 * (1.0 - jaw * 0.5))),
        (Preset::Oh, clamp(round.min(jaw) * 2.0)),
        (Preset::Ee, clamp(stretch * 1.5)),
        (Preset::Ih, clamp(stretch.min(1.0 - jaw) * 0.8 + smile.min(jaw) * 0.5)),
        // Both lids together are `blink`; what one lid has beyond the other is its own.
        (Preset::Blink, blink.0.min(blink.1)),
        (Preset::BlinkLeft, blink.0 - blink.0.min(blink.1)),
        (Preset::BlinkRight, blink.1 - blink.0.min(blink.1)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Appearance, Quality, generate, glb};

    #[test]
    fn the_generated_avatar_is_a_vrm_1_humanoid() {
        let bytes = glb::write(&generate(&Appearance::default(), Quality::PREVIEW));
        let humanoid = read_glb(&bytes).unwrap();
        assert_eq!(humanoid.kind, RigKind::Vrm1);
        assert_eq!(humanoid.bones.len(), HumanBone::ALL.len());
        assert_eq!(humanoid.node(HumanBone::LeftUpperArm), Some("leftUpperArm"));
        let happy = &humanoid.expressions.iter().find(|(p, _)| *p == Preset::Happy).unwrap().1;
        assert!(!happy.is_empty(), "presets bind to the ARKit morph targets");
    }

    #[test]
    fn vrm_0_maps_thumbs_and_percent_weights() {
        let mut document = serde_json::json!({
            "nodes": [{"name": "Face", "mesh": 0}], "meshes": [{"name": "face"}],
            "extensions": {"VRM": {"humanoid": {"humanBones": []}, "blendShapeMaster": {"blendShapeGroups": [
                {"presetName": "joy", "binds": [{"mesh": 0, "index": 3, "weight": 100}]},
                {"presetName": "a", "binds": [{"mesh": 0, "index": 5, "weight": 50}]}
            ]}}}
        });
        let mut bones = Vec::new();
        for (i, name) in REQUIRED.iter().map(|b| b.name()).chain(["leftThumbProximal"]).enumerate() {
            document["nodes"].as_array_mut().unwrap().push(serde_json::json!({"name": format!("J_{name}")}));
            bones.push(serde_json::json!({"bone": name, "node": i + 1}));
        }
        document["extensions"]["VRM"]["humanoid"]["humanBones"] = Value::Array(bones);
        let humanoid = read_json(&document).unwrap();
        assert_eq!(humanoid.kind, RigKind::Vrm0);
        assert_eq!(humanoid.node(HumanBone::LeftThumbMetacarpal), Some("J_leftThumbProximal"));
        assert_eq!(humanoid.bone_of("J_hips"), Some(HumanBone::Hips));
        let aa = &humanoid.expressions.iter().find(|(p, _)| *p == Preset::Aa).unwrap().1;
        assert_eq!(aa[0], MorphBind { mesh: 0, node: "Face".into(), target: 5, weight: 0.5 });
    }

    #[test]
    fn bad_files_are_clear_errors() {
        assert_eq!(read_glb(b"not a model"), Err(RigError::NotGlb));
        let legless = serde_json::json!({"nodes": [{"name": "hips"}, {"name": "spine"}, {"name": "head"}]});
        assert_eq!(read_json(&legless), Err(RigError::MissingBone("leftUpperLeg")));
        let dangling = serde_json::json!({"nodes": [], "extensions": {"VRMC_vrm": {"humanoid": {"humanBones": {"hips": {"node": 7}}}}}});
        assert!(matches!(read_json(&dangling), Err(RigError::BadNode { node: 7, .. })));
    }

    #[test]
    fn the_face_drives_presets() {
        let mut face = BlendShapeWeights::ZERO;
        face.set(S::MouthSmileLeft, 0.8);
        face.set(S::MouthSmileRight, 0.8);
        face.set(S::JawOpen, 0.6);
        let presets = preset_weights(&face);
        let get = |p: Preset| presets.iter().find(|(q, _)| *q == p).map_or(0.0, |(_, w)| *w);
        assert!(get(Preset::Happy) > 0.8 && get(Preset::Aa) > 0.7);
        assert_eq!(get(Preset::Angry), 0.0);
    }
}
