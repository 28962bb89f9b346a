-- Migration 2: accounts signed in through an OpenID provider (ProConnect, Pro Santé
-- Connect) name it and its subject; both stay NULL on a local account. See
-- `accounts.rs` (`put_federated_account`).
ALTER TABLE accounts ADD COLUMN issuer TEXT;
ALTER TABLE accounts ADD COLUMN subject TEXT;
