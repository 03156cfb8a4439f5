//! The raw statements of SQLite's hot paths, each with its typed parameters. Not
//! `diesel::update`, which is parsed anew on every execution.

use crate::statement::statement;

statement! {
    /// The compare-and-set of a rotation: session `session_id` moves from
    /// `from_generation` to `generation`, whose token is `current_hash`.
    pub(crate) struct AdvanceSession<'a> {
        session_id: &'a str,
        from_generation: i64,
        generation: i64,
        current_hash: &'a str,
        current_expires_at: i64,
        rotated_at: i64,
    }
    = "UPDATE sessions
          SET generation = $generation, current_hash = $current_hash,
              current_expires_at = $current_expires_at, rotated_at = $rotated_at
        WHERE id = $session_id AND generation = $from_generation AND revoked_at IS NULL";
}

statement! {
    /// Records a device as seen.
    pub(crate) struct TouchDevice<'a> {
        device: &'a str,
        last_seen_at: i64,
    }
    = "UPDATE devices SET last_seen_at = $last_seen_at WHERE id = $device";
}
