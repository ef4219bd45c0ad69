//! Services: the server the client talks to — nexus-server started in-process
//! ("embedded services", SQLite in the client's data directory, on a loopback port) or a
//! remote one given with `--server URL` — and signing in to it.
//!
//! Network calls run on a tokio runtime owned by [`Services`]; their results come back to
//! Bevy as [`ServiceEvent`] messages, so no system ever blocks on the network (except the
//! final session report at exit, which waits a bounded time).

pub mod api;
pub mod profile;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use bevy::prelude::*;

use self::api::{ApiClient, ApiError, CompanionInfo, Me, Registration, Tokens};
use self::profile::{Profile, ProfileStore};

/// Which server to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// Run nexus-server in-process on SQLite under `data_dir`.
    Embedded {
        /// The client's data directory.
        data_dir: PathBuf,
    },
    /// A remote server's base URL.
    Remote(String),
}

impl ServerChoice {
    /// The key remembered sign-ins are stored under.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Self::Embedded { .. } => "embedded",
            Self::Remote(url) => url,
        }
    }
}

/// Why services could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// The async runtime could not be built.
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
    /// The embedded server did not start.
    #[error("the embedded server did not start: {0}")]
    Embedded(String),
    /// The remote server did not answer.
    #[error(transparent)]
    Remote(ApiError),
}

/// Results of background calls, delivered to Bevy systems (a few per minute, so the
/// size of the largest variant does not matter).
#[derive(Message, Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum ServiceEvent {
    /// Signed in.
    SignedIn {
        /// Who.
        me: Me,
    },
    /// Signing in needs the user (no remembered profile, or it was refused).
    NeedsSignIn {
        /// Why, if something was tried and failed.
        reason: Option<String>,
    },
    /// The companion's reply so far — the sentences moderation has passed — while the
    /// model writes it (typed messages).
    Writing {
        /// Everything written yet.
        text: String,
    },
    /// What speech-to-text heard, before the companion answers (voice turns).
    Heard {
        /// The words.
        text: String,
    },
    /// A sentence of the reply spoken, to play after the ones before (voice turns).
    Spoken {
        /// Its audio and mouth shapes.
        speech: api::SpokenReply,
    },
    /// Stop the companion's voice and forget the sentences queued: what it was saying
    /// was taken back.
    Hush,
    /// The companion answered (or the turn failed).
    Answered {
        /// What the user said: the typed text, or what speech-to-text heard.
        said: Option<String>,
        /// Whether it was spoken (a voice clip) rather than typed.
        spoken: bool,
        /// The companion's name.
        companion: Option<String>,
        /// The turn, or why it failed.
        outcome: Result<api::Turn, ApiError>,
    },
}

/// The running services.
#[derive(Resource)]
pub struct Services {
    runtime: tokio::runtime::Runtime,
    api: ApiClient,
    choice: ServerChoice,
    embedded: Option<nexus_server::RunningServer>,
    profiles: std::sync::Arc<Mutex<ProfileStore>>,
    session: std::sync::Arc<Mutex<Option<Tokens>>>,
    companion: std::sync::Arc<tokio::sync::Mutex<Option<CompanionInfo>>>,
    tx: Sender<ServiceEvent>,
    rx: Mutex<Receiver<ServiceEvent>>,
}

