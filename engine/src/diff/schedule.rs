//! Checkpointing schedules: pure planning of how a rollout is replayed backwards under a memory
//! budget. Nothing here touches physics; a [`Schedule`] is a list of [`Action`]s that the tape
//! executes on real states.
//!
//! # The model and its counting conventions
//!
//! A rollout of `horizon` = `T` steps goes `state_0 -> state_1 -> ... -> state_T`. The backward
//! pass runs [`Action::Backward`] for `t = T-1, T-2, ..., 0`, in that order, and each needs the
//! *working state* to be `state_t` (the tape recomputes step `t`'s internals itself, and deals with
//! `state_T` inside `Backward { step: T-1 }`, so `state_T` is never needed here). A backward step
//! consumes the working state: afterwards it is undefined until the next [`Action::Load`].
//!
//! * **Slots.** The memory budget `snapshots` counts snapshot slots, each holding one saved state.
//!   The working state is *not* counted. `state_0` *is*: every schedule starts with
//!   `Save { slot: 0, step: 0 }` (at the start the working state is `state_0`).
//!   [`Schedule::slots_used`] is the peak number of simultaneously occupied slots, and every slot
//!   index in the schedule is below it (freed slots are reused before a new index is opened).
//! * **Forward steps.** [`Schedule::forward_steps`] is the sum of `to - from` over all
//!   [`Action::Forward`]s, i.e. how many times the step function runs outside the tape's own
//!   backward steps. Reaching `state_{T-1}` at all costs `T - 1` steps, so that is the minimum;
//!   [`Schedule::recomputed_steps`] is the excess over it.
//! * **Loads** are emitted only when the working state is not already the wanted state, so e.g.
//!   the first backward step after a forward sweep needs no load.
//!
//! # Strategies
//!
//! * [`Strategy::StoreAll`]: one forward sweep saving every state `0..T`, then each backward step
//!   loads its state. Needs `T` slots; `T - 1` forward steps, nothing recomputed.
//! * [`Strategy::Interval(k)`](Strategy::Interval): the first sweep saves every `k`-th state
//!   (`c = ceil(T / k)` checkpoints, the segment starts `0, k, 2k, ...`). In reverse, for each
//!   segment, last first: load its start, recompute it forward saving each of its interior states
//!   (all but its start, held by the checkpoint, and its last, which stays the working state) into
//!   free slots, then backward through it, freeing slots as they are consumed. With `len` the
//!   length of the last segment (`T - (c - 1) k`) the peak is
//!   `max(c + (len - 2)⁺, c - 1 + (k - 2)⁺)` slots (the second term only when `c >= 2`), and
//!   the forward steps are `(c - 1) k + (T - c)`: the first sweep stops at the last segment's
//!   start, and each segment is then swept once more up to its last state, so
//!   `(c - 1)(k - 1)` steps are recomputed.
//! * [`Strategy::Binomial`]: Griewank's binomial checkpointing ("revolve"), optimal in forward
//!   steps for the given number of slots. With `β(s, r) = C(s + r, s)` and the *repetition
//!   number* `r` the smallest integer with `β(s, r) >= T`, the minimal number of forward steps is
//!
//!   `t(T, s) = r T - β(s + 1, r - 1)`   (and `t(1, s) = 0`),
//!
//!   see [`binomial_forward_steps`]. It equals `T - 1` once `s >= T - 1`, and `T (T - 1) / 2` for
//!   `s = 1`. Every step is run at most `r` times.
//!
//! # The binomial split rule
//!
//! Optimal schedules obey the recursion `t(l, s) = min over 1 <= m < l of
//! m + t(l - m, s - 1) + t(m, s)`: advance `m` steps from the range's start and save there (the
//! start's slot stays occupied, so the right part has `s - 1` slots), reverse the right part, free
//! the slot, then reverse the left part with all `s` slots. The planner needs the optimal `m`
//! without a dynamic program. The marginal cost `t(x, s) - t(x - 1, s)` is exactly the repetition
//! number `r_s(x)` of `x` (non-decreasing in `x`), so the cost
//! `f(m) = m + t(m, s) + t(l - m, s - 1)` is convex in `m` with increments
//! `f(m + 1) - f(m) = 1 + r_s(m + 1) - r_{s-1}(l - m)`. A split is therefore optimal as soon as
//! `r_s(m + 1) >= r - 1`, `r_s(m) <= r - 1`, `r_{s-1}(l - m) <= r` and `r_{s-1}(l - m + 1) >= r`
//! (with `r = r_s(l)`), which holds for every `m` in
//!
//! `max(1, β(s, r - 2), l - β(s - 1, r)) <= m <= min(β(s, r - 1), l - β(s - 1, r - 1))`
//!
//! (with `β(s, -1) = 0`); the range is never empty because `β(s, r - 1) < l <= β(s, r)` and
//! Pascal's rule `β(s, r) = β(s, r - 1) + β(s - 1, r)`. The planner takes the upper end. The
//! tests check, against a brute-force dynamic program over all splits, that this range is exactly
//! the set of optimal splits and that the closed form is the optimum, for `T <= 60`, `s <= 8`.
//!
//! Planning costs `O(T r)` time (`r` is small: 10 for `T = 100_000`, `s = 10`) and uses an explicit
//! work stack, so neither long horizons nor many slots recurse deeply.

