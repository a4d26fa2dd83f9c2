//! The shipped optimization tasks do what they promise: identification recovers the true
//! material within 2% from a start 3x off, the walker learns to walk further, the throw lands.

use rheo::task::Task;
use std::path::Path;

fn task(name: &str) -> Task {
    Task::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks").join(name)).unwrap()
}

#[test]
fn identify_elastic_recovers_youngs_modulus_and_poissons_ratio_within_two_percent() {
    let task = task("identify_elastic.toml");
    let outcome = task.run(None, &mut |_| {}).unwrap();
    let last = outcome.history.last().unwrap();
    let (e, nu) = (last.parameters[0].values[0], last.parameters[1].values[0]);
    // The scene holds the truth: E = 2000, nu = 0.3; the task starts at 6000 and 0.1.
    assert!((e / 2000.0 - 1.0).abs() < 0.02, "E = {e}");
    assert!((nu / 0.3 - 1.0).abs() < 0.02, "nu = {nu}");
    assert!(outcome.final_loss < 1e-3 * outcome.history[0].loss);
}

#[test]
fn throw_3d_brings_the_ball_to_its_target() {
    let outcome = task("throw_3d.toml").run(None, &mut |_| {}).unwrap();
    let first = outcome.history[0].loss;
    // Squared miss: from about 34 cm to under 1 cm.
    assert!(first > 0.1, "{first}");
    assert!(outcome.final_loss < 1e-4, "{}", outcome.final_loss);
}

#[test]
fn walker_learns_to_walk_further() {
    let mut task = task("walker_2d.toml");
    task.steps = 512;
    let outcome = task.run(Some(3), &mut |_| {}).unwrap();
    let losses: Vec<f64> = outcome.history.iter().map(|r| r.loss).chain([outcome.final_loss]).collect();
    // The loss is -(mean x): each gradient step moves the robot's final position further right.
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert!(outcome.history.iter().all(|r| r.gradient_norm.is_finite() && r.gradient_norm > 0.0));
}

#[test]
fn push_2d_learns_a_pusher_trajectory_that_moves_the_block_to_its_target() {
    let outcome = task("push_2d.toml").run(None, &mut |_| {}).unwrap();
    let first = outcome.history[0].loss;
    // A 400-step trajectory of the sticky box: the block's center moves from 12 cm short of
    // the target to within 3 cm.
    assert!(first > 1e-2, "{first}");
    assert!(outcome.final_loss < 1e-3, "{}", outcome.final_loss);
    assert_eq!(outcome.history[0].parameters[0].values.len(), 800);
}

/// A task's `device_budget_mib` (or `device_snapshots`) reaches the checkpointing settings, and
/// giving both is an error naming the line.
#[test]
fn a_task_sets_how_much_of_its_budget_stays_on_the_device() {
    let walker =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/walker_2d.toml")).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks");
    let with = |extra: &str| walker.replace("budget_mib = 64\n", &format!("budget_mib = 64\n{extra}"));
    let parse = |text: &str| Task::from_toml_str(text, "walker.toml", Some(&dir));
    use rheo::diff::Budget;
    assert_eq!(parse(&walker).unwrap().checkpointing.device_budget, None);
    assert_eq!(
        parse(&with("device_budget_mib = 0.5\n")).unwrap().checkpointing.device_budget,
        Some(Budget::Bytes(1 << 19))
    );
    assert_eq!(parse(&with("device_snapshots = 7\n")).unwrap().checkpointing.device_budget, Some(Budget::Snapshots(7)));
    let both = with("device_budget_mib = 1\ndevice_snapshots = 7\n");
    let line = both.lines().position(|l| l.starts_with("device_snapshots")).unwrap() + 1;
    let e = parse(&both).unwrap_err().to_string();
    assert!(e.contains(&format!("walker.toml:{line}:")) && e.contains("device_budget_mib"), "{e}");
}

