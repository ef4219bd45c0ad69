//! Know-your-customer verification, levels 0–3 (seed §7.1 `kyc_verifications`).
//!
//! A user submits a level with a document; the document number is encrypted at rest with
//! AES-256-GCM ([`crate::cipher`]), bound to the user id as associated data so a ciphertext
//! cannot be moved to another row. The provider reports its decision through a webhook
//! signed with HMAC-SHA256 over the raw body (hex in `X-SHA2-Signature`, as Onfido does);
//! an ADMIN can also decide by hand. Approvals expire. [`service::kyc3_verified_within`]
//! answers the moderation-mode question "KYC level 3 verified less than 6 months ago".

pub mod http;
pub mod service;
