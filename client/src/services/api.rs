//! The client's side of the server API: typed calls over HTTP with reqwest, the same for
//! the embedded server (loopback) and a remote one. Every failure becomes an
//! [`ApiError`] with something a person can read.

use std::time::Duration;

use nexus_net::vr_session::VrSessionReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// No answer: refused, DNS, TLS, timeout.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error body.
    #[error("{message} ({code}, HTTP {status})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// A signed-in session's tokens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tokens {
    /// Bearer token.
    pub access_token: String,
    /// One-time refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Me {
    /// User id.
    pub id: uuid::Uuid,
    /// Email.
    pub email: String,
    /// Username.
    pub username: String,
}

/// A new account.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Email.
    pub email: String,
    /// 3–32 of `A–Z a–z 0–9 _ . -`.
    pub username: String,
    /// 10–128 characters.
    pub password: String,
    /// `YYYY-MM-DD`; 18+ only.
    pub birth_date: String,
}

/// The moderation verdict on a chat message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Verdict {
    /// `allow`, `warn` or `block`.
    pub action: String,
    /// Why, when not allowed.
    #[serde(default)]
    pub reason: Option<String>,
    /// The mode it was decided in.
    pub mode: String,
}

/// One of the user's companions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompanionInfo {
    /// Its id.
    pub id: uuid::Uuid,
    /// Its name.
    pub name: String,
}

/// The companion's reply spoken: a WAV file and the mouth shapes on its clock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SpokenReply {
    /// Length of the audio, seconds.
    pub duration_s: f32,
    /// A 16-bit mono WAV file, base64.
    pub wav_base64: String,
    /// The viseme track (validated while parsing).
    pub visemes: nexus_avatar::lip_sync::VisemeTrack,
}

impl SpokenReply {
    /// The WAV file's bytes.
    pub fn wav(&self) -> Result<Vec<u8>, ApiError> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&self.wav_base64)
            .map_err(|e| ApiError::Protocol(format!("reply audio: {e}")))
    }
}

/// What the companion answered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompanionReply {
    /// What it says.
    pub text: String,
    /// How it feels (`JOY`, `EMPATHY`, …).
    pub emotion: String,
    /// How strongly, in [0, 1].
    pub intensity: f32,
    /// `allow`, `warn`, or `replaced` when moderation withheld what the model wrote.
    pub moderation: String,
    /// The reply spoken, when asked for.
    #[serde(default)]
    pub speech: Option<SpokenReply>,
}

/// One conversation turn: the verdict on the user's words and the companion's answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Turn {
    /// Moderation of the user's message (when `block`, nothing else happened).
    pub moderation: Verdict,
    /// The answer, unless the message was blocked or no model could answer.
    #[serde(default)]
    pub reply: Option<CompanionReply>,
    /// Facts the companion kept from the message.
    #[serde(default)]
    pub remembered: Vec<String>,
    /// Said when something did not go as usual (the model endpoint failed…).
    #[serde(default)]
    pub notice: Option<String>,
}

/// A spoken turn: what was heard, then the turn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VoiceTurn {
    /// What speech-to-text heard.
    pub transcript: Transcript,
    /// The turn it led to.
    pub turn: Turn,
}

/// What speech-to-text heard.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Transcript {
    /// The words.
    pub text: String,
}

/// How long a conversation turn may take: the embedded model on a slow CPU, a spoken
/// reply, speech-to-text of a 30-second clip.
pub const TURN_TIMEOUT: Duration = Duration::from_secs(120);

