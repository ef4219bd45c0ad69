//! Voice for the real-time plane (feature `voice`): 48 kHz mono PCM → Opus (VoIP mode,
//! 20 ms frames, in-band FEC) → [`VoiceFrame`]s, and on receive a per-speaker
//! [`JitterBuffer`] that reorders, waits an adaptive few frames, and conceals losses —
//! from the next packet's FEC when it is there, by Opus packet-loss concealment
//! otherwise. The server relays the frames unchanged (and muted members' not at all).
//!
//! Capture and playback devices are the client's business; this module takes and gives
//! PCM.

use std::collections::BTreeMap;

use audiopus::coder::{Decoder, Encoder};
use audiopus::{Application, Bitrate, Channels, SampleRate};

use crate::realtime::VoiceFrame;
use crate::seq::{Seq, seq_newer};

/// Samples per second.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples per 20 ms frame.
pub const FRAME_SAMPLES: usize = 960;
/// Default voice bitrate, bit/s (wideband speech with room for FEC).
pub const DEFAULT_BITRATE: i32 = 24_000;
/// The jitter buffer's depth never goes below this many frames …
pub const MIN_DEPTH: usize = 2;
/// … nor above this many (200 ms).
pub const MAX_DEPTH: usize = 10;

/// Why voice could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("opus: {0}")]
pub struct VoiceError(String);

fn opus_err(e: audiopus::Error) -> VoiceError {
    VoiceError(e.to_string())
}

/// PCM in, Opus frames out.
pub struct VoiceEncoder {
    encoder: Encoder,
    pending: Vec<i16>,
    seq: Seq,
    timestamp: u32,
}

impl std::fmt::Debug for VoiceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceEncoder").field("seq", &self.seq).finish_non_exhaustive()
    }
}

impl VoiceEncoder {
    /// An encoder at `bitrate` bit/s, tuned for `expected_loss_percent` packet loss.
    pub fn new(bitrate: i32, expected_loss_percent: u8) -> Result<Self, VoiceError> {
        let mut encoder = Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip).map_err(opus_err)?;
        encoder.set_bitrate(Bitrate::BitsPerSecond(bitrate)).map_err(opus_err)?;
        encoder.set_inband_fec(true).map_err(opus_err)?;
        encoder.set_packet_loss_perc(expected_loss_percent.min(100)).map_err(opus_err)?;
        Ok(Self { encoder, pending: Vec::with_capacity(FRAME_SAMPLES * 2), seq: 0, timestamp: 0 })
    }

    /// Feed captured samples; returns the frames completed (each 20 ms).
    pub fn push(&mut self, pcm: &[i16]) -> Result<Vec<VoiceFrame>, VoiceError> {
        self.pending.extend_from_slice(pcm);
        let mut out = Vec::new();
        let mut packet = [0u8; 1000];
        while self.pending.len() >= FRAME_SAMPLES {
            let len = self.encoder.encode(&self.pending[..FRAME_SAMPLES], &mut packet).map_err(opus_err)?;
            self.pending.drain(..FRAME_SAMPLES);
            out.push(VoiceFrame { from: 0, seq: self.seq, timestamp: self.timestamp, payload: packet[..len].to_vec() });
            self.seq = self.seq.wrapping_add(1);
            self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        }
        Ok(out)
    }
}

/// What a [`JitterBuffer`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Frames decoded from their own packet.
    pub decoded: u64,
    /// Frames rebuilt from the next packet's forward error correction.
    pub recovered: u64,
    /// Frames concealed (Opus PLC).
    pub concealed: u64,
    /// Packets that came after their turn and were dropped.
    pub late: u64,
}

