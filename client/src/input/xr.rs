//! The headset's input source: OpenXR actions (grip and aim poses, trigger, squeeze,
//! thumbstick, primary button) with suggested bindings for the Meta Quest Touch, Valve
//! Index, HTC Vive and Pico 4 controller profiles, the head from a VIEW reference space,
//! and the 26 joints per hand from `XR_EXT_hand_tracking` when the runtime offers it.
//! Everything here runs only when an OpenXR session exists; in the preview the
//! [`super::preview`] driver fills the same [`TrackedRig`].

use bevy::prelude::*;
use bevy_mod_openxr::action_binding::{OxrSendActionBindings, OxrSuggestActionBinding};
use bevy_mod_openxr::action_set_attaching::OxrAttachActionSet;
use bevy_mod_openxr::action_set_syncing::{OxrActionSetSyncSet, OxrSyncActionSet};
use bevy_mod_openxr::features::handtracking::OxrHandTracker;
use bevy_mod_openxr::resources::OxrInstance;
use bevy_mod_openxr::session::OxrSession;
use bevy_mod_openxr::{openxr_session_available, openxr_session_running};
use bevy_mod_xr::hands::{HandSide, XrHandBoneEntities};
use bevy_mod_xr::session::{XrPreDestroySession, XrSessionCreated};
use bevy_mod_xr::spaces::{XrSpace, XrSpaceLocationFlags, XrSpaceSyncSet};

use crate::rig::{HAND_JOINTS, Hand, Pose, TrackedRig};

/// The controller profiles the client suggests bindings for: (profile, squeeze input,
/// primary button per hand, thumbstick/trackpad input).
pub const PROFILES: [(&str, &str, [&str; 2], &str); 4] = [
    ("/interaction_profiles/oculus/touch_controller", "squeeze/value", ["x/click", "a/click"], "thumbstick"),
    ("/interaction_profiles/valve/index_controller", "squeeze/value", ["a/click", "a/click"], "thumbstick"),
    ("/interaction_profiles/htc/vive_controller", "squeeze/click", ["menu/click", "menu/click"], "trackpad"),
    ("/interaction_profiles/bytedance/pico4_controller", "squeeze/value", ["x/click", "a/click"], "thumbstick"),
];

const SIDES: [&str; 2] = ["left", "right"];

/// The action set and its actions, one per hand.
#[derive(Resource)]
pub struct XrActions {
    set: openxr::ActionSet,
    grip: [openxr::Action<openxr::Posef>; 2],
    aim: [openxr::Action<openxr::Posef>; 2],
    trigger: [openxr::Action<f32>; 2],
    squeeze: [openxr::Action<f32>; 2],
    stick: [openxr::Action<openxr::Vector2f>; 2],
    primary: [openxr::Action<bool>; 2],
}

/// Marks the space entities this module spawns.
#[derive(Component, Clone, Copy)]
enum XrRigSpace {
    Head,
    Grip(usize),
    Aim(usize),
}

/// OpenXR → [`TrackedRig`].
pub struct XrInputPlugin;

impl Plugin for XrInputPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, create_actions.run_if(openxr_session_available))
            .add_systems(OxrSendActionBindings, suggest_bindings.run_if(resource_exists::<XrActions>))
            .add_systems(
                XrSessionCreated,
                on_session_created.run_if(resource_exists::<OxrSession>.and_then(resource_exists::<XrActions>)),
            )
            .add_systems(XrPreDestroySession, despawn_spaces)
            .configure_sets(PreUpdate, OxrActionSetSyncSet.before(XrSpaceSyncSet))
            .add_systems(
                PreUpdate,
                sync_actions
                    .before(OxrActionSetSyncSet)
                    .run_if(openxr_session_running.and_then(resource_exists::<XrActions>)),
            )
            .add_systems(
                PreUpdate,
                read_rig
                    .in_set(crate::input::RigSystems::Source)
                    .after(XrSpaceSyncSet)
                    .run_if(openxr_session_running.and_then(resource_exists::<XrActions>)),
            );
    }
}

fn create_actions(instance: Res<OxrInstance>, mut commands: Commands) {
    let made = (|| -> openxr::Result<XrActions> {
        let set = instance.create_action_set("nexus", "Nexus", 0)?;
        let make = |what: &str| -> openxr::Result<[String; 2]> { Ok(SIDES.map(|s| format!("{s}_{what}"))) };
        macro_rules! pair {
            ($ty:ty, $what:literal) => {{
                let [l, r] = make($what)?;
                [
                    set.create_action::<$ty>(&l, &l.replace('_', " "), &[])?,
                    set.create_action::<$ty>(&r, &r.replace('_', " "), &[])?,
                ]
            }};
        }
        Ok(XrActions {
            grip: pair!(openxr::Posef, "grip"),
            aim: pair!(openxr::Posef, "aim"),
            trigger: pair!(f32, "trigger"),
            squeeze: pair!(f32, "squeeze"),
            stick: pair!(openxr::Vector2f, "stick"),
            primary: pair!(bool, "primary"),
            set,
        })
    })();
    match made {
        Ok(actions) => commands.insert_resource(actions),
        Err(e) => error!("OpenXR actions could not be created ({e}); controllers will not move the rig"),
    }
}

