//! Recorded tracking files: the rig frame by frame, written in any mode (`--record PATH`)
//! and replayed deterministically (`--replay PATH`) for tests and demos.
//!
//! Format: JSON lines. The first line is a [`Header`]; each further line is one [`Frame`]
//! holding the whole [`TrackedRig`]. f32 values are written in their shortest exact form,
//! so a replay reproduces every pose bit for bit. Replay is indexed by frame, not by
//! wall-clock time: frame *n* of the file drives update *n* of the app, whatever the
//! machine's speed.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rig::{RigSource, TrackedRig};

/// The `format` value of the header line.
pub const FORMAT: &str = "nexus-tracking";
/// The layout version this client writes and reads.
pub const VERSION: u32 = 1;

/// First line of a tracking file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// The input source that produced the frames.
    pub source: RigSource,
    /// Nominal frame rate of the recording.
    pub frame_hz: f32,
}

/// One recorded frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// Frame index, from 0, without gaps.
    pub frame: u64,
    /// Seconds since the recording started.
    pub t: f64,
    /// The rig.
    pub rig: TrackedRig,
}

/// Why a tracking file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrackingFileError {
    /// I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not what the format says.
    #[error("{path}:{line}: {why}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// Writes frames as they happen.
#[derive(Debug)]
pub struct Recorder {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
    next: u64,
}

impl Recorder {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, source: RigSource, frame_hz: f32) -> Result<Self, TrackingFileError> {
        let io = |source| TrackingFileError::Io { path: path.to_owned(), source };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = BufWriter::new(file);
        let header = Header { format: FORMAT.into(), version: VERSION, source, frame_hz };
        serde_json::to_writer(&mut out, &header).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        Ok(Self { out, path: path.to_owned(), next: 0 })
    }

    /// Appends one frame.
    pub fn push(&mut self, t: f64, rig: &TrackedRig) -> Result<(), TrackingFileError> {
        let io = |source| TrackingFileError::Io { path: self.path.clone(), source };
        let frame = Frame { frame: self.next, t, rig: rig.clone() };
        serde_json::to_writer(&mut self.out, &frame).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        self.next += 1;
        Ok(())
    }

    /// Frames written so far.
    #[must_use]
    pub fn frames(&self) -> u64 {
        self.next
    }

    /// Flushes buffered frames to disk.
    pub fn flush(&mut self) -> Result<(), TrackingFileError> {
        self.out.flush().map_err(|source| TrackingFileError::Io { path: self.path.clone(), source })
    }
}

/// A whole recording, read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The header.
    pub header: Header,
    /// Every frame, in order.
    pub frames: Vec<Frame>,
}

impl Recording {
    /// Reads and checks `path`: header first, frames numbered from 0 without gaps.
    pub fn read(path: &Path) -> Result<Self, TrackingFileError> {
        let file =
            std::fs::File::open(path).map_err(|source| TrackingFileError::Io { path: path.to_owned(), source })?;
        let bad = |line: usize, why: String| TrackingFileError::Malformed { path: path.to_owned(), line, why };
        let mut lines = BufReader::new(file).lines();
        let first = lines
            .next()
            .ok_or_else(|| bad(1, "empty file".into()))?
            .map_err(|source| TrackingFileError::Io { path: path.to_owned(), source })?;
        let header: Header = serde_json::from_str(&first).map_err(|e| bad(1, format!("not a tracking header: {e}")))?;
        if header.format != FORMAT {
            return Err(bad(1, format!("format is {:?}, expected {FORMAT:?}", header.format)));
        }
        if header.version != VERSION {
            return Err(bad(1, format!("version {} is not supported (this client reads {VERSION})", header.version)));
        }
        let mut frames = Vec::new();
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            let line = line.map_err(|source| TrackingFileError::Io { path: path.to_owned(), source })?;
            if line.trim().is_empty() {
                continue;
            }
            let frame: Frame = serde_json::from_str(&line).map_err(|e| bad(n, e.to_string()))?;
            if frame.frame != frames.len() as u64 {
                return Err(bad(n, format!("frame {} where {} was expected", frame.frame, frames.len())));
            }
            frames.push(frame);
        }
        if frames.is_empty() {
            return Err(bad(2, "no frames".into()));
        }
        Ok(Self { header, frames })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;

    #[test]
    fn record_then_read_is_exact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        let mut rec = Recorder::create(&path, RigSource::Preview, 72.0).expect("create");
        let mut rigs = Vec::new();
        for i in 0..5 {
            let mut rig = TrackedRig::default();
            rig.head.position += Vec3::new(0.013 * i as f32, 0.0, -0.1 / 3.0 * i as f32);
            rig.right.trigger = i as f32 / 7.0;
            rec.push(f64::from(i) / 72.0, &rig).expect("push");
            rigs.push(rig);
        }
        rec.flush().expect("flush");
        let back = Recording::read(&path).expect("read");
        assert_eq!(back.header.source, RigSource::Preview);
        assert_eq!(back.frames.iter().map(|f| f.rig.clone()).collect::<Vec<_>>(), rigs);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.jsonl");
        let header = r#"{"format":"nexus-tracking","version":1,"source":"Replay","frame_hz":90.0}"#;
        let frame = |n: u64| {
            serde_json::to_string(&Frame { frame: n, t: 0.0, rig: TrackedRig::default() }).expect("frame json")
        };
        let cases = [
            (String::new(), ":1:"),
            ("{\"format\":\"other\",\"version\":1,\"source\":\"Replay\",\"frame_hz\":1.0}".to_owned(), "format"),
            (header.to_owned(), "no frames"),
            (format!("{header}\n{}\n{}", frame(0), frame(2)), ":3: frame 2 where 1"),
            (format!("{header}\n{{\"frame\":0}}"), ":2:"),
        ];
        for (text, expect) in cases {
            std::fs::write(&path, &text).expect("write");
            let msg = Recording::read(&path).expect_err(expect).to_string();
            assert!(msg.contains(expect), "{text:?} → {msg}");
        }
    }
}
