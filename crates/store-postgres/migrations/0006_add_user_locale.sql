-- The portal (issue 8): the language a user chose with the switch, so it follows them to any
-- browser. NULL until they choose: `Accept-Language` decides. The same column on both backends
-- (a test compares the two schemas).
ALTER TABLE users ADD COLUMN locale TEXT CHECK (locale IN ('fr', 'en'));
