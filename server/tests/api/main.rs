//! Integration tests of the nexus-server API, each scenario on SQLite and PostgreSQL.

mod support;

mod accounts;
mod bad_input;
mod cluster;
mod companions;
mod kyc_consent;
mod ledger;
mod mail;
mod moderation_backends;
mod moderation_check;
mod moderation_media;
mod moderation_mode;
mod payments;
mod rooms;
mod surface;
mod vr_sessions;
