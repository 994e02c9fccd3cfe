//! The gate a transaction closes: every command runs inside it (shared), EXEC alone
//! (exclusive), so a transaction's commands run with nothing between them, as on Redis's one
//! thread. Ours because entering must cost a command almost nothing: a reader touches only its
//! own thread's counter (its own cache line) and reads a flag that changes only for an EXEC; a
//! lock shared by every command would bounce one cache line between all the I/O threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Counters (threads share one when there are more threads than these; the sums stay right).
const SLOTS: usize = 64;

#[repr(align(128))]
#[derive(Default)]
struct Slot(AtomicUsize);

pub struct Gate {
    slots: Box<[Slot]>,
    closed: AtomicBool,
    /// One EXEC at a time.
    writer: Mutex<()>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            closed: AtomicBool::new(false),
            writer: Mutex::new(()),
        }
    }
}

/// Slots handed out so far: EXEC looks at these only (a node has a few threads, not 64).
static ASSIGNED: AtomicUsize = AtomicUsize::new(0);

fn my_slot() -> usize {
    thread_local! {
        // SeqCst, before the thread's first count: an EXEC that closes the gate after that
        // count is in sees this slot among those it waits for.
        static SLOT: usize = ASSIGNED.fetch_add(1, Ordering::SeqCst) % SLOTS;
    }
    SLOT.with(|s| *s)
}

/// Inside the gate until dropped. Never held across an await (it is not `Send`).
pub struct Shared<'a> {
    slot: &'a AtomicUsize,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        self.slot.fetch_sub(1, Ordering::Release);
    }
}

impl Gate {
    /// Enters for one command; waits while a transaction runs.
    pub fn enter(&self) -> Shared<'_> {
        let slot = &self.slots[my_slot()].0;
        loop {
            // Count ourselves in, then look: an EXEC that closed the gate before this sees
            // our count and waits; one that closes it after sees it too (both SeqCst).
            slot.fetch_add(1, Ordering::SeqCst);
            if !self.closed.load(Ordering::SeqCst) {
                return Shared {
                    slot,
                    _not_send: std::marker::PhantomData,
                };
            }
            slot.fetch_sub(1, Ordering::SeqCst);
            while self.closed.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
        }
    }

    /// [`Gate::enter`], but gives up (None) when `stop` says so while it waits: a script past
    /// its busy threshold holds the gate, and the command gets -BUSY instead of waiting.
    pub fn enter_unless(&self, stop: impl Fn() -> bool) -> Option<Shared<'_>> {
        let slot = &self.slots[my_slot()].0;
        loop {
            slot.fetch_add(1, Ordering::SeqCst);
            if !self.closed.load(Ordering::SeqCst) {
                return Some(Shared {
                    slot,
                    _not_send: std::marker::PhantomData,
                });
            }
            slot.fetch_sub(1, Ordering::SeqCst);
            while self.closed.load(Ordering::Acquire) {
                if stop() {
                    return None;
                }
                std::thread::yield_now();
            }
        }
    }

    /// Runs `f` with every other command kept out. The caller must not be inside the gate.
    pub fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        let _one = self.writer.lock();
        self.closed.store(true, Ordering::SeqCst);
        let used = ASSIGNED.load(Ordering::SeqCst).min(SLOTS);
        for s in self.slots[..used].iter() {
            while s.0.load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
        }
        let r = f();
        self.closed.store(false, Ordering::Release);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn nothing_runs_beside_an_exclusive_section() {
        let gate = Arc::new(Gate::default());
        // Readers bump a pair of counters that an exclusive section checks are equal: a
        // reader inside the section would be seen half-way.
        let pair = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (gate, pair, stop) = (gate.clone(), pair.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _in = gate.enter();
                        pair.0.fetch_add(1, Ordering::SeqCst);
                        std::hint::spin_loop();
                        pair.1.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let mut torn = 0;
        let started = std::time::Instant::now();
        let mut sections = 0;
        // Until both sides have done plenty (a loaded machine may start the readers late).
        while (sections < 2000 || pair.0.load(Ordering::SeqCst) < 20_000)
            && started.elapsed() < std::time::Duration::from_secs(20)
        {
            sections += 1;
            gate.exclusive(|| {
                let a = pair.0.load(Ordering::SeqCst);
                std::hint::spin_loop();
                if pair.1.load(Ordering::SeqCst) != a || pair.0.load(Ordering::SeqCst) != a {
                    torn += 1;
                }
            });
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(torn, 0);
        assert!(pair.0.load(Ordering::SeqCst) >= 20_000);
    }

    #[test]
    fn a_thread_entering_for_the_first_time_is_waited_for() {
        // Threads that each enter once, on a slot handed out just then, while exclusive
        // sections run: none of them may be inside one.
        let gate = Arc::new(Gate::default());
        let pair = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let checker = {
            let (gate, pair, stop) = (gate.clone(), pair.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut torn = 0;
                while !stop.load(Ordering::Relaxed) {
                    gate.exclusive(|| {
                        let a = pair.0.load(Ordering::SeqCst);
                        std::hint::spin_loop();
                        if pair.1.load(Ordering::SeqCst) != a {
                            torn += 1;
                        }
                    });
                }
                torn
            })
        };
        for _ in 0..200 {
            let (gate, pair) = (gate.clone(), pair.clone());
            std::thread::spawn(move || {
                let _in = gate.enter();
                pair.0.fetch_add(1, Ordering::SeqCst);
                std::hint::spin_loop();
                pair.1.fetch_add(1, Ordering::SeqCst);
            })
            .join()
            .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(checker.join().unwrap(), 0);
        assert_eq!(pair.1.load(Ordering::SeqCst), 200);
    }
}
