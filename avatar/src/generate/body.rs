//! The generated avatar's body as signed-distance parts placed on the rest skeleton: each
//! part belongs to a bone (for skin weights) and a surface region (for its colour).

use glam::{Mat3, Vec3};

use super::sdf::{Shape, smooth_min, smooth_subtract};
use super::{Appearance, Presentation};
use crate::pose::Pose;
use crate::skeleton::{HumanBone, Side, Skeleton, finger_chain};

/// What a part of the surface is made of (sets its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// Bare skin.
    Skin,
    /// Lips.
    Lips,
    /// Inside of the mouth.
    Mouth,
    /// Scalp hair.
    Hair,
    /// Eyebrows.
    Brows,
    /// Shirt.
    Top,
    /// Trousers.
    Bottom,
    /// Shoes.
    Shoes,
}

/// One modelling primitive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    /// Its shape in model space (T-pose).
    pub shape: Shape,
    /// The bone that moves it.
    pub bone: HumanBone,
    /// Its surface region.
    pub region: Region,
    /// Blend radius with the parts before it (metres).
    pub blend: f32,
    /// A shape cut out of this part only (the face out of the hair).
    pub cut: Option<Shape>,
}

impl Part {
    /// Signed distance to this part, its cut applied.
    #[must_use]
    pub fn distance(&self, p: Vec3) -> f32 {
        let d = self.shape.distance(p);
        self.cut.map_or(d, |cut| d.max(-cut.distance(p)))
    }
}

/// A set of parts meshed together into one surface, with the shapes carved out of it.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// Added parts, smoothly unioned.
    pub parts: Vec<Part>,
    /// Carved shapes (eye sockets, the mouth), with their blend radius.
    pub carve: Vec<(Shape, f32)>,
}

impl Body {
    /// The signed distance of the surface at `p`; parts whose bounds are farther than
    /// their blend radius from `p` cannot change the union and are skipped.
    #[must_use]
    pub fn distance(&self, p: Vec3) -> f32 {
        let mut d = f32::INFINITY;
        for part in &self.parts {
            let (lo, hi) = part.shape.bounds();
            let outside = (lo - p).max(p - hi).max(Vec3::ZERO).length();
            if outside > d + part.blend {
                continue;
            }
            d = smooth_min(d, part.distance(p), part.blend);
        }
        for (shape, blend) in &self.carve {
            d = smooth_subtract(d, shape.distance(p), *blend);
        }
        d
    }

    /// The part nearest to `p` (the one whose region colours it).
    #[must_use]
    pub fn nearest(&self, p: Vec3) -> Option<&Part> {
        self.parts.iter().min_by(|a, b| a.distance(p).total_cmp(&b.distance(p)))
    }

    /// A box containing every part, grown by `margin`.
    #[must_use]
    pub fn bounds(&self, margin: f32) -> (Vec3, Vec3) {
        let (mut lo, mut hi) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
        for part in &self.parts {
            let (a, b) = part.shape.bounds();
            lo = lo.min(a);
            hi = hi.max(b);
        }
        (lo - Vec3::splat(margin), hi + Vec3::splat(margin))
    }
}

/// The three bodies the avatar is meshed from, each at its own resolution: torso and
/// limbs, the head (face detail), and the two hands (fingers).
#[derive(Debug, Clone)]
pub struct Bodies {
    /// Torso, arms to the wrists, legs, shoes, the lower neck.
    pub body: Body,
    /// Head, face, hair, upper neck.
    pub head: Body,
    /// Both hands from the wrists.
    pub hands: Body,
}

/// The rest-pose joint positions of `skeleton`.
#[must_use]
pub fn joints(skeleton: &Skeleton) -> Vec<Vec3> {
    skeleton.rest(&Pose::IDENTITY).iter().map(|p| p.position).collect()
}

