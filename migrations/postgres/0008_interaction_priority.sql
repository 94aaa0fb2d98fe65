-- CRM ranks its interactions by priority; the attention queue's service-level targets may be
-- set per channel and priority ([[attention.targets]] priority = "…"). Rows kept before it
-- read as normal.

ALTER TABLE interactions ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('low', 'normal', 'high', 'urgent'));
