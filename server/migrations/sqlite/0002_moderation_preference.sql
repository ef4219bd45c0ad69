-- The moderation mode a user asks for (seed §3.1 step 1: PREMIUM and VIP choose);
-- the mode in force is resolved from it, the plan, KYC and consent at each check.
ALTER TABLE users ADD COLUMN moderation_preference VARCHAR(20)
    CHECK (moderation_preference IN ('STRICT', 'LIGHT', 'OPTIONAL'));