/// A typed client for one server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("nexus-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Unreachable { url: base.into(), reason: e.to_string() })?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// The server's base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: is anything Nexus-shaped answering?
    pub async fn health(&self) -> Result<(), ApiError> {
        let v: Value = self.call(reqwest::Method::GET, "/healthz", None, None::<&()>).await?;
        if v.get("status").is_some() { Ok(()) } else { Err(ApiError::Protocol(format!("healthz said {v}"))) }
    }

    /// Creates an account.
    pub async fn register(&self, reg: &Registration) -> Result<Me, ApiError> {
        self.call(reqwest::Method::POST, "/api/v1/auth/register", None, Some(reg)).await
    }

    /// Signs in with a password.
    pub async fn login(&self, email: &str, password: &str) -> Result<Tokens, ApiError> {
        let body = serde_json::json!({"email": email, "password": password});
        self.call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(&body)).await
    }

    /// Trades a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let body = serde_json::json!({"refresh_token": refresh_token});
        self.call(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&body)).await
    }

    /// The signed-in user.
    pub async fn me(&self, access: &str) -> Result<Me, ApiError> {
        self.call(reqwest::Method::GET, "/api/v1/users/me", Some(access), None::<&()>).await
    }

    /// The user's companions.
    pub async fn companions(&self, access: &str) -> Result<Vec<CompanionInfo>, ApiError> {
        self.call(reqwest::Method::GET, "/api/v1/companions", Some(access), None::<&()>).await
    }

    /// Creates a companion with the server's default look, personality and voice.
    pub async fn create_companion(&self, access: &str, name: &str) -> Result<CompanionInfo, ApiError> {
        let body = serde_json::json!({"name": name});
        self.call(reqwest::Method::POST, "/api/v1/companions", Some(access), Some(&body)).await
    }

    /// Says `text` to a companion; with `speak`, the reply comes with audio and visemes
    /// (seed §6.1: moderation → brain → moderation → TTS and lip sync).
    pub async fn say(&self, access: &str, companion: uuid::Uuid, text: &str, speak: bool) -> Result<Turn, ApiError> {
        let body = serde_json::json!({"text": text, "speak": speak});
        let path = format!("/api/v1/companions/{companion}/messages");
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body), &path, Some(access), TURN_TIMEOUT).await
    }

    /// Says `text` to a companion over the streamed endpoint: `progress` sees the reply
    /// a sentence at a time as the server's moderation passes it ([`TurnProgress`]), and
    /// the finished turn comes back as from [`ApiClient::say`].
    pub async fn say_streamed(
        &self,
        access: &str,
        companion: uuid::Uuid,
        text: &str,
        speak: bool,
        progress: impl FnMut(TurnProgress) + Send,
    ) -> Result<Turn, ApiError> {
        let path = format!("/api/v1/companions/{companion}/messages/stream");
        let body = serde_json::json!({"text": text, "speak": speak});
        self.stream_turn(&path, access, |req| req.json(&body), progress).await
    }

    /// POSTs to a streamed-turn endpoint (`with` adds the body) and reads its events.
    async fn stream_turn(
        &self,
        path: &str,
        access: &str,
        with: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        progress: impl FnMut(TurnProgress) + Send,
    ) -> Result<Turn, ApiError> {
        let unreachable = |e: reqwest::Error| ApiError::Unreachable { url: self.base.clone(), reason: reason(&e) };
        let req = with(self.http.post(format!("{}{path}", self.base)));
        let resp = req.bearer_auth(access).timeout(TURN_TIMEOUT).send().await.map_err(unreachable)?;
        self.read_turn(resp, path, progress).await
    }

    /// Reads a streamed turn's events, reporting progress, until its `turn` (or `error`).
    async fn read_turn(
        &self,
        mut resp: reqwest::Response,
        path: &str,
        mut progress: impl FnMut(TurnProgress) + Send,
    ) -> Result<Turn, ApiError> {
        let unreachable = |e: reqwest::Error| ApiError::Unreachable { url: self.base.clone(), reason: reason(&e) };
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.bytes().await.map_err(unreachable)?;
            return Err(rejected(status.as_u16(), &bytes, path));
        }
        let protocol = |what: &str, e: serde_json::Error| ApiError::Protocol(format!("{path}: {what}: {e}"));
        let mut events = SseParser::default();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            for (event, data) in events.push(&chunk) {
                match event.as_str() {
                    "transcript" => {
                        let heard: Transcript = serde_json::from_str(&data).map_err(|e| protocol("transcript", e))?;
                        progress(TurnProgress::Heard(heard.text));
                    }
                    "piece" => {
                        let piece: Value = serde_json::from_str(&data).map_err(|e| protocol("piece", e))?;
                        progress(TurnProgress::Piece(piece["text"].as_str().unwrap_or_default().to_owned()));
                    }
                    "audio" => {
                        #[derive(Deserialize)]
                        struct Audio {
                            speech: SpokenReply,
                        }
                        let audio: Audio = serde_json::from_str(&data).map_err(|e| protocol("audio", e))?;
                        progress(TurnProgress::Spoken(audio.speech));
                    }
                    "reset" => progress(TurnProgress::Reset),
                    "turn" => return serde_json::from_str(&data).map_err(|e| protocol("turn", e)),
                    "error" => {
                        let status = serde_json::from_str::<Value>(&data)
                            .ok()
                            .and_then(|v| v["status"].as_u64())
                            .and_then(|s| u16::try_from(s).ok())
                            .unwrap_or(500);
                        return Err(rejected(status, data.as_bytes(), path));
                    }
                    _ => {}
                }
            }
        }
        Err(ApiError::Protocol(format!("{path}: the stream ended without the turn")))
    }

    /// Speaks to a companion and streams the answer: what was heard, the reply a vetted
    /// sentence at a time, and each sentence's audio as soon as it is spoken.
    pub async fn talk_streamed(
        &self,
        access: &str,
        companion: uuid::Uuid,
        wav: Vec<u8>,
        progress: impl FnMut(TurnProgress) + Send,
    ) -> Result<Turn, ApiError> {
        let path = format!("/api/v1/companions/{companion}/voice/stream");
        let with = |req: reqwest::RequestBuilder| req.header(reqwest::header::CONTENT_TYPE, "audio/wav").body(wav);
        self.stream_turn(&path, access, with, progress).await
    }

    /// Speaks to a companion: a WAV clip is transcribed by the server and answered aloud.
    pub async fn talk(&self, access: &str, companion: uuid::Uuid, wav: Vec<u8>) -> Result<VoiceTurn, ApiError> {
        let path = format!("/api/v1/companions/{companion}/voice");
        let req =
            self.http.post(format!("{}{path}", self.base)).header(reqwest::header::CONTENT_TYPE, "audio/wav").body(wav);
        self.send(req, &path, Some(access), TURN_TIMEOUT).await
    }

    /// Stores the finished session's `vr_sessions` row.
    pub async fn report_session(&self, access: &str, report: &VrSessionReport) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, "/api/v1/vr-sessions", Some(access), Some(report)).await
    }

    /// The caller's recorded sessions, newest first.
    pub async fn sessions(&self, access: &str) -> Result<Vec<Value>, ApiError> {
        self.call(reqwest::Method::GET, "/api/v1/vr-sessions", Some(access), None::<&()>).await
    }

    async fn call<B: Serialize + ?Sized, T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        access: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        self.send(req, path, access, None).await
    }

    /// Sends a built request (with the bearer token, and a longer timeout when given) and
    /// reads the answer or the error body.
    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        mut req: reqwest::RequestBuilder,
        path: &str,
        access: Option<&str>,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<T, ApiError> {
        if let Some(token) = access {
            req = req.bearer_auth(token);
        }
        if let Some(timeout) = timeout.into() {
            req = req.timeout(timeout);
        }
        let resp =
            req.send().await.map_err(|e| ApiError::Unreachable { url: self.base.clone(), reason: reason(&e) })?;
        let status = resp.status();
        let bytes =
            resp.bytes().await.map_err(|e| ApiError::Unreachable { url: self.base.clone(), reason: reason(&e) })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol(format!("{path}: {e}")));
        }
        Err(rejected(status.as_u16(), &bytes, path))
    }
}

