//! Outgoing mail. With an SMTP URL configured, messages go through lettre's async SMTP
//! transport; without one (the embedded default) the message — e.g. the verification
//! link — is written to the log, which is where a local user looks.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::error::AppError;

/// Sends account mail.
#[derive(Debug, Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Mailer {
    /// A mailer sending as `from` through `smtp_url`, or to the log when `None`.
    pub fn new(from: &str, smtp_url: Option<&str>) -> Result<Self, AppError> {
        let from = from.parse().map_err(|e| AppError::Internal(format!("mail_from {from:?}: {e}")))?;
        let transport = smtp_url
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map(|b| b.build())
                    .map_err(|e| AppError::Internal(format!("smtp url: {e}")))
            })
            .transpose()?;
        Ok(Self { from, transport })
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), AppError> {
        let Some(transport) = &self.transport else {
            tracing::info!(to, subject, body = %body, "mail (no SMTP configured, logged instead)");
            return Ok(());
        };
        let to: Mailbox = to.parse().map_err(|e| AppError::invalid_field("email", format!("{e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| AppError::Internal(format!("mail build: {e}")))?;
        transport.send(message).await.map(|_| ()).map_err(|e| AppError::Unavailable(format!("smtp: {e}")))
    }
}
