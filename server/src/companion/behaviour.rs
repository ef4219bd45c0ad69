//! The companion's behaviour tree (seed §1.1 "Companion AI Controller"): each tick it
//! reads what the companion perceives of the user and decides what to do — react to a
//! gesture, follow, step back, approach, converse or idle — as a locomotion target, a
//! look-at point, a gesture to play and the [`Stimulus`]es it felt on the way (for the
//! [emotion](super::emotion) machine).
//!
//! **Perception** ([`Perception::of`]) works from poses only: the user's head pose gives
//! the distance on the floor and whether the user looks at the companion's face (within
//! [`GAZE_CONE_DEG`] of the head's forward axis, -Z as in glTF and OpenXR).
//!
//! **The tree** ([`Node`]) is data: selectors try children in order until one runs,
//! sequences run children while they succeed, leaves are conditions and actions over a
//! [`Blackboard`]. [`Controller::default_tree`] is the companion's, top priority first:
//!
//! 1. a gesture just seen → wave back / take the offered hand (within reach);
//! 2. asked to follow → keep [`FOLLOW_M`] from the user;
//! 3. user inside intimate space ([`TOO_CLOSE_M`]) → step back to [`COMFORT_M`];
//! 4. user far ([`APPROACH_FROM_M`]) → walk up to [`COMFORT_M`] (a walk, once started,
//!    goes on until within [`ARRIVED_M`] of its end);
//! 5. someone speaking or the user's gaze held → converse: face the user, eyes on theirs;
//! 6. otherwise idle, glancing at the user.

use glam::Vec3;
use nexus_avatar::pose::Pose;
use serde::{Deserialize, Serialize};

use super::emotion::{CLOSE_M, Stimulus, TOO_CLOSE_M, UserGesture};

/// Conversation distance the companion keeps (metres, personal space, Hall 1966).
pub const COMFORT_M: f32 = 1.0;
/// Beyond this the companion walks up to the user.
pub const APPROACH_FROM_M: f32 = 2.5;
/// Distance kept while following.
pub const FOLLOW_M: f32 = 1.2;
/// Reach for taking an offered hand.
pub const REACH_M: f32 = 0.8;
/// Half-angle of the cone in which the user is taken to look at the companion's face.
pub const GAZE_CONE_DEG: f32 = 12.0;
/// A walk ends this close to where it was going, metres.
pub const ARRIVED_M: f32 = 0.1;
/// Seconds a gaze must be held before it counts as eye contact.
pub const EYE_CONTACT_S: f32 = 1.0;

/// What the companion perceives this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perception {
    /// Floor distance between the two heads, metres.
    pub distance_m: f32,
    /// Whether the user looks at the companion's face.
    pub gazed_at: bool,
    /// The user's head position.
    pub user_head: Vec3,
    /// The companion's head position.
    pub own_head: Vec3,
}

impl Perception {
    /// From the two head poses.
    #[must_use]
    pub fn of(user_head: &Pose, own_head: &Pose) -> Self {
        let to_companion = own_head.position - user_head.position;
        let flat = Vec3::new(to_companion.x, 0.0, to_companion.z);
        let forward = user_head.rotation * Vec3::NEG_Z;
        let gazed_at =
            to_companion.length() > 1e-3 && forward.angle_between(to_companion).to_degrees() <= GAZE_CONE_DEG;
        Self { distance_m: flat.length(), gazed_at, user_head: user_head.position, own_head: own_head.position }
    }
}

/// What the companion is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// Standing about, glancing at the user.
    Idle,
    /// Walking up to conversation distance.
    Approach,
    /// Stepping back out of the user's intimate space.
    KeepDistance,
    /// Facing the user, eyes on theirs.
    Converse,
    /// Following the user.
    Follow,
    /// Waving back.
    WaveBack,
    /// Taking the user's offered hand.
    TakeHand,
}

/// A gesture the companion plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnGesture {
    /// A wave.
    Wave,
    /// Reaching for and holding the user's hand.
    TakeHand,
}

/// The tick's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What the companion is doing.
    pub activity: Activity,
    /// Where to walk to (floor position of the head), if anywhere.
    pub walk_to: Option<Vec3>,
    /// Where to look.
    pub look_at: Vec3,
    /// A gesture to start this tick.
    pub gesture: Option<OwnGesture>,
    /// What the companion felt (for the emotion machine).
    pub felt: Vec<Stimulus>,
}

