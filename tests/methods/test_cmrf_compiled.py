"""CMRF's teacher follows the student module by module whether or not the student's encoders are
compiled (`torch.compile` wraps each encoder in one more module level)."""

import copy

import torch

from tests.methods.test_methods import terms_of, tiny_batch, tiny_model


def teacher_after_steps(model, steps: int = 3) -> dict:
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    batch = tiny_batch()
    for _ in range(steps):
        optimizer.zero_grad()
        sum(t.value for t in terms_of(model, batch).values()).backward()
        optimizer.step()
        model.method.after_step()
    return {k: v.clone() for k, v in model.method.teacher.state_dict().items()}


def test_cmrf_pairs_teacher_and_student_modules_the_same_compiled_or_not():
    plain = tiny_model("cmrf", sma_start_step=1)
    compiled = copy.deepcopy(plain)
    for name, encoder in compiled.encoders.items():
        compiled.encoders[name] = torch.compile(encoder, backend="eager")  # the wrapper, without inductor's wait
    assert "encoders.video._orig_mod.0.weight" in compiled.state_dict()  # the extra level is there
    expected, got = teacher_after_steps(plain), teacher_after_steps(compiled)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], msg=key)
