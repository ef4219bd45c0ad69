//! Tokens: the append-only ledger behind each user's wallet (seed §5.1 `TokenWallet`,
//! §7.1 `token_wallets` / `token_transactions`).
//!
//! Invariants, enforced by the database as well as the code:
//! - a balance never goes negative (`CHECK (balance >= 0)` and a conditional
//!   `UPDATE … WHERE balance >= amount` in the same transaction as the ledger row);
//! - the ledger is append-only and signed: the sum of a wallet's amounts is its balance;
//! - every mutation carries an idempotency key, unique per wallet: a replay returns the
//!   original entry and changes nothing;
//! - long jobs reserve tokens with a hold (a SPEND now) that is later captured (kept) or
//!   released (a REFUND).
//!
//! [`ledger`] holds the operations, [`http`] the routes.

pub mod http;
pub mod ledger;
