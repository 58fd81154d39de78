//! The wait-for graph: who holds which resource and who waits for which, as the processes report
//! it, and the question a deadlock lesson asks of it: is there a cycle of processes each waiting
//! for a resource the next one holds? Pure logic (no I/O, no egui); the kernel's side of the
//! evidence (process states, wait channels, /proc/locks) is checked by the caller before a cycle
//! is called a deadlock rather than a suspected one.

use std::collections::BTreeMap;

use serde::Serialize;

/// A process (by node index) and a resource (by name), as the scenario names them.
pub type Proc = usize;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitFor {
    /// resource → the processes holding it (a semaphore can have several).
    holders: BTreeMap<String, Vec<Proc>>,
    /// process → the resource it is blocked on.
    waiting: BTreeMap<Proc, String>,
}

/// One step of a cycle: `proc` waits for `resource`, held by the next step's process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub proc: Proc,
    pub resource: String,
}

impl WaitFor {
    /// `proc` took one unit of `resource` (a process may hold several units of a semaphore:
    /// holders are counted, not just listed).
    pub fn acquired(&mut self, proc: Proc, resource: &str) {
        self.waiting.remove(&proc);
        self.holders.entry(resource.to_string()).or_default().push(proc);
    }

    /// `proc` gave back one unit of `resource`.
    pub fn released(&mut self, proc: Proc, resource: &str) {
        if let Some(h) = self.holders.get_mut(resource)
            && let Some(i) = h.iter().position(|&p| p == proc)
        {
            h.remove(i);
        }
    }

    /// Sets who holds `resource` outright (a barrier is "held" by the parties not there yet).
    pub fn set_holders(&mut self, resource: &str, procs: Vec<Proc>) {
        self.holders.insert(resource.to_string(), procs);
    }

    /// `proc` says it holds exactly `held` (a name per unit) of the resources `ours` accepts;
    /// its holdings of other resources (pipe ends, its own exit) are left as they are.
    pub fn set_held(&mut self, proc: Proc, held: &[String], ours: impl Fn(&str) -> bool) {
        for (r, h) in self.holders.iter_mut() {
            if ours(r) {
                h.retain(|&p| p != proc);
            }
        }
        for r in held.iter().filter(|r| ours(r)) {
            self.holders.entry(r.clone()).or_default().push(proc);
        }
    }

    /// Every resource `proc` holds (a name per unit), in name order.
    pub fn held_by(&self, proc: Proc) -> Vec<&str> {
        self.holders.iter().flat_map(|(r, h)| h.iter().filter(move |&&p| p == proc).map(move |_| r.as_str())).collect()
    }

    pub fn blocked_on(&mut self, proc: Proc, resource: &str) {
        self.waiting.insert(proc, resource.to_string());
    }

    pub fn unblocked(&mut self, proc: Proc) {
        self.waiting.remove(&proc);
    }

    /// A process ended: it waits for nothing and holds nothing any more (what a dead process
    /// held is, for robust mutexes, handed on; for a semaphore, lost: the caller says which by
    /// calling `acquired` for the next owner, or not).
    pub fn gone(&mut self, proc: Proc) {
        self.waiting.remove(&proc);
        for h in self.holders.values_mut() {
            h.retain(|&p| p != proc);
        }
    }

    pub fn holders(&self, resource: &str) -> &[Proc] {
        self.holders.get(resource).map_or(&[], |h| h.as_slice())
    }

    pub fn waits_for(&self, proc: Proc) -> Option<&str> {
        self.waiting.get(&proc).map(String::as_str)
    }

