//! Signed distance primitives the generated avatar is modelled with, and their smooth
//! blends (Quílez's polynomial smooth minimum).

use glam::{Mat3, Vec3};

/// A signed distance shape: negative inside, in metres (exactly, or a close bound).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// A cone with rounded ends between `a` (radius `ra`) and `b` (radius `rb`): limbs.
    RoundCone {
        /// Start point.
        a: Vec3,
        /// End point.
        b: Vec3,
        /// Radius at `a`.
        ra: f32,
        /// Radius at `b`.
        rb: f32,
    },
    /// An ellipsoid with semi-axes `radii` along the columns of `axes`.
    Ellipsoid {
        /// Centre.
        centre: Vec3,
        /// Semi-axes.
        radii: Vec3,
        /// Orientation (orthonormal columns).
        axes: Mat3,
    },
    /// A box with rounded edges: half extents (before rounding) and corner radius.
    RoundBox {
        /// Centre.
        centre: Vec3,
        /// Half extents along the columns of `axes`.
        half: Vec3,
        /// Orientation (orthonormal columns).
        axes: Mat3,
        /// Rounding radius, added outside the half extents.
        radius: f32,
    },
}

impl Shape {
    /// An axis-aligned ellipsoid.
    #[must_use]
    pub fn ellipsoid(centre: Vec3, radii: Vec3) -> Self {
        Self::Ellipsoid { centre, radii, axes: Mat3::IDENTITY }
    }

    /// A round cone (a capsule when the radii are equal).
    #[must_use]
    pub fn cone(a: Vec3, b: Vec3, ra: f32, rb: f32) -> Self {
        Self::RoundCone { a, b, ra, rb }
    }

    /// Signed distance from `p`.
    #[must_use]
    pub fn distance(&self, p: Vec3) -> f32 {
        match *self {
            Self::RoundCone { a, b, ra, rb } => round_cone(p, a, b, ra, rb),
            Self::Ellipsoid { centre, radii, axes } => {
                let q = axes.transpose() * (p - centre);
                // The bound of Quílez's "ellipsoid - improved": exact on the surface.
                let k0 = (q / radii).length();
                let k1 = (q / (radii * radii)).length();
                if k1 < 1e-9 { -radii.min_element() } else { k0 * (k0 - 1.0) / k1 }
            }
            Self::RoundBox { centre, half, axes, radius } => {
                let q = (axes.transpose() * (p - centre)).abs() - half;
                q.max(Vec3::ZERO).length() + q.max_element().min(0.0) - radius
            }
        }
    }

    /// An axis-aligned box that contains the shape.
    #[must_use]
    pub fn bounds(&self) -> (Vec3, Vec3) {
        match *self {
            Self::RoundCone { a, b, ra, rb } => {
                let r = ra.max(rb);
                (a.min(b) - Vec3::splat(r), a.max(b) + Vec3::splat(r))
            }
            Self::Ellipsoid { centre, radii, .. } => {
                let r = Vec3::splat(radii.max_element());
                (centre - r, centre + r)
            }
            Self::RoundBox { centre, half, radius, .. } => {
                let r = Vec3::splat(half.length() + radius);
                (centre - r, centre + r)
            }
        }
    }

    /// The same shape moved by `offset`.
    #[must_use]
    pub fn translated(mut self, offset: Vec3) -> Self {
        match &mut self {
            Self::RoundCone { a, b, .. } => {
                *a += offset;
                *b += offset;
            }
            Self::Ellipsoid { centre, .. } | Self::RoundBox { centre, .. } => *centre += offset,
        }
        self
    }
}

/// Distance to a round cone (Quílez).
fn round_cone(p: Vec3, a: Vec3, b: Vec3, r1: f32, r2: f32) -> f32 {
    let ba = b - a;
    let l2 = ba.dot(ba);
    if l2 < 1e-12 {
        return p.distance(a) - r1.max(r2);
    }
    let rr = r1 - r2;
    let a2 = l2 - rr * rr;
    let il2 = 1.0 / l2;
    let pa = p - a;
    let y = pa.dot(ba);
    let z = y - l2;
    let xv = pa * l2 - ba * y;
    let x2 = xv.dot(xv);
    let y2 = y * y * l2;
    let z2 = z * z * l2;
    let k = rr.signum() * rr * rr * x2;
    if z.signum() * a2 * z2 > k {
        return (x2 + z2).sqrt() * il2 - r2;
    }
    if y.signum() * a2 * y2 < k {
        return (x2 + y2).sqrt() * il2 - r1;
    }
    ((x2 * a2 * il2).sqrt() + y * rr) * il2 - r1
}

/// Smooth union of two distances with blend radius `k` (metres).
#[must_use]
pub fn smooth_min(a: f32, b: f32, k: f32) -> f32 {
    if k <= 0.0 {
        return a.min(b);
    }
    let h = (k - (a - b).abs()).max(0.0) / k;
    a.min(b) - h * h * k * 0.25
}

/// Smooth subtraction: `a` with `b` carved out, blend radius `k`.
#[must_use]
pub fn smooth_subtract(a: f32, b: f32, k: f32) -> f32 {
    -smooth_min(-a, b, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_the_right_sign_and_size() {
        let cone = Shape::cone(Vec3::ZERO, Vec3::Y, 0.2, 0.1);
        assert!((cone.distance(Vec3::new(0.5, 0.0, 0.0)) - 0.3).abs() < 1e-4);
        assert!(cone.distance(Vec3::new(0.0, 0.5, 0.0)) < 0.0);
        let e = Shape::ellipsoid(Vec3::ZERO, Vec3::new(0.3, 0.1, 0.2));
        assert!(e.distance(Vec3::new(0.3, 0.0, 0.0)).abs() < 1e-4);
        assert!(e.distance(Vec3::ZERO) < 0.0);
        let b = Shape::RoundBox { centre: Vec3::ZERO, half: Vec3::splat(0.1), axes: Mat3::IDENTITY, radius: 0.01 };
        assert!((b.distance(Vec3::new(0.2, 0.0, 0.0)) - 0.09).abs() < 1e-5);
        assert!(smooth_min(0.1, 0.1, 0.05) < 0.1);
        assert_eq!(smooth_min(0.0, 1.0, 0.05), 0.0);
    }
}
