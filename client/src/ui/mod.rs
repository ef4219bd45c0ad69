//! Screens and panels: the sign-in/register screen ([`sign_in`]), the chat panel and the
//! status line in the room ([`chat`]), and the comfort vignette ([`vignette`]). Text entry
//! reads keyboard messages directly, so it works the same in the preview window and in
//! tests that inject keys.

pub mod chat;
pub mod sign_in;
pub mod vignette;

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;

/// What a key press does to a text field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Text was typed.
    Insert(String),
    /// Backspace.
    Backspace,
    /// Enter.
    Submit,
    /// Tab.
    Next,
    /// Escape.
    Cancel,
}

/// The edits in this frame's key presses.
pub fn edits(keys: &mut MessageReader<KeyboardInput>) -> Vec<Edit> {
    keys.read()
        .filter(|k| k.state == ButtonState::Pressed)
        .filter_map(|k| match &k.logical_key {
            Key::Enter => Some(Edit::Submit),
            Key::Tab => Some(Edit::Next),
            Key::Backspace => Some(Edit::Backspace),
            Key::Escape => Some(Edit::Cancel),
            Key::Space => Some(Edit::Insert(" ".into())),
            Key::Character(c) if !c.chars().any(char::is_control) => Some(Edit::Insert(c.to_string())),
            _ => None,
        })
        .collect()
}

/// Applies an insert/backspace to `field`, at most `max` characters.
pub fn apply(field: &mut String, edit: &Edit, max: usize) {
    match edit {
        Edit::Insert(s) => {
            for c in s.chars() {
                if field.chars().count() < max {
                    field.push(c);
                }
            }
        }
        Edit::Backspace => {
            field.pop();
        }
        _ => {}
    }
}

/// Fonts with the accents, quotes and symbols of English and French (Bevy's built-in
/// font is an ASCII subset), tried in order; the first that exists replaces the default.
pub const UI_FONTS: &[&str] =
    &["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"];

/// Makes the first of [`UI_FONTS`] found the default font of every text; keeps Bevy's
/// built-in font (and says so) when none is installed.
pub fn install_ui_font(app: &mut App) {
    let Some((path, bytes)) = UI_FONTS.iter().find_map(|p| std::fs::read(p).ok().map(|b| (*p, b))) else {
        warn!("no UI font found ({}); accented letters may not show", UI_FONTS.join(", "));
        return;
    };
    let mut fonts = app.world_mut().resource_mut::<Assets<Font>>();
    match fonts.insert(AssetId::default(), Font::from_bytes(bytes)) {
        Ok(()) => debug!(path, "UI font"),
        Err(e) => warn!("cannot use {path}: {e:?}"),
    }
}

/// A text style.
#[must_use]
pub fn font(size: f32) -> TextFont {
    TextFont::from_font_size(size)
}

/// Panel background.
pub const PANEL: Color = Color::srgba(0.05, 0.06, 0.08, 0.82);
/// Body text.
pub const TEXT: Color = Color::srgb(0.92, 0.93, 0.95);
/// Secondary text.
pub const MUTED: Color = Color::srgb(0.62, 0.66, 0.72);
/// Accent (buttons, focus).
pub const ACCENT: Color = Color::srgb(0.30, 0.52, 0.92);
/// Errors.
pub const ERROR: Color = Color::srgb(0.95, 0.45, 0.40);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_respect_their_length() {
        let mut f = String::new();
        apply(&mut f, &Edit::Insert("héllo".into()), 4);
        assert_eq!(f, "héll");
        apply(&mut f, &Edit::Backspace, 4);
        apply(&mut f, &Edit::Submit, 4);
        assert_eq!(f, "hél");
    }
}
