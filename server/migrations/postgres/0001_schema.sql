-- Nexus schema, PostgreSQL. Seed §7.1 table for table, with these deliberate changes:
--  * TIMESTAMPTZ instead of TIMESTAMP (every instant is UTC; ARCHITECTURE.md);
--  * columns the services need on top of the seed are marked "-- nexus:";
--  * tables the seed leaves to other stores (sessions, refresh tokens, holds, webhook
--    dedup, companions) are at the end.
CREATE EXTENSION IF NOT EXISTS "pg_trgm";
CREATE EXTENSION IF NOT EXISTS "pgcrypto";

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    username VARCHAR(100) UNIQUE NOT NULL,
    birth_date DATE NOT NULL,
    role VARCHAR(20) DEFAULT 'USER' CHECK (role IN ('USER', 'MODERATOR', 'ADMIN')),
    email_verified BOOLEAN DEFAULT FALSE,
    active BOOLEAN DEFAULT TRUE,
    failed_login_count INTEGER NOT NULL DEFAULT 0,      -- nexus: lockout
    locked_until TIMESTAMPTZ,                           -- nexus: lockout
    last_login_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_username ON users(username);
CREATE INDEX idx_users_active ON users(active);

CREATE TABLE kyc_verifications (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    provider VARCHAR(50),
    provider_id VARCHAR(255) UNIQUE,                    -- nexus: webhook lookup
    status VARCHAR(20) DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED')),
    document_type VARCHAR(50),
    document_number_encrypted BYTEA,
    selfie_verified BOOLEAN DEFAULT FALSE,
    liveness_check BOOLEAN DEFAULT FALSE,
    verified_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(user_id, level)
);
CREATE INDEX idx_kyc_user ON kyc_verifications(user_id);
CREATE INDEX idx_kyc_status ON kyc_verifications(status);
CREATE INDEX idx_kyc_expires ON kyc_verifications(expires_at);

CREATE TABLE subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE UNIQUE,
    plan VARCHAR(20) NOT NULL CHECK (plan IN ('FREE', 'STANDARD', 'PREMIUM', 'VIP', 'VIP_PLUS')),
    start_date TIMESTAMPTZ NOT NULL,
    end_date TIMESTAMPTZ,
    auto_renewal BOOLEAN DEFAULT TRUE,
    monthly_price DECIMAL(10,2),
    stripe_subscription_id VARCHAR(255),
    status VARCHAR(20) DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'CANCELED', 'SUSPENDED', 'EXPIRED')),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_subscriptions_user ON subscriptions(user_id);
CREATE INDEX idx_subscriptions_status ON subscriptions(status);
CREATE INDEX idx_subscriptions_end_date ON subscriptions(end_date);

CREATE TABLE token_wallets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE UNIQUE,
    balance INTEGER DEFAULT 0 CHECK (balance >= 0),
    total_earned INTEGER DEFAULT 0,
    total_spent INTEGER DEFAULT 0,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);

-- amount is signed: credits (PURCHASE, EARN, REFUND) > 0, debits (SPEND, EXPIRE) < 0,
-- so SUM(amount) over a wallet equals its balance.
CREATE TABLE token_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    wallet_id UUID REFERENCES token_wallets(id) ON DELETE CASCADE,
    type VARCHAR(20) NOT NULL CHECK (type IN ('PURCHASE', 'EARN', 'SPEND', 'REFUND', 'EXPIRE')),
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    description TEXT,
    reference_id UUID,
    reference_type VARCHAR(50),
    idempotency_key VARCHAR(128) NOT NULL,              -- nexus: every mutation carries one
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (wallet_id, idempotency_key),
    CHECK ((type IN ('PURCHASE', 'EARN', 'REFUND') AND amount > 0)
        OR (type IN ('SPEND', 'EXPIRE') AND amount < 0))
);
CREATE INDEX idx_token_transactions_wallet ON token_transactions(wallet_id);
CREATE INDEX idx_token_transactions_created ON token_transactions(created_at DESC);