/// Everything the tree reads and writes during a tick.
#[derive(Debug, Clone)]
pub struct Blackboard {
    /// This tick's perception.
    pub seen: Perception,
    /// A gesture the user made this tick.
    pub user_gesture: Option<UserGesture>,
    /// Someone (user or companion) is speaking.
    pub speaking: bool,
    /// The user asked the companion to follow.
    pub follow: bool,
    /// Seconds the user's gaze has been held.
    pub gaze_held_s: f32,
    /// What the companion did last tick (a walk, once started, goes on to its end).
    pub previous: Activity,
    /// The decision being built.
    pub decision: Decision,
}

/// A node's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done, and it worked.
    Success,
    /// Did not apply.
    Failure,
}

/// A behaviour-tree node.
pub enum Node {
    /// Runs children in order until one succeeds.
    Selector(Vec<Node>),
    /// Runs children in order while they succeed.
    Sequence(Vec<Node>),
    /// A test on the blackboard.
    Condition(&'static str, fn(&Blackboard) -> bool),
    /// Writes to the decision.
    Action(&'static str, fn(&mut Blackboard)),
}

impl Node {
    /// Ticks this node.
    pub fn tick(&self, b: &mut Blackboard) -> Status {
        match self {
            Self::Selector(children) => {
                if children.iter().any(|c| c.tick(b) == Status::Success) {
                    Status::Success
                } else {
                    Status::Failure
                }
            }
            Self::Sequence(children) => {
                if children.iter().all(|c| c.tick(b) == Status::Success) {
                    Status::Success
                } else {
                    Status::Failure
                }
            }
            Self::Condition(_, test) => {
                if test(b) {
                    Status::Success
                } else {
                    Status::Failure
                }
            }
            Self::Action(_, act) => {
                act(b);
                Status::Success
            }
        }
    }
}

/// The point `distance` from the user towards the companion (where to stand).
fn stand_point(b: &Blackboard, distance: f32) -> Vec3 {
    let user = b.seen.user_head;
    let mut away = b.seen.own_head - user;
    away.y = 0.0;
    let away = away.try_normalize().unwrap_or(Vec3::Z);
    Vec3::new(user.x, b.seen.own_head.y, user.z) + away * distance
}

/// The controller: the tree plus what persists between ticks.
pub struct Controller {
    tree: Node,
    gaze_held_s: f32,
    /// 0 = far, 1 = close, 2 = too close, as of the last tick.
    zone: u8,
    previous: Activity,
}

impl Default for Controller {
    fn default() -> Self {
        Self { tree: Self::default_tree(), gaze_held_s: 0.0, zone: 0, previous: Activity::Idle }
    }
}

impl Controller {
    /// The companion's tree (see the module docs).
    #[must_use]
    pub fn default_tree() -> Node {
        use Node::{Action, Condition, Selector, Sequence};
        Selector(vec![
            Sequence(vec![
                Condition("user waved", |b| b.user_gesture == Some(UserGesture::Wave)),
                Action("wave back", |b| {
                    b.decision.activity = Activity::WaveBack;
                    b.decision.gesture = Some(OwnGesture::Wave);
                }),
            ]),
            Sequence(vec![
                Condition("hand offered within reach", |b| {
                    b.user_gesture == Some(UserGesture::OfferedHand) && b.seen.distance_m <= REACH_M
                }),
                Action("take the hand", |b| {
                    b.decision.activity = Activity::TakeHand;
                    b.decision.gesture = Some(OwnGesture::TakeHand);
                }),
            ]),
            Sequence(vec![
                Condition("asked to follow", |b| b.follow),
                Action("follow", |b| {
                    b.decision.activity = Activity::Follow;
                    if (b.seen.distance_m - FOLLOW_M).abs() > 0.2 {
                        b.decision.walk_to = Some(stand_point(b, FOLLOW_M));
                    }
                }),
            ]),
            Sequence(vec![
                Condition("user too close", |b| {
                    b.seen.distance_m < TOO_CLOSE_M
                        || (b.previous == Activity::KeepDistance && b.seen.distance_m < COMFORT_M - ARRIVED_M)
                }),
                Action("step back", |b| {
                    b.decision.activity = Activity::KeepDistance;
                    b.decision.walk_to = Some(stand_point(b, COMFORT_M));
                }),
            ]),
            Sequence(vec![
                Condition("user far", |b| {
                    b.seen.distance_m > APPROACH_FROM_M
                        || (b.previous == Activity::Approach && b.seen.distance_m > COMFORT_M + ARRIVED_M)
                }),
                Action("approach", |b| {
                    b.decision.activity = Activity::Approach;
                    b.decision.walk_to = Some(stand_point(b, COMFORT_M));
                }),
            ]),
            Sequence(vec![
                Condition("talking or eye contact", |b| b.speaking || b.gaze_held_s >= EYE_CONTACT_S),
                Action("converse", |b| b.decision.activity = Activity::Converse),
            ]),
            Action("idle", |b| b.decision.activity = Activity::Idle),
        ])
    }

    /// One tick: `dt` seconds since the last, the two head poses, a gesture the user made,
    /// whether anyone speaks, whether the user asked to be followed.
    pub fn tick(
        &mut self,
        dt: f32,
        user_head: &Pose,
        own_head: &Pose,
        user_gesture: Option<UserGesture>,
        speaking: bool,
        follow: bool,
    ) -> Decision {
        let seen = Perception::of(user_head, own_head);
        let dt = if dt.is_finite() { dt.max(0.0) } else { 0.0 };
        let mut felt = Vec::new();
        let was_held = self.gaze_held_s >= EYE_CONTACT_S;
        self.gaze_held_s = if seen.gazed_at { self.gaze_held_s + dt } else { 0.0 };
        if !was_held && self.gaze_held_s >= EYE_CONTACT_S {
            felt.push(Stimulus::GazeHeld { seconds: self.gaze_held_s });
        }
        // Felt once on entering a nearer zone, not on every tick spent in it.
        let zone = u8::from(seen.distance_m < CLOSE_M) + u8::from(seen.distance_m < TOO_CLOSE_M);
        if zone > self.zone {
            felt.push(Stimulus::Proximity { distance_m: seen.distance_m });
        }
        self.zone = zone;
        if let Some(gesture) = user_gesture {
            felt.push(Stimulus::Gesture { gesture });
        }
        let mut board = Blackboard {
            seen,
            user_gesture,
            speaking,
            follow,
            gaze_held_s: self.gaze_held_s,
            previous: self.previous,
            decision: Decision {
                activity: Activity::Idle,
                walk_to: None,
                look_at: seen.user_head,
                gesture: None,
                felt,
            },
        };
        self.tree.tick(&mut board);
        self.previous = board.decision.activity;
        board.decision
    }
}

#[cfg(test)]
mod tests {
    use glam::Quat;

    use super::*;

    /// A head at `(x, 1.6, z)` looking at `target`.
    fn head(x: f32, z: f32, target: Vec3) -> Pose {
        let position = Vec3::new(x, 1.6, z);
        let dir = (target - position).normalize();
        Pose { position, rotation: Quat::from_rotation_arc(Vec3::NEG_Z, dir) }
    }

    fn companion() -> Pose {
        Pose { position: Vec3::new(0.0, 1.6, 0.0), rotation: Quat::IDENTITY }
    }

    #[test]
    fn gaze_is_detected_within_the_cone_only() {
        let me = companion();
        let looking = head(0.0, -2.0, me.position);
        assert!(Perception::of(&looking, &me).gazed_at);
        let aside = head(0.0, -2.0, Vec3::new(1.0, 1.6, 0.0)); // ~26° off
        assert!(!Perception::of(&aside, &me).gazed_at);
        assert!((Perception::of(&looking, &me).distance_m - 2.0).abs() < 1e-5);
    }

    #[test]
    fn a_far_user_is_approached_to_conversation_distance_and_a_close_one_stepped_back_from() {
        let me = companion();
        let mut c = Controller::default();
        let far = head(0.0, -4.0, me.position);
        let d = c.tick(0.1, &far, &me, None, false, false);
        assert_eq!(d.activity, Activity::Approach);
        let target = d.walk_to.expect("walks");
        assert!((Vec3::new(target.x, 0.0, target.z).distance(Vec3::new(0.0, 0.0, -4.0)) - COMFORT_M).abs() < 1e-4);
        assert_eq!(d.look_at, far.position);

        let near = head(0.0, -0.3, me.position);
        let d = c.tick(0.1, &near, &me, None, false, false);
        assert_eq!(d.activity, Activity::KeepDistance);
        let target = d.walk_to.expect("steps back");
        assert!(target.z > 0.5, "away from the user: {target}");
        let proximity = |d: &Decision| d.felt.iter().filter(|s| matches!(s, Stimulus::Proximity { .. })).count();
        assert!(d.felt.iter().any(|s| matches!(s, Stimulus::Proximity { distance_m } if *distance_m < TOO_CLOSE_M)));
        assert_eq!(proximity(&d), 1, "entering intimate space is felt once: {:?}", d.felt);
        let still_near = c.tick(0.1, &near, &me, None, false, false);
        assert_eq!(proximity(&still_near), 0, "staying there is not felt again");
    }

    #[test]
    fn a_walk_once_started_goes_on_to_its_end() {
        let me = companion();
        let mut c = Controller::default();
        // Started beyond APPROACH_FROM_M, the walk goes on inside it, to conversation distance.
        assert_eq!(c.tick(0.1, &head(0.0, -3.0, me.position), &me, None, false, false).activity, Activity::Approach);
        let midway = head(0.0, -2.0, me.position);
        assert_eq!(c.tick(0.1, &midway, &me, None, false, false).activity, Activity::Approach);
        let arrived = head(0.0, -(COMFORT_M + ARRIVED_M / 2.0), me.position);
        assert_ne!(c.tick(0.1, &arrived, &me, None, false, false).activity, Activity::Approach);
        // A user who walks up to 2 m starts no walk.
        let mut fresh = Controller::default();
        assert_eq!(fresh.tick(0.1, &midway, &me, None, false, false).activity, Activity::Idle);
        // Stepping back goes on to conversation distance too.
        assert_eq!(
            c.tick(0.1, &head(0.0, -0.3, me.position), &me, None, false, false).activity,
            Activity::KeepDistance
        );
        let backing = head(0.0, -0.7, me.position);
        assert_eq!(c.tick(0.1, &backing, &me, None, false, false).activity, Activity::KeepDistance);
        let done = head(0.0, -(COMFORT_M - ARRIVED_M / 2.0), me.position);
        assert_ne!(c.tick(0.1, &done, &me, None, false, false).activity, Activity::KeepDistance);
    }

    #[test]
    fn gestures_are_answered_and_eye_contact_leads_to_conversation() {
        let me = companion();
        let mut c = Controller::default();
        let user = head(0.0, -1.0, me.position);
        let d = c.tick(0.1, &user, &me, Some(UserGesture::Wave), false, false);
        assert_eq!((d.activity, d.gesture), (Activity::WaveBack, Some(OwnGesture::Wave)));
        assert!(d.felt.contains(&Stimulus::Gesture { gesture: UserGesture::Wave }));

        let offering = head(0.0, -0.7, me.position);
        let d = c.tick(0.1, &offering, &me, Some(UserGesture::OfferedHand), false, false);
        assert_eq!((d.activity, d.gesture), (Activity::TakeHand, Some(OwnGesture::TakeHand)));
        let out_of_reach = c.tick(0.1, &user, &me, Some(UserGesture::OfferedHand), false, false);
        assert_ne!(out_of_reach.activity, Activity::TakeHand, "a hand 1 m away is not taken");

        let mut c = Controller::default();
        let mut felt_gaze = 0;
        let mut activities = Vec::new();
        for _ in 0..15 {
            let d = c.tick(0.1, &user, &me, None, false, false);
            felt_gaze += d.felt.iter().filter(|s| matches!(s, Stimulus::GazeHeld { .. })).count();
            activities.push(d.activity);
        }
        assert_eq!(activities[0], Activity::Idle);
        assert_eq!(*activities.last().expect("ticks"), Activity::Converse, "{activities:?}");
        assert_eq!(felt_gaze, 1, "eye contact is felt once, when it starts");
        let away = head(0.0, -1.0, Vec3::new(3.0, 1.6, 0.0));
        assert_eq!(c.tick(0.1, &away, &me, None, false, false).activity, Activity::Idle);
        assert_eq!(c.tick(0.1, &away, &me, None, true, false).activity, Activity::Converse, "talking is conversing");
    }

    #[test]
    fn following_keeps_its_distance_as_the_user_walks() {
        let mut me = companion();
        let mut c = Controller::default();
        for step in 0..40 {
            let user = head(0.0, -1.2 - step as f32 * 0.1, me.position);
            let d = c.tick(0.1, &user, &me, None, false, true);
            assert_eq!(d.activity, Activity::Follow);
            if let Some(target) = d.walk_to {
                me.position = target; // a perfect walker
            }
            let gap = Perception::of(&user, &me).distance_m;
            assert!((gap - FOLLOW_M).abs() <= 0.21, "step {step}: {gap}");
        }
        assert!(me.position.z < -3.0, "it came along: {}", me.position);
    }
}
