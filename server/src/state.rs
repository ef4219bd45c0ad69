//! The application state every handler receives: database, configuration, keys and the
//! services built from them. Cheap to clone (everything is shared).

use std::sync::Arc;

use crate::accounts::mail::Mailer;
use crate::accounts::password::PasswordHasher;
use crate::accounts::session::TokenSigner;
use crate::accounts::throttle::LoginRateLimiter;
use crate::companion::conversation::CompanionRuntime;
use crate::config::Config;
use crate::db::Db;
use crate::http::metrics::Metrics;
use crate::moderation::flood::FloodGuard;
use crate::moderation::pipeline::Moderator;
use crate::payments::stripe::StripeClient;
use crate::rooms::hub::{HubSettings, RoomHub};
use crate::secrets::Keys;

/// Shared state of one server node.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Configuration in force.
    pub config: Arc<Config>,
    /// Key material.
    pub keys: Arc<Keys>,
    /// Access-token signer.
    pub tokens: TokenSigner,
    /// Password hasher.
    pub passwords: PasswordHasher,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Per-IP login limiter.
    pub login_limiter: Arc<LoginRateLimiter>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Stripe client, when a secret key is configured.
    pub stripe: Option<StripeClient>,
    /// The moderation pipeline: pre-filter, URL list, classifier backends, thresholds.
    pub moderator: Moderator,
    /// Per-user flood and spam detection.
    pub flood_guard: Arc<FloodGuard>,
    /// Live rooms on this node.
    pub rooms: RoomHub,
    /// The companion's models (chat, embeddings, sentiment).
    pub companions: CompanionRuntime,
}

impl AppState {
    /// Builds the state: loads keys, connects and migrates the database.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let keys = Keys::load(&config)?;
        let url = config.resolved_database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(config.resolved_data_dir())?;
        }
        let db = Db::connect(&url, config.db_max_connections)
            .await
            .map_err(|e| anyhow::anyhow!("database {}: {e}", redact_url(&url)))?;
        let passwords = PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations)?;
        let mailer = Mailer::new(&config.mail_from, config.smtp_url.as_deref())?;
        // One TLS provider for every outgoing connection (reqwest, lettre); an error only
        // means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let moderator = Moderator::from_config(&config)?;
        let stripe = config
            .stripe_secret_key
            .as_deref()
            .map(|key| StripeClient::new(&config.stripe_api_base, key))
            .transpose()?;
        let node = config.node_name.clone().unwrap_or_else(|| format!("node-{}", std::process::id()));
        let mut rooms = RoomHub::new(HubSettings {
            tick_hz: config.rt_tick_hz.clamp(1, 240),
            resume_window: std::time::Duration::from_secs(config.room_resume_secs),
            rtc_udp: config.rtc_udp.clone(),
            ice_servers: config.ice_servers()?,
            node: node.clone(),
        });
        if let Some(url) = &config.nats_url {
            rooms = rooms.with_cluster(crate::rooms::cluster::Cluster::connect(url, &node).await?);
            tracing::info!(%node, "rooms shared over NATS");
        }
        let companions = CompanionRuntime::from_config(&config);
        if config.room_listen {
            match crate::rooms::listen::Ears::new(companions.stt.clone()) {
                Some(ears) => rooms = rooms.with_ears(ears),
                None => tracing::info!("no speech-to-text model: room voice is relayed, not transcribed"),
            }
        }
        Ok(Self {
            db,
            tokens: TokenSigner::new(&keys.jwt_secret, config.access_token_ttl_secs),
            passwords,
            mailer,
            login_limiter: Arc::new(LoginRateLimiter::new(config.login_rate_per_minute)),
            metrics: Arc::new(Metrics::new()),
            stripe,
            moderator,
            flood_guard: Arc::new(FloodGuard::new(config.flood_max_per_10s.max(1))),
            rooms,
            companions,
            keys: Arc::new(keys),
            config: Arc::new(config),
        })
    }
}

/// `url` with any password replaced by `***`, for logs and errors.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &creds[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_only() {
        assert_eq!(super::redact_url("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(super::redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
