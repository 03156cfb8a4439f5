//! The raw statement of SQLite's hot path, with its typed parameters. Not
//! `diesel::update`, which is parsed anew on every execution.

use crate::sessions::Advance;
use crate::statement::statement;

statement! {
    /// The compare-and-set of a rotation: session `session_id` moves from
    /// `from_generation` to `generation`, whose token is `current_hash`.
    pub(crate) struct AdvanceSession<'a> {
        ..advance: Advance<'a>,
    }
    = "UPDATE sessions
          SET generation = $generation, current_hash = $current_hash,
              current_expires_at = $current_expires_at, rotated_at = $rotated_at
        WHERE id = $session_id AND generation = $from_generation AND revoked_at IS NULL";
}