/// A `[[parameters]]` entry's `learning_rate` and `clip_norm` and the optimizer's cosine
/// `schedule` reach the task and its optimizer: the walker with a global rate of 0.1 and its
/// controller's own 0.05 steps bitwise as with a global 0.05; the schedule keeps the first step
/// (factor 1) and changes the second. Bad values are errors naming their line.
#[test]
fn a_task_sets_per_block_rates_and_clips_and_a_cosine_schedule() {
    use rheo::diff::optim::{Method, RateSchedule};
    use rheo::task::BlockSettings;
    let walker =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks/walker_2d.toml")).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tasks");
    let parse = |text: &str| Task::from_toml_str(text, "walker.toml", Some(&dir));
    let with = |optimizer: &str, block: &str| {
        walker
            .replace("learning_rate = 0.1\n", &format!("learning_rate = 0.1\n{optimizer}"))
            .replace("kind = \"controller\"\n", &format!("kind = \"controller\"\n{block}"))
    };
    let plain = parse(&walker).unwrap();
    assert_eq!((plain.schedule, plain.block_settings.clone()), (None, vec![BlockSettings::default()]));
    let set =
        parse(&with("schedule = \"cosine\"\nmin_factor = 0.25\n", "learning_rate = 0.05\nclip_norm = 2.0\n")).unwrap();
    assert_eq!(set.schedule, Some(RateSchedule::Cosine { total_steps: 30, min_factor: 0.25 }));
    assert_eq!(set.block_settings, vec![BlockSettings { learning_rate: Some(0.05), clip_norm: Some(2.0) }]);
    let normalized =
        parse(&walker.replace("method = \"sgd\"\nlearning_rate = 0.1\n", "method = \"normalized\"\n")).unwrap();
    assert_eq!(normalized.method, Method::Normalized { step_length: 0.2 });

    // Short rollouts, two iterations each.
    let run = |text: &str| {
        let mut task = parse(text).unwrap();
        task.steps = 16;
        task.run(Some(2), &mut |_| {}).unwrap().history
    };
    let values = |r: &rheo::task::IterationReport| r.parameters.iter().map(|p| p.values.clone()).collect::<Vec<_>>();
    let global = run(&walker.replace("learning_rate = 0.1\n", "learning_rate = 0.05\n"));
    let block = run(&with("", "learning_rate = 0.05\n"));
    let scheduled = run(&with("schedule = \"cosine\"\n", "learning_rate = 0.05\n"));
    assert_eq!((values(&block[0]), values(&block[1])), (values(&global[0]), values(&global[1])));
    assert_eq!(values(&scheduled[0]), values(&global[0]));
    assert_ne!(values(&scheduled[1]), values(&global[1]));

    let error_line = |text: &str, key_line: &str| {
        let line = text.lines().position(|l| l == key_line).unwrap() + 1;
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains(&format!("walker.toml:{line}:")), "{key_line}: {e}");
        e
    };
    for (optimizer, block, bad) in [
        ("", "learning_rate = 0.0\n", "learning_rate = 0.0"),
        ("", "clip_norm = -1.0\n", "clip_norm = -1.0"),
        ("clip_norm = 0.0\n", "", "clip_norm = 0.0"),
        ("schedule = \"linear\"\n", "", "schedule = \"linear\""),
        ("schedule = \"cosine\"\nmin_factor = 1.5\n", "", "min_factor = 1.5"),
        ("min_factor = 0.5\n", "", "min_factor = 0.5"),
        ("step_length = 0.2\n", "", "step_length = 0.2"),
    ] {
        let e = error_line(&with(optimizer, block), bad);
        assert!(e.contains(bad.split(' ').next().unwrap()), "{e}");
    }
    let normalized = |extra: &str| {
        walker.replace("method = \"sgd\"\nlearning_rate = 0.1\n", &format!("method = \"normalized\"\n{extra}"))
    };
    error_line(&normalized("step_length = -0.2\n"), "step_length = -0.2");
    error_line(&normalized("learning_rate = 0.1\n"), "learning_rate = 0.1");
}