    /// The first cycle of waits, smallest process first: each process waits for a resource
    /// held by the next, and the last one's resource is held by the first. `None` when the
    /// waits form no cycle (everyone may still be blocked: that is a hang, not a deadlock).
    /// Through a resource with several holders (a semaphore, a pipe end) this is a candidate
    /// only: another holder, outside the cycle, may still release it; the caller checks.
    pub fn cycle(&self) -> Option<Vec<Edge>> {
        for &start in self.waiting.keys() {
            let mut path: Vec<Edge> = Vec::new();
            let mut at = start;
            while let Some(resource) = self.waiting.get(&at) {
                if let Some(i) = path.iter().position(|e| e.proc == at) {
                    let mut cycle = path.split_off(i);
                    // Start the sentence at the smallest process, for a stable wording.
                    let min = cycle.iter().enumerate().min_by_key(|(_, e)| e.proc).map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    return Some(cycle);
                }
                path.push(Edge { proc: at, resource: resource.clone() });
                // Follow to a holder that is itself waiting (any one closes a cycle the same way).
                let next = self.holders(resource).iter().copied().find(|h| *h != at && self.waiting.contains_key(h));
                match next {
                    Some(n) => at = n,
                    None => break,
                }
            }
        }
        None
    }

    /// The cycle as the verdict carries it: per process, what else it holds, what it waits
    /// for and who holds that (`name` gives a process's id). Said in words by `model::say`.
    /// `shown` says which held resources count as held (a semaphore's units, taken as signals,
    /// are not "held" in the sense a reader expects).
    pub fn steps(&self, cycle: &[Edge], name: impl Fn(Proc) -> String, shown: impl Fn(&str) -> bool) -> Vec<CycleStep> {
        cycle
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let next = &cycle[(i + 1) % cycle.len()];
                let holds = self
                    .holders
                    .iter()
                    .filter(|(r, h)| {
                        h.contains(&e.proc) && **r != e.resource && !r.is_empty() && !is_pseudo(r) && shown(r)
                    })
                    .map(|(r, _)| Held::of(r))
                    .collect();
                CycleStep { process: name(e.proc), holds, waits: Waited::of(&e.resource), held_by: name(next.proc) }
            })
            .collect()
    }
}

/// One process of a deadlock's cycle: `process` holds `holds` and waits for `waits`, which
/// `held_by` (the next process of the cycle) holds. Names are the scenario's ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CycleStep {
    pub process: String,
    pub holds: Vec<Held>,
    pub waits: Waited,
    pub held_by: String,
}

/// What a process holds, by kind, with the resource's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Held {
    /// A lock, a semaphore's unit, a barrier's place.
    Resource(String),
    /// Its copy of a pipe's write end.
    WriteEnd(String),
    /// Its copy of a pipe's read end.
    ReadEnd(String),
}

impl Held {
    /// From the graph's name for it ("the write end of pipe 1", or a resource's id).
    pub fn of(resource: &str) -> Held {
        if let Some(p) = resource.strip_prefix("the write end of ") {
            Held::WriteEnd(p.to_string())
        } else if let Some(p) = resource.strip_prefix("the read end of ") {
            Held::ReadEnd(p.to_string())
        } else {
            Held::Resource(resource.to_string())
        }
    }
}

/// What a process waits for, by kind, with the resource's (or process's) id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "for", content = "name", rename_all = "snake_case")]
pub enum Waited {
    /// A lock, a barrier, a semaphore unit someone holds: the resource itself.
    Resource(String),
    /// Data in a pipe, from whoever holds its write end.
    Data(String),
    /// Room in a pipe, from whoever holds its read end.
    Room(String),
    /// Room in a queue, which its receivers would make.
    QueueRoom(String),
    /// A message on a queue, which its senders would send.
    QueueMessage(String),
    /// A post of a semaphore, which only its posters make.
    Post(String),
    /// A process's exit.
    Exit(String),
    /// A signal of a condition variable, which only its signallers send.
    Signal(String),
}

