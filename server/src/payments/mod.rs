//! Payments (seed §7.1 `payment_transactions`), Stripe-compatible.
//!
//! - [`service::create_checkout`] records a PENDING payment for a token pack or a month of a
//!   plan and returns the checkout session the client completes — created at Stripe
//!   through [`stripe`] when a secret key is configured, recorded locally otherwise;
//! - the provider's webhook ([`signature`]: `Stripe-Signature: t=…,v1=…`, HMAC-SHA256 over
//!   `t.body`, 300 s tolerance, every `v1` tried in constant time) reports the outcome;
//!   events are deduplicated by id in the same transaction as their effects, so a replay
//!   changes nothing;
//! - a completed checkout credits the pack's tokens (a PURCHASE with the payment as its
//!   idempotency key) or activates the plan; `invoice.paid` renews; failures and refunds
//!   update the payment. Every outcome is audited as PAYMENT.

pub mod http;
pub mod service;
pub mod signature;
pub mod stripe;
