//! Surface nets (Gibson 1998): a smooth, watertight triangle mesh from a signed distance
//! field sampled on a grid — one vertex per cell the surface crosses, one quad per grid
//! edge it crosses. Normals come from the field's gradient.

use glam::Vec3;

/// A triangle mesh with outward normals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions.
    pub positions: Vec<Vec3>,
    /// Unit normals, one per vertex.
    pub normals: Vec<Vec3>,
    /// Counter-clockwise triangles (outward facing).
    pub indices: Vec<u32>,
}

/// Meshes the zero level set of `field` inside the box `min`–`max`, sampled every `step`
/// metres. The field must be positive on the box's faces so the mesh is closed.
#[must_use]
pub fn surface_nets(field: &dyn Fn(Vec3) -> f32, min: Vec3, max: Vec3, step: f32) -> TriMesh {
    let dims = ((max - min) / step).ceil().as_uvec3() + 1;
    let (nx, ny, nz) = (dims.x as usize, dims.y as usize, dims.z as usize);
    let at = |i: usize, j: usize, k: usize| min + Vec3::new(i as f32, j as f32, k as f32) * step;
    let index = |i: usize, j: usize, k: usize| (k * ny + j) * nx + i;

    let mut values = vec![0.0_f32; nx * ny * nz];
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                values[index(i, j, k)] = field(at(i, j, k));
            }
        }
    }

    // One vertex per surface-crossing cell, at the mean of its edges' crossings.
    const CORNERS: [(usize, usize, usize); 8] =
        [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), (0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)];
    const EDGES: [(usize, usize); 12] =
        [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)];
    let mut cell_vertex = vec![u32::MAX; nx * ny * nz];
    let mut mesh = TriMesh::default();
    for k in 0..nz - 1 {
        for j in 0..ny - 1 {
            for i in 0..nx - 1 {
                let v = CORNERS.map(|(a, b, c)| values[index(i + a, j + b, k + c)]);
                let inside = v.iter().filter(|d| **d < 0.0).count();
                if inside == 0 || inside == 8 {
                    continue;
                }
                let mut sum = Vec3::ZERO;
                let mut crossings = 0.0;
                for (e0, e1) in EDGES {
                    let (d0, d1) = (v[e0], v[e1]);
                    if (d0 < 0.0) != (d1 < 0.0) {
                        let t = d0 / (d0 - d1);
                        let c0 = CORNERS[e0];
                        let c1 = CORNERS[e1];
                        let p0 = Vec3::new(c0.0 as f32, c0.1 as f32, c0.2 as f32);
                        let p1 = Vec3::new(c1.0 as f32, c1.1 as f32, c1.2 as f32);
                        sum += p0.lerp(p1, t);
                        crossings += 1.0;
                    }
                }
                let position = at(i, j, k) + sum / crossings * step;
                cell_vertex[index(i, j, k)] = mesh.positions.len() as u32;
                mesh.positions.push(position);
            }
        }
    }

    // One quad per crossed grid edge, joining the four cells around it.
    let quad = |cells: [usize; 4], flip: bool, mesh: &mut TriMesh| {
        let v = cells.map(|c| cell_vertex[c]);
        if v.contains(&u32::MAX) {
            return;
        }
        let [a, b, c, d] = if flip { [v[0], v[3], v[2], v[1]] } else { v };
        let p = |x: u32| mesh.positions[x as usize];
        // Split along the shorter diagonal for better-shaped triangles.
        if p(a).distance_squared(p(c)) <= p(b).distance_squared(p(d)) {
            mesh.indices.extend_from_slice(&[a, b, c, a, c, d]);
        } else {
            mesh.indices.extend_from_slice(&[a, b, d, b, c, d]);
        }
    };
    for k in 1..nz - 1 {
        for j in 1..ny - 1 {
            for i in 0..nx - 1 {
                let (d0, d1) = (values[index(i, j, k)], values[index(i + 1, j, k)]);
                if (d0 < 0.0) != (d1 < 0.0) {
                    let cells = [index(i, j - 1, k - 1), index(i, j, k - 1), index(i, j, k), index(i, j - 1, k)];
                    quad(cells, d0 >= 0.0, &mut mesh);
                }
            }
        }
    }
    for k in 1..nz - 1 {
        for j in 0..ny - 1 {
            for i in 1..nx - 1 {
                let (d0, d1) = (values[index(i, j, k)], values[index(i, j + 1, k)]);
                if (d0 < 0.0) != (d1 < 0.0) {
                    let cells = [index(i - 1, j, k - 1), index(i - 1, j, k), index(i, j, k), index(i, j, k - 1)];
                    quad(cells, d0 >= 0.0, &mut mesh);
                }
            }
        }
    }
    for k in 0..nz - 1 {
        for j in 1..ny - 1 {
            for i in 1..nx - 1 {
                let (d0, d1) = (values[index(i, j, k)], values[index(i, j, k + 1)]);
                if (d0 < 0.0) != (d1 < 0.0) {
                    let cells = [index(i - 1, j - 1, k), index(i, j - 1, k), index(i, j, k), index(i - 1, j, k)];
                    quad(cells, d0 >= 0.0, &mut mesh);
                }
            }
        }
    }

    let h = step * 0.5;
    mesh.normals = mesh
        .positions
        .iter()
        .map(|&p| {
            Vec3::new(
                field(p + Vec3::X * h) - field(p - Vec3::X * h),
                field(p + Vec3::Y * h) - field(p - Vec3::Y * h),
                field(p + Vec3::Z * h) - field(p - Vec3::Z * h),
            )
            .normalize_or(Vec3::Y)
        })
        .collect();
    mesh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sphere_meshes_closed_with_outward_triangles() {
        let field = |p: Vec3| p.length() - 0.1;
        let mesh = surface_nets(&field, Vec3::splat(-0.15), Vec3::splat(0.15), 0.01);
        assert!(mesh.positions.len() > 300);
        for p in &mesh.positions {
            assert!((p.length() - 0.1).abs() < 0.004, "vertex off the surface: {}", p.length());
        }
        // Closed: every edge is shared by exactly two triangles.
        let mut edges = std::collections::HashMap::new();
        for t in mesh.indices.chunks(3) {
            for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                *edges.entry((a.min(b), a.max(b))).or_insert(0) += 1;
            }
        }
        assert!(edges.values().all(|&n| n == 2));
        // Outward: each triangle's normal points away from the centre.
        for t in mesh.indices.chunks(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| mesh.positions[i as usize]);
            let n = (b - a).cross(c - a);
            assert!(n.dot(a + b + c) > 0.0);
        }
    }
}