impl Services {
    /// Starts the embedded server or checks that the remote one answers.
    pub fn start(choice: ServerChoice, data_dir: &Path, timeout: Duration) -> Result<Self, ServicesError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nexus-services")
            .enable_all()
            .build()
            .map_err(ServicesError::Runtime)?;
        let (embedded, base) = match &choice {
            ServerChoice::Embedded { data_dir } => {
                let server = runtime
                    .block_on(start_embedded(data_dir))
                    .map_err(|e| ServicesError::Embedded(format!("{e:#}")))?;
                let base = server.base_url();
                (Some(server), base)
            }
            ServerChoice::Remote(url) => (None, url.clone()),
        };
        let api = ApiClient::new(&base, timeout).map_err(ServicesError::Remote)?;
        if embedded.is_none() {
            runtime.block_on(api.health()).map_err(ServicesError::Remote)?;
        }
        let (tx, rx) = channel();
        Ok(Self {
            runtime,
            api,
            choice,
            embedded,
            profiles: std::sync::Arc::new(Mutex::new(ProfileStore::open(data_dir))),
            session: std::sync::Arc::new(Mutex::new(None)),
            companion: std::sync::Arc::default(),
            tx,
            rx: Mutex::new(rx),
        })
    }

    /// The server's base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.api.base()
    }

    /// The server's room protocol endpoint (`ws://…/v1/rt`, or `wss://` for HTTPS).
    #[must_use]
    pub fn room_url(&self) -> String {
        let base = self.api.base();
        let ws = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{base}"),
        };
        format!("{ws}{}", nexus_net::control::WS_PATH)
    }

    /// The runtime the services run on (for connections that outlive one call).
    #[must_use]
    pub fn runtime_handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Whether the server runs in-process.
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The current access token, if signed in.
    #[must_use]
    pub fn access_token(&self) -> Option<String> {
        self.session.lock().ok().and_then(|s| s.as_ref().map(|t| t.access_token.clone()))
    }

    /// Runs `f` on the runtime; its event, if any, reaches Bevy as a [`ServiceEvent`].
    fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = Option<ServiceEvent>> + Send + 'static,
    {
        let tx = self.tx.clone();
        self.runtime.spawn(async move {
            if let Some(ev) = f.await {
                let _ = tx.send(ev);
            }
        });
    }

    /// Signs in with the remembered profile (refresh token, or the local profile's
    /// password); with `demo_profile`, creates the embedded server's demo profile first
    /// if there is none. Answers with `SignedIn` or `NeedsSignIn`.
    pub fn resume(&self, demo_profile: bool) {
        self.forget_companion();
        let (api, profiles, session, key) =
            (self.api.clone(), self.profiles.clone(), self.session.clone(), self.choice.key().to_owned());
        let embedded = self.is_embedded();
        self.spawn(async move {
            let remembered = profiles.lock().ok().and_then(|p| p.get(&key).cloned());
            let result = match remembered {
                Some(p) => resume_profile(&api, &p).await,
                None if demo_profile && embedded => create_demo_profile(&api).await.map(|(t, p)| {
                    store(&profiles, &key, p);
                    t
                }),
                None => return Some(ServiceEvent::NeedsSignIn { reason: None }),
            };
            Some(finish_sign_in(&api, &profiles, &session, &key, result).await)
        });
    }

    /// Signs in with a password typed by the user.
    pub fn sign_in(&self, email: String, password: String) {
        self.forget_companion();
        let (api, profiles, session, key) =
            (self.api.clone(), self.profiles.clone(), self.session.clone(), self.choice.key().to_owned());
        self.spawn(async move {
            let result = api.login(&email, &password).await;
            if result.is_ok() {
                store(&profiles, &key, Profile { email, refresh_token: None, local_password: None });
            }
            Some(finish_sign_in(&api, &profiles, &session, &key, result).await)
        });
    }

    /// Creates an account, then signs in.
    pub fn register(&self, reg: Registration) {
        self.forget_companion();
        let (api, profiles, session, key) =
            (self.api.clone(), self.profiles.clone(), self.session.clone(), self.choice.key().to_owned());
        self.spawn(async move {
            let result = match api.register(&reg).await {
                Ok(_) => api.login(&reg.email, &reg.password).await,
                Err(e) => Err(e),
            };
            if result.is_ok() {
                store(&profiles, &key, Profile { email: reg.email.clone(), refresh_token: None, local_password: None });
            }
            Some(finish_sign_in(&api, &profiles, &session, &key, result).await)
        });
    }

    /// A new sign-in talks to that user's companion, not the previous user's.
    fn forget_companion(&self) {
        let slot = self.companion.clone();
        self.runtime.spawn(async move { *slot.lock().await = None });
    }

    /// Says `text` to the companion; the reply shows as [`ServiceEvent::Writing`] while the
    /// model writes it, then the turn (moderation verdict, reply with audio and visemes)
    /// arrives as [`ServiceEvent::Answered`].
    pub fn send_message(&self, text: String) {
        let tx = self.tx.clone();
        self.converse(false, move |api, token, companion| async move {
            let mut written = String::new();
            let progress = |p| report(&tx, &mut written, p);
            api.say_streamed(&token, companion, &text, true, progress).await.map(|turn| (Some(text), turn))
        });
    }

    /// Speaks to the companion: `wav` (a WAV clip) is transcribed by the server, and the
    /// transcript takes the typed path; what was heard shows as [`ServiceEvent::Heard`],
    /// the reply as [`ServiceEvent::Writing`] and each sentence's audio as
    /// [`ServiceEvent::Spoken`] as soon as the server has spoken it, then the turn.
    pub fn send_voice(&self, wav: Vec<u8>) {
        let tx = self.tx.clone();
        self.converse(true, move |api, token, companion| async move {
            let mut written = String::new();
            let mut heard = None;
            let progress = |p: api::TurnProgress| {
                if let api::TurnProgress::Heard(text) = &p {
                    heard = Some(text.clone());
                }
                report(&tx, &mut written, p);
            };
            let turn = api.talk_streamed(&token, companion, wav, progress).await?;
            Ok((heard, turn))
        });
    }

    /// One turn with the user's companion (found or created first): `call` sends what the
    /// user said and gives back the words as the server took them with the turn.
    fn converse<F, Fut>(&self, spoken: bool, call: F)
    where
        F: FnOnce(ApiClient, String, uuid::Uuid) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(Option<String>, api::Turn), ApiError>> + Send,
    {
        let (api, token, companion) = (self.api.clone(), self.access_token(), self.companion.clone());
        self.spawn(async move {
            let mut name = None;
            let outcome = async {
                let token = token.ok_or_else(not_signed_in)?;
                let info = ensure_companion(&api, &token, &companion).await?;
                name = Some(info.name);
                call(api.clone(), token, info.id).await
            }
            .await;
            let (said, outcome) = match outcome {
                Ok((said, turn)) => (said, Ok(turn)),
                Err(e) => (None, Err(e)),
            };
            Some(ServiceEvent::Answered { said, spoken, companion: name, outcome })
        });
    }

    /// Reports the finished session, waiting at most `wait` (called at exit).
    pub fn report_session_blocking(
        &self,
        report: &nexus_net::vr_session::VrSessionReport,
        wait: Duration,
    ) -> Result<(), ApiError> {
        let token = self.access_token().ok_or_else(not_signed_in)?;
        let api = self.api.clone();
        let report = report.clone();
        self.runtime.block_on(async move {
            tokio::time::timeout(wait, api.report_session(&token, &report))
                .await
                .unwrap_or_else(|_| Err(ApiError::Unreachable { url: api.base().into(), reason: "timed out".into() }))
                .map(|_| ())
        })
    }

    /// The caller's recorded sessions, newest first.
    pub fn sessions_blocking(&self, wait: Duration) -> Result<Vec<serde_json::Value>, ApiError> {
        let token = self.access_token().ok_or_else(not_signed_in)?;
        let api = self.api.clone();
        self.runtime.block_on(async move {
            tokio::time::timeout(wait, api.sessions(&token))
                .await
                .unwrap_or_else(|_| Err(ApiError::Unreachable { url: api.base().into(), reason: "timed out".into() }))
        })
    }

    /// Stops the embedded server (drains requests, closes the database).
    pub fn shutdown(&mut self) {
        if let Some(server) = self.embedded.take()
            && let Err(e) = self.runtime.block_on(server.stop())
        {
            warn!("embedded server did not stop cleanly: {e:#}");
        }
    }

    /// Events that arrived since the last call (the plugin forwards them to Bevy each
    /// frame; tests and tools without an app poll here).
    pub fn poll_events(&self) -> Vec<ServiceEvent> {
        self.rx.lock().map(|rx| rx.try_iter().collect()).unwrap_or_default()
    }

    /// Waits up to `timeout` for the next event (for callers outside a frame loop, such
    /// as tests and tools); events are taken one at a time, so none is skipped.
    pub fn wait_event(&self, timeout: std::time::Duration) -> Option<ServiceEvent> {
        self.rx.lock().ok()?.recv_timeout(timeout).ok()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn not_signed_in() -> ApiError {
    ApiError::Rejected { status: 401, code: "not_signed_in".into(), message: "not signed in".into() }
}

/// The name a first companion gets.
pub const FIRST_COMPANION: &str = "Mira";

/// The companion the user talks to: their first one, created (with the server's default
/// profile) when they have none. Remembered for the session; one lookup at a time.
async fn ensure_companion(
    api: &ApiClient,
    token: &str,
    slot: &tokio::sync::Mutex<Option<CompanionInfo>>,
) -> Result<CompanionInfo, ApiError> {
    let mut slot = slot.lock().await;
    if let Some(info) = slot.as_ref() {
        return Ok(info.clone());
    }
    let info = match api.companions(token).await?.into_iter().next() {
        Some(first) => first,
        None => api.create_companion(token, FIRST_COMPANION).await?,
    };
    *slot = Some(info.clone());
    Ok(info)
}

async fn start_embedded(data_dir: &Path) -> anyhow::Result<nexus_server::RunningServer> {
    let mut config = nexus_server::config::Config::embedded(data_dir.join("server"));
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let state = nexus_server::state::AppState::build(config).await?;
    nexus_server::spawn(state).await
}

async fn resume_profile(api: &ApiClient, p: &Profile) -> Result<Tokens, ApiError> {
    if let Some(refresh) = &p.refresh_token {
        match api.refresh(refresh).await {
            Ok(t) => return Ok(t),
            Err(e @ ApiError::Unreachable { .. }) => return Err(e),
            Err(_) => {} // expired or revoked: fall through to the local password, if any
        }
    }
    match &p.local_password {
        Some(pw) => api.login(&p.email, pw).await,
        None => Err(ApiError::Rejected {
            status: 401,
            code: "session_expired".into(),
            message: "please sign in again".into(),
        }),
    }
}

/// The embedded server's demo profile: an adult local account with a generated password.
async fn create_demo_profile(api: &ApiClient) -> Result<(Tokens, Profile), ApiError> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Protocol(format!("no randomness for a password: {e}")))?;
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let email = "demo@nexus.local".to_owned();
    let reg = Registration {
        email: email.clone(),
        username: "demo".into(),
        password: password.clone(),
        birth_date: "1990-01-01".into(),
    };
    api.register(&reg).await?;
    let tokens = api.login(&email, &password).await?;
    Ok((tokens, Profile { email, refresh_token: None, local_password: Some(password) }))
}

