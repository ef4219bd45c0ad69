//! # nexus-engine — rendering features, physics and spatial audio
//!
//! The room for what the client and the server's offscreen renderer share:
//! - rendering features: gaze-centred foveation, LOD (LOD0 < 5 m, LOD1 5–15 m, LOD2 15–30 m,
//!   LOD3 > 30 m impostor), frustum/occlusion culling, and **offscreen capture** — the
//!   engine's one way to render a camera into an image and read it back (client
//!   screenshots, generation, cloud rendering);
//! - physics with rapier3d (tracked hands as kinematic colliders, grab and throw);
//! - spatial audio with kira (HRTF convolution, occlusion by ray casts, room reverb).
//!
//! Pure math lives in plain modules; the Bevy layer sits behind a `bevy` feature.
//!
//! **Not built yet** — reserved by the workspace layout; the client and streaming issues
//! fill it in.
