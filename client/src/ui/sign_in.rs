//! The sign-in / register screen. With a remembered profile (or the embedded server's
//! demo profile) it only shows progress and moves on; otherwise the user types an email
//! and password (Tab moves between fields, Enter signs in), or fills username and birth
//! date too and presses "Create account". It works the same for the embedded server and a
//! remote one.

use bevy::input::keyboard::KeyboardInput;
use bevy::prelude::*;

use super::{ACCENT, ERROR, Edit, MUTED, PANEL, TEXT, apply, edits, font};
use crate::app::AppState;
use crate::services::api::Registration;
use crate::services::{ServiceEvent, Services};

/// Field order on the form.
pub const FIELDS: [&str; 4] = ["Email", "Password", "Username (new account)", "Birth date YYYY-MM-DD (new account)"];

/// The form's state.
#[derive(Resource, Debug, Default, Clone)]
pub struct SignInForm {
    /// Field values, in [`FIELDS`] order.
    pub values: [String; 4],
    /// The focused field.
    pub focus: usize,
    /// Progress or the last error.
    pub status: String,
    /// Whether the status is an error.
    pub failed: bool,
    /// Whether a request is in flight.
    pub busy: bool,
}

/// The screen's root node.
#[derive(Component)]
pub struct SignInRoot;
/// The text of field *n*.
#[derive(Component)]
pub struct FieldText(pub usize);
/// The status line.
#[derive(Component)]
pub struct StatusText;
/// The form's buttons.
#[derive(Component, Clone, Copy)]
pub enum FormButton {
    /// Sign in.
    SignIn,
    /// Create an account.
    Register,
}

/// Demo profile wanted (`--demo-profile`).
#[derive(Resource, Debug, Clone, Copy)]
pub struct DemoProfile(pub bool);

/// Builds the screen and starts resuming a remembered profile.
pub fn enter(mut commands: Commands, services: Option<Res<Services>>, demo: Res<DemoProfile>) {
    let mut form = SignInForm { status: "Signing in…".into(), busy: true, ..default() };
    match services {
        Some(s) => {
            form.status =
                format!("Signing in to {}…", if s.is_embedded() { "the embedded server" } else { s.base_url() });
            s.resume(demo.0);
        }
        None => form.busy = false,
    }
    commands.spawn((
        SignInRoot,
        DespawnOnExit(AppState::SignIn),
        Node {
            width: percent(100),
            height: percent(100),
            align_items: AlignItems::Center,
            justify_content: JustifyContent::Center,
            ..default()
        },
        BackgroundColor(Color::srgba(0.02, 0.03, 0.05, 0.55)),
        children![(
            Node {
                flex_direction: FlexDirection::Column,
                padding: px(24).all(),
                row_gap: px(10),
                width: px(520),
                ..default()
            },
            BackgroundColor(PANEL),
            children![
                (Text::new("Nexus"), font(34.0), TextColor(TEXT)),
                (Text::new("Sign in or create an account"), font(16.0), TextColor(MUTED)),
                field_row(0),
                field_row(1),
                field_row(2),
                field_row(3),
                (
                    Node { flex_direction: FlexDirection::Row, column_gap: px(12), ..default() },
                    children![button("Sign in", FormButton::SignIn), button("Create account", FormButton::Register)]
                ),
                (Text::new(form.status.clone()), font(15.0), TextColor(MUTED), StatusText),
                (Text::new("Tab: next field · Enter: sign in"), font(13.0), TextColor(MUTED)),
            ]
        )],
    ));
    commands.insert_resource(form);
}

fn field_row(i: usize) -> impl Bundle {
    (
        Node { flex_direction: FlexDirection::Column, row_gap: px(2), ..default() },
        children![
            (Text::new(FIELDS[i]), font(13.0), TextColor(MUTED)),
            (
                Node { padding: px(6).all(), min_height: px(30), ..default() },
                BackgroundColor(Color::srgba(1.0, 1.0, 1.0, 0.06)),
                children![(Text::new(""), font(17.0), TextColor(TEXT), FieldText(i))]
            ),
        ],
    )
}

fn button(label: &str, which: FormButton) -> impl Bundle {
    (
        Button,
        which,
        Node { padding: UiRect::axes(px(16), px(8)), ..default() },
        BackgroundColor(ACCENT),
        children![(Text::new(label), font(16.0), TextColor(Color::WHITE))],
    )
}

/// What the form asks the services to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormAction {
    /// Sign in with email and password.
    SignIn,
    /// Create the account, then sign in.
    Register,
}

