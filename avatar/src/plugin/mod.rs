//! The Bevy layer: an [`AvatarPlugin`] that animates glTF humanoids with the crate's pure
//! cores. Spawn an avatar with [`spawn_avatar`], then write what drives it into its
//! [`AvatarDrive`] each frame (tracking targets, emotions, speech weights, a look-at
//! point); the plugin solves the body and the face in [`AvatarSystems::Animate`] and
//! writes bone transforms, eye rotations and morph weights in [`AvatarSystems::Apply`].
//!
//! The glTF's bones are found once the scene has spawned ([`AvatarSystems::Bind`]): through
//! the model's VRM humanoid map when [`Avatar::with_humanoid`] gave one, by VRM bone names
//! otherwise. The face drives morph targets named with ARKit names directly, or a VRM
//! model's expression presets ([`crate::vrm::preset_weights`]).

use bevy::gltf::GltfAssetLabel;
use bevy::mesh::morph::MorphWeights;
use bevy::prelude::*;
use bevy::world_serialization::WorldAssetRoot;

use crate::face::blend_shapes::{BlendShape, BlendShapeWeights};
use crate::face::emotion::EmotionMix;
use crate::face::{Face, FaceConfig, FaceInput};
use crate::ik::{BodyPose, IkConfig, IkSolver, IkTargets};
use crate::pose::Pose;
use crate::skeleton::{BONES, HumanBone, Skeleton};
use crate::vrm::{Humanoid, Preset, preset_weights};

/// Animates every [`Avatar`].
#[derive(Debug, Default)]
pub struct AvatarPlugin;

/// Ordering of the avatar systems, all in `Update`.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum AvatarSystems {
    /// Finds bones and morph targets of newly spawned avatars.
    Bind,
    /// Solves IK and the face. Write [`AvatarDrive`] before this.
    Animate,
    /// Writes transforms and morph weights.
    Apply,
}

impl Plugin for AvatarPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(Update, (AvatarSystems::Bind, AvatarSystems::Animate, AvatarSystems::Apply).chain())
            .add_systems(Update, bind.in_set(AvatarSystems::Bind))
            .add_systems(Update, animate.in_set(AvatarSystems::Animate))
            .add_systems(Update, apply.in_set(AvatarSystems::Apply));
    }
}

/// An animated humanoid. Its entity's transform places it; targets are in that space.
#[derive(Component)]
pub struct Avatar {
    solver: IkSolver,
    face: Face,
    humanoid: Option<Humanoid>,
    bound: Option<Bound>,
    /// The last solved body, in the avatar's space.
    pub pose: Option<BodyPose>,
    /// The last face weights.
    pub weights: BlendShapeWeights,
    eyes: (Quat, Quat),
}

impl Avatar {
    /// An avatar with `skeleton`'s proportions; `seed` varies its blinking.
    #[must_use]
    pub fn new(skeleton: Skeleton, seed: u64) -> Self {
        Self {
            solver: IkSolver::new(skeleton, IkConfig::default()),
            face: Face::new(FaceConfig::default(), seed),
            humanoid: None,
            bound: None,
            pose: None,
            weights: BlendShapeWeights::ZERO,
            eyes: (Quat::IDENTITY, Quat::IDENTITY),
        }
    }

    /// Uses a model's humanoid description (read with [`crate::vrm::read_glb`]) to find its
    /// bones and expression presets.
    #[must_use]
    pub fn with_humanoid(mut self, humanoid: Humanoid) -> Self {
        self.humanoid = Some(humanoid);
        self
    }

    /// The skeleton being solved (the model's own once bound).
    #[must_use]
    pub fn skeleton(&self) -> &Skeleton {
        self.solver.skeleton()
    }

    /// Whether the glTF's bones have been found.
    #[must_use]
    pub fn is_bound(&self) -> bool {
        self.bound.is_some()
    }
}

