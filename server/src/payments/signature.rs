//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, where
//! each `v1` is HMAC-SHA256(secret, "<t>.<raw body>"). The timestamp must be within the
//! tolerance of now (replay window), and every `v1` is compared in constant time.

use hmac::{KeyInit as _, Mac as _};
use subtle::ConstantTimeEq as _;

use crate::error::AppError;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Result<hmac::Hmac<sha2::Sha256>, AppError> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| AppError::Internal("hmac key".into()))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The header value Stripe would send for `body` at `timestamp` (fixtures, tooling).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> Result<String, AppError> {
    let digest = mac(secret, timestamp, body)?.finalize().into_bytes();
    Ok(format!("t={timestamp},v1={}", hex::encode(digest)))
}

/// Verifies `header` for `body` at time `now` (Unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), AppError> {
    let malformed = || AppError::bad_request("invalid_signature_header", "Stripe-Signature is malformed");
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(malformed)?;
        match key {
            "t" => timestamp = Some(value.parse::<i64>().map_err(|_| malformed())?),
            "v1" => candidates.push(hex::decode(value).map_err(|_| malformed())?),
            _ => {} // v0 and future schemes are ignored, as Stripe's libraries do.
        }
    }
    let timestamp = timestamp.ok_or_else(malformed)?;
    if candidates.is_empty() {
        return Err(AppError::bad_request("invalid_signature", "no v1 signature"));
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(AppError::bad_request(
            "webhook_timestamp_out_of_tolerance",
            format!("timestamp is more than {tolerance_secs} s from now"),
        ));
    }
    let expected = mac(secret, timestamp, body)?.finalize().into_bytes();
    // Compare against every candidate without stopping early.
    let matched =
        candidates.iter().fold(0u8, |acc, c| acc | u8::from(bool::from(c.as_slice().ct_eq(expected.as_slice()))));
    if matched == 1 {
        Ok(())
    } else {
        Err(AppError::bad_request("invalid_signature", "webhook signature does not match"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn accepts_own_signature_and_any_matching_v1() {
        let header = sign(SECRET, 1_700_000_000, b"{}").expect("sign");
        assert!(verify(SECRET, &header, b"{}", 1_700_000_100, 300).is_ok());
        let v1 = header.split("v1=").nth(1).expect("v1");
        let rotated = format!("t=1700000000,v1={},v1={v1},v0=abc", "00".repeat(32));
        assert!(verify(SECRET, &rotated, b"{}", 1_700_000_000, 300).is_ok());
    }

    #[test]
    fn rejects_stale_forged_and_malformed() {
        let header = sign(SECRET, 1_700_000_000, b"{}").expect("sign");
        let code = |r: Result<(), AppError>| r.expect_err("must fail").code();
        assert_eq!(code(verify(SECRET, &header, b"{}", 1_700_000_301, 300)), "webhook_timestamp_out_of_tolerance");
        assert_eq!(code(verify(SECRET, &header, b"{ }", 1_700_000_000, 300)), "invalid_signature");
        assert_eq!(code(verify("whsec_other", &header, b"{}", 1_700_000_000, 300)), "invalid_signature");
        assert_eq!(code(verify(SECRET, "garbage", b"{}", 1_700_000_000, 300)), "invalid_signature_header");
        assert_eq!(code(verify(SECRET, "t=1700000000", b"{}", 1_700_000_000, 300)), "invalid_signature");
        assert_eq!(code(verify(SECRET, "t=x,v1=00", b"{}", 1_700_000_000, 300)), "invalid_signature_header");
    }

    proptest::proptest! {
        #[test]
        fn any_body_round_trips_and_any_flipped_byte_fails(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512), t in 0i64..4_000_000_000, flip in 0usize..512) {
            let header = sign(SECRET, t, &body).expect("sign");
            proptest::prop_assert!(verify(SECRET, &header, &body, t, 300).is_ok());
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = flip % tampered.len();
                tampered[i] ^= 0x01;
                proptest::prop_assert_eq!(verify(SECRET, &header, &tampered, t, 300).expect_err("tampered").code(), "invalid_signature");
            }
        }
    }
}