use crate::error::Error;

/// One instruction of a checkpointing schedule, executed on the tape's working state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Advance the working state from step `from` to step `to` (to > from) by forward steps.
    Forward {
        /// The step the working state is at before.
        from: usize,
        /// The step the working state is at after (`to - from` forward steps).
        to: usize,
    },
    /// Copy the working state (at step `step`) into snapshot `slot`.
    Save {
        /// The snapshot slot, below [`Schedule::slots_used`].
        slot: usize,
        /// The step of the working state being saved.
        step: usize,
    },
    /// Replace the working state by snapshot `slot` (holding state `step`).
    Load {
        /// The snapshot slot.
        slot: usize,
        /// The step of the state it holds.
        step: usize,
    },
    /// Back-propagate through step `step`; the working state is state `step` (consumed:
    /// afterwards the working state is undefined until the next Load).
    Backward {
        /// The step back-propagated through.
        step: usize,
    },
}

/// How a [`Schedule`] trades recomputation for memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Save every state of one forward sweep: `T` slots, no recomputation.
    StoreAll,
    /// Save every `k`-th state in the first sweep and recompute one segment at a time in reverse,
    /// storing its states (peak about `ceil(T / k) + k - 2` slots, one extra sweep).
    Interval(usize),
    /// Griewank's optimal binomial checkpointing within the given slots.
    Binomial,
}

/// A planned forward/backward replay of a rollout; see the module docs for the conventions.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The number of steps `T` of the rollout.
    pub horizon: usize,
    /// The actions, in execution order; the first is `Save { slot: 0, step: 0 }`.
    pub actions: Vec<Action>,
    /// The peak number of simultaneously occupied snapshot slots (including `state_0`'s);
    /// every slot index used is below it.
    pub slots_used: usize,
    /// The sum of all [`Action::Forward`] step counts.
    pub forward_steps: usize,
}

impl Schedule {
    /// Forward steps beyond the first sweep over steps 0..T-1 (i.e. forward_steps - (T-1)),
    /// the recomputation cost.
    pub fn recomputed_steps(&self) -> usize {
        self.forward_steps.saturating_sub(self.horizon.saturating_sub(1))
    }

    /// `forward_steps / (T - 1)`: how many times the forward work of a plain rollout to
    /// `state_{T-1}` the schedule does (1.0 = no recomputation). For `T = 1` no forward step is
    /// needed or done and the factor is defined as 1.0.
    pub fn recompute_factor(&self) -> f64 {
        if self.horizon <= 1 { 1.0 } else { self.forward_steps as f64 / (self.horizon - 1) as f64 }
    }
}