impl Waited {
    /// From the graph's name for it ("the write end of pipe 1", "a post of items", ...).
    pub fn of(resource: &str) -> Waited {
        let strip = |p: &str| resource.strip_prefix(p).map(str::to_string);
        if let Some(r) = strip("the write end of ") {
            Waited::Data(r)
        } else if let Some(r) = strip("the read end of ") {
            Waited::Room(r)
        } else if let Some(r) = strip("a receiver of ") {
            Waited::QueueRoom(r)
        } else if let Some(r) = strip("a sender to ") {
            Waited::QueueMessage(r)
        } else if let Some(r) = strip("a post of ") {
            Waited::Post(r)
        } else if let Some(r) = strip("the exit of ") {
            Waited::Exit(r)
        } else if let Some(r) = strip("a signal of ") {
            Waited::Signal(r)
        } else {
            Waited::Resource(resource.to_string())
        }
    }
}

/// Names that stand for a role rather than a thing one holds (a queue's receivers, a process's
/// exit): in the graph as holdings, but not said as "holds".
fn is_pseudo(resource: &str) -> bool {
    ["a receiver of ", "a sender to ", "the exit of ", "a post of ", "a signal of "]
        .iter()
        .any(|p| resource.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: Proc) -> String {
        format!("relay {p}")
    }

    #[test]
    fn opposite_lock_order_is_a_cycle_of_two_steps() {
        let mut g = WaitFor::default();
        g.acquired(1, "lock A");
        g.acquired(2, "lock B");
        assert_eq!(g.cycle(), None, "holding is not waiting");
        g.blocked_on(1, "lock B");
        assert_eq!(g.cycle(), None, "one waiter is a queue, not a cycle");
        g.blocked_on(2, "lock A");
        let c = g.cycle().expect("a cycle");
        assert_eq!(c.len(), 2);
        let step = |p: &str, holds: &str, waits: &str, by: &str| CycleStep {
            process: p.into(),
            holds: vec![Held::Resource(holds.into())],
            waits: Waited::Resource(waits.into()),
            held_by: by.into(),
        };
        assert_eq!(
            g.steps(&c, name, |_| true),
            vec![step("relay 1", "lock A", "lock B", "relay 2"), step("relay 2", "lock B", "lock A", "relay 1")]
        );
    }

    #[test]
    fn a_chain_that_ends_at_a_running_process_is_no_deadlock() {
        let mut g = WaitFor::default();
        g.acquired(0, "fork 0");
        g.acquired(1, "fork 1");
        g.blocked_on(1, "fork 0"); // 1 waits for 0, and 0 waits for nothing: it can go on
        assert_eq!(g.cycle(), None);
    }

    #[test]
    fn five_philosophers_each_holding_the_left_fork_deadlock() {
        let mut g = WaitFor::default();
        for p in 0..5 {
            g.acquired(p, &format!("fork {p}"));
        }
        for p in 0..5 {
            g.blocked_on(p, &format!("fork {}", (p + 1) % 5));
        }
        let c = g.cycle().expect("a cycle of five");
        assert_eq!(c.iter().map(|e| e.proc).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        // One philosopher killed: its fork is released, the cycle is gone.
        g.gone(2);
        assert_eq!(g.cycle(), None);
    }

    #[test]
    fn a_semaphore_held_by_several_gives_a_candidate_cycle_through_a_waiting_holder() {
        let mut g = WaitFor::default();
        g.acquired(0, "seats");
        g.acquired(1, "seats");
        g.acquired(2, "mutex");
        g.blocked_on(2, "seats");
        g.blocked_on(1, "mutex");
        let c = g.cycle().expect("2 waits for seats held by 1, which waits for the mutex 2 holds");
        assert_eq!(c.iter().map(|e| e.proc).collect::<Vec<_>>(), vec![1, 2]);
        // A candidate: process 0 holds a seat too and is not waiting: it may give it back.
        assert_eq!(g.holders("seats"), &[0, 1]);
    }

    #[test]
    fn units_are_counted_per_holder() {
        let mut g = WaitFor::default();
        g.acquired(1, "S");
        g.acquired(1, "S");
        g.released(1, "S");
        assert_eq!(g.holders("S"), &[1], "one post gives back one of two units");
    }
}
