"""Optimisers, gradient clipping and learning-rate schedules, with PyTorch's names and update rules.

    optimizer = Adam(model.parameters(), lr=1e-3)
    schedule = SequentialLR(optimizer, [LinearWarmup(optimizer, 100), CosineAnnealingLR(optimizer, 900)], [100])
    for batch in batches:
        optimizer.zero_grad()
        loss_of(model, batch).backward()
        clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        schedule.step()

An optimiser updates each parameter's ``.data`` in place (the same array object) in the parameter's own dtype: no
float32 parameter is ever computed in float64, whatever the type of the hyper-parameters. It reads ``.grad`` and
never writes it; parameters whose ``.grad`` is None are skipped (and their state does not advance). Each parameter it
updates is marked modified (``Tensor.version``), so a ``backward()`` through a graph recorded before the step raises
GraphError instead of mixing old and new values: step after backward, as above.

Non-finite gradients are not checked, as in torch: a NaN or inf in ``.grad`` reaches the parameter and, in Adam, its
moment estimates for good. A check would be one more pass over every gradient at every step;
``clip_grad_norm_(..., error_if_nonfinite=True)`` computes the norm anyway and raises on a non-finite one.

Checkpoints: ``state_dict()`` of an optimiser or a schedule is a flat dict from dotted string keys
(``"param_groups.0.lr"``, ``"state.3.exp_avg"``) to numbers and arrays, so ``ta.save({"optimizer":
optimizer.state_dict()}, path)`` and ``optimizer.load_state_dict(ta.load(path)["optimizer"])`` (or ``np.savez`` and
``np.load``) round-trip without pickling, and training resumes bit for bit. ``load_state_dict`` is all or nothing:
it checks every entry before it applies any.
"""
from tinyattn.optim.optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm_
from tinyattn.optim.schedules import CosineAnnealingLR, LinearWarmup, LRScheduler, SequentialLR, StepLR

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_",
    "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearWarmup", "SequentialLR",
]
