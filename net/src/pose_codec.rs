//! Avatar-state compression for the real-time plane.
//!
//! 1. **Quantise** ([`QuantizedAvatar::from_state`]): positions to 1 mm relative to the
//!    room origin (±32.7 m in 16 bits per axis); rotations as *smallest three* — the
//!    largest quaternion component is dropped (its index in 2 bits, its sign made
//!    positive) and the other three, each within ±1/√2, take 10 bits: 32 bits per
//!    rotation, at most ~0.2° off; finger curls (see [`crate::hand`]) and the 52
//!    blend-shape weights to 8 bits each.
//! 2. **Encode** ([`encode`]) against an optional *baseline* — the last state the receiver
//!    acknowledged. Every group (head position, head rotation, each tracked part, each
//!    hand's curls, the face) costs one "changed" bit when unchanged; a changed group
//!    sends zigzagged differences in the narrowest of four widths that holds them — all
//!    of them, or only the non-zero ones behind a changed-bit mask, whichever is shorter. With
//!    no baseline, or for a group the baseline lacked, the group goes whole.
//!
//! Decoding is exact: `decode(encode(q, b), b) == q` for every `q` and `b` (property
//! tested), so sender and receiver hold bit-identical baselines.

use glam::{Quat, Vec3};

use crate::bits::{BitReader, BitWriter, unzigzag, zigzag};
use crate::error::DecodeError;
use crate::hand::{FLEX_RANGE, FingerCurl, HandCurls, SPLAY_RANGE};
use crate::state::{AvatarState, BLEND_SHAPES, Pose};

/// Metres per position step.
pub const POSITION_STEP: f32 = 0.001;
/// Bits per smallest-three component.
const QUAT_BITS: u32 = 10;
const QUAT_MAX: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// Curl values per hand: five fingers × (splay, three flexions).
pub const CURL_VALUES: usize = 20;

/// A pose on the wire grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantizedPose {
    /// Millimetres as wrapping 16-bit integers.
    pub position: [u16; 3],
    /// Smallest-three rotation: dropped index and three 10-bit components.
    pub rotation: QuantizedQuat,
}

/// A unit quaternion on the smallest-three grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuantizedQuat {
    /// Index (0–3, x y z w) of the dropped, largest component.
    pub largest: u8,
    /// The other three components, each in 0..1024.
    pub rest: [u16; 3],
}

/// One avatar's state on the wire grid. Equality is exact, which is what baselines need.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuantizedAvatar {
    /// The headset.
    pub head: QuantizedPose,
    /// Indexed by [`crate::state::TrackedPart`].
    pub parts: [Option<QuantizedPose>; 5],
    /// Left, right: splay and three flexions per finger, thumb first.
    pub fingers: [Option<[u8; CURL_VALUES]>; 2],
    /// ARKit weights × 255.
    pub face: Option<[u8; BLEND_SHAPES]>,
}

fn quantize_unit(v: f32, lo: f32, hi: f32, steps: u32) -> u32 {
    let v = if v.is_finite() { v.clamp(lo, hi) } else { 0.0f32.clamp(lo, hi) };
    (((v - lo) / (hi - lo)) * steps as f32).round() as u32
}

fn dequantize_unit(q: u32, lo: f32, hi: f32, steps: u32) -> f32 {
    lo + (q.min(steps) as f32 / steps as f32) * (hi - lo)
}

impl QuantizedQuat {
    /// Smallest-three of `q` (normalised first; a non-finite or zero quaternion becomes
    /// the identity).
    #[must_use]
    pub fn from_quat(q: Quat) -> Self {
        let q = if q.is_finite() && q.length_squared() > 1e-12 { q.normalize() } else { Quat::IDENTITY };
        let c = q.to_array();
        let mut largest = 0;
        for i in 1..4 {
            if c[i].abs() > c[largest].abs() {
                largest = i;
            }
        }
        let sign = if c[largest] < 0.0 { -1.0 } else { 1.0 };
        let steps = (1u32 << QUAT_BITS) - 1;
        let mut rest = [0u16; 3];
        let mut k = 0;
        for (i, &v) in c.iter().enumerate() {
            if i != largest {
                rest[k] = quantize_unit(v * sign, -QUAT_MAX, QUAT_MAX, steps) as u16;
                k += 1;
            }
        }
        Self { largest: largest as u8, rest }
    }

