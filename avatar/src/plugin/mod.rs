//! The Bevy layer: an [`AvatarPlugin`] that animates glTF humanoids with the crate's pure
//! cores. Spawn an avatar with [`spawn_avatar`], then write what drives it into its
//! [`AvatarDrive`] each frame (tracking targets, emotions, speech weights, a look-at
//! point); the plugin solves the body and the face in [`AvatarSystems::Animate`] and
//! writes bone transforms, eye rotations and morph weights in [`AvatarSystems::Apply`].
//!
//! The glTF's bones are found by their VRM 1.0 names once the scene has spawned
//! ([`AvatarSystems::Bind`]); its morph targets by their ARKit names.

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
            bound: None,
            pose: None,
            weights: BlendShapeWeights::ZERO,
            eyes: (Quat::IDENTITY, Quat::IDENTITY),
        }
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
}

/// Spawns the avatar at `path` (a glTF with VRM-named bones) at `transform`.
pub fn spawn_avatar(
    commands: &mut Commands,
    assets: &AssetServer,
    path: &str,
    skeleton: Skeleton,
    transform: Transform,
    seed: u64,
) -> Entity {
    let scene = assets.load(GltfAssetLabel::Scene(0).from_asset(path.to_owned()));
    let drive = AvatarDrive::standing(&skeleton);
    commands.spawn((WorldAssetRoot(scene), transform, Avatar::new(skeleton, seed), drive)).id()
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
        for entity in children.iter_descendants(root) {
            if let Ok(name) = names.get(entity)
                && let Some(bone) = HumanBone::ALL.iter().find(|b| b.name() == name.as_str())
            {
                bones[bone.index()] = Some(entity);
                rest[bone.index()] = transforms.get(entity).map_or(Vec3::ZERO, |t| t.translation);
            }
            if let Ok(weights) = morph_weights.get(entity)
                && let Some(mesh) = weights.first_mesh().and_then(|h| meshes.get(h))
                && let Some(target_names) = mesh.morph_target_names()
            {
                let map = target_names.iter().map(|n| BlendShape::from_name(n)).collect();
                morphs = Some((entity, map));
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
        avatar.bound = Some(Bound { bones, rest, morphs });
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
    }
}
