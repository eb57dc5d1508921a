"""A sweep with `umt` plans its unimodal teacher runs and trains them before every umt run, also with
several workers; a teacher finished without weights is trained again with them."""

from collections import Counter

import pytest

from mmdg_bench import api
from mmdg_bench.engine.checkpoint import WEIGHTS
from mmdg_bench.engine.run_folder import RunFolder, run_folder_of
from mmdg_bench.strategies.umt import teacher_config
from mmdg_bench.sweep.launchers import until_finished
from mmdg_bench.sweep.plan import phases, plan_sweep
from mmdg_bench.sweep.status import run_state
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore::mmdg_bench.errors.UserNotice")


def test_the_plan_puts_each_teacher_once_before_the_students(tmp_path):
    plan = plan_sweep("synth", "baseline,umt", "day,toon", "0-1", list(TINY), tmp_path)
    teachers = [s for s in plan if s.role]
    assert len(teachers) == 2 * 2 * 2  # modality x target x seed, shared by nothing else
    assert plan[:len(teachers)] == teachers and len({s.run_folder for s in plan}) == len(plan)
    assert {s.role for s in teachers} == {"umt's video teacher", "umt's audio teacher"}
    assert all(s.strategy == "baseline" and s.method == "erm" and s.config().keep_weights for s in teachers)
    assert [len(p) for p in phases(plan)] == [8, 8]
    for spec in plan:  # each student's teachers are the folders umt itself looks up
        if spec.strategy == "umt":
            config = spec.config()
            for m in config.data.modalities:
                folder = run_folder_of(teacher_config(config, m), spec.target, tmp_path).path.name
                assert any(t.run_folder == folder and t.target == spec.target for t in teachers)


def test_no_teacher_without_umt_or_with_alpha_zero(tmp_path):
    assert not any(s.role for s in plan_sweep("synth", "baseline", "day", "0", list(TINY), tmp_path))
    assert not any(s.role for s in plan_sweep("synth", "umt", "day", "0", [*TINY, "strategy.umt.alpha=0"], tmp_path))


def test_keep_weights_false_is_overridden_for_teachers(tmp_path):
    plan = plan_sweep("synth", "umt", "day", "0", [*TINY, "keep_weights=false"], tmp_path)
    assert [s.config().keep_weights for s in plan] == [True, True, False]


def test_each_phase_ends_before_the_next_starts(tmp_path):
    plan = plan_sweep("synth", "umt", "day,toon", "0", list(TINY), tmp_path)
    batches = []

    def run_batch(specs, wait):
        batches.append([s.role != "" for s in specs])
        return ((s, "done") for s in specs)

    assert until_finished(plan, run_batch, lambda spec, outcome: None) == Counter(done=len(plan))
    assert batches == [[True] * 4, [False] * 2]


def test_a_teacher_finished_without_weights_is_pending(tmp_path):
    teacher = plan_sweep("synth", "umt", "day", "0", list(TINY), tmp_path)[0]
    folder = RunFolder(teacher.folder())
    folder.start({})
    folder.finish({})
    state, detail = run_state(teacher)
    assert state == "pending" and "without kept weights" in detail


@pytest.mark.slow
@pytest.mark.e2e
def test_a_sweep_with_two_jobs_trains_teachers_first(tmp_path):
    out = tmp_path / "runs"
    # A teacher already finished without weights: trained again, with them.
    first = plan_sweep("synth", "umt", "day", "0", list(TINY), out)[0]
    api.sweep(strategies=["baseline"], targets="day", seeds="0",
              overrides=[*TINY, *first.overrides[len(TINY):-1], "keep_weights=false"], out=out)
    assert RunFolder(first.folder()).is_done() and not (first.folder() / WEIGHTS).exists()
    order = []
    frame = api.sweep(strategies=["umt"], targets="day", seeds="0", overrides=list(TINY), out=out, jobs=2,
                      report=lambda spec, outcome: order.append((spec.role, outcome)))
    assert [role != "" for role, _ in order] == [True, True, False]
    assert set(frame.outcome) == {"done"}
    for spec in plan_sweep("synth", "umt", "day", "0", list(TINY), out)[:2]:
        assert (spec.folder() / WEIGHTS / "best-val.pt").is_file()
