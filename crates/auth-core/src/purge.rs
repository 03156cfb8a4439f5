//! The shape every purge shares: delete in bounded batches, pausing between full ones.

/// Calls `delete(batch)` until it deletes fewer than `batch` rows, calling
/// `between_batches` after each full batch (where the caller paces the purge, so that it
/// never crowds out requests). Returns the rows deleted in all.
///
/// # Errors
/// The first error of `delete`; batches already deleted stay deleted.
pub(crate) fn in_batches<E>(
    batch: usize,
    between_batches: &mut dyn FnMut(),
    mut delete: impl FnMut(usize) -> Result<usize, E>,
) -> Result<usize, E> {
    let mut total = 0;
    loop {
        let deleted = delete(batch)?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
        between_batches();
    }
}
