//! `nexus-server` — thin entry point; everything lives in the library.

use clap::{Parser, Subcommand};
use nexus_server::config::Config;
use nexus_server::moderation::classifier::default_models_dir;
use nexus_server::moderation::mode::ModerationMode;
use nexus_server::moderation::pipeline::Moderator;

/// Nexus headless backend.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Moderate JSON lines `{"text": "…"}` from stdin, one decision per line on stdout.
    /// Needs no server and no database: pre-filter + local model + the seed's thresholds.
    Moderate {
        /// strict, light or optional.
        #[arg(long, default_value = "strict")]
        mode: String,
    },
    /// Fine-tune the local classifier (used by `cargo xtask train-moderation`).
    TrainClassifier {
        /// Dataset directory (`*.tsv`).
        #[arg(long)]
        dataset: std::path::PathBuf,
        /// Where to write the heads.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Passes over the data (default: the training settings' own).
        #[arg(long)]
        epochs: Option<usize>,
    },
    /// Give a registered user a role (bootstraps the first ADMIN).
    SetRole {
        /// The user's email.
        email: String,
        /// USER, MODERATOR or ADMIN.
        role: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    nexus_server::init_tracing(&cli.config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => nexus_server::serve(nexus_server::state::AppState::build(cli.config).await?).await,
        Command::Moderate { mode } => {
            let mode = ModerationMode::parse(&mode.to_uppercase())
                .ok_or_else(|| anyhow::anyhow!("--mode must be strict, light or optional"))?;
            let moderator = Moderator::from_config(&cli.config)?;
            anyhow::ensure!(
                moderator.classifier.is_available(),
                "no classifier could be loaded (see the log above); `cargo xtask fetch-models` fetches the local model"
            );
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            nexus_server::moderation::cli::moderate(&moderator, mode, stdin, stdout).await?;
            Ok(())
        }
        Command::TrainClassifier { dataset, out, epochs } => {
            let models = cli.config.models_dir.clone().unwrap_or_else(default_models_dir);
            nexus_server::moderation::cli::train(&dataset, &out, &models, epochs)
        }
        Command::SetRole { email, role } => {
            let state = nexus_server::state::AppState::build(cli.config).await?;
            let role = nexus_server::accounts::Role::parse(&role.to_uppercase())
                .ok_or_else(|| anyhow::anyhow!("role must be USER, MODERATOR or ADMIN"))?;
            nexus_server::accounts::service::set_role_by_email(&state, &email, role).await?;
            tracing::info!(email, role = role.as_str(), "role set");
            Ok(())
        }
    }
}