/// The error a server's `{"code", "message"}` body describes.
fn rejected(status: u16, body: &[u8], path: &str) -> ApiError {
    let err: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    ApiError::Rejected {
        status,
        code: err["code"].as_str().unwrap_or("unknown").to_owned(),
        message: err["message"].as_str().map_or_else(|| format!("HTTP {status} from {path}"), str::to_owned),
    }
}

/// What a streamed turn reports before it ends.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnProgress {
    /// What speech-to-text heard (a voice turn, first).
    Heard(String),
    /// More of the reply.
    Piece(String),
    /// A sentence of the reply spoken (a voice turn): play it after the ones before.
    Spoken(SpokenReply),
    /// Forget the pieces so far, and stop the audio (a sentence was withheld, or the
    /// server moved to another model).
    Reset,
}

/// Server-sent events from a byte stream: `(event, data)` once each event's blank line
/// arrives. Lines end in LF, CRLF or CR; several `data:` lines join with LF; comments
/// (keep-alives) and other fields are skipped.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Option<String>,
    after_cr: bool,
}

impl SseParser {
    /// Feeds `bytes`; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        let mut done = Vec::new();
        for &b in bytes {
            if self.after_cr && b == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                self.field(&line, &mut done);
            } else {
                self.line.push(b);
            }
        }
        done
    }

    fn field(&mut self, line: &str, done: &mut Vec<(String, String)>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                let event = std::mem::take(&mut self.event);
                done.push((if event.is_empty() { "message".to_owned() } else { event }, data));
            }
            self.event.clear();
            return;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "event" => value.clone_into(&mut self.event),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {} // comments (":…"), id, retry
        }
    }
}

/// The most specific cause of a reqwest error, without the URL noise.
fn reason(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() { "timed out".into() } else { cause.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sent_events_are_split_whatever_the_chunks_and_line_ends() {
        let stream = b": keep-alive\n\nevent: piece\ndata: {\"text\":\"Hel\"}\n\nevent: piece\r\ndata: {\"text\":\"lo\"}\r\n\r\nevent: reset\rdata: {}\r\revent: turn\ndata: a\ndata: b\n\n";
        let whole = SseParser::default().push(stream);
        let expected = vec![
            ("piece".to_owned(), r#"{"text":"Hel"}"#.to_owned()),
            ("piece".to_owned(), r#"{"text":"lo"}"#.to_owned()),
            ("reset".to_owned(), "{}".to_owned()),
            ("turn".to_owned(), "a\nb".to_owned()),
        ];
        assert_eq!(whole, expected);
        // Byte by byte, the same events.
        let mut parser = SseParser::default();
        let piecewise: Vec<_> = stream.iter().flat_map(|b| parser.push(&[*b])).collect();
        assert_eq!(piecewise, expected);
        // An event without its blank line is not complete yet.
        assert!(SseParser::default().push(b"event: turn\ndata: x\n").is_empty());
    }
}
