//! The read index: how a node proves that a key missing here is missing everywhere, with one
//! question per peer for a whole burst of misses instead of one per key.
//!
//! The rule. A write is acknowledged to its client only after its origin applied it and
//! appended its record to the stream of every other replica (publishing happens inside the
//! write, before the reply). So when a read arrives at time `t`, every write acknowledged
//! before `t` by a peer `P` sits in `P`'s stream to this node below the offset `P` reports in
//! answer to a question sent after `t`. Once this node has applied `P`'s stream up to that
//! offset — in `P`'s current incarnation — `P` cannot hold an acknowledged write this node
//! lacks, and the read may answer from local data. Asked of every live peer, that is the
//! guarantee read-repair gave (no false "not found"), at the cost of one round trip shared by
//! every miss that arrived before the question left.
//!
//! A peer answers "not ready" when its stream to us cannot vouch for everything it holds: it
//! dropped records (overflow), or it has not yet finished an anti-entropy pass with us since
//! the stream began (writes it took before it knew us are not in the stream). Then, and when
//! the peer does not answer in time, the read falls back to asking that peer for the keys
//! themselves (`HCGET`, read-repair) — or answers from what it has once the read timeout
//! passes, as before.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use super::peer_conn::Reply;

/// What a peer said of its stream to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The peer's process incarnation (stream offsets restart with it).
    pub incarnation: u64,
    /// The offset of the last record it queued for this node.
    pub offset: u64,
    /// Its stream carries everything it holds for us (see the module comment).
    pub ready: bool,
}

impl Position {
    pub fn from_reply(r: &Reply) -> Option<Position> {
        let a = r.array()?;
        if a.len() != 3 {
            return None;
        }
        Some(Position {
            incarnation: a[0].int()? as u64,
            offset: a[1].int()? as u64,
            ready: a[2].int()? == 1,
        })
    }
}

/// The latest answer of a peer, by when its question left.
#[derive(Debug, Clone, Copy)]
struct Answer {
    sent_at: Instant,
    /// None when the question failed or timed out.
    position: Option<Position>,
}

#[derive(Default)]
struct AskState {
    /// When the questions in flight left.
    inflight: Vec<Instant>,
    last: Option<Answer>,
}

/// Questions in flight to one peer at most. A miss that arrives after every question in flight
/// left needs a new one; with two, it rarely waits for one to land before its own can leave
/// (half a round trip less, on average), and a burst still costs a handful of questions.
const MAX_IN_FLIGHT: usize = 1;

/// A few questions at a time to one peer; misses that arrive meanwhile join the next.
#[derive(Default)]
pub struct Asker {
    state: Mutex<AskState>,
    answered: Notify,
}

/// Lands a question when dropped: records its answer and wakes the reads waiting on it.
struct Landing<'a> {
    asker: &'a Asker,
    sent_at: Instant,
    position: Option<Position>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        {
            let mut st = self.asker.state.lock();
            st.inflight.retain(|s| *s != self.sent_at);
            if st.last.is_none_or(|l| l.sent_at <= self.sent_at) {
                st.last = Some(Answer {
                    sent_at: self.sent_at,
                    position: self.position,
                });
            }
        }
        self.asker.answered.notify_waiters();
    }
}

/// What this node has applied of one peer's stream.
#[derive(Default)]
pub struct Applied {
    /// (incarnation, offset) of the last batch applied.
    at: Mutex<(u64, u64)>,
    changed: Notify,
}

impl Applied {
    fn reached(&self, p: &Position) -> bool {
        let (inc, off) = *self.at.lock();
        inc == p.incarnation && off >= p.offset
    }
}

/// Figures for INFO and metrics.
#[derive(Default)]
pub struct IndexStats {
    /// Questions sent (`HCINDEX`).
    pub questions: AtomicU64,
    /// Misses (reads) that waited on a question; over `questions`, the misses per question.
    pub reads: AtomicU64,
    /// Reads answered from local data on the peers' word.
    pub local: AtomicU64,
    /// Peers asked for the keys themselves (not ready, or no answer).
    pub fallbacks: AtomicU64,
    rtt_us: crate::util::samples::Samples,
}