/// What drives an avatar this frame.
#[derive(Component, Debug, Clone)]
pub struct AvatarDrive {
    /// Tracking targets (head, hands, …) in the avatar entity's space.
    pub targets: IkTargets,
    /// Emotions and intensities.
    pub emotions: EmotionMix,
    /// Lip-sync weights while speaking.
    pub speech: Option<BlendShapeWeights>,
    /// A point to look at, in the avatar entity's space.
    pub look_at: Option<Vec3>,
}

impl AvatarDrive {
    /// Standing still, looking ahead (+Z of the avatar's space, its facing at rest).
    #[must_use]
    pub fn standing(skeleton: &Skeleton) -> Self {
        let eyes = Vec3::new(0.0, skeleton.proportions.eye_height(), 0.0);
        Self {
            targets: IkTargets::head(Pose::new(eyes, crate::ik::OPENXR_TO_MODEL)),
            emotions: EmotionMix::default(),
            speech: None,
            look_at: None,
        }
    }
}

/// Bones and morph targets found in the spawned glTF.
struct Bound {
    bones: [Option<Entity>; BONES],
    rest: [Vec3; BONES],
    /// The entity holding [`MorphWeights`] and, per glTF target index, its ARKit shape.
    morphs: Option<(Entity, Vec<Option<BlendShape>>)>,
    /// For models without ARKit shapes: (weights entity, target index, preset, weight).
    presets: Vec<(Entity, usize, Preset, f32)>,
}

/// What [`spawn_avatar`] needs.
#[derive(Debug, Clone)]
pub struct AvatarSpawn {
    /// Asset path of the glTF or VRM file.
    pub path: String,
    /// Skeleton to solve until the model's own proportions are read at bind time.
    pub skeleton: Skeleton,
    /// The model's humanoid map (see [`crate::vrm::read_glb`]); VRM bone names without it.
    pub humanoid: Option<Humanoid>,
    /// Where it stands.
    pub transform: Transform,
    /// Varies blinking and saccades between avatars.
    pub seed: u64,
}

/// Spawns an avatar; returns its entity.
pub fn spawn_avatar(commands: &mut Commands, assets: &AssetServer, spawn: AvatarSpawn) -> Entity {
    let scene = assets.load(GltfAssetLabel::Scene(0).from_asset(spawn.path));
    let drive = AvatarDrive::standing(&spawn.skeleton);
    let mut avatar = Avatar::new(spawn.skeleton, spawn.seed);
    avatar.humanoid = spawn.humanoid;
    commands.spawn((WorldAssetRoot(scene), spawn.transform, avatar, drive)).id()
}

fn bind(
    mut avatars: Query<(Entity, &mut Avatar)>,
    children: Query<&Children>,
    names: Query<&Name>,
    transforms: Query<&Transform>,
    morph_weights: Query<&MorphWeights>,
    meshes: Res<Assets<Mesh>>,
) {
    for (root, mut avatar) in &mut avatars {
        if avatar.bound.is_some() {
            continue;
        }
        let mut bones = [None; BONES];
        let mut rest = [Vec3::ZERO; BONES];
        let mut morphs = None;
        let mut presets = Vec::new();
        for entity in children.iter_descendants(root) {
            let name = names.get(entity).map(Name::as_str).ok();
            let bone = name.and_then(|name| match &avatar.humanoid {
                Some(humanoid) => humanoid.bone_of(name),
                None => HumanBone::ALL.iter().find(|b| b.name() == name).copied(),
            });
            if let Some(bone) = bone {
                bones[bone.index()] = Some(entity);
                rest[bone.index()] = transforms.get(entity).map_or(Vec3::ZERO, |t| t.translation);
            }
            let Ok(weights) = morph_weights.get(entity) else { continue };
            let target_names = weights.first_mesh().and_then(|h| meshes.get(h)).and_then(Mesh::morph_target_names);
            let map: Vec<Option<BlendShape>> =
                target_names.unwrap_or_default().iter().map(|n| BlendShape::from_name(n)).collect();
            if map.iter().any(Option::is_some) {
                morphs = Some((entity, map));
            } else if let (Some(humanoid), Some(name)) = (&avatar.humanoid, name) {
                for (preset, binds) in &humanoid.expressions {
                    for bind in binds.iter().filter(|b| b.node == name) {
                        presets.push((entity, bind.target, *preset, bind.weight));
                    }
                }
            }
        }
        if bones[HumanBone::Hips.index()].is_none() || bones[HumanBone::Head.index()].is_none() {
            continue;
        }
        // Solve on the model's own proportions.
        if let Some(skeleton) = Skeleton::from_offsets(rest) {
            let config = *avatar.solver.config();
            avatar.solver = IkSolver::new(skeleton, config);
        }
        avatar.bound = Some(Bound { bones, rest, morphs, presets });
    }
}