    /// The unit quaternion this grid point stands for.
    #[must_use]
    pub fn to_quat(self) -> Quat {
        let steps = (1u32 << QUAT_BITS) - 1;
        let rest = self.rest.map(|r| dequantize_unit(u32::from(r), -QUAT_MAX, QUAT_MAX, steps));
        let sum: f32 = rest.iter().map(|v| v * v).sum();
        let largest = (1.0 - sum).max(0.0).sqrt();
        let mut c = [0.0f32; 4];
        let mut k = 0;
        for (i, slot) in c.iter_mut().enumerate() {
            if i == usize::from(self.largest & 3) {
                *slot = largest;
            } else {
                *slot = rest[k];
                k += 1;
            }
        }
        Quat::from_array(c).normalize()
    }
}

impl QuantizedPose {
    /// `pose` on the grid (positions outside ±32.7 m are clamped; NaN becomes 0).
    #[must_use]
    pub fn from_pose(pose: Pose) -> Self {
        let mm = |v: f32| {
            let v = if v.is_finite() { v } else { 0.0 };
            ((v / POSITION_STEP).round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16) as u16
        };
        Self { position: pose.position.to_array().map(mm), rotation: QuantizedQuat::from_quat(pose.rotation) }
    }

    /// The pose this grid point stands for.
    #[must_use]
    pub fn to_pose(self) -> Pose {
        let p = self.position.map(|v| f32::from(v as i16) * POSITION_STEP);
        Pose::new(Vec3::from_array(p), self.rotation.to_quat())
    }
}

fn curls_to_bytes(curls: &HandCurls) -> [u8; CURL_VALUES] {
    let mut out = [0u8; CURL_VALUES];
    for (f, finger) in curls.fingers.iter().enumerate() {
        out[f * 4] = quantize_unit(finger.splay, *SPLAY_RANGE.start(), *SPLAY_RANGE.end(), 255) as u8;
        for j in 0..3 {
            out[f * 4 + 1 + j] = quantize_unit(finger.flex[j], *FLEX_RANGE.start(), *FLEX_RANGE.end(), 255) as u8;
        }
    }
    out
}

fn bytes_to_curls(bytes: &[u8; CURL_VALUES]) -> HandCurls {
    let mut curls = HandCurls::OPEN;
    for (f, finger) in curls.fingers.iter_mut().enumerate() {
        *finger = FingerCurl {
            splay: dequantize_unit(u32::from(bytes[f * 4]), *SPLAY_RANGE.start(), *SPLAY_RANGE.end(), 255),
            flex: std::array::from_fn(|j| {
                dequantize_unit(u32::from(bytes[f * 4 + 1 + j]), *FLEX_RANGE.start(), *FLEX_RANGE.end(), 255)
            }),
        };
    }
    curls
}

impl QuantizedAvatar {
    /// `state` on the wire grid.
    #[must_use]
    pub fn from_state(state: &AvatarState) -> Self {
        Self {
            head: QuantizedPose::from_pose(state.head),
            parts: state.parts.map(|p| p.map(QuantizedPose::from_pose)),
            fingers: state.fingers.map(|c| c.map(|c| curls_to_bytes(&c))),
            face: state.face.map(|w| w.map(|v| quantize_unit(v, 0.0, 1.0, 255) as u8)),
        }
    }

    /// The state this grid point stands for.
    #[must_use]
    pub fn to_state(&self) -> AvatarState {
        AvatarState {
            head: self.head.to_pose(),
            parts: self.parts.map(|p| p.map(QuantizedPose::to_pose)),
            fingers: self.fingers.map(|c| c.map(|c| bytes_to_curls(&c))),
            face: self.face.map(|w| w.map(|v| f32::from(v) / 255.0)),
        }
    }
}

