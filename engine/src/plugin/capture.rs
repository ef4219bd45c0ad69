//! Offscreen capture in Bevy: the engine's one way to get rendered frames onto the CPU —
//! the client's screenshots (window or headless), and later generation and cloud
//! rendering.
//!
//! - [`offscreen_target`] makes an image a camera can render into without a window
//!   (RGBA8 sRGB, readable back).
//! - A [`CaptureRequest`] message asks for one frame of the window or of such an image;
//!   it is answered by a [`FrameCaptured`] message with tightly packed RGBA8 and the
//!   readback latency in frames.
//! - A [`ContinuousCapture`] component on an entity reads an image back on the frames its
//!   [`Pacing`] selects (GPU readback, rows unpadded), each delivered as [`FrameCaptured`].

use bevy::asset::RenderAssetUsages;
use bevy::camera::RenderTarget;
use bevy::diagnostic::FrameCount;
use bevy::prelude::*;
use bevy::render::gpu_readback::{Readback, ReadbackComplete};
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat, TextureUsages};
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use crate::capture::{CaptureStats, CapturedFrame, Pacing, unpad_rows};

/// The texture format of offscreen targets.
pub const OFFSCREEN_FORMAT: TextureFormat = TextureFormat::Rgba8UnormSrgb;

/// Creates an image a camera can render into and that can be read back.
pub fn offscreen_target(images: &mut Assets<Image>, width: u32, height: u32) -> Handle<Image> {
    let size = Extent3d { width: width.max(1), height: height.max(1), depth_or_array_layers: 1 };
    let mut image =
        Image::new_fill(size, TextureDimension::D2, &[0, 0, 0, 0], OFFSCREEN_FORMAT, RenderAssetUsages::default());
    image.texture_descriptor.usage = TextureUsages::TEXTURE_BINDING
        | TextureUsages::COPY_DST
        | TextureUsages::COPY_SRC
        | TextureUsages::RENDER_ATTACHMENT;
    images.add(image)
}

/// What to capture.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureSource {
    /// The primary window as presented.
    PrimaryWindow,
    /// An offscreen image made with [`offscreen_target`].
    Image(Handle<Image>),
}

/// Asks for one frame.
#[derive(Message, Debug, Clone)]
pub struct CaptureRequest {
    /// Where from.
    pub source: CaptureSource,
    /// Echoed in the answer.
    pub tag: u64,
}

/// A captured frame.
#[derive(Message, Debug, Clone)]
pub struct FrameCaptured(pub CapturedFrame);

/// A frame capture that failed (format not convertible, short readback).
#[derive(Message, Debug, Clone)]
pub struct CaptureFailed {
    /// The request's tag.
    pub tag: u64,
    /// What went wrong.
    pub reason: String,
}

/// Reads an image back continuously, on the frames `pacing` selects.
#[derive(Component, Debug, Clone)]
pub struct ContinuousCapture {
    /// The offscreen image.
    pub image: Handle<Image>,
    /// Which frames.
    pub pacing: Pacing,
    /// Echoed in every [`FrameCaptured`].
    pub tag: u64,
    started: Option<u32>,
}

impl ContinuousCapture {
    /// Captures `image` with `pacing`.
    #[must_use]
    pub fn new(image: Handle<Image>, pacing: Pacing, tag: u64) -> Self {
        Self { image, pacing, tag, started: None }
    }
}

/// Delivery statistics of every capture so far.
#[derive(Resource, Debug, Default, Clone)]
pub struct CaptureStatistics(pub CaptureStats);

/// Adds capture requests, continuous capture and their messages.
pub struct OffscreenCapturePlugin;

impl Plugin for OffscreenCapturePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<CaptureRequest>()
            .add_message::<FrameCaptured>()
            .add_message::<CaptureFailed>()
            .init_resource::<CaptureStatistics>()
            .add_systems(Last, (start_requests, pace_continuous));
    }
}

#[derive(Component)]
struct PendingCapture {
    tag: u64,
    requested_frame: u32,
}

fn start_requests(mut requests: MessageReader<CaptureRequest>, frame: Res<FrameCount>, mut commands: Commands) {
    for req in requests.read() {
        let screenshot = match &req.source {
            CaptureSource::PrimaryWindow => Screenshot::primary_window(),
            CaptureSource::Image(handle) => Screenshot::image(handle.clone()),
        };
        commands.spawn((screenshot, PendingCapture { tag: req.tag, requested_frame: frame.0 })).observe(on_screenshot);
    }
}

fn on_screenshot(
    captured: On<ScreenshotCaptured>,
    pending: Query<&PendingCapture>,
    frame: Res<FrameCount>,
    mut stats: ResMut<CaptureStatistics>,
    mut done: MessageWriter<FrameCaptured>,
    mut failed: MessageWriter<CaptureFailed>,
) {
    let Ok(p) = pending.get(captured.entity) else { return };
    match captured.image.clone().try_into_dynamic() {
        Ok(img) => {
            let rgba = img.to_rgba8();
            let frame = CapturedFrame {
                tag: p.tag,
                width: rgba.width(),
                height: rgba.height(),
                rgba: rgba.into_raw(),
                requested_frame: p.requested_frame,
                delivered_frame: frame.0,
            };
            stats.0.record(&frame);
            done.write(FrameCaptured(frame));
        }
        Err(e) => {
            failed.write(CaptureFailed { tag: p.tag, reason: format!("captured frame not convertible: {e:?}") });
        }
    }
}

/// Adds or removes the GPU `Readback` so that only paced frames are copied.
fn pace_continuous(
    mut captures: Query<(Entity, &mut ContinuousCapture, Has<Readback>)>,
    frame: Res<FrameCount>,
    mut commands: Commands,
) {
    for (entity, mut cap, reading) in &mut captures {
        let start = *cap.started.get_or_insert(frame.0);
        let take = cap.pacing.takes(u64::from(frame.0 - start));
        match (take, reading) {
            (true, false) => {
                commands.entity(entity).insert(Readback::texture(cap.image.clone())).observe(on_readback);
            }
            (false, true) => {
                commands.entity(entity).remove::<Readback>();
            }
            _ => {}
        }
    }
}

fn on_readback(
    readback: On<ReadbackComplete>,
    captures: Query<&ContinuousCapture>,
    images: Res<Assets<Image>>,
    frame: Res<FrameCount>,
    mut stats: ResMut<CaptureStatistics>,
    mut done: MessageWriter<FrameCaptured>,
    mut failed: MessageWriter<CaptureFailed>,
) {
    let Ok(cap) = captures.get(readback.entity) else { return };
    let Some(image) = images.get(&cap.image) else { return };
    let (w, h) = (image.width(), image.height());
    match unpad_rows(&readback.data, w, h, 4) {
        Ok(rgba) => {
            // The copy was queued on the previous frame's render; delivery is this frame.
            let f = CapturedFrame {
                tag: cap.tag,
                width: w,
                height: h,
                rgba,
                requested_frame: frame.0.saturating_sub(1),
                delivered_frame: frame.0,
            };
            stats.0.record(&f);
            done.write(FrameCaptured(f));
        }
        Err(e) => {
            failed.write(CaptureFailed { tag: cap.tag, reason: e.to_string() });
        }
    }
}

/// The render target for a camera that draws into `image`.
#[must_use]
pub fn image_render_target(image: &Handle<Image>) -> RenderTarget {
    RenderTarget::Image(image.clone().into())
}