CREATE TABLE payment_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    type VARCHAR(50) NOT NULL,
    amount DECIMAL(10,2) NOT NULL,
    currency VARCHAR(3) DEFAULT 'EUR',
    status VARCHAR(20) DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'REFUNDED')),
    payment_method VARCHAR(50),
    stripe_payment_intent_id VARCHAR(255),
    stripe_charge_id VARCHAR(255),
    stripe_checkout_session_id VARCHAR(255) UNIQUE,     -- nexus: checkout ↔ webhook
    refund_amount DECIMAL(10,2) DEFAULT 0,
    refunded_at TIMESTAMPTZ,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_payments_user ON payment_transactions(user_id);
CREATE INDEX idx_payments_status ON payment_transactions(status);
CREATE INDEX idx_payments_created ON payment_transactions(created_at DESC);

CREATE TABLE generated_images (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    companion_id VARCHAR(255),
    prompt TEXT NOT NULL,
    style VARCHAR(50),
    resolution VARCHAR(20),
    status VARCHAR(20) DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED')),
    storage_url TEXT,
    thumbnail_url TEXT,
    seed INTEGER,
    parameters JSONB,
    generation_time_seconds INTEGER,
    is_favorite BOOLEAN DEFAULT FALSE,
    is_public BOOLEAN DEFAULT FALSE,
    tokens_cost INTEGER NOT NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMPTZ
);
CREATE INDEX idx_images_user ON generated_images(user_id);
CREATE INDEX idx_images_status ON generated_images(status);
CREATE INDEX idx_images_created ON generated_images(created_at DESC);
CREATE INDEX idx_images_companion ON generated_images(companion_id);

CREATE TABLE generated_videos (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    companion_id VARCHAR(255),
    prompt TEXT NOT NULL,
    scenario_json JSONB NOT NULL,
    duration_seconds INTEGER NOT NULL,
    resolution VARCHAR(20),
    frame_rate INTEGER,
    quality VARCHAR(20),
    status VARCHAR(20) DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'SCRIPT_GEN', 'ASSET_GEN', 'RENDERING', 'ENCODING', 'COMPLETED', 'FAILED')),
    storage_url TEXT,
    thumbnail_urls TEXT[],
    file_size_mb DECIMAL(10,2),
    generation_time_minutes INTEGER,
    is_favorite BOOLEAN DEFAULT FALSE,
    tokens_cost INTEGER NOT NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMPTZ
);
CREATE INDEX idx_videos_user ON generated_videos(user_id);
CREATE INDEX idx_videos_status ON generated_videos(status);
CREATE INDEX idx_videos_created ON generated_videos(created_at DESC);

CREATE TABLE moderation_incidents (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    content_type VARCHAR(50) NOT NULL,
    content_hash VARCHAR(64),
    conversation_id VARCHAR(255),
    message_id VARCHAR(255),
    incident_type VARCHAR(50) NOT NULL,
    severity VARCHAR(20) NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    confidence FLOAT,
    moderation_scores JSONB,
    status VARCHAR(20) DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'UNDER_REVIEW', 'CONFIRMED', 'FALSE_POSITIVE', 'RESOLVED')),
    automated BOOLEAN DEFAULT TRUE,
    reviewed_by UUID REFERENCES users(id),
    reviewed_at TIMESTAMPTZ,
    action_taken VARCHAR(100),
    notes TEXT,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_moderation_user ON moderation_incidents(user_id);
CREATE INDEX idx_moderation_status ON moderation_incidents(status);
CREATE INDEX idx_moderation_severity ON moderation_incidents(severity);
CREATE INDEX idx_moderation_created ON moderation_incidents(created_at DESC);

CREATE TABLE user_warnings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    incident_id UUID REFERENCES moderation_incidents(id),
    warning_type VARCHAR(50) NOT NULL,
    description TEXT,
    acknowledged BOOLEAN DEFAULT FALSE,
    acknowledged_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_warnings_user ON user_warnings(user_id);
CREATE INDEX idx_warnings_expires ON user_warnings(expires_at);