/// Checks the fields needed by `action`; the error says which is missing.
pub fn validate(form: &SignInForm, action: &FormAction) -> Result<(), String> {
    let [email, password, username, birth] = &form.values;
    if !email.contains('@') {
        return Err("Enter your email address.".into());
    }
    if password.chars().count() < 10 {
        return Err("The password has at least 10 characters.".into());
    }
    if *action == FormAction::Register {
        if username.trim().len() < 3 {
            return Err("Choose a username of 3 characters or more.".into());
        }
        if chrono::NaiveDate::parse_from_str(birth.trim(), "%Y-%m-%d").is_err() {
            return Err("Birth date as YYYY-MM-DD (Nexus is for adults only).".into());
        }
    }
    Ok(())
}

/// Typing, Tab and Enter.
pub fn type_keys(
    mut keys: MessageReader<KeyboardInput>,
    mut form: ResMut<SignInForm>,
    services: Option<Res<Services>>,
) {
    for edit in edits(&mut keys) {
        match edit {
            Edit::Next => form.focus = (form.focus + 1) % FIELDS.len(),
            Edit::Submit => submit(&mut form, services.as_deref(), FormAction::SignIn),
            Edit::Cancel => {}
            other => {
                let i = form.focus;
                apply(&mut form.values[i], &other, if i == 1 { 128 } else { 255 });
            }
        }
    }
}

/// Button clicks.
pub fn click_buttons(
    buttons: Query<(&Interaction, &FormButton), Changed<Interaction>>,
    mut form: ResMut<SignInForm>,
    services: Option<Res<Services>>,
) {
    for (interaction, which) in &buttons {
        if *interaction == Interaction::Pressed {
            let action = match which {
                FormButton::SignIn => FormAction::SignIn,
                FormButton::Register => FormAction::Register,
            };
            submit(&mut form, services.as_deref(), action);
        }
    }
}

fn submit(form: &mut SignInForm, services: Option<&Services>, action: FormAction) {
    if form.busy {
        return;
    }
    let Some(services) = services else {
        form.status = "No server: the room works offline.".into();
        return;
    };
    if let Err(why) = validate(form, &action) {
        form.status = why;
        form.failed = true;
        return;
    }
    let [email, password, username, birth] = form.values.clone();
    match action {
        FormAction::SignIn => services.sign_in(email.trim().into(), password),
        FormAction::Register => services.register(Registration {
            email: email.trim().into(),
            username: username.trim().into(),
            password,
            birth_date: birth.trim().into(),
        }),
    }
    form.busy = true;
    form.failed = false;
    form.status = "Signing in…".into();
}

/// Handles the services' answers: into the room, or the form with the reason.
pub fn on_service_events(
    mut events: MessageReader<ServiceEvent>,
    mut form: ResMut<SignInForm>,
    mut next: ResMut<NextState<AppState>>,
    mut signed_in: ResMut<crate::app::SignedIn>,
) {
    for ev in events.read() {
        match ev {
            ServiceEvent::SignedIn { me } => {
                info!(user = %me.username, "signed in");
                signed_in.0 = Some(me.username.clone());
                next.set(AppState::Room);
            }
            ServiceEvent::NeedsSignIn { reason } => {
                form.busy = false;
                form.failed = reason.is_some();
                form.status =
                    reason.clone().unwrap_or_else(|| "Sign in, or fill every field to create an account.".into());
            }
            ServiceEvent::Writing { .. }
            | ServiceEvent::Heard { .. }
            | ServiceEvent::Spoken { .. }
            | ServiceEvent::Hush
            | ServiceEvent::Answered { .. } => {}
        }
    }
}

/// Shows the fields (password masked, caret on the focused one) and the status.
pub fn render(
    form: Res<SignInForm>,
    mut fields: Query<(&FieldText, &mut Text), Without<StatusText>>,
    mut status: Query<(&mut Text, &mut TextColor), With<StatusText>>,
) {
    if !form.is_changed() {
        return;
    }
    for (f, mut text) in &mut fields {
        let v = &form.values[f.0];
        let shown = if f.0 == 1 { "•".repeat(v.chars().count()) } else { v.clone() };
        text.0 = if form.focus == f.0 { format!("{shown}|") } else { shown };
    }
    for (mut text, mut color) in &mut status {
        text.0 = form.status.clone();
        color.0 = if form.failed { ERROR } else { MUTED };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_says_what_is_missing() {
        let mut f = SignInForm::default();
        assert!(validate(&f, &FormAction::SignIn).expect_err("email").contains("email"));
        f.values = ["ada@example.com".into(), "short".into(), String::new(), String::new()];
        assert!(validate(&f, &FormAction::SignIn).expect_err("password").contains("10 characters"));
        f.values[1] = "correct horse battery".into();
        assert!(validate(&f, &FormAction::SignIn).is_ok());
        assert!(validate(&f, &FormAction::Register).expect_err("username").contains("username"));
        f.values[2] = "ada".into();
        f.values[3] = "17/05/1990".into();
        assert!(validate(&f, &FormAction::Register).expect_err("date").contains("YYYY-MM-DD"));
        f.values[3] = "1990-05-17".into();
        assert!(validate(&f, &FormAction::Register).is_ok());
    }
}
