//! Audio → [`Frame`]s: resampling to 16 kHz, windows, the FFT, MFCCs, the energy gate.

use std::collections::VecDeque;
use std::f64::consts::{PI, TAU};

use super::{
    ANALYSIS_RATE, AudioError, CEPSTRA, DB_PER_NEPER_POWER, DELTA_HOPS, FEATURES, FFT_LEN, HOP, MEL_HIGH_HZ,
    MEL_LOW_HZ, MELS, NOISE_BLOCK_FRAMES, NOISE_BLOCKS, NOISE_MARGIN_DB, POWER_FLOOR, PRE_EMPHASIS, RESAMPLE_HALF_TAPS,
    SILENCE_DB, STATIC, WINDOW,
};

/// An in-place iterative radix-2 FFT of one power-of-two size (twiddles and bit reversal
/// precomputed).
#[derive(Debug, Clone)]
pub struct Fft {
    cos: Vec<f32>,
    sin: Vec<f32>,
    bit_reverse: Vec<usize>,
}

impl Fft {
    /// An FFT of `size` points; `None` unless `size` is a power of two.
    #[must_use]
    pub fn new(size: usize) -> Option<Self> {
        if !size.is_power_of_two() {
            return None;
        }
        let bits = size.trailing_zeros();
        let bit_reverse =
            (0..size).map(|i| if bits == 0 { 0 } else { i.reverse_bits() >> (usize::BITS - bits) }).collect();
        let angle = |k: usize| -TAU * k as f64 / size as f64;
        let cos = (0..size / 2).map(|k| angle(k).cos() as f32).collect();
        let sin = (0..size / 2).map(|k| angle(k).sin() as f32).collect();
        Some(Self { cos, sin, bit_reverse })
    }

    /// The number of points.
    #[must_use]
    pub fn size(&self) -> usize {
        self.bit_reverse.len()
    }

    /// The forward transform `X[k] = Σ x[n]·e^(−2πi·kn/N)` of (`re`, `im`), in place.
    ///
    /// # Errors
    /// [`AudioError::FftBuffer`] unless both buffers hold [`Self::size`] values.
    pub fn forward(&self, re: &mut [f32], im: &mut [f32]) -> Result<(), AudioError> {
        if re.len() != self.size() || im.len() != self.size() {
            return Err(AudioError::FftBuffer { expected: self.size(), re: re.len(), im: im.len() });
        }
        self.transform(re, im);
        Ok(())
    }