/// Plans the replay of a `horizon`-step rollout within `snapshots` slots using `strategy`.
///
/// Fails with [`Error::InvalidArgument`] when `horizon` or `snapshots` is 0, for
/// [`Strategy::Interval(0)`](Strategy::Interval), and when [`Strategy::StoreAll`] or
/// [`Strategy::Interval`] would need more slots than given (the message says how many).
/// [`Strategy::Binomial`] works with any number of slots.
pub fn plan(horizon: usize, snapshots: usize, strategy: Strategy) -> Result<Schedule, Error> {
    if horizon == 0 {
        return Err(Error::InvalidArgument("checkpoint schedule: the horizon must be at least 1 step".into()));
    }
    if snapshots == 0 {
        return Err(Error::InvalidArgument(
            "checkpoint schedule: at least 1 snapshot slot is needed (state 0 occupies one)".into(),
        ));
    }
    let mut builder = Builder::new(horizon);
    match strategy {
        Strategy::StoreAll => {
            if snapshots < horizon {
                return Err(Error::InvalidArgument(format!(
                    "checkpoint schedule: StoreAll over {horizon} steps needs {horizon} snapshot slots, \
                     only {snapshots} given"
                )));
            }
            plan_store_all(&mut builder, horizon);
        }
        Strategy::Interval(0) => {
            return Err(Error::InvalidArgument("checkpoint schedule: Interval(k) needs k >= 1, got 0".into()));
        }
        Strategy::Interval(k) => {
            let needed = interval_slots(horizon, k);
            if needed > snapshots {
                return Err(Error::InvalidArgument(format!(
                    "checkpoint schedule: Interval({k}) over {horizon} steps needs {needed} snapshot slots, \
                     only {snapshots} given"
                )));
            }
            plan_interval(&mut builder, horizon, k);
        }
        Strategy::Binomial => plan_binomial(&mut builder, horizon, snapshots),
    }
    Ok(builder.finish())
}

/// Griewank's minimal number of forward steps to reverse `horizon` steps with `snapshots` slots
/// (closed form): `r T - β(s + 1, r - 1)` with `β(s, r) = C(s + r, s)` and `r` the smallest
/// integer with `β(s, r) >= T`; 0 for `horizon <= 1`. Saturates at `usize::MAX` (only for
/// absurd inputs); `snapshots = 0` is treated as 1.
pub fn binomial_forward_steps(horizon: usize, snapshots: usize) -> usize {
    if horizon <= 1 {
        return 0;
    }
    let (l, s) = (horizon as u128, snapshots.max(1) as u128);
    if s == 1 {
        return usize::try_from(l * (l - 1) / 2).unwrap_or(usize::MAX);
    }
    let r = repetition(l, s);
    usize::try_from(r * l - beta(s + 1, r - 1)).unwrap_or(usize::MAX)
}

/// The slots [`Strategy::Interval(k)`](Strategy::Interval) uses for `horizon` steps (`k >= 1`):
/// `c = ceil(T / k)` checkpoints plus the interior of the segment being reversed.
fn interval_slots(horizon: usize, k: usize) -> usize {
    let c = horizon.div_ceil(k);
    let last = horizon - (c - 1) * k;
    let with_last = c + last.saturating_sub(2);
    if c >= 2 { with_last.max(c - 1 + k.saturating_sub(2)) } else { with_last }
}

/// `β(s, r) = C(s + r, s)`, exact as long as the result fits (every intermediate is at most it).
fn beta(s: u128, r: u128) -> u128 {
    let k = s.min(r);
    let n = s + r;
    let mut c = 1u128;
    for i in 1..=k {
        c = c * (n - k + i) / i;
    }
    c
}

/// The repetition number of `l` steps with `s` slots: the smallest `r` with `β(s, r) >= l`.
fn repetition(l: u128, s: u128) -> u128 {
    let (mut r, mut b) = (0u128, 1u128);
    while b < l {
        r += 1;
        // β(s, r) = β(s, r - 1) (s + r) / r, exact.
        b = b * (s + r) / r;
    }
    r
}

