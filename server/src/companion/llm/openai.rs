//! An OpenAI-compatible chat endpoint (`POST {base}/v1/chat/completions`, `stream: true`):
//! OpenAI itself, or a self-hosted server speaking the same API (vLLM, llama.cpp's
//! server, Ollama). The reply arrives as server-sent events, each `data:` line a JSON
//! chunk whose `choices[0].delta.content` is the next piece, until `data: [DONE]`.
//!
//! Two deadlines: the first piece must come within `first_piece` (a slow endpoint is
//! left for the local model before the user has waited long), and the whole reply within
//! `whole`.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use super::{BoxFuture, ChatModel, ChatTurn, GenerateOptions, LlmError};

/// The endpoint and its settings.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    client: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    first_piece: Duration,
    whole: Duration,
}

impl OpenAiChat {
    /// A client of `base_url` (e.g. `https://api.openai.com`, or one ending in `/v1`).
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        first_piece: Duration,
        whole: Duration,
    ) -> Result<Self, LlmError> {
        let base = base_url.trim_end_matches('/');
        let url = if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        // The process-wide TLS provider (already installed when a server state exists).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(first_piece)
            .build()
            .map_err(|e| LlmError::Unavailable(format!("http client: {e}")))?;
        Ok(Self { client, url, model: model.to_owned(), api_key, first_piece, whole })
    }

    async fn stream(
        &self,
        prompt: &[ChatTurn],
        options: GenerateOptions,
        pieces: &UnboundedSender<String>,
    ) -> Result<String, LlmError> {
        let started = Instant::now();
        let messages: Vec<_> =
            prompt.iter().map(|t| serde_json::json!({"role": t.role.as_str(), "content": t.content})).collect();
        let body = serde_json::json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        });
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let deadline = started + self.first_piece;
        let mut response = tokio::time::timeout_at(deadline, request.send())
            .await
            .map_err(|_| LlmError::Timeout(format!("no answer from {} in {:?}", self.url, self.first_piece)))?
            .map_err(|e| LlmError::Unavailable(format!("{}: {e}", self.url)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(LlmError::Unavailable(format!("{} answered HTTP {status}", self.url)));
        }
        let mut reply = String::new();
        let mut lines = SseLines::default();
        loop {
            let deadline = if reply.is_empty() { deadline } else { started + self.whole };
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| LlmError::Timeout(format!("{} stopped answering", self.url)))?
                .map_err(|e| LlmError::Unavailable(format!("{}: {e}", self.url)))?;
            let Some(chunk) = chunk else {
                return Err(LlmError::Failed(format!("{} closed the stream before [DONE]", self.url)));
            };
            for data in lines.push(&chunk) {
                match parse_event(&data)? {
                    Event::Done => return finish(reply),
                    Event::Piece(piece) => {
                        let _ = pieces.send(piece.clone());
                        reply.push_str(&piece);
                    }
                    Event::Nothing => {}
                }
            }
        }
    }
}

fn finish(reply: String) -> Result<String, LlmError> {
    let reply = reply.trim().to_owned();
    if reply.is_empty() {
        return Err(LlmError::Failed("the endpoint sent an empty reply".into()));
    }
    Ok(reply)
}

/// Splits a byte stream into the payloads of its `data:` lines.
#[derive(Debug, Default)]
struct SseLines {
    pending: Vec<u8>,
}

impl SseLines {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") {
                out.push(data.trim_start().to_owned());
            }
        }
        out
    }
}

enum Event {
    Piece(String),
    Done,
    Nothing,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Default, Deserialize)]
struct Delta {
    content: Option<String>,
}

fn parse_event(data: &str) -> Result<Event, LlmError> {
    if data == "[DONE]" {
        return Ok(Event::Done);
    }
    let chunk: Chunk =
        serde_json::from_str(data).map_err(|e| LlmError::Failed(format!("unreadable stream chunk: {e}")))?;
    Ok(match chunk.choices.into_iter().next().and_then(|c| c.delta.content) {
        Some(piece) if !piece.is_empty() => Event::Piece(piece),
        _ => Event::Nothing,
    })
}

impl ChatModel for OpenAiChat {
    fn name(&self) -> String {
        format!("openai:{}", self.model)
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a [ChatTurn],
        options: GenerateOptions,
        pieces: &'a UnboundedSender<String>,
    ) -> BoxFuture<'a, Result<String, LlmError>> {
        Box::pin(self.stream(prompt, options, pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_survive_arbitrary_chunking() {
        let stream = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
                      data: {\"choices\":[{\"delta\":{\"content\":\"Bon\"}}]}\r\n\r\n\
                      : keep-alive\n\
                      data: {\"choices\":[{\"delta\":{\"content\":\"jour é\"}}]}\n\n\
                      data: [DONE]\n\n";
        for cut in [1, 3, 7, 64, stream.len()] {
            let mut lines = SseLines::default();
            let mut text = String::new();
            let mut done = false;
            for chunk in stream.as_bytes().chunks(cut) {
                for data in lines.push(chunk) {
                    match parse_event(&data).unwrap() {
                        Event::Piece(p) => text.push_str(&p),
                        Event::Done => done = true,
                        Event::Nothing => {}
                    }
                }
            }
            assert_eq!(text, "Bonjour é", "cut {cut}");
            assert!(done);
        }
    }

    #[test]
    fn garbage_chunks_are_an_error_not_a_panic() {
        assert!(matches!(parse_event("{not json"), Err(LlmError::Failed(_))));
        assert!(matches!(parse_event("{\"choices\":[]}"), Ok(Event::Nothing)));
    }

    #[test]
    fn urls_accept_a_base_with_or_without_v1() {
        let t = Duration::from_secs(1);
        assert_eq!(OpenAiChat::new("http://h:1/", "m", None, t, t).unwrap().url, "http://h:1/v1/chat/completions");
        assert_eq!(OpenAiChat::new("http://h:1/v1", "m", None, t, t).unwrap().url, "http://h:1/v1/chat/completions");
    }
}