CREATE TABLE adult_content_consents (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    consent_type VARCHAR(50) NOT NULL,
    version VARCHAR(10) NOT NULL,
    ip_address INET NOT NULL,
    user_agent TEXT,
    digital_signature TEXT NOT NULL,
    session_id UUID,                                    -- nexus: "signed this session"
    signed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked BOOLEAN DEFAULT FALSE,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_consents_user ON adult_content_consents(user_id);
CREATE INDEX idx_consents_type ON adult_content_consents(consent_type);
CREATE INDEX idx_consents_active ON adult_content_consents(user_id, consent_type) WHERE NOT revoked;

CREATE TABLE vr_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    companion_id VARCHAR(255),
    headset_type VARCHAR(50),
    rendering_mode VARCHAR(20),
    quality_preset VARCHAR(20),
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    duration_minutes INTEGER,
    average_fps FLOAT,
    min_fps FLOAT,
    latency_ms FLOAT,
    interactions_count INTEGER DEFAULT 0,
    hand_tracking_used BOOLEAN DEFAULT FALSE,
    haptic_feedback_used BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_vr_sessions_user ON vr_sessions(user_id);
CREATE INDEX idx_vr_sessions_started ON vr_sessions(started_at DESC);

CREATE TABLE audit_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID,
    action VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50),
    resource_id VARCHAR(255),
    ip_address INET,
    user_agent TEXT,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_audit_user ON audit_logs(user_id);
CREATE INDEX idx_audit_action ON audit_logs(action);
CREATE INDEX idx_audit_created ON audit_logs(created_at DESC);

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ language 'plpgsql';

CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_subscriptions_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_token_wallets_updated_at BEFORE UPDATE ON token_wallets
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE VIEW user_subscription_status AS
SELECT u.id, u.email, u.username, s.plan, s.status AS subscription_status, s.end_date,
       tw.balance AS token_balance, u.created_at AS user_since
FROM users u
LEFT JOIN subscriptions s ON u.id = s.user_id
LEFT JOIN token_wallets tw ON u.id = tw.user_id;

CREATE VIEW moderation_summary AS
SELECT user_id, COUNT(*) AS total_incidents,
       SUM(CASE WHEN severity = 'CRITICAL' THEN 1 ELSE 0 END) AS critical_count,
       SUM(CASE WHEN severity = 'HIGH' THEN 1 ELSE 0 END) AS high_count,
       MAX(created_at) AS last_incident
FROM moderation_incidents
GROUP BY user_id;

-- ───────────── tables beyond the seed's relational schema ─────────────

-- One row per sign-in ("session" = a refresh-token family). Revoking it ends the session.
CREATE TABLE auth_sessions (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip_address INET,
    user_agent TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoke_reason VARCHAR(50)
);
CREATE INDEX idx_auth_sessions_user ON auth_sessions(user_id);

-- Rotating refresh tokens; only SHA-256 of the token is stored.
CREATE TABLE refresh_tokens (
    id UUID PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
    token_hash VARCHAR(64) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX idx_refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE email_verifications (
    token_hash VARCHAR(64) PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);

-- Token reservations for long jobs: reserve → capture or release.
CREATE TABLE token_holds (
    id UUID PRIMARY KEY,
    wallet_id UUID NOT NULL REFERENCES token_wallets(id) ON DELETE CASCADE,
    amount INTEGER NOT NULL CHECK (amount > 0),
    status VARCHAR(20) NOT NULL CHECK (status IN ('HELD', 'CAPTURED', 'RELEASED')),
    reference_type VARCHAR(50),
    reference_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    settled_at TIMESTAMPTZ
);
CREATE INDEX idx_token_holds_wallet ON token_holds(wallet_id);

-- Payment-provider webhook events already applied (deduplication by event id).
CREATE TABLE payment_webhook_events (
    event_id VARCHAR(255) PRIMARY KEY,
    event_type VARCHAR(100) NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);

-- Companions (seed §5.2); filled in by the companion issue.
CREATE TABLE companions (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL,
    appearance JSONB NOT NULL,
    personality JSONB NOT NULL,
    voice JSONB NOT NULL,
    backstory TEXT,
    genetic_profile JSONB,
    emotional_state JSONB NOT NULL,
    traits_frozen BOOLEAN NOT NULL DEFAULT FALSE,
    is_public BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    last_evolution_date TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_companions_user ON companions(user_id);
CREATE INDEX idx_companions_public ON companions(is_public) WHERE is_public;