/// Builds the avatar's parts.
#[must_use]
pub fn build(skeleton: &Skeleton, look: &Appearance) -> Bodies {
    let j = joints(skeleton);
    let at = |bone: HumanBone| j[bone.index()];
    let h = skeleton.proportions.height;
    let feminine = look.presentation == Presentation::Feminine;
    let masculine = look.presentation == Presentation::Masculine;
    let (hip_extra, shoulder_extra) = match look.presentation {
        Presentation::Feminine => (0.012 * h, -0.006 * h),
        Presentation::Masculine => (-0.004 * h, 0.01 * h),
        Presentation::Androgynous => (0.004 * h, 0.0),
    };
    let part =
        |shape: Shape, bone: HumanBone, region: Region, blend: f32| Part { shape, bone, region, blend, cut: None };
    let ell = |c: Vec3, r: Vec3| Shape::ellipsoid(c, r * h);

    let mut body = Body::default();
    let torso_blend = 0.04 * h;
    let hips = at(HumanBone::Hips);
    body.parts.push(part(
        ell(hips + Vec3::new(0.0, -0.012 * h, -0.004 * h), Vec3::new(0.088 + hip_extra / h, 0.063, 0.06)),
        HumanBone::Hips,
        Region::Bottom,
        0.0,
    ));
    body.parts.push(part(
        ell(at(HumanBone::Spine) + Vec3::new(0.0, 0.03 * h, 0.004 * h), Vec3::new(0.083, 0.07, 0.056)),
        HumanBone::Spine,
        Region::Top,
        torso_blend,
    ));
    body.parts.push(part(
        ell(
            at(HumanBone::Chest) + Vec3::new(0.0, 0.045 * h, 0.004 * h),
            Vec3::new(0.092 + shoulder_extra / h, 0.078, 0.06 + if masculine { 0.004 } else { 0.0 }),
        ),
        HumanBone::Chest,
        Region::Top,
        torso_blend,
    ));
    let shoulders =
        Side::BOTH.map(|side| at(side.limbs().upper_arm) + Vec3::new(-side.x() * 0.012 * h, -0.006 * h, 0.0));
    body.parts.push(part(
        Shape::cone(shoulders[0], shoulders[1], 0.034 * h, 0.034 * h),
        HumanBone::UpperChest,
        Region::Top,
        0.03 * h,
    ));
    if feminine {
        for side in Side::BOTH {
            body.parts.push(part(
                Shape::ellipsoid(
                    at(HumanBone::Chest) + Vec3::new(side.x() * 0.038 * h, 0.05 * h, 0.045 * h),
                    Vec3::new(0.03, 0.028, 0.026) * h,
                ),
                HumanBone::Chest,
                Region::Top,
                0.025 * h,
            ));
        }
    }
    let neck = at(HumanBone::Neck);
    body.parts.push(part(
        Shape::cone(neck - Vec3::Y * 0.02 * h, neck + Vec3::Y * 0.045 * h, 0.036 * h, 0.031 * h),
        HumanBone::Neck,
        Region::Skin,
        0.02 * h,
    ));

    for side in Side::BOTH {
        let l = side.limbs();
        let (shoulder, elbow, wrist) = (at(l.upper_arm), at(l.lower_arm), at(l.hand));
        // Short sleeves: the shirt covers the top 45 % of the upper arm.
        let sleeve_end = shoulder.lerp(elbow, 0.45);
        body.parts.push(part(
            Shape::cone(shoulder, sleeve_end, 0.033 * h, 0.029 * h),
            l.upper_arm,
            Region::Top,
            0.03 * h,
        ));
        body.parts.push(part(
            Shape::cone(sleeve_end, elbow, 0.026 * h, 0.022 * h),
            l.upper_arm,
            Region::Skin,
            0.004 * h,
        ));
        body.parts.push(part(
            Shape::cone(elbow, wrist + (wrist - elbow).normalize() * 0.01 * h, 0.021 * h, 0.0155 * h),
            l.lower_arm,
            Region::Skin,
            0.015 * h,
        ));
        let (hip, knee, ankle) = (at(l.upper_leg), at(l.lower_leg), at(l.foot));
        let thigh = if feminine { 0.049 } else { 0.046 };
        body.parts.push(part(Shape::cone(hip, knee, thigh * h, 0.031 * h), l.upper_leg, Region::Bottom, 0.04 * h));
        body.parts.push(part(
            Shape::cone(knee, ankle + Vec3::Y * 0.02 * h, 0.03 * h, 0.021 * h),
            l.lower_leg,
            Region::Bottom,
            0.015 * h,
        ));
        body.parts.push(part(
            ell(knee.lerp(ankle, 0.3) + Vec3::new(0.0, 0.0, -0.008 * h), Vec3::new(0.027, 0.06, 0.028)),
            l.lower_leg,
            Region::Bottom,
            0.02 * h,
        ));
        let toes = at(l.toes);
        let centre = Vec3::new(ankle.x, 0.021 * h, (ankle.z + toes.z) * 0.5 + 0.012 * h);
        body.parts.push(part(
            Shape::RoundBox {
                centre,
                half: Vec3::new(0.022 * h, 0.013 * h, (toes.z - ankle.z) * 0.5 + 0.03 * h),
                axes: Mat3::IDENTITY,
                radius: 0.007 * h,
            },
            l.foot,
            Region::Shoes,
            0.02 * h,
        ));
    }

    Bodies { body, head: head(skeleton, &j, look), hands: hands(skeleton, &j) }
}

