//! The HTTP surface: health, metrics, the OpenAPI document, unknown routes and methods.

use axum::http::{Method, StatusCode};

use crate::on_both_backends;
use crate::support::TestApp;

async fn health_metrics_openapi_and_fallbacks(app: TestApp) {
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["database"], app.backend);

    let doc = app.get("/api/openapi.json", None).await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/auth/login",
        "/api/v1/tokens/spend",
        "/api/v1/payments/webhook",
        "/api/v1/kyc/webhook",
        "/api/v1/consents",
        "/api/v1/admin/audit",
    ] {
        assert!(paths.contains_key(p), "OpenAPI lacks {p}");
    }
    assert!(paths.len() >= 25, "{} paths", paths.len());

    let nf = app.get("/api/v1/nope", None).await;
    assert_eq!((nf.status, nf.code()), (StatusCode::NOT_FOUND, "not_found"));
    let na = app.send(Method::DELETE, "/api/v1/auth/login", None, &[], vec![]).await;
    assert_eq!((na.status, na.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));

    let metrics = app.get("/metrics", None).await;
    let text = metrics.body.as_str().expect("text");
    assert!(text.contains("nexus_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("nexus_http_request_duration_seconds_bucket"));
}
on_both_backends!(health_metrics_openapi_and_fallbacks);