fn suggest_bindings(actions: Res<XrActions>, mut out: MessageWriter<OxrSuggestActionBinding>) {
    for (profile, squeeze, primary, stick) in PROFILES {
        for (i, side) in SIDES.into_iter().enumerate() {
            let mut bind = |action: openxr::sys::Action, input: &str| {
                out.write(OxrSuggestActionBinding {
                    action,
                    interaction_profile: profile.into(),
                    bindings: vec![format!("/user/hand/{side}/input/{input}").into()],
                });
            };
            bind(actions.grip[i].as_raw(), "grip/pose");
            bind(actions.aim[i].as_raw(), "aim/pose");
            bind(actions.trigger[i].as_raw(), "trigger/value");
            bind(actions.squeeze[i].as_raw(), squeeze);
            bind(actions.stick[i].as_raw(), stick);
            bind(actions.primary[i].as_raw(), primary[i]);
        }
    }
}

fn on_session_created(
    actions: Res<XrActions>,
    session: Res<OxrSession>,
    mut attach: MessageWriter<OxrAttachActionSet>,
    mut commands: Commands,
) {
    attach.write(OxrAttachActionSet(actions.set.clone()));
    match session.create_reference_space(openxr::ReferenceSpaceType::VIEW, Isometry3d::IDENTITY) {
        Ok(view) => {
            commands.spawn((view.0, XrRigSpace::Head));
        }
        Err(e) => error!("OpenXR VIEW space failed ({e}); the head pose comes from the eye cameras only"),
    }
    for i in 0..2 {
        for (action, tag) in [(&actions.grip[i], XrRigSpace::Grip(i)), (&actions.aim[i], XrRigSpace::Aim(i))] {
            match session.create_action_space(action, openxr::Path::NULL, Isometry3d::IDENTITY) {
                Ok(space) => {
                    commands.spawn((space, tag));
                }
                Err(e) => error!("OpenXR action space failed: {e}"),
            }
        }
    }
}

fn despawn_spaces(spaces: Query<Entity, With<XrRigSpace>>, mut commands: Commands) {
    for e in &spaces {
        commands.entity(e).despawn();
    }
}

fn sync_actions(actions: Res<XrActions>, mut sync: MessageWriter<OxrSyncActionSet>) {
    sync.write(OxrSyncActionSet(actions.set.clone()));
}

fn pose_of(t: &Transform) -> Pose {
    Pose { position: t.translation, rotation: t.rotation }
}

fn read_rig(
    actions: Res<XrActions>,
    session: Res<OxrSession>,
    spaces: Query<(&XrRigSpace, &Transform, &XrSpaceLocationFlags), With<XrSpace>>,
    hands: Query<(&XrHandBoneEntities, &HandSide), With<OxrHandTracker>>,
    bones: Query<(&Transform, &XrSpaceLocationFlags)>,
    mut rig: ResMut<TrackedRig>,
) {
    let s: &openxr::Session<openxr::AnyGraphics> = &session;
    let mut next = rig.clone();
    for (i, hand) in [&mut next.left, &mut next.right].into_iter().enumerate() {
        hand.trigger = actions.trigger[i].state(s, openxr::Path::NULL).map_or(0.0, |st| st.current_state);
        hand.squeeze = actions.squeeze[i].state(s, openxr::Path::NULL).map_or(0.0, |st| st.current_state);
        let stick =
            actions.stick[i].state(s, openxr::Path::NULL).map_or(openxr::Vector2f::default(), |st| st.current_state);
        hand.stick = [stick.x, stick.y];
        hand.primary = actions.primary[i].state(s, openxr::Path::NULL).is_ok_and(|st| st.current_state);
        hand.tracked = false;
        hand.joints = None;
    }
    for (tag, transform, flags) in &spaces {
        let valid = flags.position_tracked || flags.rotation_tracked;
        match *tag {
            XrRigSpace::Head if valid => next.head = pose_of(transform),
            XrRigSpace::Grip(i) if valid => {
                let hand = if i == 0 { &mut next.left } else { &mut next.right };
                hand.grip = pose_of(transform);
                hand.tracked = true;
            }
            XrRigSpace::Aim(i) if valid => {
                let hand = if i == 0 { &mut next.left } else { &mut next.right };
                hand.aim = pose_of(transform);
            }
            _ => {}
        }
    }
    for (joints, side) in &hands {
        let mut out = [Pose::default(); HAND_JOINTS];
        let mut all = true;
        for (slot, entity) in out.iter_mut().zip(joints.0.iter()) {
            match bones.get(*entity) {
                Ok((t, f)) if f.position_tracked => *slot = pose_of(t),
                _ => all = false,
            }
        }
        if all {
            let hand: &mut Hand = if matches!(side, HandSide::Left) { &mut next.left } else { &mut next.right };
            hand.pinch = crate::input::pinch_strength(&out);
            hand.joints = Some(Box::new(out));
            hand.tracked = true;
        }
    }
    next.gaze = crate::rig::Gaze { origin: next.head.position, direction: next.head.forward() };
    *rig = next;
}