fn animate(time: Res<Time>, mut avatars: Query<(&mut Avatar, &AvatarDrive)>) {
    let dt = time.delta_secs();
    for (mut avatar, drive) in &mut avatars {
        let avatar = &mut *avatar;
        let body = avatar.solver.solve(&drive.targets, dt);
        let head = *body.get(HumanBone::Head);
        let eye_centre = (body.position(HumanBone::LeftEye) + body.position(HumanBone::RightEye)) * 0.5;
        let input = FaceInput {
            emotions: &drive.emotions,
            speech: drive.speech.as_ref(),
            look_at: drive.look_at,
            head,
            eye_centre,
        };
        let frame = avatar.face.update(&input, dt);
        avatar.weights = frame.weights;
        avatar.eyes = (frame.eyes.left, frame.eyes.right);
        avatar.pose = Some(body);
    }
}

fn apply(avatars: Query<&Avatar>, mut transforms: Query<&mut Transform>, mut morphs: Query<&mut MorphWeights>) {
    for avatar in &avatars {
        let (Some(bound), Some(pose)) = (&avatar.bound, &avatar.pose) else { continue };
        let mut world = pose.bones;
        // Eyes turn relative to the head.
        let head = world[HumanBone::Head.index()].rotation;
        world[HumanBone::LeftEye.index()].rotation = head * avatar.eyes.0;
        world[HumanBone::RightEye.index()].rotation = head * avatar.eyes.1;
        for bone in HumanBone::ALL {
            let Some(entity) = bound.bones[bone.index()] else { continue };
            let Ok(mut transform) = transforms.get_mut(entity) else { continue };
            let this = world[bone.index()];
            match bone.parent() {
                // The hips node sits directly under the glTF's root node, at the avatar's
                // origin: it takes the solved pose in the avatar's space.
                None => {
                    transform.translation = this.position;
                    transform.rotation = this.rotation;
                }
                Some(parent) => {
                    transform.translation = bound.rest[bone.index()];
                    transform.rotation = (world[parent.index()].rotation.inverse() * this.rotation).normalize();
                }
            }
        }
        if let Some((entity, map)) = &bound.morphs
            && let Ok(mut weights) = morphs.get_mut(*entity)
        {
            for (slot, shape) in weights.weights_mut().iter_mut().zip(map) {
                *slot = shape.map_or(0.0, |s| avatar.weights.get(s));
            }
        }
        if !bound.presets.is_empty() {
            let levels = preset_weights(&avatar.weights);
            for &(entity, _, _, _) in &bound.presets {
                if let Ok(mut weights) = morphs.get_mut(entity) {
                    weights.weights_mut().fill(0.0);
                }
            }
            for &(entity, target, preset, weight) in &bound.presets {
                let level = levels.iter().find(|(p, _)| *p == preset).map_or(0.0, |(_, l)| *l);
                if let Ok(mut weights) = morphs.get_mut(entity)
                    && let Some(slot) = weights.weights_mut().get_mut(target)
                {
                    *slot = (*slot + level * weight).min(1.0);
                }
            }
        }
    }
}
