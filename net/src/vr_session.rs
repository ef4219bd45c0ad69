//! The VR session record (seed §7.1 `vr_sessions`): what a client reports to the server
//! when a session in a room ends. The kinds are enums on the wire as SCREAMING_SNAKE_CASE
//! strings — the same strings the seed's columns hold.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which device the session ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeadsetType {
    /// Meta Quest 2.
    #[serde(rename = "QUEST_2")]
    Quest2,
    /// Meta Quest 3.
    #[serde(rename = "QUEST_3")]
    Quest3,
    /// Meta Quest Pro.
    QuestPro,
    /// Valve Index.
    Index,
    /// HTC Vive (and Vive Pro).
    Vive,
    /// Pico 4.
    #[serde(rename = "PICO_4")]
    Pico4,
    /// PlayStation VR2.
    #[serde(rename = "PSVR2")]
    Psvr2,
    /// Another OpenXR headset.
    OtherXr,
    /// The desktop flat-screen preview (no headset).
    DesktopPreview,
}

/// Where the frames were rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RenderingMode {
    /// On the device.
    Local,
    /// On a server, streamed to the device.
    CloudStream,
}

/// The seed's three quality presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualityPreset {
    /// Frame rate first: lower resolution scale, fewer shadows.
    Performance,
    /// The default.
    #[default]
    Balanced,
    /// Image quality first.
    Ultra,
}

macro_rules! wire_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire (and database) name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| UnknownName {
                        kind: stringify!($ty),
                        got: s.to_owned(),
                        expected: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

wire_names!(HeadsetType {
    Quest2 => "QUEST_2", Quest3 => "QUEST_3", QuestPro => "QUEST_PRO", Index => "INDEX", Vive => "VIVE",
    Pico4 => "PICO_4", Psvr2 => "PSVR2", OtherXr => "OTHER_XR", DesktopPreview => "DESKTOP_PREVIEW",
});
wire_names!(RenderingMode { Local => "LOCAL", CloudStream => "CLOUD_STREAM" });
wire_names!(QualityPreset { Performance => "PERFORMANCE", Balanced => "BALANCED", Ultra => "ULTRA" });

/// A name that is not one of a kind's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// The kind, e.g. `QualityPreset`.
    pub kind: &'static str,
    /// What was given.
    pub got: String,
    /// The accepted names, comma-separated.
    pub expected: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?} (expected one of: {})", self.kind, self.got, self.expected)
    }
}

impl std::error::Error for UnknownName {}

/// What a client reports when a session ends. The server derives the duration and checks
/// that the figures are physically possible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VrSessionReport {
    /// The companion met in the session, if any.
    #[serde(default)]
    pub companion_id: Option<String>,
    /// The device.
    pub headset_type: HeadsetType,
    /// Where frames were rendered.
    pub rendering_mode: RenderingMode,
    /// The quality preset in force (the last one, if it changed).
    pub quality_preset: QualityPreset,
    /// When the user entered the room.
    pub started_at: DateTime<Utc>,
    /// When the user left it.
    pub ended_at: DateTime<Utc>,
    /// Mean frames per second over the session.
    pub average_fps: f64,
    /// Lowest one-second frame rate.
    pub min_fps: f64,
    /// Mean motion-to-photon (or, in the preview, input-to-present) latency.
    pub latency_ms: f64,
    /// Grabs, UI presses, messages and other deliberate interactions.
    #[serde(default)]
    pub interactions_count: u32,
    /// Whether hand tracking drove the hands at some point.
    #[serde(default)]
    pub hand_tracking_used: bool,
    /// Whether any haptic pulse was played.
    #[serde(default)]
    pub haptic_feedback_used: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for h in HeadsetType::ALL {
            let json = serde_json::to_string(h).expect("serialise");
            assert_eq!(json, format!("\"{}\"", h.as_str()));
            assert_eq!(serde_json::from_str::<HeadsetType>(&json).expect("parse"), *h);
            assert_eq!(h.as_str().parse::<HeadsetType>(), Ok(*h));
        }
        for q in QualityPreset::ALL {
            assert_eq!(q.as_str().to_lowercase().parse::<QualityPreset>(), Ok(*q));
        }
        let err = "FAST".parse::<QualityPreset>().expect_err("unknown");
        assert!(err.to_string().contains("PERFORMANCE, BALANCED, ULTRA"), "{err}");
    }

    #[test]
    fn report_rejects_unknown_fields() {
        let json = r#"{"headset_type":"INDEX","rendering_mode":"LOCAL","quality_preset":"ULTRA",
            "started_at":"2026-11-25T10:00:00Z","ended_at":"2026-11-25T10:30:00Z",
            "average_fps":88.5,"min_fps":71.0,"latency_ms":18.0,"fps":1}"#;
        assert!(serde_json::from_str::<VrSessionReport>(json).is_err());
        let ok = json.replace(r#","fps":1"#, "");
        let r: VrSessionReport = serde_json::from_str(&ok).expect("parse");
        assert_eq!((r.headset_type, r.interactions_count, r.hand_tracking_used), (HeadsetType::Index, 0, false));
    }
}
