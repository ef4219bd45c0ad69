//! Server configuration: every field is a flag and an environment variable, each with a
//! documented default, so `nexus-server` with no configuration at all runs the embedded
//! default (SQLite in the data directory, 127.0.0.1:8080).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Runtime configuration of a Nexus server node.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "NEXUS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database, generated keys and local files.
    /// Default: the platform data directory + `nexus` (e.g. ~/.local/share/nexus).
    #[arg(long, env = "NEXUS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Database URL: `postgres://…` for PostgreSQL, `sqlite://path?mode=rwc` for SQLite.
    /// Default: `<data-dir>/nexus.db` (SQLite).
    #[arg(long, env = "NEXUS_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Maximum pooled database connections (PostgreSQL; SQLite always uses one writer).
    #[arg(long, env = "NEXUS_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Public base URL used in links sent by email.
    #[arg(long, env = "NEXUS_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    pub public_url: String,

    /// SMTP URL for outgoing mail (`smtp://user:pass@host:587`, `smtps://…`,
    /// `smtp://host:port?tls=none` for a local relay). Default: none — links go to the log.
    #[arg(long, env = "NEXUS_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// Sender address of outgoing mail.
    #[arg(long, env = "NEXUS_MAIL_FROM", default_value = "Nexus <no-reply@nexus.local>")]
    pub mail_from: String,

    /// HMAC secret for access tokens (base64, ≥ 32 bytes). Default: generated once and
    /// kept in `<data-dir>/secrets.json`. Every node of a cluster must share it.
    #[arg(long, env = "NEXUS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// AES-256-GCM key for KYC document numbers (base64, 32 bytes). Default: generated
    /// once and kept in `<data-dir>/secrets.json`.
    #[arg(long, env = "NEXUS_KYC_KEY", hide_env_values = true)]
    pub kyc_key: Option<String>,

    /// AES-256-GCM key for companion conversations and memories (base64, 32 bytes).
    /// Default: generated once and kept in `<data-dir>/secrets.json`. Every node of a
    /// cluster must share it.
    #[arg(long, env = "NEXUS_CONTENT_KEY", hide_env_values = true)]
    pub content_key: Option<String>,

    /// Ed25519 seed that signs consent records (base64, 32 bytes). Default: generated once
    /// and kept in `<data-dir>/secrets.json`.
    #[arg(long, env = "NEXUS_CONSENT_SIGNING_KEY", hide_env_values = true)]
    pub consent_signing_key: Option<String>,

    /// Shared secret of the KYC provider's webhook (HMAC-SHA256 over the raw body, hex in
    /// `X-SHA2-Signature`). Default: generated once and kept in `<data-dir>/secrets.json`.
    #[arg(long, env = "NEXUS_KYC_WEBHOOK_SECRET", hide_env_values = true)]
    pub kyc_webhook_secret: Option<String>,

    /// Stripe webhook signing secret (`whsec_…`). Default: generated once and kept in
    /// `<data-dir>/secrets.json`.
    #[arg(long, env = "NEXUS_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Stripe secret API key (`sk_…`). With it, checkout sessions are created at Stripe;
    /// without it (the embedded default) they are recorded locally only.
    #[arg(long, env = "NEXUS_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// Base URL of the Stripe API.
    #[arg(long, env = "NEXUS_STRIPE_API_BASE", default_value = "https://api.stripe.com")]
    pub stripe_api_base: String,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "NEXUS_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl_secs: i64,

    /// Refresh-token lifetime in days.
    #[arg(long, env = "NEXUS_REFRESH_TOKEN_TTL_DAYS", default_value_t = 30)]
    pub refresh_token_ttl_days: i64,

    /// Consecutive failed logins before an account is locked.
    #[arg(long, env = "NEXUS_LOCKOUT_THRESHOLD", default_value_t = 5)]
    pub lockout_threshold: i32,

    /// Lockout duration in seconds.
    #[arg(long, env = "NEXUS_LOCKOUT_SECS", default_value_t = 900)]
    pub lockout_secs: i64,

    /// Login attempts allowed per client IP per minute.
    #[arg(long, env = "NEXUS_LOGIN_RATE_PER_MINUTE", default_value_t = 30)]
    pub login_rate_per_minute: u32,

    /// Argon2id memory cost in KiB (OWASP: 19 MiB with t=2, p=1).
    #[arg(long, env = "NEXUS_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env = "NEXUS_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// Largest accepted request body in bytes.
    #[arg(long, env = "NEXUS_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Stripe webhook timestamp tolerance in seconds.
    #[arg(long, env = "NEXUS_WEBHOOK_TOLERANCE_SECS", default_value_t = 300)]
    pub webhook_tolerance_secs: i64,

    /// How long an approved KYC verification stays valid, in days.
    #[arg(long, env = "NEXUS_KYC_VALIDITY_DAYS", default_value_t = 365)]
    pub kyc_validity_days: i64,

    /// How long a signed consent stays valid, in days.
    #[arg(long, env = "NEXUS_CONSENT_VALIDITY_DAYS", default_value_t = 180)]
    pub consent_validity_days: i64,

    /// Directory of the moderation lexicons (`*.tsv`). Default: the repository's
    /// `assets/moderation/lexicon`.
    #[arg(long, env = "NEXUS_LEXICON_DIR")]
    pub lexicon_dir: Option<PathBuf>,

    /// Prohibited URL list (`category<TAB>host-pattern` lines). Default: the repository's
    /// `assets/moderation/urls.tsv`.
    #[arg(long, env = "NEXUS_URL_LIST")]
    pub url_list: Option<PathBuf>,

    /// Moderation thresholds per mode, as JSON (the shape of `policy::Thresholds`).
    /// Default: the seed's numbers.
    #[arg(long, env = "NEXUS_MODERATION_THRESHOLDS")]
    pub moderation_thresholds: Option<PathBuf>,

    /// Classifier backend: `local` (built-in multilingual-e5 model), `openai` (an OpenAI-compatible
    /// `/v1/moderations` endpoint) or `llama-guard` (a Llama-Guard chat endpoint). Remote
    /// backends fall back to the local model when they fail.
    #[arg(long, env = "NEXUS_CLASSIFIER", default_value = "local")]
    pub classifier: String,

    /// Base URL of the remote classifier (e.g. `https://api.openai.com`).
    #[arg(long, env = "NEXUS_CLASSIFIER_URL")]
    pub classifier_url: Option<String>,

    /// Bearer token of the remote classifier.
    #[arg(long, env = "NEXUS_CLASSIFIER_API_KEY", hide_env_values = true)]
    pub classifier_api_key: Option<String>,

    /// Model name sent to the remote classifier. Default: `omni-moderation-latest`
    /// (openai) or `llama-guard-3-8b` (llama-guard).
    #[arg(long, env = "NEXUS_CLASSIFIER_MODEL")]
    pub classifier_model: Option<String>,

    /// Timeout of one remote classifier request, in milliseconds.
    #[arg(long, env = "NEXUS_CLASSIFIER_TIMEOUT_MS", default_value_t = 3000)]
    pub classifier_timeout_ms: u64,

    /// Directory of fetched model weights (`cargo xtask fetch-models`).
    /// Default: `~/.cache/nexus/models`.
    #[arg(long, env = "NEXUS_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,

    /// The local classifier's trained heads. Default: the repository's
    /// `assets/moderation/classifier/heads.json`.
    #[arg(long, env = "NEXUS_CLASSIFIER_HEADS")]
    pub classifier_heads: Option<PathBuf>,

    /// Known prohibited image hashes (PDQ, one 64-hex-digit hash per line, optional
    /// `<TAB>category`). Default: none.
    #[arg(long, env = "NEXUS_IMAGE_HASH_LIST")]
    pub image_hash_list: Option<PathBuf>,

    /// Log format: `pretty` or `json`.
    #[arg(long, env = "NEXUS_LOG_FORMAT", default_value = "pretty")]
    pub log_format: String,

    /// Snapshot rate of rooms (Hz): how often each member is sent the avatars in view.
    #[arg(long, env = "NEXUS_RT_TICK_HZ", default_value_t = 72)]
    pub rt_tick_hz: u16,

    /// Local UDP addresses WebRTC binds (comma-separated `ip:port`, port 0 = any).
    /// Use the host's public interface in production; loopback when embedded.
    #[arg(long, env = "NEXUS_RTC_UDP", default_value = "0.0.0.0:0", value_delimiter = ',')]
    pub rtc_udp: Vec<String>,

    /// STUN/TURN servers for WebRTC, comma-separated URLs (`stun:host:3478`,
    /// `turn:host:3478?transport=udp`). The server gathers its candidates with them and
    /// names them to clients in the `welcome`. Default: none — host candidates only,
    /// enough on one machine, a LAN, or a server with a public address.
    #[arg(long, env = "NEXUS_ICE_SERVERS", value_delimiter = ',')]
    pub ice_servers: Vec<String>,

    /// User name for the `turn:` servers of `--ice-servers`.
    #[arg(long, env = "NEXUS_TURN_USERNAME")]
    pub turn_username: Option<String>,

    /// Credential for the `turn:` servers of `--ice-servers` (a secret: prefer the
    /// environment).
    #[arg(long, env = "NEXUS_TURN_CREDENTIAL", hide_env_values = true)]
    pub turn_credential: Option<String>,

    /// Listen to members' voice in rooms: speech-to-text, moderation of what is said
    /// (a block mutes the speaker) and live captions. Needs the speech-to-text model;
    /// `false` only relays voice.
    #[arg(long, env = "NEXUS_ROOM_LISTEN", default_value_t = true, action = clap::ArgAction::Set)]
    pub room_listen: bool,

    /// How long a dropped member keeps their slot, waiting to resume (seconds).
    #[arg(long, env = "NEXUS_ROOM_RESUME_SECS", default_value_t = 20)]
    pub room_resume_secs: u64,

    /// NATS URL (`nats://host:4222`) to share rooms with other nodes. Default: none —
    /// rooms live on this node only.
    #[arg(long, env = "NEXUS_NATS_URL")]
    pub nats_url: Option<String>,

    /// This node's name in logs and `welcome` messages. Default: `node-<pid>`.
    #[arg(long, env = "NEXUS_NODE_NAME")]
    pub node_name: Option<String>,

    /// Base URL of an OpenAI-compatible chat endpoint for the companion (e.g.
    /// `https://api.openai.com`, or a local vLLM / llama.cpp server). Default: none — the
    /// embedded SmolLM2 model answers. With one, the local model answers when it fails.
    #[arg(long, env = "NEXUS_LLM_URL")]
    pub llm_url: Option<String>,

    /// Model name sent to the chat endpoint.
    #[arg(long, env = "NEXUS_LLM_MODEL", default_value = "gpt-4o-mini")]
    pub llm_model: String,

    /// Bearer token of the chat endpoint.
    #[arg(long, env = "NEXUS_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    /// How long the chat endpoint may take to start answering before the local model
    /// takes over, in milliseconds.
    #[arg(long, env = "NEXUS_LLM_FIRST_TOKEN_MS", default_value_t = 4000)]
    pub llm_first_token_ms: u64,

    /// Messages one user may send per 10 seconds before further ones are refused as a
    /// flood (seed §3.1 step 2A).
    #[arg(long, env = "NEXUS_FLOOD_MAX_PER_10S", default_value_t = 20)]
    pub flood_max_per_10s: usize,

    /// Earlier conversation turns put into each prompt (at most 12); memories reach
    /// further back.
    #[arg(long, env = "NEXUS_LLM_HISTORY_TURNS", default_value_t = 12)]
    pub llm_history_turns: u32,

    /// Messages between two conversation summaries (0 = no summaries).
    #[arg(long, env = "NEXUS_SUMMARY_EVERY", default_value_t = 20)]
    pub summary_every: u32,

    /// Longest a companion reply may be, in tokens.
    #[arg(long, env = "NEXUS_LLM_MAX_TOKENS", default_value_t = 96)]
    pub llm_max_tokens: usize,
}

