//! Creating Stripe Checkout Sessions (`POST /v1/checkout/sessions`, form-encoded, the
//! secret key as bearer, our payment id as the idempotency key), so a retried request
//! never creates two sessions.

use serde::Deserialize;
use uuid::Uuid;

use crate::error::AppError;

/// A Stripe API client.
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: String,
    secret_key: String,
}

/// What a checkout session is for.
#[derive(Debug, Clone)]
pub struct SessionRequest<'a> {
    /// Our payment id (`client_reference_id`, metadata, idempotency key).
    pub payment_id: Uuid,
    /// `payment` or `subscription`.
    pub mode: &'a str,
    /// Amount in cents.
    pub amount_cents: i64,
    /// Lower-case ISO currency.
    pub currency: &'a str,
    /// Line-item name shown on the payment page.
    pub product_name: String,
    /// Where Stripe sends the user after paying.
    pub success_url: String,
    /// Where Stripe sends the user on cancel.
    pub cancel_url: String,
}

/// The fields of Stripe's answer that Nexus keeps.
#[derive(Debug, Deserialize)]
pub struct CreatedSession {
    /// `cs_…`.
    pub id: String,
    /// The hosted payment page.
    pub url: Option<String>,
}

impl StripeClient {
    /// A client for `api_base` with `secret_key`.
    pub fn new(api_base: &str, secret_key: &str) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| AppError::Internal(format!("http client: {e}")))?;
        Ok(Self { http, api_base: api_base.trim_end_matches('/').to_owned(), secret_key: secret_key.to_owned() })
    }

    /// Creates a Checkout Session.
    pub async fn create_session(&self, req: &SessionRequest<'_>) -> Result<CreatedSession, AppError> {
        let payment = req.payment_id.to_string();
        let amount = req.amount_cents.to_string();
        let mut form: Vec<(&str, &str)> = vec![
            ("mode", req.mode),
            ("client_reference_id", &payment),
            ("success_url", &req.success_url),
            ("cancel_url", &req.cancel_url),
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][currency]", req.currency),
            ("line_items[0][price_data][unit_amount]", &amount),
            ("line_items[0][price_data][product_data][name]", &req.product_name),
            ("metadata[payment_id]", &payment),
        ];
        if req.mode == "subscription" {
            form.push(("line_items[0][price_data][recurring][interval]", "month"));
        }
        let response = self
            .http
            .post(format!("{}/v1/checkout/sessions", self.api_base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", &payment)
            .form(&form)
            .send()
            .await
            .map_err(|e| AppError::Unavailable(format!("stripe: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(AppError::Unavailable(format!(
                "stripe answered {status}: {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        response.json::<CreatedSession>().await.map_err(|e| AppError::Unavailable(format!("stripe response: {e}")))
    }
}
