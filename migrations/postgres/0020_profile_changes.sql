-- Once a member is approved, his shop name and photos are what staff checked (B1, issue 15):
-- a change he submits waits here for review while he keeps ordering under the approved
-- identity. A NULL photo keeps the approved one. Staff approve (the change replaces the
-- approved fields) or reject it with a reason he reads.
ALTER TABLE members ADD COLUMN pending_shop_name TEXT;
ALTER TABLE members ADD COLUMN pending_shop_photo TEXT;
ALTER TABLE members ADD COLUMN pending_licence_photo TEXT;
ALTER TABLE members ADD COLUMN change_submitted_at BIGINT;
ALTER TABLE members ADD COLUMN change_reject_reason TEXT;
