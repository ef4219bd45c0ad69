//! Analytic two-bone IK (shoulder–elbow–wrist, hip–knee–ankle) and aiming a bone by a
//! direction and a bend-plane normal.

use glam::{Mat3, Quat, Vec3};

/// A solved two-bone chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoBone {
    /// The middle joint (elbow, knee).
    pub mid: Vec3,
    /// The end joint (wrist, ankle): the target when it is reachable, otherwise the
    /// nearest point to it that the chain can reach along the line from the root.
    pub end: Vec3,
    /// Unit normal of the bend plane (`(end − root) × (mid − line)`), the hinge axis.
    pub hinge: Vec3,
    /// Whether the target was within reach.
    pub reached: bool,
}

/// Solves the chain `root → mid → end` with bone lengths `upper` and `lower` (both > 0)
/// so the end lands on `target`, bending the middle joint towards `hint`.
///
/// A target farther than `upper + lower` leaves the chain straight and pointing at it;
/// one closer than `|upper − lower|` folds the chain fully along the line to it. A `hint`
/// on the root–target line bends towards `fallback_bend` instead.
#[must_use]
pub fn solve(root: Vec3, upper: f32, lower: f32, target: Vec3, hint: Vec3, fallback_bend: Vec3) -> TwoBone {
    let to_target = target - root;
    let distance = to_target.length();
    let dir = to_target.try_normalize().unwrap_or_else(|| (hint - root).try_normalize().unwrap_or(Vec3::NEG_Y));
    let max = upper + lower;
    let min = (upper - lower).abs();
    // Full extension is kept a hair short so the elbow's bend direction stays defined; the
    // error it leaves (1e-6 of the reach) is far below a millimetre.
    let reach = distance.clamp(min.max(max * 1e-4), max * (1.0 - 1e-6));
    let reached = distance >= min && distance <= max;

    let bend = perpendicular(hint - root, dir)
        .or_else(|| perpendicular(fallback_bend, dir))
        .unwrap_or_else(|| dir.any_orthonormal_vector());
    let cos = ((upper * upper + reach * reach - lower * lower) / (2.0 * upper * reach)).clamp(-1.0, 1.0);
    let sin = (1.0 - cos * cos).max(0.0).sqrt();
    let mid = root + upper * (cos * dir + sin * bend);
    let end = root + dir * reach;
    TwoBone { mid, end, hinge: dir.cross(bend).normalize_or_zero(), reached }
}

/// The part of `v` perpendicular to the unit vector `axis`, normalised; `None` when `v`
/// is (nearly) parallel to it.
#[must_use]
pub fn perpendicular(v: Vec3, axis: Vec3) -> Option<Vec3> {
    (v - axis * v.dot(axis)).try_normalize()
}

/// The rotation that takes a bone whose rest direction is `rest_dir` and rest bend-plane
/// normal is `rest_normal` to direction `dir` with normal `normal`. The normals need not
/// be exactly perpendicular to the directions (they are orthogonalised); when a normal is
/// parallel to its direction, the shortest-arc rotation is used instead.
#[must_use]
pub fn aim(rest_dir: Vec3, rest_normal: Vec3, dir: Vec3, normal: Vec3) -> Quat {
    let (Some(from), Some(to)) = (frame(rest_dir, rest_normal), frame(dir, normal)) else {
        return match (rest_dir.try_normalize(), dir.try_normalize()) {
            (Some(a), Some(b)) => Quat::from_rotation_arc(a, b),
            _ => Quat::IDENTITY,
        };
    };
    Quat::from_mat3(&(to * from.transpose())).normalize()
}

/// An orthonormal frame with `dir` as its first column and the part of `normal`
/// perpendicular to it as its second.
fn frame(dir: Vec3, normal: Vec3) -> Option<Mat3> {
    let x = dir.try_normalize()?;
    let y = perpendicular(normal, x)?;
    Some(Mat3::from_cols(x, y, x.cross(y)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_target_is_met_and_lengths_kept() {
        let root = Vec3::new(0.2, 1.4, 0.0);
        let target = Vec3::new(0.5, 1.1, 0.3);
        let chain = solve(root, 0.3, 0.25, target, root + Vec3::new(0.0, -1.0, -1.0), Vec3::NEG_Y);
        assert!(chain.reached);
        assert!((chain.end - target).length() < 1e-3);
        assert!(((chain.mid - root).length() - 0.3).abs() < 1e-4);
        assert!(((chain.end - chain.mid).length() - 0.25).abs() < 1e-4);
        // The elbow bends towards the hint (down and back).
        assert!(chain.mid.y < (root.y + target.y) / 2.0);
    }

    #[test]
    fn unreachable_target_is_approached_along_the_line() {
        let root = Vec3::ZERO;
        let target = Vec3::new(2.0, 0.0, 0.0);
        let chain = solve(root, 0.3, 0.25, target, Vec3::NEG_Y, Vec3::NEG_Y);
        assert!(!chain.reached);
        assert!((chain.end - Vec3::new(0.55, 0.0, 0.0)).length() < 1e-3);
    }

    #[test]
    fn aim_maps_frames() {
        let q = aim(Vec3::X, Vec3::Y, Vec3::NEG_Z, Vec3::Y);
        assert!((q * Vec3::X - Vec3::NEG_Z).length() < 1e-5);
        assert!((q * Vec3::Y - Vec3::Y).length() < 1e-5);
        let parallel = aim(Vec3::X, Vec3::X, Vec3::Y, Vec3::Y);
        assert!((parallel * Vec3::X - Vec3::Y).length() < 1e-5);
        assert!(q.is_normalized() && parallel.is_normalized());
    }
}