/// One remote speaker's receive side.
pub struct JitterBuffer {
    decoder: Decoder,
    packets: BTreeMap<u32, Vec<u8>>,
    /// Sequence number of the next frame to play, once playing.
    next: Option<Seq>,
    /// Unwraps 16-bit sequence numbers into a monotonic key.
    last_seq: Option<(Seq, u32)>,
    depth: usize,
    jitter_frames: f32,
    last_arrival: Option<(u64, u32)>,
    stats: JitterStats,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer").field("depth", &self.depth).field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new() -> Result<Self, VoiceError> {
        Ok(Self {
            decoder: Decoder::new(SampleRate::Hz48000, Channels::Mono).map_err(opus_err)?,
            packets: BTreeMap::new(),
            next: None,
            last_seq: None,
            depth: MIN_DEPTH + 1,
            jitter_frames: 0.0,
            last_arrival: None,
            stats: JitterStats::default(),
        })
    }

    fn key(&mut self, seq: Seq) -> u32 {
        match self.last_seq {
            None => {
                self.last_seq = Some((seq, 1 << 20));
                1 << 20
            }
            Some((last, key)) => {
                let delta = i32::from(seq.wrapping_sub(last) as i16);
                let k = (i64::from(key) + i64::from(delta)).max(0) as u32;
                if delta > 0 {
                    self.last_seq = Some((seq, k));
                }
                k
            }
        }
    }

    /// A frame arrived at `arrival_us` (any monotonic clock).
    pub fn push(&mut self, frame: VoiceFrame, arrival_us: u64) {
        // RFC 3550 interarrival jitter, in frames: how much the arrival spacing differs
        // from the sending spacing.
        if let Some((at, ts)) = self.last_arrival {
            let sent = f64::from(frame.timestamp.wrapping_sub(ts) as i32) / f64::from(SAMPLE_RATE) * 1e6;
            let got = arrival_us as f64 - at as f64;
            let d = ((got - sent).abs() / 20_000.0) as f32;
            self.jitter_frames += (d - self.jitter_frames) / 16.0;
        }
        self.last_arrival = Some((arrival_us, frame.timestamp));
        self.depth = ((self.jitter_frames * 3.0).ceil() as usize + 1).clamp(MIN_DEPTH, MAX_DEPTH);
        if let Some(next) = self.next
            && !seq_newer(frame.seq, next)
            && frame.seq != next
        {
            self.stats.late += 1;
            return;
        }
        let key = self.key(frame.seq);
        self.packets.insert(key, frame.payload);
        while self.packets.len() > MAX_DEPTH * 4 {
            self.packets.pop_first();
        }
    }

    /// The next 20 ms to play (call every 20 ms). Silence until the buffer has filled to
    /// its depth; then decoded, recovered or concealed audio.
    pub fn pull(&mut self) -> Result<[i16; FRAME_SAMPLES], VoiceError> {
        let mut out = [0i16; FRAME_SAMPLES];
        let Some(next) = self.next else {
            if self.packets.len() >= self.depth
                && let Some((&first, _)) = self.packets.first_key_value()
            {
                // Start playing from the oldest buffered frame.
                let base = self.last_seq.map_or(0, |(s, k)| s.wrapping_sub((k - first) as u16));
                self.next = Some(base);
                return self.pull();
            }
            return Ok(out);
        };
        let key = self.key_of(next);
        let decoded = match self.packets.remove(&key) {
            Some(packet) => {
                self.stats.decoded += 1;
                self.decoder.decode(Some(&packet[..]), &mut out[..], false).map_err(opus_err)?
            }
            None => match self.packets.get(&(key + 1)) {
                Some(following) => {
                    self.stats.recovered += 1;
                    self.decoder.decode(Some(&following[..]), &mut out[..], true).map_err(opus_err)?
                }
                None => {
                    self.stats.concealed += 1;
                    self.decoder.decode(None::<&[u8]>, &mut out[..], false).map_err(opus_err)?
                }
            },
        };
        debug_assert!(decoded <= FRAME_SAMPLES);
        self.next = Some(next.wrapping_add(1));
        // Drop what is now in the past.
        while self.packets.first_key_value().is_some_and(|(&k, _)| k <= key) {
            self.packets.pop_first();
        }
        Ok(out)
    }

    /// The oldest buffered frames, decoded now in sequence order with losses recovered
    /// or concealed, until at most `keep` remain — for a listener that transcribes speech
    /// rather than plays it (`keep` leaves a window for late, reordered packets). A gap of
    /// more than [`MAX_DEPTH`] frames is skipped, not concealed. With `keep == 0` the
    /// buffer then starts afresh from the next frame pushed.
    pub fn drain_to(&mut self, keep: usize) -> Result<Vec<i16>, VoiceError> {
        let mut pcm = Vec::with_capacity(self.packets.len().saturating_sub(keep) * FRAME_SAMPLES);
        while self.packets.len() > keep
            && let Some((&first, _)) = self.packets.first_key_value()
        {
            let behind = self.next.map_or(u32::MAX, |next| first.saturating_sub(self.key_of(next)));
            if behind as usize > MAX_DEPTH {
                // Start (again) from the oldest buffered frame.
                let base = self.last_seq.map_or(0, |(s, k)| s.wrapping_sub(k.wrapping_sub(first) as u16));
                self.next = Some(base);
            }
            pcm.extend_from_slice(&self.pull()?);
        }
        if keep == 0 {
            self.next = None;
        }
        Ok(pcm)
    }

    /// Packets waiting to be played or drained.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.packets.len()
    }

    fn key_of(&self, seq: Seq) -> u32 {
        self.last_seq.map_or(0, |(last, key)| (i64::from(key) + i64::from(seq.wrapping_sub(last) as i16)).max(0) as u32)
    }

    /// The buffer's current target depth, frames.
    #[must_use]
    pub const fn depth(&self) -> usize {
        self.depth
    }

    /// Counts so far.
    #[must_use]
    pub const fn stats(&self) -> JitterStats {
        self.stats
    }
}

