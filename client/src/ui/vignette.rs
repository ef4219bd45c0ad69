//! The comfort vignette: a full-screen overlay whose edges darken while the user moves
//! artificially (strength from [`crate::comfort::ComfortState`]).

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

/// The overlay node.
#[derive(Component)]
pub struct Vignette;

/// A square RGBA image: transparent in the middle, black towards the edges.
#[must_use]
pub fn radial_mask(size: u32) -> Image {
    let mut data = Vec::with_capacity((size * size * 4) as usize);
    let c = (size as f32 - 1.0) / 2.0;
    for y in 0..size {
        for x in 0..size {
            let r = Vec2::new(x as f32 - c, y as f32 - c).length() / c;
            let t = ((r - 0.45) / (0.95 - 0.45)).clamp(0.0, 1.0);
            let a = t * t * (3.0 - 2.0 * t);
            data.extend_from_slice(&[0, 0, 0, (a * 255.0) as u8]);
        }
    }
    Image::new(
        Extent3d { width: size, height: size, depth_or_array_layers: 1 },
        TextureDimension::D2,
        data,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    )
}

/// Spawns the (initially invisible) overlay.
pub fn spawn(commands: &mut Commands, images: &mut Assets<Image>) {
    commands.spawn((
        Vignette,
        crate::room::RoomEntity,
        ImageNode { image: images.add(radial_mask(128)), color: Color::srgba(1.0, 1.0, 1.0, 0.0), ..default() },
        Node { position_type: PositionType::Absolute, width: percent(100), height: percent(100), ..default() },
        GlobalZIndex(-1),
    ));
}

/// Follows the comfort state's strength.
pub fn update(state: Res<crate::comfort::ComfortState>, mut nodes: Query<&mut ImageNode, With<Vignette>>) {
    for mut node in &mut nodes {
        node.color = Color::srgba(1.0, 1.0, 1.0, state.vignette.clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_is_clear_in_the_centre_and_dark_at_the_corners() {
        let img = radial_mask(64);
        let data = img.data.as_ref().expect("pixels");
        let alpha = |x: usize, y: usize| data[(y * 64 + x) * 4 + 3];
        assert_eq!(alpha(32, 32), 0);
        assert_eq!(alpha(0, 0), 255);
        assert!(alpha(2, 32) > 200);
    }
}
