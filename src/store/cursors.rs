//! Cursors for sequential paging. Entra and other clients page through an unfiltered list
//! with `startIndex` = 1, 101, 201 …; finding row 500,001 by position means skipping half a
//! million index entries. After serving a page, the position of the next one is remembered
//! as "after this `seq`", so the next request is a seek. Creates only append (higher `seq`),
//! so positions stay right; any delete may shift them, so a delete makes every remembered
//! cursor stale (a generation counter) and the next page falls back to the slow path once.
//!
//! On PostgreSQL they are off: another instance's delete would not reach this process's
//! generation, and concurrent transactions commit `seq`s out of order, so a remembered
//! position could skip rows. Every page there is found by position.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::directory::schema::ResourceKind;

/// Cursors kept at most; past it the table starts over (a miss only costs a slower page).
const MAX_CURSORS: usize = 4096;

type Key = (i64, ResourceKind, u64);

#[derive(Default)]
pub struct PageCursors {
    off: bool,
    deletes: AtomicU64,
    cursors: Mutex<HashMap<Key, (u64, i64)>>,
}

impl PageCursors {
    /// Cursors that remember nothing (several instances share the store).
    pub fn off() -> Self {
        Self {
            off: true,
            ..Self::default()
        }
    }

    /// The generation to stamp on a cursor computed from a query that starts now.
    pub fn generation(&self) -> u64 {
        self.deletes.load(Ordering::Acquire)
    }

    /// Call after a delete has committed.
    pub fn note_delete(&self) {
        self.deletes.fetch_add(1, Ordering::AcqRel);
    }

    /// The `seq` after which the page at `start_index` begins, if known and still valid.
    pub fn get(&self, org_id: i64, kind: ResourceKind, start_index: u64) -> Option<i64> {
        if self.off {
            return None;
        }
        let map = self.cursors.lock().ok()?;
        let (generation, seq) = *map.get(&(org_id, kind, start_index))?;
        (generation == self.generation()).then_some(seq)
    }

    /// Remembers that the page at `start_index` begins after `seq`.
    pub fn put(
        &self,
        org_id: i64,
        kind: ResourceKind,
        start_index: u64,
        seq: i64,
        generation: u64,
    ) {
        if self.off {
            return;
        }
        if let Ok(mut map) = self.cursors.lock() {
            if map.len() >= MAX_CURSORS {
                map.clear();
            }
            map.insert((org_id, kind, start_index), (generation, seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_makes_cursors_stale() {
        let c = PageCursors::default();
        let g = c.generation();
        c.put(1, ResourceKind::User, 101, 100, g);
        assert_eq!(c.get(1, ResourceKind::User, 101), Some(100));
        assert_eq!(c.get(2, ResourceKind::User, 101), None);
        assert_eq!(c.get(1, ResourceKind::Group, 101), None);
        c.note_delete();
        assert_eq!(c.get(1, ResourceKind::User, 101), None);
        // A cursor computed before the delete but stored after it is stale too.
        c.put(1, ResourceKind::User, 201, 200, g);
        assert_eq!(c.get(1, ResourceKind::User, 201), None);
    }

    #[test]
    fn off_remembers_nothing() {
        let c = PageCursors::off();
        c.put(1, ResourceKind::User, 101, 100, c.generation());
        assert_eq!(c.get(1, ResourceKind::User, 101), None);
    }
}
