//! Leader election, the pure part: who holds a `coordination.k8s.io` Lease
//! and whether this replica may take or renew it (client-go's leaderelection
//! rules: a lease is free when absent, held by us, or not renewed for
//! `leaseDurationSeconds`). `kube.rs` reads and writes the Lease with
//! optimistic concurrency (a conflict = someone else won), and the loop in
//! `run/` only reconciles while it holds it, so two replicas never both act.

use crate::controller::autosync::UnixSeconds;
use std::time::Duration;

/// The fields of a Lease's spec that election reads and writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// `holderIdentity`.
    pub holder: String,
    /// `leaseDurationSeconds`.
    pub duration_secs: i64,
    /// `acquireTime`.
    pub acquired: Option<UnixSeconds>,
    /// `renewTime`.
    pub renewed: Option<UnixSeconds>,
    /// `leaseTransitions`.
    pub transitions: i32,
}

/// What this replica does about the Lease now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Write this record (acquire or renew); holding it once written.
    Write(Record),
    /// Another replica holds a live lease; try again after this long.
    Follow {
        /// The current holder.
        holder: String,
        /// Until its lease expires (at least one second).
        retry_in: Duration,
    },
}

/// Decides for identity `me` at `now`, with lease duration `duration`.
pub fn claim(current: Option<&Record>, me: &str, now: UnixSeconds, duration: Duration) -> Claim {
    let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX).max(1);
    let fresh = |acquired: UnixSeconds, transitions: i32| Record {
        holder: me.to_string(),
        duration_secs: secs,
        acquired: Some(acquired),
        renewed: Some(now),
        transitions,
    };
    let Some(cur) = current else { return Claim::Write(fresh(now, 0)) };
    if cur.holder == me {
        return Claim::Write(fresh(cur.acquired.unwrap_or(now), cur.transitions));
    }
    let last = cur.renewed.or(cur.acquired).unwrap_or(0);
    let expires = last.saturating_add(cur.duration_secs.max(1));
    if cur.holder.is_empty() || expires <= now {
        return Claim::Write(fresh(now, cur.transitions.saturating_add(1)));
    }
    Claim::Follow {
        holder: cur.holder.clone(),
        retry_in: Duration::from_secs(u64::try_from(expires - now).unwrap_or(1).max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    #[test]
    fn a_missing_lease_is_acquired() {
        let Claim::Write(r) = claim(None, "a", 100, D) else { panic!("acquire") };
        assert_eq!(
            (r.holder.as_str(), r.acquired, r.renewed, r.duration_secs, r.transitions),
            ("a", Some(100), Some(100), 15, 0)
        );
    }

    #[test]
    fn the_holder_renews_and_keeps_its_acquire_time() {
        let cur =
            Record { holder: "a".into(), duration_secs: 15, acquired: Some(1), renewed: Some(90), transitions: 2 };
        assert_eq!(claim(Some(&cur), "a", 100, D), Claim::Write(Record { renewed: Some(100), ..cur.clone() }));
    }

    #[test]
    fn a_live_lease_of_another_replica_is_followed_until_it_expires() {
        let cur =
            Record { holder: "b".into(), duration_secs: 15, acquired: Some(1), renewed: Some(90), transitions: 0 };
        assert_eq!(
            claim(Some(&cur), "a", 100, D),
            Claim::Follow { holder: "b".into(), retry_in: Duration::from_secs(5) }
        );
        let Claim::Write(r) = claim(Some(&cur), "a", 105, D) else { panic!("expired lease is taken") };
        assert_eq!((r.holder.as_str(), r.acquired, r.transitions), ("a", Some(105), 1));
    }
}
