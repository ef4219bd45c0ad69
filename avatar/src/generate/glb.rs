//! Binary glTF 2.0 (`.glb`) output of a [`GeneratedAvatar`]: one node per VRM bone
//! (named as VRM names them, T-pose translations, identity rotations), one skin, one
//! skinned mesh per part with vertex colours, and the head's 52 ARKit morph targets as
//! sparse accessors named in `extras.targetNames` (the convention Blender, three.js and
//! Bevy read).

use glam::{Mat4, Vec3};
use serde_json::{Value, json};

use super::{GeneratedAvatar, Material, SkinnedMesh};
use crate::skeleton::{BONES, HumanBone};

const FLOAT: u32 = 5126;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;
const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;

/// Accumulates the binary chunk, its buffer views and accessors.
#[derive(Default)]
struct Builder {
    bin: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
}

impl Builder {
    fn view(&mut self, bytes: &[u8], target: Option<u32>) -> usize {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        let mut view = json!({ "buffer": 0, "byteOffset": self.bin.len(), "byteLength": bytes.len() });
        if let Some(target) = target {
            view["target"] = json!(target);
        }
        self.bin.extend_from_slice(bytes);
        self.views.push(view);
        self.views.len() - 1
    }

    fn accessor(&mut self, accessor: Value) -> usize {
        self.accessors.push(accessor);
        self.accessors.len() - 1
    }

    fn vec3s(&mut self, values: &[Vec3], target: Option<u32>, bounds: bool) -> usize {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_array()).flat_map(f32::to_le_bytes).collect();
        let view = self.view(&bytes, target);
        let mut accessor = json!({ "bufferView": view, "componentType": FLOAT, "count": values.len(), "type": "VEC3" });
        if bounds {
            let (lo, hi) = min_max(values.iter().copied());
            accessor["min"] = json!(lo.to_array());
            accessor["max"] = json!(hi.to_array());
        }
        self.accessor(accessor)
    }

    fn floats(&mut self, values: &[f32], kind: &str, target: Option<u32>) -> usize {
        let components = match kind {
            "VEC4" => 4,
            "MAT4" => 16,
            _ => 1,
        };
        let bytes: Vec<u8> = values.iter().flat_map(|f| f.to_le_bytes()).collect();
        let view = self.view(&bytes, target);
        self.accessor(json!({
            "bufferView": view, "componentType": FLOAT, "count": values.len() / components, "type": kind
        }))
    }
}