    /// [`Self::forward`] on buffers known to have the right length.
    fn transform(&self, re: &mut [f32], im: &mut [f32]) {
        let n = self.size();
        for (i, &j) in self.bit_reverse.iter().enumerate() {
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut span = 2;
        while span <= n {
            let half = span / 2;
            let stride = n / span;
            for start in (0..n).step_by(span) {
                for k in 0..half {
                    let (wr, wi) = (self.cos[k * stride], self.sin[k * stride]);
                    let (a, b) = (start + k, start + k + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            span *= 2;
        }
    }
}

/// ln energy and MFCCs of one window.
#[derive(Debug, Clone)]
struct Mfcc {
    fft: Fft,
    window: Vec<f32>,
    /// Per mel band: (FFT bin, weight) of its triangle.
    filters: Vec<Vec<(usize, f32)>>,
    /// Orthonormal DCT-II rows for c0…c12.
    dct: Vec<[f32; MELS]>,
    re: Vec<f32>,
    im: Vec<f32>,
}

impl Mfcc {
    fn new() -> Self {
        let fft = Fft::new(FFT_LEN).expect("invariant: FFT_LEN is a power of two");
        let window: Vec<f32> =
            (0..WINDOW).map(|i| (0.5 - 0.5 * (TAU * i as f64 / WINDOW as f64).cos()) as f32).collect();
        let mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
        let hz = |mel: f64| 700.0 * (10_f64.powf(mel / 2595.0) - 1.0);
        let (low, high) = (mel(MEL_LOW_HZ), mel(MEL_HIGH_HZ));
        let bins: Vec<f64> = (0..MELS + 2)
            .map(|i| hz(low + (high - low) * i as f64 / (MELS + 1) as f64) * FFT_LEN as f64 / f64::from(ANALYSIS_RATE))
            .collect();
        let filters: Vec<Vec<(usize, f32)>> = bins
            .windows(3)
            .map(|edges| {
                let (l, c, r) = (edges[0], edges[1], edges[2]);
                (0..=FFT_LEN / 2)
                    .filter_map(|k| {
                        let f = k as f64;
                        let weight = if l < f && f <= c {
                            (f - l) / (c - l)
                        } else if c < f && f < r {
                            (r - f) / (r - c)
                        } else {
                            0.0
                        };
                        (weight > 0.0).then_some((k, weight as f32))
                    })
                    .collect()
            })
            .collect();
        let dct: Vec<[f32; MELS]> = (0..CEPSTRA)
            .map(|q| {
                let norm = (2.0 / MELS as f64).sqrt() * if q == 0 { 0.5_f64.sqrt() } else { 1.0 };
                let mut row = [0.0; MELS];
                for (m, value) in row.iter_mut().enumerate() {
                    *value = (norm * (PI * q as f64 * (2 * m + 1) as f64 / (2 * MELS) as f64).cos()) as f32;
                }
                row
            })
            .collect();
        Self { fft, window, filters, dct, re: vec![0.0; FFT_LEN], im: vec![0.0; FFT_LEN] }
    }

    /// ln(mean square + 1e−10), then c0…c12 of `window` ([`WINDOW`] samples); `before`
    /// is the sample preceding it (0 at the start), for pre-emphasis.
    fn features(&mut self, window: &[f32], before: f32) -> [f32; STATIC] {
        let mut out = [0.0; STATIC];
        let energy: f64 = window.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        out[0] = (energy / WINDOW as f64 + POWER_FLOOR).ln() as f32;
        self.re.fill(0.0);
        self.im.fill(0.0);
        let mut previous = before;
        for ((re, &x), &w) in self.re.iter_mut().zip(window).zip(&self.window) {
            *re = (x - PRE_EMPHASIS * previous) * w;
            previous = x;
        }
        self.fft.transform(&mut self.re, &mut self.im);
        let mut log_mel = [0.0_f32; MELS];
        for (value, filter) in log_mel.iter_mut().zip(&self.filters) {
            let power: f64 = filter
                .iter()
                .map(|&(k, w)| f64::from(w) * f64::from(self.re[k] * self.re[k] + self.im[k] * self.im[k]))
                .sum();
            *value = (power + POWER_FLOOR).ln() as f32;
        }
        for (c, row) in out[1..].iter_mut().zip(&self.dct) {
            *c = row.iter().zip(&log_mel).map(|(a, b)| a * b).sum();
        }
        out
    }
}

/// A streaming polyphase windowed-sinc resampler: 32 Hann-windowed taps, low-passed
/// below the lower Nyquist frequency. Output sample `j` is the input at time `j / to_hz`;
/// positions are exact integers, so chunking never changes the output.
#[derive(Debug, Clone)]
struct Resampler {
    from_hz: u64,
    to_hz: u64,
    gcd: u64,
    cutoff: f64,
    passthrough: bool,
    /// Kernel rows per output phase (`to_hz / gcd` of them), if there are few enough.
    table: Vec<f32>,
    input: Vec<f32>,
    input_start: u64,
    input_total: u64,
    next_out: u64,
}

const TAPS: usize = 2 * RESAMPLE_HALF_TAPS;
const MAX_PHASES: u64 = 4096;

impl Resampler {
    fn new(from_hz: u32, to_hz: u32) -> Self {
        let (from_hz, to_hz) = (u64::from(from_hz.max(1)), u64::from(to_hz.max(1)));
        let gcd = gcd(from_hz, to_hz);
        let cutoff = (to_hz as f64 / from_hz as f64).min(1.0);
        let phases = to_hz / gcd;
        let table = if phases <= MAX_PHASES {
            (0..phases).flat_map(|phase| kernel_row(cutoff, (phase * gcd) as f64 / to_hz as f64)).collect()
        } else {
            Vec::new()
        };
        Self {
            from_hz,
            to_hz,
            gcd,
            cutoff,
            passthrough: from_hz == to_hz,
            table,
            input: Vec::new(),
            input_start: 0,
            input_total: 0,
            next_out: 0,
        }
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        self.input_total += samples.len() as u64;
        if self.passthrough {
            out.extend_from_slice(samples);
            return;
        }
        self.input.extend_from_slice(samples);
        self.produce(out, u64::MAX);
    }

    /// Ends the stream: zero-pads so the last outputs (up to the input's length) come out.
    fn finish(&mut self, out: &mut Vec<f32>) {
        if self.passthrough {
            return;
        }
        let total = self.input_total * self.to_hz / self.from_hz;
        self.input.extend(std::iter::repeat_n(0.0, TAPS));
        self.produce(out, total);
    }

    fn produce(&mut self, out: &mut Vec<f32>, limit: u64) {
        let half = RESAMPLE_HALF_TAPS as u64;
        let available = self.input_start + self.input.len() as u64;
        while self.next_out < limit {
            let position = self.next_out * self.from_hz;
            let (centre, remainder) = (position / self.to_hz, position % self.to_hz);
            if centre + half >= available {
                break;
            }
            let weights = self.weights(remainder);
            let mut sum = 0.0_f64;
            for (tap, weight) in weights.iter().enumerate() {
                // Tap i reads input sample centre − half + 1 + i (zero before the stream).
                let x = (centre + 1 + tap as u64)
                    .checked_sub(half)
                    .and_then(|k| k.checked_sub(self.input_start))
                    .and_then(|i| self.input.get(usize::try_from(i).ok()?))
                    .copied()
                    .unwrap_or(0.0);
                sum += f64::from(*weight) * f64::from(x);
            }
            out.push(sum as f32);
            self.next_out += 1;
        }
        // Drop the input that the next output no longer reaches.
        let next_centre = self.next_out.saturating_mul(self.from_hz) / self.to_hz;
        let keep_from = (next_centre + 1).saturating_sub(half);
        let drop = keep_from.saturating_sub(self.input_start).min(self.input.len() as u64);
        self.input.drain(..drop as usize);
        self.input_start += drop;
    }

    /// The taps for an output `remainder / to_hz` of an input sample past its centre.
    fn weights(&self, remainder: u64) -> [f32; TAPS] {
        let phase = (remainder / self.gcd) as usize;
        self.table
            .get(phase * TAPS..(phase + 1) * TAPS)
            .and_then(|cached| cached.try_into().ok())
            .unwrap_or_else(|| kernel_row(self.cutoff, remainder as f64 / self.to_hz as f64))
    }
}

/// The 32 kernel taps for a fractional position `frac` ∈ [0, 1): tap i sits at offset
/// `i − 15` from the centre sample, at distance `frac − offset`.
fn kernel_row(cutoff: f64, frac: f64) -> [f32; TAPS] {
    let half = RESAMPLE_HALF_TAPS as f64;
    let mut row = [0.0; TAPS];
    for (i, weight) in row.iter_mut().enumerate() {
        let d = frac - (i as f64 - (half - 1.0));
        let x = cutoff * d;
        let sinc = if x.abs() < 1e-9 { 1.0 } else { (PI * x).sin() / (PI * x) };
        *weight = (cutoff * sinc * (0.5 + 0.5 * (PI * d / half).cos())) as f32;
    }
    row
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The energy gate: open above a fixed level and above the noise floor, the quietest
/// level of the last 3 s (minimum over six 0.5 s blocks; silence until they fill).
#[derive(Debug, Clone)]
struct EnergyGate {
    gate_db: f32,
    blocks: [f32; NOISE_BLOCKS],
    block_min: f32,
    block_frames: u32,
    next_block: usize,
}

impl EnergyGate {
    fn new(gate_db: f32) -> Self {
        Self { gate_db, blocks: [SILENCE_DB; NOISE_BLOCKS], block_min: f32::INFINITY, block_frames: 0, next_block: 0 }
    }

    fn update(&mut self, level_db: f32) -> bool {
        let floor = self.blocks.iter().copied().fold(f32::INFINITY, f32::min);
        let open = level_db > self.gate_db.max(floor + NOISE_MARGIN_DB);
        self.block_min = self.block_min.min(level_db);
        self.block_frames += 1;
        if self.block_frames >= NOISE_BLOCK_FRAMES {
            self.blocks[self.next_block % NOISE_BLOCKS] = self.block_min;
            self.next_block = (self.next_block + 1) % NOISE_BLOCKS;
            self.block_min = f32::INFINITY;
            self.block_frames = 0;
        }
        open
    }
}

/// The features of one analysis window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Centre of the window, seconds from the start of the stream.
    pub time_s: f32,
    /// Mean-square level, dB full scale (samples in [−1, 1]).
    pub level_db: f32,
    /// Whether the energy gate is open (speech rather than silence or noise).
    pub voiced: bool,
    /// ln energy and c0…c12, then their deltas over 20 ms.
    pub features: [f32; FEATURES],
}

/// Streams samples (any rate, values in [−1, 1]) into [`Frame`]s, one per [`HOP`].
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    input_rate: u32,
    resampler: Resampler,
    mfcc: Mfcc,
    gate: EnergyGate,
    /// 16 kHz samples; `resampled[0]` has index `resampled_start` in the stream.
    resampled: Vec<f32>,
    resampled_start: u64,
    next_frame: u64,
    /// Static features of the last [`DELTA_HOPS`] frames, oldest first.
    history: VecDeque<[f32; STATIC]>,
}

impl FeatureExtractor {
    /// An extractor for samples at `input_rate` Hz, gating below `gate_db`.
    ///
    /// # Errors
    /// [`AudioError::ZeroSampleRate`] for a rate of 0.
    pub fn new(input_rate: u32, gate_db: f32) -> Result<Self, AudioError> {
        if input_rate == 0 {
            return Err(AudioError::ZeroSampleRate);
        }
        Ok(Self {
            input_rate,
            resampler: Resampler::new(input_rate, ANALYSIS_RATE),
            mfcc: Mfcc::new(),
            gate: EnergyGate::new(gate_db),
            resampled: Vec::new(),
            resampled_start: 0,
            next_frame: 0,
            history: VecDeque::with_capacity(DELTA_HOPS + 1),
        })
    }

    /// Adds `samples` and appends every window they complete to `frames`.
    pub fn push(&mut self, samples: &[f32], frames: &mut Vec<Frame>) {
        self.resampler.push(samples, &mut self.resampled);
        self.drain_frames(frames);
    }

    /// Ends the stream (offline use): flushes the resampler and appends the last frames.
    /// Push nothing after this.
    pub fn finish(&mut self, frames: &mut Vec<Frame>) {
        self.resampler.finish(&mut self.resampled);
        self.drain_frames(frames);
    }

    /// Worst-case age of the newest frame's centre relative to the newest sample pushed:
    /// half a window, one hop, and the resampler's look-ahead, in seconds.
    #[must_use]
    pub fn latency_s(&self) -> f32 {
        let analysis = (WINDOW / 2 + HOP) as f32 / ANALYSIS_RATE as f32;
        let resampler =
            if self.input_rate == ANALYSIS_RATE { 0.0 } else { RESAMPLE_HALF_TAPS as f32 / self.input_rate as f32 };
        analysis + resampler
    }

    fn drain_frames(&mut self, frames: &mut Vec<Frame>) {
        loop {
            let start = self.next_frame * HOP as u64;
            let Some(offset) = start.checked_sub(self.resampled_start).and_then(|o| usize::try_from(o).ok()) else {
                break;
            };
            let Some(window) = self.resampled.get(offset..offset + WINDOW) else {
                break;
            };
            let before = offset.checked_sub(1).and_then(|i| self.resampled.get(i)).copied().unwrap_or(0.0);
            let stat = self.mfcc.features(window, before);
            let mut features = [0.0; FEATURES];
            features[..STATIC].copy_from_slice(&stat);
            if self.history.len() == DELTA_HOPS
                && let Some(old) = self.history.front()
            {
                for ((delta, now), then) in features[STATIC..].iter_mut().zip(&stat).zip(old) {
                    *delta = (now - then) * 0.5;
                }
            }
            self.history.push_back(stat);
            if self.history.len() > DELTA_HOPS {
                self.history.pop_front();
            }
            let level_db = stat[0] * DB_PER_NEPER_POWER;
            let time_s = ((start as f64 + WINDOW as f64 / 2.0) / f64::from(ANALYSIS_RATE)) as f32;
            frames.push(Frame { time_s, level_db, voiced: self.gate.update(level_db), features });
            self.next_frame += 1;
        }
        // Keep the next window and the sample before it.
        let keep_from = (self.next_frame * HOP as u64).saturating_sub(1);
        let drop = keep_from.saturating_sub(self.resampled_start).min(self.resampled.len() as u64);
        self.resampled.drain(..drop as usize);
        self.resampled_start += drop;
    }
}

/// All frames of a recording (samples in [−1, 1] at `sample_rate`).
///
/// # Errors
/// [`AudioError::ZeroSampleRate`] for a rate of 0.
pub fn analyze(samples: &[f32], sample_rate: u32, gate_db: f32) -> Result<Vec<Frame>, AudioError> {
    let mut extractor = FeatureExtractor::new(sample_rate, gate_db)?;
    let mut frames = Vec::with_capacity(samples.len() * ANALYSIS_RATE as usize / HOP / sample_rate as usize + 1);
    extractor.push(samples, &mut frames);
    extractor.finish(&mut frames);
    Ok(frames)
}

/// 16-bit PCM as samples in [−1, 1).
#[must_use]
pub fn samples_from_i16(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lip_sync::audio::DEFAULT_GATE_DB;
    use crate::lip_sync::audio::signals::{noise, tone};

    #[test]
    fn fft_of_a_sine_peaks_at_its_bin() {
        let fft = Fft::new(512).unwrap();
        let mut re: Vec<f32> = (0..512).map(|i| (TAU * 37.0 * i as f64 / 512.0).sin() as f32).collect();
        let mut im = vec![0.0; 512];
        fft.forward(&mut re, &mut im).unwrap();
        let magnitude: Vec<f32> = re.iter().zip(&im).map(|(r, i)| r.hypot(*i)).collect();
        let peak = (0..=256).max_by(|&a, &b| magnitude[a].total_cmp(&magnitude[b])).unwrap();
        assert_eq!(peak, 37);
        assert!((magnitude[37] - 256.0).abs() < 0.01, "{}", magnitude[37]);
        for (bin, m) in magnitude.iter().enumerate() {
            assert!(bin == 37 || bin == 512 - 37 || *m < 0.01, "leak {m} at bin {bin}");
        }
    }

    #[test]
    fn fft_matches_a_direct_dft() {
        let n = 64;
        let x = noise(n, 7);
        let fft = Fft::new(n).unwrap();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        fft.forward(&mut re, &mut im).unwrap();
        for k in 0..n {
            let (mut dr, mut di) = (0.0_f64, 0.0_f64);
            for (j, &v) in x.iter().enumerate() {
                let angle = -TAU * (k * j) as f64 / n as f64;
                dr += f64::from(v) * angle.cos();
                di += f64::from(v) * angle.sin();
            }
            assert!((f64::from(re[k]) - dr).abs() < 1e-4 && (f64::from(im[k]) - di).abs() < 1e-4, "bin {k}");
        }
    }

    #[test]
    fn fft_rejects_bad_sizes() {
        assert!(Fft::new(0).is_none() && Fft::new(3).is_none() && Fft::new(100).is_none());
        let one = Fft::new(1).unwrap();
        let (mut re, mut im) = ([2.5], [0.0]);
        one.forward(&mut re, &mut im).unwrap();
        assert_eq!(re, [2.5]);
        let eight = Fft::new(8).unwrap();
        assert_eq!(
            eight.forward(&mut [0.0; 7], &mut [0.0; 8]),
            Err(AudioError::FftBuffer { expected: 8, re: 7, im: 8 })
        );
    }

    #[test]
    fn resampling_keeps_a_tone() {
        for (rate, hz) in [(48_000, 1000.0), (22_050, 440.0), (44_100, 3000.0)] {
            let input = tone(&[(hz, 0.5)], rate, 0.2);
            let mut resampler = Resampler::new(rate, ANALYSIS_RATE);
            let mut out = Vec::new();
            resampler.push(&input, &mut out);
            resampler.finish(&mut out);
            assert_eq!(out.len(), (input.len() as u64 * 16_000 / u64::from(rate)) as usize);
            let ideal = tone(&[(hz, 0.5)], ANALYSIS_RATE, 0.2);
            for (j, (got, want)) in out.iter().zip(&ideal).enumerate().skip(40).take(out.len() - 80) {
                assert!((got - want).abs() < 2e-3, "{rate} Hz, sample {j}: {got} vs {want}");
            }
        }
        let mut same = Resampler::new(16_000, 16_000);
        let mut out = Vec::new();
        same.push(&[0.25, -0.5], &mut out);
        assert_eq!(out, [0.25, -0.5]);
    }

    #[test]
    fn chunked_streaming_equals_offline_analysis() {
        let input: Vec<f32> = tone(&[(220.0, 0.3), (1500.0, 0.1)], 22_050, 0.5)
            .iter()
            .zip(noise(11_025, 3))
            .map(|(t, n)| t + 0.05 * n)
            .collect();
        let offline = analyze(&input, 22_050, DEFAULT_GATE_DB).unwrap();
        let mut extractor = FeatureExtractor::new(22_050, DEFAULT_GATE_DB).unwrap();
        let mut streamed = Vec::new();
        let mut rest = &input[..];
        for size in [1, 7, 100, 333, 50].into_iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            extractor.push(chunk, &mut streamed);
            rest = tail;
        }
        assert!(streamed.len() > 90, "{} frames", streamed.len());
        assert_eq!(streamed[..], offline[..streamed.len()]);
        assert!(offline.len() >= streamed.len());
    }

    #[test]
    fn frames_are_a_hop_apart_and_centred_on_their_window() {
        let frames = analyze(&noise(16_000, 1), ANALYSIS_RATE, DEFAULT_GATE_DB).unwrap();
        assert_eq!(frames.len(), 1 + (16_000 - WINDOW) / HOP);
        assert!((frames[0].time_s - 0.008).abs() < 1e-6);
        assert!((frames[1].time_s - frames[0].time_s - HOP as f32 / ANALYSIS_RATE as f32).abs() < 1e-6);
        assert!(frames.iter().all(|f| f.voiced && f.features.iter().all(|v| v.is_finite())));
        assert!(frames[..DELTA_HOPS].iter().all(|f| f.features[STATIC..].iter().all(|d| *d == 0.0)));
        assert!(frames[DELTA_HOPS].features[STATIC..].iter().any(|d| *d != 0.0));
        let extractor = FeatureExtractor::new(22_050, DEFAULT_GATE_DB).unwrap();
        assert!((0.008..1.0 / 90.0).contains(&extractor.latency_s()), "{}", extractor.latency_s());
        assert!(matches!(FeatureExtractor::new(0, DEFAULT_GATE_DB), Err(AudioError::ZeroSampleRate)));
    }

    #[test]
    fn silence_is_gated_and_features_stay_finite() {
        let silent = analyze(&[0.0; 8000], ANALYSIS_RATE, DEFAULT_GATE_DB).unwrap();
        assert!(!silent.is_empty());
        for frame in &silent {
            assert!(!frame.voiced);
            assert!((frame.level_db + 100.0).abs() < 0.01, "{}", frame.level_db);
            assert!(frame.features.iter().all(|v| v.is_finite()));
        }
        let square: Vec<f32> = (0..8000).map(|i| if (i / 40) % 2 == 0 { 1.0 } else { -1.0 }).collect();
        for frame in analyze(&square, ANALYSIS_RATE, DEFAULT_GATE_DB).unwrap() {
            assert!(frame.voiced && frame.features.iter().all(|v| v.is_finite()));
            assert!(frame.level_db.abs() < 0.01, "full scale is 0 dB");
        }
        assert!(analyze(&[], ANALYSIS_RATE, DEFAULT_GATE_DB).unwrap().is_empty());
    }

    #[test]
    fn the_gate_follows_the_noise_floor() {
        // Steady noise at about −30 dB FS for 5 s, then a −10 dB tone.
        let mut input: Vec<f32> = noise(80_000, 9).iter().map(|n| n * 0.055).collect();
        input.extend(tone(&[(300.0, 0.45)], ANALYSIS_RATE, 0.5));
        let frames = analyze(&input, ANALYSIS_RATE, DEFAULT_GATE_DB).unwrap();
        let voiced = |from: f32, to: f32| frames.iter().filter(|f| (from..to).contains(&f.time_s)).all(|f| f.voiced);
        let silent = |from: f32, to: f32| frames.iter().filter(|f| (from..to).contains(&f.time_s)).all(|f| !f.voiced);
        assert!(voiced(0.0, 2.9), "above the fixed gate while the floor is unknown");
        assert!(silent(3.1, 4.99), "then recognised as the noise floor");
        assert!(voiced(5.02, 5.45), "a louder sound still opens the gate");
        assert_eq!(samples_from_i16(&[i16::MIN, 0, 16384]), [-1.0, 0.0, 0.5]);
    }
}