/// The range of optimal first checkpoints `m` (steps after the range's start) for reversing
/// `l >= 2` steps with `s >= 2` slots; see the module docs for the derivation.
fn optimal_split_range(l: usize, s: usize) -> (usize, usize) {
    debug_assert!(l >= 2 && s >= 2);
    let (l, s) = (l as u128, s as u128);
    let r = repetition(l, s);
    let lo = if r >= 2 { beta(s, r - 2) } else { 0 }.max(l.saturating_sub(beta(s - 1, r))).max(1);
    let hi = beta(s, r - 1).min(l - beta(s - 1, r - 1));
    debug_assert!(1 <= lo && lo <= hi && hi < l);
    (lo as usize, hi as usize)
}

/// Emits actions while tracking the working state, the slot occupancy and the counts.
struct Builder {
    horizon: usize,
    actions: Vec<Action>,
    working: Option<usize>,
    free: Vec<usize>,
    occupied: usize,
    peak: usize,
    forward_steps: usize,
}

impl Builder {
    fn new(horizon: usize) -> Self {
        Builder {
            horizon,
            actions: Vec::new(),
            working: Some(0),
            free: Vec::new(),
            occupied: 0,
            peak: 0,
            forward_steps: 0,
        }
    }

    fn forward_to(&mut self, to: usize) {
        let from = self.working.expect("forward from an undefined working state");
        debug_assert!(to >= from && to < self.horizon);
        if to > from {
            self.actions.push(Action::Forward { from, to });
            self.forward_steps += to - from;
            self.working = Some(to);
        }
    }

    /// Saves the working state into a free slot (the most recently freed, else a new one) and returns the slot.
    fn save(&mut self) -> usize {
        let step = self.working.expect("save of an undefined working state");
        let slot = self.free.pop().unwrap_or(self.occupied);
        self.occupied += 1;
        self.peak = self.peak.max(self.occupied);
        self.actions.push(Action::Save { slot, step });
        slot
    }

    fn release(&mut self, slot: usize) {
        self.occupied -= 1;
        self.free.push(slot);
    }

    fn load(&mut self, slot: usize, step: usize) {
        if self.working != Some(step) {
            self.actions.push(Action::Load { slot, step });
            self.working = Some(step);
        }
    }

    fn backward(&mut self, step: usize) {
        debug_assert_eq!(self.working, Some(step));
        self.actions.push(Action::Backward { step });
        self.working = None;
    }

    fn finish(self) -> Schedule {
        Schedule {
            horizon: self.horizon,
            actions: self.actions,
            slots_used: self.peak,
            forward_steps: self.forward_steps,
        }
    }
}

fn plan_store_all(b: &mut Builder, horizon: usize) {
    let slots: Vec<usize> = (0..horizon)
        .map(|step| {
            b.forward_to(step);
            b.save()
        })
        .collect();
    for step in (0..horizon).rev() {
        b.load(slots[step], step);
        b.backward(step);
        b.release(slots[step]);
    }
}

fn plan_interval(b: &mut Builder, horizon: usize, k: usize) {
    let checkpoints: Vec<(usize, usize)> = (0..horizon)
        .step_by(k)
        .map(|start| {
            b.forward_to(start);
            (start, b.save())
        })
        .collect();
    for &(start, start_slot) in checkpoints.iter().rev() {
        let end = (start + k).min(horizon);
        b.load(start_slot, start);
        let mut interior = Vec::with_capacity(k);
        for step in start + 1..end {
            b.forward_to(step);
            if step + 1 < end {
                interior.push((step, b.save()));
            }
        }
        // The segment's last state is the working state; the others are in slots.
        b.backward(end - 1);
        for &(step, slot) in interior.iter().rev() {
            b.load(slot, step);
            b.backward(step);
            b.release(slot);
        }
        if end - 1 > start {
            b.load(start_slot, start);
            b.backward(start);
        }
        b.release(start_slot);
    }
}

/// Pending work of the binomial planner (a stack instead of recursion).
enum Task {
    /// Reverse steps `start..end` with `slots` slots, `state_start` being held in `slot`.
    Reverse { start: usize, end: usize, slots: usize, slot: usize },
    /// Free a checkpoint whose sub-range has been reversed.
    Release(usize),
}