/// A test and demo signal: a voiced, speech-like sound (a 140 Hz glottal pulse train
/// through two formants, syllable-rate amplitude), `seconds` long.
#[must_use]
pub fn speech_like(seconds: f32) -> Vec<i16> {
    let n = (seconds * SAMPLE_RATE as f32) as usize;
    let tau = std::f32::consts::TAU;
    (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let f0 = 140.0 + 20.0 * (t * 1.3 * tau).sin();
            let mut v = 0.0;
            for h in 1..30 {
                let f = f0 * h as f32;
                let gain = 1.0 / (1.0 + ((f - 700.0) / 150.0).powi(2)) + 0.6 / (1.0 + ((f - 1200.0) / 200.0).powi(2));
                v += gain * (f * t * tau).sin() / h as f32;
            }
            let syllable = (0.5 + 0.5 * (t * 4.0 * tau).sin()).powf(1.5);
            (v * syllable * 9000.0).clamp(-32_000.0, 32_000.0) as i16
        })
        .collect()
}

/// Root-mean-square level of each 20 ms frame.
#[must_use]
pub fn frame_levels(pcm: &[i16]) -> Vec<f32> {
    pcm.chunks(FRAME_SAMPLES)
        .map(|c| (c.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / c.len().max(1) as f32).sqrt())
        .collect()
}

