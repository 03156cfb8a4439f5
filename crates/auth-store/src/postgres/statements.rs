//! The raw statements of PostgreSQL's hot paths, each with its typed parameters.

use crate::sessions::Advance;
use crate::statement::statement;

statement! {
    /// The columns of a new session.
    pub(crate) struct NewSession<'a> {
        session_id: &'a str,
        principal_kind: &'a str,
        principal_id: &'a str,
        generation: i64,
        current_hash: &'a str,
        current_expires_at: i64,
        rotated_at: Option<i64>,
        rotation_key: &'a str,
        created_at: i64,
        expires_at: i64,
        revoked_at: Option<i64>,
        user_agent: Option<&'a str>,
        ip_address: Option<&'a str>,
    }
}

statement! {
    /// Stores a session, and the new device it belongs to when `device` is set, in one
    /// statement, all or nothing: instead of BEGIN, two INSERTs and COMMIT, three round
    /// trips fewer per new device. The foreign keys are checked at the end of the
    /// statement, when every row exists; a device registered concurrently makes the whole
    /// statement fail as a duplicate.
    pub(crate) struct InsertSession<'a> {
        device: Option<&'a str>,
        client_device_id: Option<&'a str>,
        platform: Option<&'a str>,
        device_created_at: Option<i64>,
        device_last_seen_at: Option<i64>,
        ..session: NewSession<'a>,
    }
    = "WITH device AS (
           INSERT INTO devices (id, device_id, platform, created_at, last_seen_at)
           SELECT $device, $client_device_id, $platform, $device_created_at,
                  $device_last_seen_at
            WHERE $device IS NOT NULL)
       INSERT INTO sessions (id, principal_kind, principal_id, generation, current_hash,
                             current_expires_at, rotated_at, rotation_key, created_at,
                             expires_at, revoked_at, user_agent, ip_address)
       VALUES ($session_id, $principal_kind, $principal_id, $generation, $current_hash,
               $current_expires_at, $rotated_at, $rotation_key, $created_at,
               $expires_at, $revoked_at, $user_agent, $ip_address)";
}

statement! {
    /// A rotation in one statement, atomic on its own: the compare-and-set on the
    /// generation and, for a device's session (`device` set), the device recorded as seen.
    /// Every sub-statement of a WITH runs whether read or not; `seen` changes a row only
    /// once the session has advanced.
    pub(crate) struct AdvanceSession<'a> {
        device: Option<&'a str>,
        ..advance: Advance<'a>,
    }
    = "WITH advanced AS (
           UPDATE sessions
              SET generation = $generation, current_hash = $current_hash,
                  current_expires_at = $current_expires_at, rotated_at = $rotated_at
            WHERE id = $session_id AND generation = $from_generation AND revoked_at IS NULL
        RETURNING id),
       seen AS (
           UPDATE devices SET last_seen_at = $rotated_at
            WHERE id = $device AND EXISTS (SELECT 1 FROM advanced))
       SELECT id FROM advanced";
}

statement! {
    /// Share-locks a user's row until the transaction ends.
    pub(crate) struct LockUser<'a> {
        user: &'a str,
    }
    = "SELECT 1 FROM users WHERE id = $user FOR SHARE";
}

statement! {
    /// Share-locks a wallet's row and its app's until the transaction ends.
    pub(crate) struct LockWallet<'a> {
        wallet: &'a str,
    }
    = "SELECT 1 FROM wallets w JOIN apps a ON a.id = w.app_id WHERE w.id = $wallet FOR SHARE";
}