fn min_max(values: impl Iterator<Item = Vec3>) -> (Vec3, Vec3) {
    values.fold((Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// Serialises `avatar` as a `.glb` file.
#[must_use]
pub fn write(avatar: &GeneratedAvatar) -> Vec<u8> {
    let mut b = Builder::default();
    let skeleton = &avatar.skeleton;

    // Nodes: 0 = the avatar's root, 1..=BONES the bones, then one per mesh.
    let mut nodes = vec![json!({ "name": "Avatar", "children": [] })];
    for bone in HumanBone::ALL {
        let children: Vec<usize> =
            HumanBone::ALL.iter().filter(|c| c.parent() == Some(bone)).map(|c| 1 + c.index()).collect();
        let mut node = json!({ "name": bone.name(), "translation": skeleton.offset(bone).to_array() });
        if !children.is_empty() {
            node["children"] = json!(children);
        }
        nodes.push(node);
    }
    let rest = skeleton.rest(&crate::pose::Pose::IDENTITY);
    let inverse_bind: Vec<f32> =
        (0..BONES).flat_map(|i| Mat4::from_translation(-rest[i].position).to_cols_array()).collect();
    let ibm = b.floats(&inverse_bind, "MAT4", None);

    let mut meshes = Vec::new();
    let mut root_children = vec![1 + HumanBone::Hips.index()];
    for mesh in &avatar.meshes {
        meshes.push(mesh_json(&mut b, mesh));
        nodes.push(json!({ "name": mesh.name, "mesh": meshes.len() - 1, "skin": 0 }));
        root_children.push(nodes.len() - 1);
    }
    nodes[0]["children"] = json!(root_children);

    let appearance = serde_json::to_value(avatar.appearance).unwrap_or(Value::Null);
    let head_node = avatar.meshes.iter().position(|m| !m.morphs.is_empty()).map(|i| 1 + BONES + i);
    let vrm = vrm_extension(head_node);
    let document = json!({
        "asset": { "version": "2.0", "generator": "nexus-avatar gen-avatar" },
        "scene": 0,
        "scenes": [{ "name": "avatar", "nodes": [0] }],
        "nodes": nodes,
        "skins": [{
            "name": "humanoid",
            "joints": (1..=BONES).collect::<Vec<_>>(),
            "inverseBindMatrices": ibm,
            "skeleton": 1 + HumanBone::Hips.index(),
        }],
        "meshes": meshes,
        "materials": [
            { "name": "body", "pbrMetallicRoughness": { "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.62 } },
            { "name": "eyes", "pbrMetallicRoughness": { "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.12 } },
        ],
        "buffers": [{ "byteLength": b.bin.len() }],
        "bufferViews": b.views,
        "accessors": b.accessors,
        "extras": { "nexusAppearance": appearance },
        "extensionsUsed": ["VRMC_vrm"],
        "extensions": { "VRMC_vrm": vrm },
    });
    container(&document, b.bin)
}

/// The VRM 1.0 description: meta, the humanoid bone map (every bone is its own node), and
/// expression presets bound to the head's ARKit morph targets — the emotions' and visemes'
/// own recipes, so a VRM viewer shows the same faces.
fn vrm_extension(head_node: Option<usize>) -> Value {
    use crate::face::emotion::Emotion;
    use crate::lip_sync::Viseme;
    use crate::vrm::Preset;

    let human_bones: serde_json::Map<String, Value> =
        HumanBone::ALL.iter().map(|b| (b.name().to_owned(), json!({ "node": 1 + b.index() }))).collect();
    let mut presets = serde_json::Map::new();
    if let Some(node) = head_node {
        for preset in Preset::ALL {
            let weights = match preset {
                Preset::Happy => Emotion::Joy.expression(),
                Preset::Angry => Emotion::Anger.expression(),
                Preset::Sad => Emotion::Sadness.expression(),
                Preset::Relaxed => Emotion::Contentment.expression(),
                Preset::Surprised => Emotion::Surprise.expression(),
                Preset::Aa => Viseme::Aa.shapes(),
                Preset::Ih => Viseme::Ih.shapes(),
                Preset::Ou => Viseme::Ou.shapes(),
                Preset::Ee => Viseme::E.shapes(),
                Preset::Oh => Viseme::Oh.shapes(),
                Preset::Blink | Preset::BlinkLeft | Preset::BlinkRight => {
                    let mut w = crate::face::blend_shapes::BlendShapeWeights::ZERO;
                    if preset != Preset::BlinkRight {
                        w.set(crate::face::blend_shapes::BlendShape::EyeBlinkLeft, 1.0);
                    }
                    if preset != Preset::BlinkLeft {
                        w.set(crate::face::blend_shapes::BlendShape::EyeBlinkRight, 1.0);
                    }
                    w
                }
            };
            let binds: Vec<Value> = weights
                .active()
                .map(|(shape, weight)| json!({ "node": node, "index": shape.index(), "weight": weight }))
                .collect();
            presets.insert(preset.name().to_owned(), json!({ "morphTargetBinds": binds }));
        }
    }
    json!({
        "specVersion": "1.0",
        "meta": {
            "name": "Nexus companion (generated)",
            "version": "1",
            "authors": ["Nexus (cargo xtask gen-avatar)"],
            "licenseUrl": "https://vrm.dev/licenses/1.0/",
            "avatarPermission": "everyone",
            "commercialUsage": "corporation",
            "allowRedistribution": true,
            "modification": "allowModificationRedistribution",
        },
        "humanoid": { "humanBones": human_bones },
        "expressions": { "preset": presets },
    })
}

/// One mesh with its single primitive.
fn mesh_json(b: &mut Builder, mesh: &SkinnedMesh) -> Value {
    let position = b.vec3s(&mesh.positions, Some(ARRAY_BUFFER), true);
    let normal = b.vec3s(&mesh.normals, Some(ARRAY_BUFFER), false);
    let colours: Vec<f32> = mesh.colours.iter().flatten().copied().collect();
    let colour = b.floats(&colours, "VEC4", Some(ARRAY_BUFFER));
    let joint_bytes: Vec<u8> = mesh.joints.iter().flatten().flat_map(|j| j.to_le_bytes()).collect();
    let view = b.view(&joint_bytes, Some(ARRAY_BUFFER));
    let joints = b.accessor(
        json!({ "bufferView": view, "componentType": UNSIGNED_SHORT, "count": mesh.joints.len(), "type": "VEC4" }),
    );
    let weights: Vec<f32> = mesh.weights.iter().flatten().copied().collect();
    let weights = b.floats(&weights, "VEC4", Some(ARRAY_BUFFER));
    let index_bytes: Vec<u8> = mesh.indices.iter().flat_map(|i| i.to_le_bytes()).collect();
    let view = b.view(&index_bytes, Some(ELEMENT_ARRAY_BUFFER));
    let indices = b.accessor(
        json!({ "bufferView": view, "componentType": UNSIGNED_INT, "count": mesh.indices.len(), "type": "SCALAR" }),
    );

    let mut targets = Vec::new();
    for morph in &mesh.morphs {
        let idx: Vec<u8> = morph.deltas.iter().flat_map(|(i, _)| i.to_le_bytes()).collect();
        let values: Vec<u8> = morph.deltas.iter().flat_map(|(_, d)| d.to_array()).flat_map(f32::to_le_bytes).collect();
        let idx_view = b.view(&idx, None);
        let values_view = b.view(&values, None);
        // Bounds of the full (mostly zero) displacement array.
        let (lo, hi) = min_max(morph.deltas.iter().map(|(_, d)| *d).chain([Vec3::ZERO]));
        let accessor = b.accessor(json!({
            "componentType": FLOAT, "count": mesh.positions.len(), "type": "VEC3",
            "min": lo.to_array(), "max": hi.to_array(),
            "sparse": {
                "count": morph.deltas.len(),
                "indices": { "bufferView": idx_view, "componentType": UNSIGNED_INT },
                "values": { "bufferView": values_view },
            },
        }));
        targets.push(json!({ "POSITION": accessor }));
    }
    let material = match mesh.material {
        Material::Body => 0,
        Material::Eyes => 1,
    };
    let mut primitive = json!({
        "attributes": { "POSITION": position, "NORMAL": normal, "COLOR_0": colour, "JOINTS_0": joints, "WEIGHTS_0": weights },
        "indices": indices,
        "material": material,
    });
    let mut value = json!({ "name": mesh.name });
    if !targets.is_empty() {
        primitive["targets"] = json!(targets);
        value["weights"] = json!(vec![0.0; targets.len()]);
        value["extras"] = json!({ "targetNames": mesh.morphs.iter().map(|m| m.shape.name()).collect::<Vec<_>>() });
    }
    value["primitives"] = json!([primitive]);
    value
}

/// The GLB container: header, JSON chunk (space-padded), BIN chunk (zero-padded).
fn container(document: &Value, mut bin: Vec<u8>) -> Vec<u8> {
    let mut json = serde_json::to_vec(document).unwrap_or_default();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Appearance, Quality, generate};

    #[test]
    fn the_container_is_well_formed() {
        let avatar = generate(&Appearance::default(), Quality::PREVIEW);
        let glb = write(&avatar);
        assert_eq!(&glb[0..4], b"glTF");
        let total = u32::from_le_bytes([glb[8], glb[9], glb[10], glb[11]]) as usize;
        assert_eq!(total, glb.len());
        let json_len = u32::from_le_bytes([glb[12], glb[13], glb[14], glb[15]]) as usize;
        let doc: Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
        assert_eq!(doc["skins"][0]["joints"].as_array().unwrap().len(), BONES);
        assert_eq!(doc["nodes"][1 + HumanBone::LeftUpperArm.index()]["name"], "leftUpperArm");
        let head = doc["meshes"].as_array().unwrap().iter().find(|m| m["name"] == "head").unwrap();
        assert_eq!(head["extras"]["targetNames"].as_array().unwrap().len(), 52);
        assert_eq!(head["extras"]["targetNames"][17], "jawOpen");
        // Every buffer view lies inside the binary chunk.
        let bin_len = doc["buffers"][0]["byteLength"].as_u64().unwrap();
        for view in doc["bufferViews"].as_array().unwrap() {
            assert!(view["byteOffset"].as_u64().unwrap() + view["byteLength"].as_u64().unwrap() <= bin_len);
        }
    }
}
