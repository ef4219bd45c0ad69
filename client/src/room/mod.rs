//! Rooms: a room file ([`description`]) turned into lit, shadowed Bevy entities. The first
//! room is the seed's café terrace (`assets/environments/cafe_terrace.toml`).

pub mod description;

use std::collections::HashMap;

use bevy::light::CascadeShadowConfigBuilder;
use bevy::prelude::*;

use self::description::{RoomDescription, Shape};

/// Marks every entity of the room (despawned together when leaving it).
#[derive(Component)]
pub struct RoomEntity;

/// The loaded room, for systems that need its placements.
#[derive(Resource, Debug, Clone)]
pub struct CurrentRoom(pub RoomDescription);

fn srgb(c: [f32; 3]) -> Color {
    Color::srgb(c[0], c[1], c[2])
}

fn mesh_for(shape: Shape) -> Mesh {
    match shape {
        Shape::Box { size } => Cuboid::new(size.x, size.y, size.z).into(),
        Shape::Cylinder { radius, height } => Cylinder::new(radius, height).mesh().resolution(24).into(),
        Shape::Sphere { radius } => Sphere::new(radius).mesh().uv(24, 16),
        Shape::Capsule { radius, length } => Capsule3d::new(radius, length).into(),
    }
}

/// Spawns `room`: sky, ambient light, sun with cascaded shadows, point lights and every
/// part (meshes shared between identical shapes, one material per name).
pub fn spawn(
    room: &RoomDescription,
    commands: &mut Commands,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) -> Result<usize, description::RoomError> {
    commands.insert_resource(ClearColor(srgb(room.sky)));
    commands.insert_resource(GlobalAmbientLight {
        color: srgb(room.ambient.color),
        brightness: room.ambient.brightness,
        ..default()
    });
    commands.spawn((
        RoomEntity,
        DirectionalLight {
            illuminance: room.sun.illuminance,
            color: srgb(room.sun.color),
            shadow_maps_enabled: true,
            ..default()
        },
        CascadeShadowConfigBuilder { first_cascade_far_bound: 6.0, maximum_distance: 30.0, ..default() }.build(),
        Transform::from_rotation(room.sun.rotation()),
    ));
    for light in room.lights() {
        commands.spawn((
            RoomEntity,
            PointLight {
                color: srgb(light.color),
                intensity: light.intensity,
                range: light.range,
                shadow_maps_enabled: false,
                ..default()
            },
            Transform::from_translation(light.translation),
        ));
    }
    let mats: HashMap<&str, Handle<StandardMaterial>> = room
        .materials
        .iter()
        .map(|(name, m)| {
            let mat = StandardMaterial {
                base_color: srgb(m.color),
                perceptual_roughness: m.roughness,
                metallic: m.metallic,
                emissive: m.emissive.map_or(LinearRgba::BLACK, |e| LinearRgba::rgb(e[0], e[1], e[2])),
                ..default()
            };
            (name.as_str(), materials.add(mat))
        })
        .collect();
    let mut mesh_cache: Vec<(Shape, Handle<Mesh>)> = Vec::new();
    let parts = room.parts()?;
    for part in &parts {
        let mesh = match mesh_cache.iter().find(|(s, _)| *s == part.shape) {
            Some((_, h)) => h.clone(),
            None => {
                let h = meshes.add(mesh_for(part.shape));
                mesh_cache.push((part.shape, h.clone()));
                h
            }
        };
        let material = mats.get(part.material.as_str()).cloned().unwrap_or_default();
        commands.spawn((
            RoomEntity,
            Mesh3d(mesh),
            MeshMaterial3d(material),
            Transform::from_translation(part.translation).with_rotation(part.rotation),
        ));
    }
    commands.insert_resource(CurrentRoom(room.clone()));
    Ok(parts.len())
}