impl IndexStats {
    /// p50 and p99 of the recent question round trips, in microseconds.
    pub fn rtt_percentiles(&self) -> (u64, u64) {
        self.rtt_us.p50_p99()
    }
}

/// Peers tracked at most. A peer names itself at the handshake, so a holder of the secret could
/// otherwise grow these maps with made-up names; past the bound a new name gets state that is
/// not kept — its misses fall back to read-repair, which is always safe.
const MAX_TRACKED: usize = 1024;

/// `peer`'s entry of `map`, created if there is room.
fn entry<T: Default>(map: &RwLock<HashMap<String, Arc<T>>>, peer: &str) -> Arc<T> {
    if let Some(a) = map.read().get(peer) {
        return a.clone();
    }
    let mut m = map.write();
    if m.len() >= MAX_TRACKED && !m.contains_key(peer) {
        return Arc::default();
    }
    m.entry(peer.to_string()).or_default().clone()
}

/// The read index of this node: an asker per peer and what it applied of each peer's stream.
#[derive(Default)]
pub struct ReadIndex {
    askers: RwLock<HashMap<String, Arc<Asker>>>,
    applied: RwLock<HashMap<String, Arc<Applied>>>,
    pub stats: IndexStats,
}

impl ReadIndex {
    fn asker(&self, peer: &str) -> Arc<Asker> {
        entry(&self.askers, peer)
    }

    fn applied_of(&self, peer: &str) -> Arc<Applied> {
        entry(&self.applied, peer)
    }

    /// Forgets a peer that left the ring.
    pub fn forget(&self, peer: &str) {
        self.askers.write().remove(peer);
        self.applied.write().remove(peer);
    }

    /// How far this node applied `peer`'s stream of its `incarnation` (0: not at all).
    pub fn applied(&self, peer: &str, incarnation: u64) -> u64 {
        let at = *self.applied_of(peer).at.lock();
        if at.0 == incarnation { at.1 } else { 0 }
    }

    /// Notes that this node applied `peer`'s stream up to `offset` (of its `incarnation`).
    pub fn note_applied(&self, peer: &str, incarnation: u64, offset: u64) {
        let a = self.applied_of(peer);
        {
            let mut at = a.at.lock();
            if at.0 != incarnation {
                *at = (incarnation, offset);
            } else if offset > at.1 {
                at.1 = offset;
            }
        }
        a.changed.notify_waiters();
    }

    /// The position of `peer`'s stream to this node as of a question sent at or after
    /// `arrived`; `ask` sends the question. None when the peer did not answer.
    pub async fn position<F, Fut>(&self, peer: &str, arrived: Instant, ask: F) -> Option<Position>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Option<Position>>,
    {
        let asker = self.asker(peer);
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        let mut ask = Some(ask);
        loop {
            let wait = asker.answered.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            // Decided under the lock, acted on after it (no guard lives across an await).
            let send: Option<Instant> = {
                let mut st = asker.state.lock();
                if let Some(a) = st.last
                    && a.sent_at >= arrived
                {
                    return a.position;
                }
                // A question in flight that left after this read arrived covers it: wait for
                // it. One that left before does not: ask anew if there is room, else wait for
                // one to land and look again.
                if st.inflight.iter().any(|s| *s >= arrived) || st.inflight.len() >= MAX_IN_FLIGHT {
                    None
                } else {
                    // The question leaves after this read arrived, so it covers it.
                    let sent_at = Instant::now();
                    st.inflight.push(sent_at);
                    Some(sent_at)
                }
            };
            let Some(sent_at) = send else {
                wait.await;
                continue;
            };
            let ask = ask.take()?;
            self.stats.questions.fetch_add(1, Ordering::Relaxed);
            // Should this task be dropped mid-question, the guard still lands it (as
            // unanswered), so the reads waiting on it do not wait forever.
            let mut landing = Landing {
                asker: &asker,
                sent_at,
                position: None,
            };
            landing.position = ask().await;
            self.stats
                .rtt_us
                .record(sent_at.elapsed().as_micros().min(u64::MAX as u128) as u64);
            return landing.position;
        }
    }

