-- CRM's interaction priority: see migrations/postgres/0008_interaction_priority.sql.

ALTER TABLE interactions ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('low', 'normal', 'high', 'urgent'));
