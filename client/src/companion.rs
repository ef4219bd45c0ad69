//! The companion in the room: the avatar crate's generated humanoid
//! (`assets/avatars/companion.glb`, made by `cargo xtask gen-avatar`), animated by
//! [`nexus_avatar::plugin::AvatarPlugin`] — full-body IK from a standing head pose with a
//! slow breathing sway, a friendly resting expression, blinking, and head and eyes that
//! follow the user (what it does and feels is [`crate::conversation`]'s). When the asset is missing the client falls back to a plainly
//! temporary humanoid made of capsules and says so.

use bevy::prelude::*;

use nexus_avatar::plugin::{AvatarSpawn, spawn_avatar};
use nexus_avatar::skeleton::Skeleton;

use crate::room::RoomEntity;
use crate::room::description::Placement;

/// The companion's avatar, relative to the asset root.
pub const AVATAR_ASSET: &str = "avatars/companion.glb";

/// Height of the placeholder humanoid's head (its eyes), m — used when the generated
/// avatar is missing.
pub const PLACEHOLDER_HEAD_HEIGHT: f32 = 1.58;

/// The companion's root entity.
#[derive(Component)]
pub struct CompanionAvatar;

/// The head, which turns towards the user.
#[derive(Component)]
pub struct CompanionHead;

/// Spawns the companion's avatar at `at`, or the placeholder when the asset is missing.
pub fn spawn(
    at: Placement,
    asset_dir: &std::path::Path,
    commands: &mut Commands,
    assets: &AssetServer,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) -> Entity {
    if !asset_dir.join(AVATAR_ASSET).is_file() {
        warn!(
            "{} is missing (run `cargo xtask gen-avatar`) — showing a placeholder companion",
            asset_dir.join(AVATAR_ASSET).display()
        );
        return spawn_placeholder(at, commands, meshes, materials);
    }
    // The room's headings face −Z; the avatar faces +Z in its own space.
    let transform = Transform::from_translation(at.position)
        .with_rotation(at.rotation() * Quat::from_rotation_y(std::f32::consts::PI));
    let skeleton = Skeleton::from_height(nexus_avatar::generate::Appearance::default().height);
    // The file's own humanoid map (it is a VRM 1.0 file); names work without it too.
    let humanoid = std::fs::read(asset_dir.join(AVATAR_ASSET))
        .map_err(|e| e.to_string())
        .and_then(|bytes| nexus_avatar::vrm::read_glb(&bytes).map_err(|e| e.to_string()))
        .inspect_err(|e| warn!("{AVATAR_ASSET}: {e} — finding its bones by name"))
        .ok();
    let entity = spawn_avatar(
        commands,
        assets,
        AvatarSpawn { path: AVATAR_ASSET.into(), skeleton, humanoid, transform, seed: 0x6e65_7875 },
    );
    commands.entity(entity).insert((RoomEntity, CompanionAvatar, Name::new("companion"), Visibility::default()));
    entity
}

