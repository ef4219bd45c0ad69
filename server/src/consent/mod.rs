//! Adult-content consent (seed §7.1 `adult_content_consents`, the VIP+ gate of §3).
//!
//! A consent record is signed by the server with Ed25519 over a canonical, line-based
//! encoding of every field that matters ([`service::canonical_encoding`]), so it can be
//! verified later against the server's public key — a changed row no longer verifies.
//! Records can be revoked, expire, and carry the sign-in session they were signed in,
//! which answers "consent signed during this session" for the moderation mode decision.

pub mod http;
pub mod service;