/// A run stopped by its observer ends early as if it had been asked for the iterations done:
/// the same history and final loss, bitwise, as a run of that many iterations.
#[test]
fn an_observer_can_stop_a_run_and_the_outcome_is_that_of_a_shorter_run() {
    use std::ops::ControlFlow;
    let task = task("throw_3d.toml");
    let mut seen = 0;
    let stopped = task
        .run_controlled(None, None, &mut |_| {
            seen += 1;
            if seen == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    let short = task.run(Some(2), &mut |_| {}).unwrap();
    assert_eq!(stopped.history.len(), 2);
    assert_eq!(stopped.final_loss.to_bits(), short.final_loss.to_bits());
    for (a, b) in stopped.history.iter().zip(&short.history) {
        assert_eq!((a.loss.to_bits(), &a.parameters[0].values), (b.loss.to_bits(), &b.parameters[0].values));
    }
}

/// `Task::rollout` gives the rollout an iteration's parameters stand for: simulated to the
/// task's last step, its center of mass misses the target by what the run's loss says.
#[test]
fn a_rollout_of_reported_parameters_reproduces_the_reported_loss() {
    use rheo::mpm::Simulation;
    use rheo::task::LossDesc;
    let task = task("throw_3d.toml");
    let outcome = task.run(Some(2), &mut |_| {}).unwrap();
    let LossDesc::CenterOfMass { target } = &task.loss else { panic!("throw_3d aims its center of mass") };
    let miss = |parameters: Option<&[rheo::diff::optim::Parameter]>| {
        let rollout = task.rollout::<f32, 3>(parameters).unwrap();
        let mut sim = Simulation::new(rollout.model, rollout.state).unwrap();
        for t in 0..task.steps {
            sim.step(rollout.actuation.get(t).map_or(&[][..], |a| &a[..])).unwrap();
        }
        let c = sim.model.center_of_mass(&sim.state);
        (0..3).map(|a| (c[a] - target[a]).powi(2)).sum::<f64>()
    };
    // Iteration 1's loss is that of iteration 0's updated parameters; the final loss, the last's.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs();
    assert!(close(miss(None), outcome.history[0].loss), "{} vs {}", miss(None), outcome.history[0].loss);
    assert!(close(miss(Some(&outcome.history[0].parameters)), outcome.history[1].loss));
    assert!(close(miss(Some(&outcome.history[1].parameters)), outcome.final_loss));
    // Parameters of another task are refused.
    let walker = self::task("walker_2d.toml");
    assert!(walker.rollout::<f32, 2>(Some(&outcome.history[0].parameters)).is_err());
}

/// An identification's truths are the scene's own material values, named as the run names the
/// parameters it recovers; a task that observes no motion has none.
#[test]
fn an_identification_knows_the_truth_of_the_parameters_it_recovers() {
    let task = task("identify_elastic.toml");
    let truths = task.truths();
    let outcome = task.run(Some(1), &mut |_| {}).unwrap();
    let names: Vec<&str> = outcome.history[0].parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(truths.len(), 2, "{truths:?}");
    for (name, value) in &truths {
        assert!(names.contains(&name.as_str()), "{name} is not among {names:?}");
        let material = task.scene.materials.iter().find(|m| name.starts_with(&format!("{} ", m.name))).unwrap();
        let expected = if name.ends_with("youngs_modulus") { material.youngs_modulus } else { material.poissons_ratio };
        assert_eq!(Some(*value), expected);
    }
    assert!(self::task("walker_2d.toml").truths().is_empty());
}

/// Task files are as strict as scene files (issue 21, item 3): a key the chosen loss, optimizer,
/// strategy or parameter kind does not read, a parameter learned twice, a budget that is not a
/// positive number and a negative seed are errors at their line, where they were silently
/// ignored or clamped.
#[test]
fn task_keys_that_do_not_apply_are_errors_at_their_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let walker = std::fs::read_to_string(root.join("assets/tasks/walker_2d.toml")).unwrap();
    let dir = root.join("assets/tasks");
    let error = |from: &str, to: &str| {
        assert!(walker.contains(from), "{from}");
        let text = walker.replacen(from, to, 1);
        let needle_line = text.lines().position(|l| to.lines().last().is_some_and(|t| l == t)).unwrap() + 1;
        let e = Task::from_toml_str(&text, "walker.toml", Some(&dir)).unwrap_err().to_string();
        (e, needle_line)
    };
    let cases = [
        (
            "weight = -1.0\n",
            "weight = -1.0\ntarget = [0.5, 0.5]\n",
            "`target` does not apply to a mean_position loss (it takes `axis`, `weight`)",
        ),
        ("method = \"sgd\"\n", "method = \"adam\"\nmomentum = 0.9\n", "only method = \"sgd\" reads `momentum`"),
        ("budget_mib = 64\n", "budget_mib = -5\n", "`budget_mib` must be a finite positive number, got -5"),
        ("budget_mib = 64\n", "budget_mib = nan\n", "`budget_mib` must be a finite positive number, got NaN"),
        (
            "strategy = \"binomial\"\n",
            "strategy = \"store_all\"\n",
            "`budget_mib` does not apply to the store_all strategy (it takes none)",
        ),
        ("seed = 0\n", "seed = -3\n", "`seed` must be non-negative, got -3"),
        ("seed = 0\n", "seed = 0\nbody = \"x\"\n", "`body` does not apply to a controller parameter"),
        (
            "seed = 0\n",
            "seed = 0\n[[parameters]]\nkind = \"controller\"\n",
            "this [[parameters]] entry learns what the entry at line 21 learns",
        ),
    ];
    for (from, to, needle) in cases {
        let (e, _) = error(from, to);
        assert!(e.contains(needle), "{to:?}: {e}");
        assert!(e.starts_with("walker.toml:"), "{to:?}: {e}");
    }
    // Each names the line of the offending key (the store_all case names budget_mib's line).
    let (e, line) = error("weight = -1.0\n", "weight = -1.0\ntarget = [0.5, 0.5]\n");
    assert!(e.starts_with(&format!("walker.toml:{line}: ")), "{e}");
    let (e, line) = error("seed = 0\n", "seed = -3\n");
    assert!(e.starts_with(&format!("walker.toml:{line}: ")), "{e}");
}

/// DiffTaichi's robot C task (closed-loop MLP controller, normalized steps) carries vertex 0
/// further right: the loss is its -x at the last step.
#[test]
fn robot_c_task_learns_to_carry_vertex_0_right() {
    let outcome = task("robot_c_2d.toml").run(Some(10), &mut |_| {}).unwrap();
    let (before, after) = (-outcome.history[0].loss, -outcome.final_loss);
    assert!(after > before + 0.05, "vertex 0 ends at x {before} with the initial weights, {after} after 10 steps");
    assert_eq!(outcome.last_final.edges.len(), 46, "the final frame carries the springs");
}

/// A batch of robots (one per goal, one network) has as its goal loss the mean of what each
/// robot's task alone gives: the copies do not touch, and each reads its own goal and state.
#[test]
fn a_batch_of_robots_averages_what_each_does_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("assets/tasks/robot_c_2d.toml")).unwrap();
    let text = text
        .replace("steps = 681", "steps = 120\nprecision = \"f64\"")
        .replace("kind = \"vertex\"\nvertex = 0\naxis = 0\nweight = -1.0", "kind = \"goal\"");
    let loss = |goals: &str| {
        let text = text.replace("goals = [[0.9, 0.2]]", &format!("goals = {goals}"));
        let task = Task::from_toml_str(&text, "batch.toml", Some(&root.join("assets/tasks"))).unwrap();
        task.run(Some(1), &mut |_| {}).unwrap().history[0].loss
    };
    let (a, b) = (loss("[[0.9, 0.2]]"), loss("[[0.3, 0.4]]"));
    let both = loss("[[0.9, 0.2], [0.3, 0.4]]");
    assert!((both - (a + b) / 2.0).abs() < 1e-12 * both.abs(), "{both} vs ({a} + {b}) / 2");
    assert!((a - b).abs() > 1e-3, "the goals make a difference: {a} vs {b}");
}