    /// Waits until this node has applied `peer`'s stream up to `p`, or `deadline`; true when
    /// it has.
    pub async fn caught_up(
        &self,
        peer: &str,
        p: &Position,
        deadline: tokio::time::Instant,
    ) -> bool {
        let a = self.applied_of(peer);
        loop {
            let changed = a.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if a.reached(p) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return a.reached(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pos(offset: u64) -> Position {
        Position {
            incarnation: 7,
            offset,
            ready: true,
        }
    }

    #[tokio::test]
    async fn misses_that_arrived_before_a_question_share_its_answer() {
        let ix = ReadIndex::default();
        let arrived = Instant::now();
        let first = ix.position("p", arrived, || async { Some(pos(10)) }).await;
        assert_eq!(first, Some(pos(10)));
        // Arrived before the first question left: no second question.
        let second = ix
            .position("p", arrived, || async { panic!("asked twice") })
            .await;
        assert_eq!(second, Some(pos(10)));
        assert_eq!(ix.stats.questions.load(Ordering::Relaxed), 1);
        // Arrived after it: a new question.
        let later = Instant::now();
        let third = ix.position("p", later, || async { Some(pos(20)) }).await;
        assert_eq!(third, Some(pos(20)));
        assert_eq!(ix.stats.questions.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn concurrent_misses_ask_once_per_flight() {
        let ix = Arc::new(ReadIndex::default());
        let gate = Arc::new(tokio::sync::Notify::new());
        let arrived = Instant::now();
        let (ix1, g1) = (ix.clone(), gate.clone());
        let first = tokio::spawn(async move {
            ix1.position("p", arrived, || async move {
                g1.notified().await;
                Some(pos(5))
            })
            .await
        });
        tokio::task::yield_now().await;
        // These arrive while the first question is in flight, sent before them: they wait
        // for it, then one of them asks again for all of them.
        let later = Instant::now();
        let mut waiters = Vec::new();
        for _ in 0..10 {
            let ix = ix.clone();
            waiters.push(tokio::spawn(async move {
                ix.position("p", later, || async { Some(pos(9)) }).await
            }));
        }
        tokio::task::yield_now().await;
        gate.notify_one();
        assert_eq!(first.await.unwrap(), Some(pos(5)));
        for w in waiters {
            assert_eq!(w.await.unwrap(), Some(pos(9)));
        }
        assert_eq!(ix.stats.questions.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_question_dropped_in_flight_releases_its_waiters() {
        let ix = Arc::new(ReadIndex::default());
        let arrived = Instant::now();
        let ix1 = ix.clone();
        let asking = tokio::spawn(async move {
            ix1.position("p", arrived, std::future::pending::<Option<Position>>)
                .await
        });
        tokio::task::yield_now().await;
        let ix2 = ix.clone();
        let waiting =
            tokio::spawn(
                async move { ix2.position("p", arrived, || async { Some(pos(3)) }).await },
            );
        tokio::task::yield_now().await;
        asking.abort();
        // The waiter arrived before the dropped question left: it gets its (lack of) answer.
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("released")
            .unwrap();
        assert_eq!(got, None);
    }

    #[tokio::test]
    async fn made_up_peer_names_cannot_grow_the_index() {
        let ix = ReadIndex::default();
        for i in 0..MAX_TRACKED + 500 {
            ix.note_applied(&format!("peer-{i}"), 1, 1);
        }
        assert_eq!(ix.applied.read().len(), MAX_TRACKED);
        // A name past the bound is never caught up: its reads fall back to read-repair.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        let name = format!("peer-{}", MAX_TRACKED + 1);
        let p = Position {
            incarnation: 1,
            offset: 1,
            ready: true,
        };
        assert!(!ix.caught_up(&name, &p, deadline).await);
        assert!(ix.caught_up("peer-0", &p, deadline).await);
    }

    #[tokio::test]
    async fn a_read_waits_for_the_stream_of_the_answering_incarnation() {
        let ix = ReadIndex::default();
        ix.note_applied("p", 6, 100);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        // Offsets of an earlier incarnation prove nothing.
        assert!(!ix.caught_up("p", &pos(10), deadline).await);
        ix.note_applied("p", 7, 9);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        assert!(!ix.caught_up("p", &pos(10), deadline).await);
        ix.note_applied("p", 7, 10);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        assert!(ix.caught_up("p", &pos(10), deadline).await);
    }
}