/// The head in model space: skull, face, features, hair and the upper neck.
fn head(skeleton: &Skeleton, j: &[Vec3], look: &Appearance) -> Body {
    let h = skeleton.proportions.height;
    let pivot = j[HumanBone::Head.index()];
    // Positions below are in head space, in units of stature.
    let p = |x: f32, y: f32, z: f32| pivot + Vec3::new(x, y, z) * h;
    let ell = |c: Vec3, r: Vec3| Shape::ellipsoid(c, r * h);
    let part = |shape: Shape, bone: HumanBone, region: Region, blend: f32| Part {
        shape,
        bone,
        region,
        blend: blend * h,
        cut: None,
    };
    let feminine = look.presentation == Presentation::Feminine;
    let jaw = if look.presentation == Presentation::Masculine { 1.08 } else { 1.0 };
    let mut b = Body::default();
    let head = HumanBone::Head;
    b.parts.push(part(ell(p(0.0, 0.083, 0.004), Vec3::new(0.045, 0.05, 0.055)), head, Region::Skin, 0.0));
    b.parts.push(part(ell(p(0.0, 0.036, 0.03), Vec3::new(0.033 * jaw, 0.045, 0.04)), head, Region::Skin, 0.02));
    b.parts.push(part(ell(p(0.0, 0.002, 0.056), Vec3::new(0.016 * jaw, 0.013, 0.013)), head, Region::Skin, 0.012));
    for x in [-1.0_f32, 1.0] {
        b.parts.push(part(ell(p(x * 0.022, 0.05, 0.052), Vec3::new(0.014, 0.013, 0.011)), head, Region::Skin, 0.012));
        b.parts.push(part(ell(p(x * 0.046, 0.06, 0.0), Vec3::new(0.006, 0.018, 0.011)), head, Region::Skin, 0.006));
        // Brow ridge, and the brows on it.
        b.parts.push(part(ell(p(x * 0.019, 0.076, 0.056), Vec3::new(0.015, 0.005, 0.006)), head, Region::Skin, 0.008));
        b.parts.push(part(
            ell(p(x * 0.02, 0.0785, 0.0598), Vec3::new(0.012, 0.0019, 0.0022)),
            head,
            Region::Brows,
            0.002,
        ));
    }
    // Nose: bridge to tip, and the nostril wings.
    b.parts.push(part(
        Shape::cone(p(0.0, 0.066, 0.064), p(0.0, 0.048, 0.078), 0.005 * h, 0.0075 * h),
        head,
        Region::Skin,
        0.008,
    ));
    b.parts.push(part(ell(p(0.0, 0.046, 0.072), Vec3::new(0.011, 0.0055, 0.007)), head, Region::Skin, 0.006));
    // Lips.
    b.parts.push(part(ell(p(0.0, 0.0305, 0.0705), Vec3::new(0.0135, 0.0042, 0.0062)), head, Region::Lips, 0.004));
    b.parts.push(part(ell(p(0.0, 0.0235, 0.069), Vec3::new(0.0125, 0.0048, 0.0062)), head, Region::Lips, 0.004));
    // Upper neck.
    b.parts.push(part(
        Shape::cone(pivot - Vec3::Y * 0.035 * h, p(0.0, 0.03, -0.005), 0.032 * h, 0.03 * h),
        HumanBone::Neck,
        Region::Skin,
        0.02,
    ));
    // Hair: a shell over the skull, cut away from the face; long hair falls behind.
    let face_cut = face_region(skeleton);
    let hair_shells: &[(Vec3, Vec3)] = if feminine {
        &[
            (Vec3::new(0.0, 0.086, -0.002), Vec3::new(0.049, 0.055, 0.059)),
            (Vec3::new(0.0, 0.035, -0.03), Vec3::new(0.05, 0.07, 0.034)),
        ]
    } else {
        &[(Vec3::new(0.0, 0.088, -0.002), Vec3::new(0.0475, 0.0525, 0.0575))]
    };
    for &(c, r) in hair_shells {
        b.parts.push(Part { cut: Some(face_cut), ..part(ell(p(c.x, c.y, c.z), r), head, Region::Hair, 0.006) });
    }
    // Eye sockets (almond openings) and the mouth's line.
    for x in [-1.0_f32, 1.0] {
        let eye = j[if x > 0.0 { HumanBone::LeftEye } else { HumanBone::RightEye }.index()];
        b.carve.push((
            Shape::ellipsoid(eye + Vec3::new(0.0, 0.0, 0.004 * h), Vec3::new(0.0108, 0.0074, 0.009) * h),
            0.002 * h,
        ));
    }
    b.carve.push((mouth_slit(pivot, h), 0.0015 * h));
    b
}

