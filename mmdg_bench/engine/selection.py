"""Model selection over a run's epochs (SimMMDG's protocol; MMDG-Bench reports the last): best source
validation, last, oracle."""

SELECTIONS = ("best-val", "last", "oracle")


def _best(epochs: list[dict], split: str) -> dict:
    # max() keeps the first maximum; iterating in reverse makes ties go to the later epoch.
    return max(reversed(epochs), key=lambda e: e[split]["fused"])


def select_epochs(epochs: list[dict]) -> dict[str, dict]:
    """Map each selection rule to the chosen epoch's metrics line.

    best-val: highest fused source-validation accuracy, ties to the later epoch (the protocol);
    last: the final epoch (MMDG-Bench); oracle: highest fused *target* accuracy, which peeks at
    target labels and is reported only as a labelled upper bound.
    """
    if not epochs:
        raise ValueError("no epochs to select from")
    return {"best-val": _best(epochs, "val"), "last": epochs[-1], "oracle": _best(epochs, "target")}
