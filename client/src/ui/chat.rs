//! In the room: the status line (server, user, input source, frame rate) and the chat
//! panel. Press Enter (or T) to write, Enter to send, Esc to stop writing; while writing,
//! keys go to the message instead of moving the user. Hold V to speak instead
//! ([`crate::microphone`]). A message goes through the server's moderation on its way to
//! the companion, whose reply shows here a sentence at a time as moderation passes it,
//! then stays as text while it is spoken in the room (seed §6.1, [`crate::conversation`]).

use bevy::diagnostic::{DiagnosticsStore, FrameTimeDiagnosticsPlugin};
use bevy::input::keyboard::KeyboardInput;
use bevy::prelude::*;

use super::{Edit, MUTED, PANEL, TEXT, apply, edits, font};
use crate::room::RoomEntity;
use crate::services::{Connection, ServiceEvent, Services};

/// Lines kept in the panel.
pub const MAX_LINES: usize = 8;
/// Longest message, in characters (the server accepts 10,000; a chat line is shorter).
pub const MAX_MESSAGE: usize = 500;

/// The chat's state.
#[derive(Resource, Debug, Default, Clone)]
pub struct ChatState {
    /// Whether keys go to the message.
    pub writing: bool,
    /// The message being written.
    pub draft: String,
    /// Shown lines, oldest first.
    pub lines: Vec<String>,
    /// Messages sent (interactions for the session record).
    pub sent: u32,
    /// A turn is on its way to the companion.
    pub waiting: bool,
    /// The microphone is capturing (V held).
    pub listening: bool,
    /// The companion's reply as it is being written.
    pub writing_reply: Option<String>,
    /// What speech-to-text heard of the turn under way is shown already.
    pub heard_shown: bool,
}

impl ChatState {
    /// Adds a line, dropping the oldest beyond [`MAX_LINES`].
    pub fn push(&mut self, line: String) {
        self.lines.push(line);
        let excess = self.lines.len().saturating_sub(MAX_LINES);
        self.lines.drain(..excess);
    }
}

/// The chat panel's lines.
#[derive(Component)]
pub struct ChatLog;
/// The message being written.
#[derive(Component)]
pub struct ChatDraft;
/// The status line at the top.
#[derive(Component)]
pub struct StatusLine;

/// Spawns the status line and the chat panel.
pub fn spawn(commands: &mut Commands) {
    commands.spawn((
        RoomEntity,
        Node { position_type: PositionType::Absolute, left: px(12), top: px(10), padding: px(6).all(), ..default() },
        BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.45)),
        children![(Text::new("Nexus"), font(14.0), TextColor(TEXT), StatusLine)],
    ));
    commands.spawn((
        RoomEntity,
        Node {
            position_type: PositionType::Absolute,
            right: px(12),
            bottom: px(12),
            width: px(380),
            flex_direction: FlexDirection::Column,
            padding: px(10).all(),
            row_gap: px(6),
            ..default()
        },
        BackgroundColor(PANEL),
        children![
            (Text::new("Chat with your companion"), font(14.0), TextColor(MUTED)),
            (Text::new(""), font(14.0), TextColor(TEXT), ChatLog),
            (Text::new("Enter: write a message · hold V: speak"), font(14.0), TextColor(MUTED), ChatDraft),
        ],
    ));
}

/// Whether the chat takes the keyboard (movement keys are ignored then).
#[must_use]
pub fn is_writing(chat: Option<Res<ChatState>>) -> bool {
    chat.is_some_and(|c| c.writing)
}

/// Keys → draft; Enter sends through the services.
pub fn type_keys(
    mut keys: MessageReader<KeyboardInput>,
    mut chat: ResMut<ChatState>,
    services: Option<Res<Services>>,
    buttons: Res<ButtonInput<KeyCode>>,
) {
    let all = edits(&mut keys);
    if !chat.writing {
        if buttons.just_pressed(KeyCode::Enter) || buttons.just_pressed(KeyCode::KeyT) {
            chat.writing = true;
        }
        return;
    }
    for edit in all {
        match edit {
            Edit::Cancel => chat.writing = false,
            Edit::Submit => {
                let text = chat.draft.trim().to_owned();
                chat.draft.clear();
                chat.writing = false;
                if text.is_empty() {
                    continue;
                }
                chat.sent += 1;
                match services.as_deref() {
                    Some(s) => {
                        chat.push(format!("you: {text}"));
                        chat.waiting = true;
                        s.send_message(text);
                    }
                    None => chat.push("(offline: messages need a server)".into()),
                }
            }
            Edit::Next => {}
            other => apply(&mut chat.draft, &other, MAX_MESSAGE),
        }
    }
}

