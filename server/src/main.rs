//! `nexus-server` — thin entry point; everything lives in the library.

use clap::{Parser, Subcommand};
use nexus_server::config::Config;

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
    let state = nexus_server::state::AppState::build(cli.config).await?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => nexus_server::serve(state).await,
        Command::SetRole { email, role } => {
            let role = nexus_server::accounts::Role::parse(&role.to_uppercase())
                .ok_or_else(|| anyhow::anyhow!("role must be USER, MODERATOR or ADMIN"))?;
            nexus_server::accounts::service::set_role_by_email(&state, &email, role).await?;
            tracing::info!(email, role = role.as_str(), "role set");
            Ok(())
        }
    }
}