fn store(profiles: &Mutex<ProfileStore>, key: &str, profile: Profile) {
    if let Ok(mut p) = profiles.lock() {
        let keep_password = p.get(key).and_then(|old| old.local_password.clone());
        let merged = Profile { local_password: profile.local_password.or(keep_password), ..profile };
        if let Err(e) = p.put(key, merged) {
            warn!("cannot save the sign-in profile: {e}");
        }
    }
}

async fn finish_sign_in(
    api: &ApiClient,
    profiles: &Mutex<ProfileStore>,
    session: &Mutex<Option<Tokens>>,
    key: &str,
    result: Result<Tokens, ApiError>,
) -> ServiceEvent {
    let tokens = match result {
        Ok(t) => t,
        Err(e) => return ServiceEvent::NeedsSignIn { reason: Some(e.to_string()) },
    };
    let me = match api.me(&tokens.access_token).await {
        Ok(me) => me,
        Err(e) => return ServiceEvent::NeedsSignIn { reason: Some(e.to_string()) },
    };
    if let Ok(mut p) = profiles.lock() {
        let mut profile = p.get(key).cloned().unwrap_or(Profile {
            email: me.email.clone(),
            refresh_token: None,
            local_password: None,
        });
        profile.refresh_token = Some(tokens.refresh_token.clone());
        if let Err(e) = p.put(key, profile) {
            warn!("cannot save the sign-in profile: {e}");
        }
    }
    if let Ok(mut s) = session.lock() {
        *s = Some(tokens);
    }
    ServiceEvent::SignedIn { me }
}