/// The thin horizontal ellipsoid that separates the lips.
#[must_use]
pub fn mouth_slit(pivot: Vec3, h: f32) -> Shape {
    Shape::ellipsoid(pivot + Vec3::new(0.0, 0.027, 0.077) * h, Vec3::new(0.0128, 0.0011, 0.013) * h)
}

/// The region of the face the hair must leave bare, in model space.
#[must_use]
pub fn face_region(skeleton: &Skeleton) -> Shape {
    let h = skeleton.proportions.height;
    let pivot = skeleton.rest(&Pose::IDENTITY)[HumanBone::Head.index()].position;
    Shape::ellipsoid(pivot + Vec3::new(0.0, 0.04, 0.068) * h, Vec3::new(0.05, 0.07, 0.045) * h)
}

/// Both hands: palm and fingers.
fn hands(skeleton: &Skeleton, j: &[Vec3]) -> Body {
    let h = skeleton.proportions.height;
    let mut b = Body::default();
    for side in Side::BOTH {
        let hand = side.limbs().hand;
        let wrist = j[hand.index()];
        let x = side.x();
        b.parts.push(Part {
            shape: Shape::cone(wrist - Vec3::X * x * 0.015 * h, wrist + Vec3::X * x * 0.006 * h, 0.0155 * h, 0.016 * h),
            bone: side.limbs().lower_arm,
            region: Region::Skin,
            blend: 0.0,
            cut: None,
        });
        b.parts.push(Part {
            shape: Shape::RoundBox {
                centre: wrist + Vec3::new(x * 0.025 * h, 0.0, -0.001 * h),
                half: Vec3::new(0.019 * h, 0.0045 * h, 0.019 * h),
                axes: Mat3::IDENTITY,
                radius: 0.005 * h,
            },
            bone: hand,
            region: Region::Skin,
            blend: 0.008 * h,
            cut: None,
        });
        for finger in 0..5 {
            let chain = finger_chain(side, finger);
            let segments = skeleton.proportions.finger_segments(finger);
            let base = j[chain[0].index()];
            let dir = (j[chain[1].index()] - base).normalize_or(Vec3::X * x);
            let tip = j[chain[2].index()] + dir * segments[2];
            let points = [base, j[chain[1].index()], j[chain[2].index()], tip];
            let r = if finger == 0 { [0.0075, 0.0063, 0.0056, 0.0048] } else { [0.0056, 0.005, 0.0045, 0.004] };
            // The thumb's metacarpal is part of the palm's fleshy base.
            let first_blend = if finger == 0 { 0.009 } else { 0.004 };
            for k in 0..3 {
                b.parts.push(Part {
                    shape: Shape::cone(points[k], points[k + 1], r[k] * h, r[k + 1] * h),
                    bone: chain[k],
                    region: Region::Skin,
                    blend: if k == 0 { first_blend * h } else { 0.002 * h },
                    cut: None,
                });
            }
        }
    }
    b
}