fn plan_binomial(b: &mut Builder, horizon: usize, snapshots: usize) {
    let slot0 = b.save();
    let mut tasks = vec![Task::Reverse { start: 0, end: horizon, slots: snapshots.min(horizon), slot: slot0 }];
    while let Some(task) = tasks.pop() {
        let (start, end, slots, slot) = match task {
            Task::Release(slot) => {
                b.release(slot);
                continue;
            }
            Task::Reverse { start, end, slots, slot } => (start, end, slots, slot),
        };
        let l = end - start;
        if l == 1 {
            b.load(slot, start);
            b.backward(start);
        } else if slots == 1 {
            // One slot: sweep from the start to each step in turn.
            for step in (start..end).rev() {
                b.load(slot, start);
                b.forward_to(step);
                b.backward(step);
            }
        } else {
            let (_, m) = optimal_split_range(l, slots);
            b.load(slot, start);
            b.forward_to(start + m);
            let split_slot = b.save();
            // Executed in reverse order of pushing: right part, free its checkpoint, left part.
            tasks.push(Task::Reverse { start, end: start + m, slots, slot });
            tasks.push(Task::Release(split_slot));
            tasks.push(Task::Reverse { start: start + m, end, slots: slots - 1, slot: split_slot });
        }
    }
    b.release(slot0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `schedule` on fake states (a state is its step number) with `snapshots` slots,
    /// checking every action; returns (distinct slots used, forward steps counted).
    fn execute(schedule: &Schedule, snapshots: usize) -> (usize, usize) {
        let horizon = schedule.horizon;
        let mut working = Some(0usize);
        let mut slots: Vec<Option<usize>> = vec![None; snapshots];
        let mut next_backward = horizon.checked_sub(1);
        let mut forward = 0;
        assert!(
            matches!(schedule.actions.first(), Some(Action::Save { step: 0, .. })),
            "the first action must save state 0: {:?}",
            schedule.actions.first()
        );
        for (i, &action) in schedule.actions.iter().enumerate() {
            match action {
                Action::Forward { from, to } => {
                    assert_eq!(working, Some(from), "action {i}: {action:?} from the wrong working state");
                    assert!(to > from, "action {i}: {action:?} does not advance");
                    assert!(to < horizon, "action {i}: {action:?} goes past state T-1");
                    forward += to - from;
                    working = Some(to);
                }
                Action::Save { slot, step } => {
                    assert!(slot < snapshots, "action {i}: {action:?} slot out of range ({snapshots} slots)");
                    assert_eq!(working, Some(step), "action {i}: {action:?} saves a different state");
                    slots[slot] = Some(step);
                }
                Action::Load { slot, step } => {
                    assert!(slot < snapshots, "action {i}: {action:?} slot out of range ({snapshots} slots)");
                    assert_eq!(slots[slot], Some(step), "action {i}: {action:?} slot holds another state");
                    working = Some(step);
                }
                Action::Backward { step } => {
                    assert_eq!(Some(step), next_backward, "action {i}: {action:?} out of order");
                    assert_eq!(working, Some(step), "action {i}: {action:?} with the wrong working state");
                    working = None;
                    next_backward = step.checked_sub(1);
                }
            }
        }
        assert_eq!(next_backward, None, "not every step was back-propagated");
        let used = slots.iter().filter(|slot| slot.is_some()).count();
        let highest = slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        assert!(used <= snapshots && highest <= schedule.slots_used, "slots beyond slots_used");
        assert!(schedule.slots_used <= snapshots, "slots_used {} > {snapshots}", schedule.slots_used);
        assert_eq!(forward, schedule.forward_steps, "forward_steps does not match the actions");
        (used, forward)
    }

    /// Brute force: `t[s][l]` = fewest forward steps to reverse `l` steps with `s` slots, by the
    /// dynamic program over the first checkpoint's position (row `s = 0` unused).
    fn brute_force(max_l: usize, max_s: usize) -> Vec<Vec<usize>> {
        let mut t = vec![vec![0usize; max_l + 1]; max_s + 1];
        for l in 2..=max_l {
            // One slot: run from the start to each step in turn.
            t[1][l] = (l - 1) + t[1][l - 1];
        }
        for s in 2..=max_s {
            for l in 2..=max_l {
                t[s][l] = (1..l).map(|m| m + t[s - 1][l - m] + t[s][m]).min().unwrap();
            }
        }
        t
    }

    fn assert_invalid(result: Result<Schedule, Error>, needle: &str) {
        match result {
            Err(Error::InvalidArgument(message)) => {
                assert!(message.contains(needle), "message {message:?} lacks {needle:?}")
            }
            other => panic!("expected InvalidArgument containing {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn closed_form_small_cases() {
        for s in 1..10 {
            assert_eq!(binomial_forward_steps(1, s), 0);
        }
        assert_eq!(binomial_forward_steps(2, 1), 1);
        assert_eq!(binomial_forward_steps(3, 1), 3);
        for l in 1..200 {
            assert_eq!(binomial_forward_steps(l, 1), l * (l - 1) / 2, "l = {l}");
            for s in l.saturating_sub(1).max(1)..l + 5 {
                if s >= 2 || l <= 2 {
                    assert_eq!(binomial_forward_steps(l, s), l - 1, "l = {l}, s = {s}");
                }
            }
        }
        // 3 slots, 10 steps: β(3, 2) = 10, so r = 2 and t = 20 - β(4, 1) = 15.
        assert_eq!(binomial_forward_steps(10, 3), 15);
    }

    #[test]
    fn closed_form_and_split_rule_match_brute_force() {
        let (max_l, max_s) = (60, 8);
        let t = brute_force(max_l, max_s);
        for s in 1..=max_s {
            for l in 1..=max_l {
                assert_eq!(binomial_forward_steps(l, s), t[s][l], "closed form, l = {l}, s = {s}");
                if l >= 2 && s >= 2 {
                    let optimal: Vec<usize> = (1..l).filter(|&m| m + t[s - 1][l - m] + t[s][m] == t[s][l]).collect();
                    let (lo, hi) = optimal_split_range(l, s);
                    assert_eq!((lo..=hi).collect::<Vec<_>>(), optimal, "optimal splits of l = {l}, s = {s}");
                }
            }
        }
    }

    #[test]
    fn binomial_executes_optimally_small() {
        let t = brute_force(60, 8);
        for (snapshots, optimum) in t.iter().enumerate().skip(1) {
            for (horizon, &best) in optimum.iter().enumerate().skip(1) {
                let schedule = plan(horizon, snapshots, Strategy::Binomial).unwrap();
                execute(&schedule, snapshots);
                assert_eq!(schedule.forward_steps, best, "T = {horizon}, s = {snapshots}");
                assert_eq!(schedule.forward_steps, binomial_forward_steps(horizon, snapshots));
                assert!(schedule.slots_used <= snapshots);
            }
        }
    }

    #[test]
    fn binomial_executes_optimally_large() {
        for horizon in [1000, 8192] {
            for snapshots in [5, 20, 100] {
                let schedule = plan(horizon, snapshots, Strategy::Binomial).unwrap();
                let (used, forward) = execute(&schedule, snapshots);
                assert_eq!(forward, binomial_forward_steps(horizon, snapshots), "T = {horizon}, s = {snapshots}");
                assert_eq!(used, schedule.slots_used);
                assert_eq!(schedule.slots_used, snapshots, "all slots should be worth using");
            }
        }
    }

    #[test]
    fn binomial_with_ample_slots_is_store_all_cost() {
        for horizon in [1, 2, 3, 17, 500] {
            for snapshots in [horizon, horizon + 1, 10 * horizon] {
                let schedule = plan(horizon, snapshots, Strategy::Binomial).unwrap();
                execute(&schedule, snapshots);
                assert_eq!(schedule.forward_steps, horizon - 1);
                assert_eq!(schedule.recomputed_steps(), 0);
                assert_eq!(schedule.recompute_factor(), 1.0);
                assert!(schedule.slots_used <= horizon);
            }
        }
    }

    #[test]
    fn binomial_plans_long_horizons_fast() {
        let start = std::time::Instant::now();
        let schedule = plan(100_000, 10, Strategy::Binomial).unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f64() < 1.0, "planning took {elapsed:?}");
        assert_eq!(schedule.forward_steps, binomial_forward_steps(100_000, 10));
        execute(&schedule, 10);
        // r = 10 for T = 100_000 and 10 slots: every step runs at most 10 times.
        assert!(schedule.recompute_factor() < 10.0, "{}", schedule.recompute_factor());
        // Deep slot counts do not recurse.
        let schedule = plan(100_000, 100_000, Strategy::Binomial).unwrap();
        assert_eq!(schedule.forward_steps, 99_999);
    }

    #[test]
    fn store_all_executes() {
        for horizon in 1..=40 {
            for snapshots in [horizon, horizon + 3] {
                let schedule = plan(horizon, snapshots, Strategy::StoreAll).unwrap();
                let (used, forward) = execute(&schedule, snapshots);
                assert_eq!(forward, horizon - 1);
                assert_eq!((used, schedule.slots_used), (horizon, horizon));
                assert_eq!(schedule.recomputed_steps(), 0);
            }
        }
    }

    #[test]
    fn interval_executes_with_formula_counts() {
        for horizon in 1..=50usize {
            for k in 1..=horizon + 2 {
                let c = horizon.div_ceil(k);
                let last = horizon - (c - 1) * k;
                let mut peak = c + last.saturating_sub(2);
                if c >= 2 {
                    peak = peak.max(c - 1 + k.saturating_sub(2));
                }
                let schedule = plan(horizon, peak, Strategy::Interval(k)).unwrap();
                let (used, forward) = execute(&schedule, peak);
                assert_eq!(schedule.slots_used, peak, "T = {horizon}, k = {k}");
                assert_eq!(used, peak, "T = {horizon}, k = {k}");
                assert_eq!(forward, (c - 1) * k + horizon - c, "T = {horizon}, k = {k}");
                assert_eq!(schedule.recomputed_steps(), (c - 1) * (k - 1), "T = {horizon}, k = {k}");
                if peak > 1 {
                    assert_invalid(plan(horizon, peak - 1, Strategy::Interval(k)), &format!("needs {peak}"));
                }
            }
        }
    }

    #[test]
    fn recompute_factor_and_counts() {
        let schedule = plan(1, 1, Strategy::Binomial).unwrap();
        assert_eq!(schedule.actions, vec![Action::Save { slot: 0, step: 0 }, Action::Backward { step: 0 }]);
        assert_eq!((schedule.forward_steps, schedule.recomputed_steps(), schedule.recompute_factor()), (0, 0, 1.0));
        let schedule = plan(3, 1, Strategy::Binomial).unwrap();
        assert_eq!(schedule.forward_steps, 3);
        assert_eq!(schedule.recomputed_steps(), 1);
        assert_eq!(schedule.recompute_factor(), 1.5);
        let schedule = plan(10, 3, Strategy::Binomial).unwrap();
        assert_eq!((schedule.forward_steps, schedule.recomputed_steps()), (15, 6));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert_invalid(plan(0, 4, Strategy::Binomial), "horizon");
        assert_invalid(plan(5, 0, Strategy::Binomial), "slot");
        assert_invalid(plan(5, 0, Strategy::StoreAll), "slot");
        assert_invalid(plan(10, 9, Strategy::StoreAll), "needs 10 snapshot slots");
        assert_invalid(plan(10, 10, Strategy::Interval(0)), "k >= 1");
        // T = 100, k = 10: 10 checkpoints + 8 interior states.
        assert_invalid(plan(100, 17, Strategy::Interval(10)), "needs 18 snapshot slots");
        assert!(plan(100, 18, Strategy::Interval(10)).is_ok());
    }
}