/// Passes a streamed turn's progress on as service events; `written` is the reply so far.
fn report(tx: &Sender<ServiceEvent>, written: &mut String, progress: api::TurnProgress) {
    let event = match progress {
        api::TurnProgress::Heard(text) => ServiceEvent::Heard { text },
        api::TurnProgress::Piece(piece) => {
            written.push_str(&piece);
            ServiceEvent::Writing { text: written.clone() }
        }
        api::TurnProgress::Spoken(speech) => ServiceEvent::Spoken { speech },
        api::TurnProgress::Reset => {
            written.clear();
            let _ = tx.send(ServiceEvent::Hush);
            ServiceEvent::Writing { text: String::new() }
        }
    };
    let _ = tx.send(event);
}

/// Services as Bevy sees them: online with a server, or offline with the reason.
#[derive(Resource, Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A server answers (embedded or remote).
    Online {
        /// Its base URL.
        base_url: String,
        /// Whether it runs in-process.
        embedded: bool,
    },
    /// No server: the room works; sign-in, chat and session records do not.
    Offline {
        /// Why.
        reason: String,
    },
}

/// Delivers [`ServiceEvent`]s each frame.
pub struct ServicesPlugin;

impl Plugin for ServicesPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ServiceEvent>().add_systems(PreUpdate, deliver.run_if(resource_exists::<Services>));
    }
}

fn deliver(services: Res<Services>, mut out: MessageWriter<ServiceEvent>) {
    for ev in services.poll_events() {
        out.write(ev);
    }
}