/// Spawns the placeholder humanoid at `at`.
pub fn spawn_placeholder(
    at: Placement,
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) -> Entity {
    let skin = materials.add(StandardMaterial {
        base_color: Color::srgb(0.80, 0.62, 0.50),
        perceptual_roughness: 0.6,
        ..default()
    });
    let dress = materials.add(StandardMaterial {
        base_color: Color::srgb(0.16, 0.30, 0.55),
        perceptual_roughness: 0.8,
        ..default()
    });
    let trousers = materials.add(StandardMaterial {
        base_color: Color::srgb(0.12, 0.12, 0.14),
        perceptual_roughness: 0.8,
        ..default()
    });
    let hair = materials.add(StandardMaterial {
        base_color: Color::srgb(0.25, 0.15, 0.08),
        perceptual_roughness: 0.7,
        ..default()
    });
    let eye = materials.add(StandardMaterial {
        base_color: Color::srgb(0.05, 0.05, 0.06),
        perceptual_roughness: 0.2,
        ..default()
    });
    let mut cap = |radius: f32, length: f32| meshes.add(Capsule3d::new(radius, length));
    let (torso, upper_arm, forearm, thigh, shin) =
        (cap(0.16, 0.36), cap(0.045, 0.24), cap(0.04, 0.22), cap(0.07, 0.34), cap(0.055, 0.34));
    let neck = cap(0.05, 0.06);
    let head_mesh = meshes.add(Sphere::new(0.105).mesh().uv(24, 16));
    let hair_mesh = meshes.add(Sphere::new(0.112).mesh().uv(24, 16));
    let eye_mesh = meshes.add(Sphere::new(0.014).mesh().uv(12, 8));
    let hand = meshes.add(Sphere::new(0.045).mesh().uv(12, 8));
    let foot = meshes.add(Cuboid::new(0.1, 0.07, 0.24));

    let part = |mesh: &Handle<Mesh>, mat: &Handle<StandardMaterial>, pos: Vec3, rot: Quat| {
        (Mesh3d(mesh.clone()), MeshMaterial3d(mat.clone()), Transform::from_translation(pos).with_rotation(rot))
    };
    let tilt = |deg: f32| Quat::from_rotation_z(deg.to_radians());
    commands
        .spawn((
            RoomEntity,
            CompanionAvatar,
            Name::new("companion (placeholder humanoid)"),
            Transform::from_translation(at.position).with_rotation(at.rotation()),
            Visibility::default(),
        ))
        .with_children(|c| {
            c.spawn(part(&torso, &dress, Vec3::new(0.0, 1.20, 0.0), Quat::IDENTITY));
            c.spawn(part(&neck, &skin, Vec3::new(0.0, 1.47, 0.0), Quat::IDENTITY));
            for side in [-1.0f32, 1.0] {
                c.spawn(part(&upper_arm, &dress, Vec3::new(0.23 * side, 1.28, 0.0), tilt(8.0 * side)));
                c.spawn(part(&forearm, &skin, Vec3::new(0.26 * side, 0.99, -0.02), tilt(4.0 * side)));
                c.spawn(part(&hand, &skin, Vec3::new(0.27 * side, 0.80, -0.03), Quat::IDENTITY));
                c.spawn(part(&thigh, &trousers, Vec3::new(0.09 * side, 0.72, 0.0), Quat::IDENTITY));
                c.spawn(part(&shin, &trousers, Vec3::new(0.09 * side, 0.30, 0.0), Quat::IDENTITY));
                c.spawn(part(&foot, &trousers, Vec3::new(0.09 * side, 0.035, -0.05), Quat::IDENTITY));
            }
            let head = Transform::from_xyz(0.0, PLACEHOLDER_HEAD_HEIGHT, 0.0);
            c.spawn((CompanionHead, head, Visibility::default())).with_children(|h| {
                h.spawn(part(&head_mesh, &skin, Vec3::ZERO, Quat::IDENTITY));
                h.spawn(part(&hair_mesh, &hair, Vec3::new(0.0, 0.025, 0.02), Quat::IDENTITY));
                for side in [-1.0f32, 1.0] {
                    h.spawn(part(&eye_mesh, &eye, Vec3::new(0.035 * side, 0.015, -0.095), Quat::IDENTITY));
                }
            });
        })
        .id()
}

/// Turns the companion's head towards the user's head, within a comfortable neck range.
pub fn look_at_user(
    user: Query<&GlobalTransform, With<crate::app::UserHead>>,
    companions: Query<&GlobalTransform, With<CompanionAvatar>>,
    mut heads: Query<&mut Transform, With<CompanionHead>>,
) {
    let (Ok(user), Ok(body)) = (user.single(), companions.single()) else { return };
    let Ok(mut head) = heads.single_mut() else { return };
    let local = body.affine().inverse().transform_point3(user.translation()) - head.translation;
    // The humanoid faces −Z, like every Bevy camera and the room file's headings.
    let yaw = (-local.x).atan2(-local.z).clamp(-1.2, 1.2);
    let pitch = local.y.atan2(Vec2::new(local.x, local.z).length()).clamp(-0.5, 0.5);
    head.rotation = Quat::from_euler(EulerRot::YXZ, yaw, pitch, 0.0);
}