/// The companion's answers: the verdict on what was said, then the reply.
pub fn on_service_events(mut events: MessageReader<ServiceEvent>, mut chat: ResMut<ChatState>) {
    for ev in events.read() {
        match ev {
            ServiceEvent::Writing { text } => {
                chat.writing_reply = Some(text.clone());
                continue;
            }
            ServiceEvent::Heard { text } => {
                chat.push(format!("  heard: “{text}”"));
                chat.heard_shown = true;
                continue;
            }
            _ => {}
        }
        let ServiceEvent::Answered { said, spoken, companion, outcome } = ev else { continue };
        chat.waiting = false;
        chat.writing_reply = None;
        let heard = said.as_deref().filter(|_| *spoken && !chat.heard_shown);
        chat.heard_shown = false;
        for line in answer_lines(heard, companion.as_deref(), outcome) {
            info!("chat: {line}");
            chat.push(line);
        }
    }
}

/// The chat lines for one turn (`heard`: the transcript of a spoken message).
#[must_use]
pub fn answer_lines(
    heard: Option<&str>,
    companion: Option<&str>,
    outcome: &Result<crate::services::api::Turn, crate::services::api::ApiError>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let turn = match outcome {
        Ok(t) => t,
        Err(e) => return vec![format!("  ✗ not delivered: {e}")],
    };
    let reason = turn.moderation.reason.clone().unwrap_or_default();
    match turn.moderation.action.as_str() {
        "block" => lines.push(format!("  ✗ not delivered ({} mode): {reason}", turn.moderation.mode)),
        "warn" => lines.push(format!("  ! delivered with a warning: {reason}")),
        _ => {}
    }
    if let Some(heard) = heard {
        lines.insert(0, format!("  heard: “{heard}”"));
    }
    let name = companion.unwrap_or("companion");
    match (&turn.reply, &turn.notice) {
        (Some(r), notice) => {
            lines.push(format!("{name}: {}", r.text));
            if let Some(n) = notice {
                lines.push(format!("  ({n})"));
            }
        }
        (None, Some(n)) => lines.push(format!("  ({name} did not answer: {n})")),
        (None, None) => {}
    }
    lines
}

/// Redraws the chat lines and the draft.
pub fn render_chat(
    chat: Res<ChatState>,
    mut log: Query<&mut Text, (With<ChatLog>, Without<ChatDraft>)>,
    mut draft: Query<&mut Text, (With<ChatDraft>, Without<ChatLog>)>,
) {
    if !chat.is_changed() {
        return;
    }
    if let Ok(mut t) = log.single_mut() {
        t.0 = chat.lines.join("\n");
    }
    if let Ok(mut t) = draft.single_mut() {
        t.0 = if chat.writing {
            format!("> {}|", chat.draft)
        } else if chat.listening {
            "listening… (release V to send)".into()
        } else if chat.waiting {
            chat.writing_reply.as_ref().map_or_else(|| "…".into(), |reply| format!("{}…", reply.trim_start()))
        } else {
            "Enter: write a message · hold V: speak".into()
        };
    }
}

/// Redraws the status line: room, server, user, input source, frame rate.
pub fn render_status(
    connection: Res<Connection>,
    signed_in: Res<crate::app::SignedIn>,
    source: Res<crate::input::ActiveSource>,
    diagnostics: Res<DiagnosticsStore>,
    mut status: Query<&mut Text, With<StatusLine>>,
) {
    let Ok(mut t) = status.single_mut() else { return };
    let server = match &*connection {
        Connection::Online { embedded: true, .. } => "embedded server".to_owned(),
        Connection::Online { base_url, .. } => base_url.clone(),
        Connection::Offline { .. } => "offline".to_owned(),
    };
    let user = signed_in.0.as_deref().unwrap_or("not signed in");
    let fps = diagnostics.get(&FrameTimeDiagnosticsPlugin::FPS).and_then(|d| d.smoothed()).unwrap_or(0.0);
    let src = match *source {
        crate::input::ActiveSource::OpenXr => "headset",
        crate::input::ActiveSource::Preview => "desktop preview",
        crate::input::ActiveSource::Replay => "replay",
        crate::input::ActiveSource::Still => "still",
    };
    // Under software rendering frames can take over a second; "0 fps" would read as frozen.
    let fps = if fps < 10.0 { format!("{fps:.1}") } else { format!("{fps:.0}") };
    let line = format!("Café terrace · {server} · {user} · {src} · {fps} fps");
    if t.0 != line {
        t.0 = line;
    }
}