impl Config {
    /// The data directory, resolved against the platform default.
    #[must_use]
    pub fn resolved_data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("nexus"))
    }

    /// The database URL, resolved against the embedded default.
    #[must_use]
    pub fn resolved_database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.resolved_data_dir().join("nexus.db").display()))
    }

    /// The ICE servers of `--ice-servers`: the STUN URLs as one server, the TURN URLs as
    /// another with the TURN credentials. Refuses unknown schemes and TURN without
    /// credentials.
    pub fn ice_servers(&self) -> anyhow::Result<Vec<nexus_net::control::IceServer>> {
        use nexus_net::control::IceServer;
        let urls: Vec<&str> = self.ice_servers.iter().map(|u| u.trim()).filter(|u| !u.is_empty()).collect();
        let is_turn = |u: &&str| u.starts_with("turn:") || u.starts_with("turns:");
        let (turn, stun): (Vec<&str>, Vec<&str>) = urls.into_iter().partition(is_turn);
        let mut servers = Vec::new();
        if !stun.is_empty() {
            servers.push(IceServer { urls: stun.into_iter().map(str::to_owned).collect(), ..IceServer::default() });
        }
        if !turn.is_empty() {
            servers.push(IceServer {
                urls: turn.into_iter().map(str::to_owned).collect(),
                username: self.turn_username.clone().unwrap_or_default(),
                credential: self.turn_credential.clone().unwrap_or_default(),
            });
        }
        for server in &servers {
            server.validate().map_err(|e| anyhow::anyhow!("--ice-servers: {e}"))?;
        }
        Ok(servers)
    }

    /// A configuration with every default, rooted in `data_dir` (tests, embedding).
    #[must_use]
    pub fn embedded(data_dir: PathBuf) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        // An empty command line yields every documented default (NEXUS_* variables, if
        // set, still apply, as they would for the binary).
        let mut config = Wrapper::parse_from(["nexus"]).config;
        config.data_dir = Some(data_dir);
        // In-process, WebRTC only ever talks to this machine.
        if std::env::var_os("NEXUS_RTC_UDP").is_none() {
            config.rtc_udp = vec!["127.0.0.1:0".to_owned()];
        }
        config
    }
}
