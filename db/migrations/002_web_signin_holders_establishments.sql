-- Placeholder: version 002 belongs to the back office's web pages (branch wt-web), which bring
-- this file's real content. Migrations must run without gaps, so this branch, which needs 003,
-- holds the number with a statement that changes nothing. Merging takes the web branch's file.
SELECT 1;