/// A spring task's mistakes are errors at their line: what only MPM scenes have, a controller
/// that does not fit, a vertex that does not exist; and an MPM task cannot take an MLP.
#[test]
fn spring_task_errors_name_the_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("assets/tasks");
    let robot = std::fs::read_to_string(dir.join("robot_c_2d.toml")).unwrap();
    let cases = [
        ("kind = \"mlp_controller\"", "kind = \"elasticity\"", "a spring scene has no elasticity"),
        (
            "goals = [[0.9, 0.2]]",
            "goals = [[0.9, 0.2, 0.1]]",
            "`goals` must list one or more goals of 2 finite numbers",
        ),
        ("activation = \"tanh\"", "activation = \"relu\"", "unknown activation `relu`; expected tanh or sin"),
        ("hidden = [32]", "hidden = [32, 0]", "`hidden` must list positive layer widths"),
        ("vertex = 0", "vertex = 20", "`vertex` 20 does not exist: the scene has 20 vertices"),
        ("seed = 0", "seed = 0\nbody = \"legs\"", "`body` does not apply to a mlp_controller parameter"),
    ];
    for (from, to, needle) in cases {
        assert!(robot.contains(from), "{from}");
        let text = robot.replacen(from, to, 1);
        let at = text.lines().position(|l| to.lines().last() == Some(l)).unwrap() + 1;
        let e = Task::from_toml_str(&text, "robot.toml", Some(&dir)).unwrap_err().to_string();
        assert!(e.starts_with(&format!("robot.toml:{at}: ")) && e.contains(needle), "{to}: {e}");
    }
    let controller = robot
        .replace("hidden = [32]\nactivation = \"tanh\"\n", "")
        .replace("goals = [[0.9, 0.2]]\n", "")
        .replace("\"mlp_controller\"", "\"controller\"")
        .replace("kind = \"vertex\"\nvertex = 0\naxis = 0\nweight = -1.0", "kind = \"goal\"");
    let e = Task::from_toml_str(&controller, "robot.toml", Some(&dir)).unwrap_err().to_string();
    assert!(e.contains("a goal loss reads the goals of an `mlp_controller` parameter"), "{e}");
    let walker = std::fs::read_to_string(dir.join("walker_2d.toml")).unwrap();
    let text = walker.replace("kind = \"controller\"\nsinusoids = 4", "kind = \"mlp_controller\"\nsinusoids = 4");
    let e = Task::from_toml_str(&text, "walker.toml", Some(&dir)).unwrap_err().to_string();
    assert!(e.contains("an mlp_controller drives the actuated springs of a spring scene"), "{e}");
}
