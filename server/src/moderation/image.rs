//! Images through the door: decode (PNG, JPEG, WebP; size-limited), PDQ-hash
//! ([`super::pdq`]) and match against the known-image hash list (Hamming distance ≤ 31,
//! quality ≥ 50), then the remote image classifier when one is configured. A hash-list
//! match scores its category 1; the list holds hashes only, never images.
//!
//! The list (`NEXUS_IMAGE_HASH_LIST`) is one hash per line in the usual 64-hex-digit
//! spelling, optionally followed by `<TAB>category` (default `sexual/minors`), the format
//! hash-sharing programmes hand out.

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, ImageReader, Limits};

use super::category::Category;
use super::classifier::{ImageInput, Scores};
use super::mode::ModerationMode;
use super::pdq::{MATCH_DISTANCE, MIN_QUALITY, PdqHash, hash_rgb};
use super::pipeline::{Assessment, Moderator};
use crate::error::AppError;

/// Largest accepted image, in bytes.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest accepted width or height, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Known prohibited images, by PDQ hash.
#[derive(Debug, Default)]
pub struct HashList {
    entries: Vec<(PdqHash, Category)>,
}

impl HashList {
    /// Reads a list file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (hex, category) = line.split_once('\t').map_or((line, None), |(h, c)| (h, Some(c.trim())));
            let hash = PdqHash::from_hex(hex.trim())
                .ok_or_else(|| anyhow::anyhow!("{}:{}: not a 64-hex-digit PDQ hash", path.display(), n + 1))?;
            let category = match category {
                None => Category::SexualMinors,
                Some(c) => Category::parse(c)
                    .ok_or_else(|| anyhow::anyhow!("{}:{}: unknown category {c:?}", path.display(), n + 1))?,
            };
            entries.push((hash, category));
        }
        Ok(Self { entries })
    }

    /// A list from hashes in memory.
    #[must_use]
    pub fn from_entries(entries: Vec<(PdqHash, Category)>) -> Self {
        Self { entries }
    }

    /// Entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Categories of the entries within [`MATCH_DISTANCE`] of `hash`.
    #[must_use]
    pub fn matches(&self, hash: &PdqHash) -> Vec<Category> {
        let mut out: Vec<Category> =
            self.entries.iter().filter(|(h, _)| h.distance(hash) <= MATCH_DISTANCE).map(|(_, c)| *c).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A decoded image's PDQ hash and quality.
#[derive(Debug, Clone, Copy)]
pub struct ImageHash {
    /// The hash.
    pub hash: PdqHash,
    /// Quality 0–100.
    pub quality: u32,
}

/// Decodes `bytes` (format sniffed, not trusted from the client) and hashes it.
pub fn hash_image(bytes: &[u8]) -> Result<ImageHash, AppError> {
    let invalid = |why: String| AppError::unprocessable("invalid_image", why);
    if bytes.is_empty() {
        return Err(AppError::unprocessable("empty_content", "no image"));
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(AppError::unprocessable("content_too_long", format!("at most {MAX_IMAGE_BYTES} bytes")));
    }
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| invalid(format!("unreadable: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) => {}
        _ => return Err(invalid("expected a PNG, JPEG or WebP image".into())),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| invalid(format!("cannot decode: {e}")))?;
    // Like the reference hasher: an image larger than 512 px either way is first sampled
    // (nearest neighbour) to exactly 512 × 512, so hashes agree with shared lists.
    let decoded = if decoded.width() > 512 || decoded.height() > 512 {
        decoded.resize_exact(512, 512, image::imageops::FilterType::Nearest)
    } else {
        decoded
    };
    let rgb = decoded.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return Err(invalid("the image has no pixels".into()));
    }
    let (hash, quality) = hash_rgb(rgb.as_raw(), w, h);
    Ok(ImageHash { hash, quality })
}

impl Moderator {
    /// Assesses an image in `mode`: hash list, then the remote image classifier if any.
    /// Without a remote classifier, an image that is not on the list is allowed — the
    /// local model reads text only.
    pub async fn assess_image(&self, mode: ModerationMode, bytes: &[u8], mime: &str) -> Result<Assessment, AppError> {
        let hashed = hash_image(bytes)?;
        let mut scores = Scores::new();
        let mut engines = vec!["pdq"];
        if hashed.quality >= MIN_QUALITY {
            for category in self.image_hashes.matches(&hashed.hash) {
                scores.insert(category, 1.0);
            }
        }
        if self.classifier.has_remote() {
            match self.classifier.classify_image(ImageInput { bytes, mime }).await {
                Ok(classified) => {
                    engines.extend(classified.engines);
                    for (c, s) in classified.scores {
                        let slot = scores.entry(c).or_insert(0.0);
                        *slot = slot.max(s);
                    }
                }
                // The hash list still ran; a classifier outage must not make every upload
                // fail, but it is logged.
                Err(e) => tracing::warn!(error = %e, "remote image classifier failed; hash list only"),
            }
        }
        Ok(self.finish(mode, scores, engines, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).expect("encode");
        out
    }

    #[test]
    fn decodes_hashes_and_refuses_what_is_not_an_image() {
        let bytes = png(200, 150, |x, y| [(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x ^ y) % 256) as u8]);
        let h = hash_image(&bytes).expect("hashed");
        assert!(h.quality > 0);
        for bad in [&b""[..], b"not an image at all", &bytes[..bytes.len() / 2], b"GIF89a\x01\x00\x01\x00"] {
            let err = hash_image(bad).expect_err("refused");
            assert_eq!(err.status_code().as_u16(), 422, "{err:?}");
        }
    }

    #[test]
    fn list_matches_within_the_distance_and_reads_its_file() {
        let bytes = png(256, 256, |x, y| {
            let v = (127.0 + 120.0 * ((x as f32 / 19.0).sin() * (y as f32 / 27.0).cos())) as u8;
            [v, v, v]
        });
        let h = hash_image(&bytes).expect("hashed");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("list.txt");
        std::fs::write(&path, format!("# list\n{}\tterrorism/extremism\n{}\n", h.hash.to_hex(), "0".repeat(64)))
            .expect("write");
        let list = HashList::load(&path).expect("loads");
        assert_eq!(list.len(), 2);
        assert_eq!(list.matches(&h.hash), [Category::Terrorism]);
        std::fs::write(&path, "abc\n").expect("write");
        assert!(HashList::load(&path).is_err());
    }

    /// Meta's published vectors (ThreatExchange `pdq/data`), when a directory with the
    /// images and `expected.tsv` (`file<TAB>hash<TAB>quality`) is named in
    /// `NEXUS_PDQ_VECTORS`; the images are not ours to ship. Different JPEG decoders
    /// differ by a few bits, so the bar is the reference's own: distance ≤ 10 for quality
    /// ≥ 80, and a match (≤ 31) for every vector.
    #[test]
    fn agrees_with_reference_vectors_when_available() {
        let Some(dir) = std::env::var_os("NEXUS_PDQ_VECTORS").map(std::path::PathBuf::from) else { return };
        let expected = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let bytes = std::fs::read(dir.join(cols[0])).expect("image");
            let ours = hash_image(&bytes).expect("hashed");
            let theirs = PdqHash::from_hex(cols[1]).expect("hex");
            let quality: u32 = cols[2].parse().expect("quality");
            let d = ours.hash.distance(&theirs);
            eprintln!("{}: distance {d}, quality {} (reference {quality})", cols[0], ours.quality);
            assert!(d <= MATCH_DISTANCE, "{}: distance {d}", cols[0]);
            if quality >= 80 {
                assert!(d <= 10, "{}: distance {d}", cols[0]);
            }
        }
    }
}