/// Widths a delta group can use; the 2-bit class picks one.
const DELTA_WIDTHS: [u32; 4] = [3, 6, 10, 16];

/// Write a group of integer fields (each `bits` wide, compared modulo 2^bits) as a delta
/// against `base`: a 2-bit width class, then either every zigzagged difference (dense) or
/// a changed-bit per field and only the non-zero differences (sparse) — one bit says which,
/// and the encoder picks the shorter.
fn write_delta(w: &mut BitWriter, values: &[u32], base: &[u32], bits: u32) {
    let half = 1i64 << (bits - 1);
    let modulus = 1i64 << bits;
    let diffs: Vec<u32> = values
        .iter()
        .zip(base)
        .map(|(&v, &b)| {
            // Shortest wrapped difference in [−2^(bits−1), 2^(bits−1)), whose zigzag
            // code fits in `bits` bits.
            let mut d = (i64::from(v) - i64::from(b)).rem_euclid(modulus);
            if d >= half {
                d -= modulus;
            }
            zigzag(d as i32)
        })
        .collect();
    let widest = diffs.iter().copied().max().unwrap_or(0);
    let class = DELTA_WIDTHS.iter().position(|&wd| widest < (1u32 << wd)).unwrap_or(3);
    let width = DELTA_WIDTHS[class] as usize;
    let changed = diffs.iter().filter(|&&d| d != 0).count();
    let sparse = diffs.len() + changed * width < diffs.len() * width;
    w.bit(sparse);
    w.write(class as u32, 2);
    for d in diffs {
        if sparse {
            w.bit(d != 0);
            if d != 0 {
                w.write(d, DELTA_WIDTHS[class]);
            }
        } else {
            w.write(d, DELTA_WIDTHS[class]);
        }
    }
}

fn read_delta(r: &mut BitReader<'_>, base: &[u32], bits: u32, out: &mut [u32]) -> Result<(), DecodeError> {
    let sparse = r.bit()?;
    let class = r.read(2)? as usize;
    let modulus = 1i64 << bits;
    for (slot, &b) in out.iter_mut().zip(base) {
        let code = if !sparse || r.bit()? { r.read(DELTA_WIDTHS[class])? } else { 0 };
        let d = unzigzag(code);
        *slot = (i64::from(b) + i64::from(d)).rem_euclid(modulus) as u32;
    }
    Ok(())
}

fn write_pose(w: &mut BitWriter, pose: &QuantizedPose, base: Option<&QuantizedPose>) {
    match base {
        None => {
            for p in pose.position {
                w.write(u32::from(p), 16);
            }
            write_quat_full(w, pose.rotation);
        }
        Some(base) => {
            let moved = pose.position != base.position;
            w.bit(moved);
            if moved {
                write_delta(w, &pose.position.map(u32::from), &base.position.map(u32::from), 16);
            }
            let turned = pose.rotation != base.rotation;
            w.bit(turned);
            if turned {
                let same_axis = pose.rotation.largest == base.rotation.largest;
                w.bit(same_axis);
                if same_axis {
                    write_delta(w, &pose.rotation.rest.map(u32::from), &base.rotation.rest.map(u32::from), QUAT_BITS);
                } else {
                    write_quat_full(w, pose.rotation);
                }
            }
        }
    }
}

fn write_quat_full(w: &mut BitWriter, q: QuantizedQuat) {
    w.write(u32::from(q.largest), 2);
    for c in q.rest {
        w.write(u32::from(c), QUAT_BITS);
    }
}

fn read_quat_full(r: &mut BitReader<'_>) -> Result<QuantizedQuat, DecodeError> {
    let largest = r.read(2)? as u8;
    let mut rest = [0u16; 3];
    for c in &mut rest {
        *c = r.read(QUAT_BITS)? as u16;
    }
    Ok(QuantizedQuat { largest, rest })
}