/// Pearson correlation of two level envelopes (compared over the shorter length).
#[must_use]
pub fn envelope_correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |v: &[f32]| v.iter().sum::<f32>() / n as f32;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va <= 0.0 || vb <= 0.0 { 0.0 } else { cov / (va.sqrt() * vb.sqrt()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encode, lose and reorder some frames, play back through the jitter buffer; the
    /// played audio follows the original's loudness envelope.
    fn played(loss_every: usize, swap: bool) -> (Vec<f32>, Vec<f32>, JitterStats) {
        let speech = speech_like(3.0);
        let mut encoder = VoiceEncoder::new(DEFAULT_BITRATE, 10).unwrap();
        let mut frames = encoder.push(&speech).unwrap();
        assert_eq!(frames.len(), 150);
        assert!(frames.iter().all(|f| f.payload.len() < 200), "24 kbit/s is ~60 bytes per 20 ms");
        if swap {
            for pair in frames.chunks_mut(7) {
                if pair.len() > 2 {
                    pair.swap(1, 2);
                }
            }
        }
        let mut buffer = JitterBuffer::new().unwrap();
        let mut out = Vec::new();
        for (i, f) in frames.into_iter().enumerate() {
            if loss_every > 0 && i % loss_every == 3 {
                continue;
            }
            buffer.push(f, i as u64 * 20_000);
            out.extend_from_slice(&buffer.pull().unwrap());
        }
        // Stats while the stream flowed; then drain what is buffered (the tail past the
        // last packet is concealment by design).
        let stats = buffer.stats();
        for _ in 0..buffer.depth() {
            out.extend_from_slice(&buffer.pull().unwrap());
        }
        // Align: the buffer's start-up silence plus Opus's own few ms of delay; take the
        // best 1 ms shift.
        let lead = out.iter().position(|&s| s != 0).unwrap_or(0);
        let sent = frame_levels(&speech);
        let got = (0..FRAME_SAMPLES * 2)
            .step_by(48)
            .map(|shift| frame_levels(&out[(lead + shift).min(out.len())..]))
            .max_by(|a, b| envelope_correlation(&sent, a).total_cmp(&envelope_correlation(&sent, b)))
            .unwrap_or_default();
        (sent, got, stats)
    }

    #[test]
    fn clean_path_reproduces_the_speech_envelope() {
        let (sent, got, stats) = played(0, false);
        assert!(envelope_correlation(&sent, &got) > 0.95, "{}", envelope_correlation(&sent, &got));
        assert_eq!(stats.concealed + stats.recovered, 0);
    }

    #[test]
    fn loss_and_reordering_are_concealed() {
        let (sent, got, stats) = played(10, true);
        assert!(stats.recovered + stats.concealed >= 14, "{stats:?}");
        assert!(envelope_correlation(&sent, &got) > 0.85, "{}", envelope_correlation(&sent, &got));
    }

    #[test]
    fn draining_decodes_an_utterance_in_order_conceals_small_losses_and_skips_big_gaps() {
        let speech = speech_like(2.0);
        let mut frames = VoiceEncoder::new(DEFAULT_BITRATE, 10).unwrap().push(&speech).unwrap();
        assert_eq!(frames.len(), 100);
        frames.swap(10, 11);
        frames.remove(40); // one lost packet: recovered from the next one's FEC
        let mut buffer = JitterBuffer::new().unwrap();
        let mut pcm = Vec::new();
        for (i, f) in frames.into_iter().enumerate() {
            buffer.push(f, i as u64 * 20_000);
            pcm.extend(buffer.drain_to(2 * MAX_DEPTH).unwrap());
            assert!(buffer.buffered() <= 2 * MAX_DEPTH);
        }
        pcm.extend(buffer.drain_to(0).unwrap());
        assert_eq!(buffer.buffered(), 0);
        assert_eq!(pcm.len(), 100 * FRAME_SAMPLES, "every frame, the lost one rebuilt");
        assert_eq!(buffer.stats().recovered, 1);
        // Opus delays the audio by a few milliseconds: compare at the best alignment.
        let r = (0..8)
            .map(|k| envelope_correlation(&frame_levels(&speech), &frame_levels(&pcm[k * 120..])))
            .fold(f32::MIN, f32::max);
        assert!(r > 0.9, "the drained audio follows the speech: r = {r}");

        // A jump of 500 frames in the sequence is not 10 s of concealment.
        let mut encoder = VoiceEncoder::new(DEFAULT_BITRATE, 0).unwrap();
        let mut frames = encoder.push(&speech_like(0.4)).unwrap();
        for f in &mut frames[10..] {
            f.seq = f.seq.wrapping_add(500);
        }
        for (i, f) in frames.into_iter().enumerate() {
            buffer.push(f, 3_000_000 + i as u64 * 20_000);
        }
        assert_eq!(buffer.drain_to(0).unwrap().len(), 20 * FRAME_SAMPLES);
    }
}