fn read_pose(r: &mut BitReader<'_>, base: Option<&QuantizedPose>) -> Result<QuantizedPose, DecodeError> {
    match base {
        None => {
            let mut position = [0u16; 3];
            for p in &mut position {
                *p = r.read(16)? as u16;
            }
            Ok(QuantizedPose { position, rotation: read_quat_full(r)? })
        }
        Some(base) => {
            let mut pose = *base;
            if r.bit()? {
                let mut out = [0u32; 3];
                read_delta(r, &base.position.map(u32::from), 16, &mut out)?;
                pose.position = out.map(|v| v as u16);
            }
            if r.bit()? {
                if r.bit()? {
                    let mut out = [0u32; 3];
                    read_delta(r, &base.rotation.rest.map(u32::from), QUAT_BITS, &mut out)?;
                    pose.rotation.rest = out.map(|v| v as u16);
                } else {
                    pose.rotation = read_quat_full(r)?;
                }
            }
            Ok(pose)
        }
    }
}

fn write_bytes_group<const N: usize>(w: &mut BitWriter, values: &[u8; N], base: Option<&[u8; N]>) {
    match base {
        None => values.iter().for_each(|&v| w.write(u32::from(v), 8)),
        Some(base) => {
            let changed = values != base;
            w.bit(changed);
            if changed {
                write_delta(w, &values.map(u32::from), &base.map(u32::from), 8);
            }
        }
    }
}

fn read_bytes_group<const N: usize>(r: &mut BitReader<'_>, base: Option<&[u8; N]>) -> Result<[u8; N], DecodeError> {
    match base {
        None => {
            let mut out = [0u8; N];
            for v in &mut out {
                *v = r.read(8)? as u8;
            }
            Ok(out)
        }
        Some(base) => {
            if !r.bit()? {
                return Ok(*base);
            }
            let mut out = [0u32; N];
            read_delta(r, &base.map(u32::from), 8, &mut out)?;
            Ok(out.map(|v| v as u8))
        }
    }
}

/// Write `avatar`, as a delta against `baseline` when given.
pub fn encode(w: &mut BitWriter, avatar: &QuantizedAvatar, baseline: Option<&QuantizedAvatar>) {
    write_pose(w, &avatar.head, baseline.map(|b| &b.head));
    for (i, part) in avatar.parts.iter().enumerate() {
        w.bit(part.is_some());
        if let Some(part) = part {
            write_pose(w, part, baseline.and_then(|b| b.parts[i].as_ref()));
        }
    }
    for (i, curls) in avatar.fingers.iter().enumerate() {
        w.bit(curls.is_some());
        if let Some(curls) = curls {
            write_bytes_group(w, curls, baseline.and_then(|b| b.fingers[i].as_ref()));
        }
    }
    w.bit(avatar.face.is_some());
    if let Some(face) = &avatar.face {
        write_bytes_group(w, face, baseline.and_then(|b| b.face.as_ref()));
    }
}

/// Read what [`encode`] wrote with the same `baseline`.
pub fn decode(r: &mut BitReader<'_>, baseline: Option<&QuantizedAvatar>) -> Result<QuantizedAvatar, DecodeError> {
    let head = read_pose(r, baseline.map(|b| &b.head))?;
    let mut parts = [None; 5];
    for (i, slot) in parts.iter_mut().enumerate() {
        if r.bit()? {
            *slot = Some(read_pose(r, baseline.and_then(|b| b.parts[i].as_ref()))?);
        }
    }
    let mut fingers = [None; 2];
    for (i, slot) in fingers.iter_mut().enumerate() {
        if r.bit()? {
            *slot = Some(read_bytes_group(r, baseline.and_then(|b| b.fingers[i].as_ref()))?);
        }
    }
    let face = if r.bit()? { Some(read_bytes_group(r, baseline.and_then(|b| b.face.as_ref()))?) } else { None };
    Ok(QuantizedAvatar { head, parts, fingers, face })
}

/// Bytes [`encode`] takes for `avatar` against `baseline` (rounded up to whole bytes).
#[must_use]
pub fn encoded_len(avatar: &QuantizedAvatar, baseline: Option<&QuantizedAvatar>) -> usize {
    let mut w = BitWriter::new();
    encode(&mut w, avatar, baseline);
    w.bit_len().div_ceil(8)
}
