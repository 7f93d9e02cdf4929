"""`cotune tune`: an Optuna study over `finetune` runs.

TPE (seeded) proposes values for the keys in `tune.params`; each trial is a plain `finetune` run
into OUTPUT_DIR/STUDY/trials/trial-NNN, tracked as a child of the study's run. The pruner sees the
dev metric after every evaluation. Trials are compared on dev only; the best trial's artifact is
kept, evaluated on test once, its card rewritten, and registered.

Several machines can work one study: give them one `tune.storage` RDB URL and a shared
output_dir (or accept that only the machine holding the best folder finalises), and a different
`--seed` each so their samplers do not propose the same points.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from cotune.config.schema import RunConfig
from cotune.errors import ArtifactError, ConfigError, DataError
from cotune.files import atomic_write_text
from cotune.hpo.plots import write_plots
from cotune.hpo.pruning import PruningCallback
from cotune.hpo.space import suggest, trial_config
from cotune.recipes.finetune import finetune
from cotune.tasks.base import default_metric
from cotune.tracking.base import Tracker, flatten, numeric, status_of
from cotune.tracking.locate import mlflow_installed, resolve_backend
from cotune.tracking.run import open_tracker

STUDY_FILE = "study.json"


@dataclass
class StudyResult:
    study_name: str
    storage: str
    metric: str
    direction: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_folder: str
    test: dict[str, Any]
    registered: str | None  # NAME:VERSION
    trials: list[dict[str, Any]]
    plots: dict[str, str]
    wall_s: float
    folder: str
    study_run_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _storage(cfg: RunConfig, study_dir: Path) -> str:
    assert cfg.tune is not None
    return cfg.tune.storage or f"sqlite:///{(study_dir / 'optuna.db').resolve()}"


def _trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "evals": len(t.intermediate_values),
            "seconds": round(t.duration.total_seconds(), 1) if t.duration else None,
            "run_id": t.user_attrs.get("run_id"),
        }
        for t in study.trials
    ]


class _Search:
    """The state one worker keeps while it runs its trials."""

    def __init__(self, cfg: RunConfig, progress: bool | None, echo: Callable[[str], None]):
        assert cfg.tune is not None
        self.cfg, self.tune, self.progress, self.echo = cfg, cfg.tune, progress, echo
        self.name = self.tune.study_name or cfg.run_name()
        self.dir = cfg.output_dir / self.name
        self.metric = (
            self.tune.metric or cfg.train.metric or default_metric(cfg.task, cfg.model.multi_label)
        )
        self.mine: set[int] = set()  # trial numbers this worker ran (it only deletes those)
        self.parent: Tracker = open_tracker(cfg.tracking)

    def objective(self, trial: optuna.Trial) -> float:
        values = suggest(trial, self.tune.params)
        n = trial.number
        tags = {"cotune.kind": "trial", "cotune.study": self.name, "cotune.trial": str(n)}
        if self.parent.backend == "mlflow" and self.parent.run_id:
            tags["mlflow.parentRunId"] = self.parent.run_id  # nests trials under the study
        tcfg = trial_config(
            self.cfg, values, folder=self.dir / "trials", name=f"trial-{n:03d}", tags=tags
        )
        out = tcfg.output_dir / tcfg.run_name()
        trial.set_user_attr("folder", str(out.resolve()))
        self.mine.add(trial.number)
        tracker = open_tracker(tcfg.tracking)
        try:
            finetune(
                tcfg,
                overwrite=True,
                progress=self.progress,
                callbacks=[PruningCallback(trial, self.metric)],
                tracker=tracker,
                evaluate_test=False,  # the winner alone sees test, once, after the search
            )
        finally:
            if tracker.run_id:
                trial.set_user_attr("run_id", tracker.run_id)
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        if self.metric not in metrics.get("dev", {}):
            raise ConfigError(
                f"dev metrics have no {self.metric!r} (they have {sorted(metrics['dev'])})",
                where="tune.metric",
                fix="name one of the dev metrics",
            )
        return float(metrics["dev"][self.metric])

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        best = _best(study)
        state = trial.state.name.lower()
        shown = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        if trial.state == optuna.trial.TrialState.COMPLETE:
            line = f"trial {trial.number}: dev {self.metric} {trial.value:.4f}"
        else:
            line = f"trial {trial.number}: {state} after {len(trial.intermediate_values)} evals"
        if best is not None:
            line += f" (best {best.value:.4f}, trial {best.number})"
        self.echo(f"{line}  [{shown}]")
        if self.tune.keep == "best":
            self.drop_losers(study)

    def drop_losers(self, study: optuna.Study) -> None:
        """Delete this worker's trial folders other than the best (failed ones stay to debug)."""
        best = _best(study)
        for t in study.trials:
            if t.number not in self.mine or (best is not None and t.number == best.number):
                continue
            if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
                folder = t.user_attrs.get("folder")
                if folder:
                    shutil.rmtree(folder, ignore_errors=True)


def _best(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no finished trial yet
        return None


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def evaluate_best_on_test(folder: Path) -> dict[str, Any]:
    """Score the kept artifact on its recorded test split, once: rewrite metrics.json, the card
    and the confusion plot. A folder already scored (another worker finalised) is left alone."""
    from cotune.artifact.card import model_card
    from cotune.artifact.meta import ArtifactMeta
    from cotune.artifact.plots import confusion_matrix
    from cotune.uses.evaluate import evaluate_artifact

    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    if metrics.get("test"):
        return dict(metrics["test"])
    try:
        test = evaluate_artifact(folder, split="test")
    except DataError:  # no test split (data.train without data.test)
        return {}
    test.pop("data", None)
    metrics["test"] = test
    atomic_write_text(metrics_path, json.dumps(metrics, indent=2))
    meta = ArtifactMeta.read(folder)
    if "confusion" in test:
        confusion_matrix(test["confusion"], meta.labels, folder / "confusion_test.png")
    atomic_write_text(folder / "README.md", model_card(meta, metrics))
    return test


def tune(
    cfg: RunConfig,
    *,
    trials: int | None = None,
    seed: int | None = None,
    register: bool | None = None,
    progress: bool | None = None,
    echo: Callable[[str], None] = lambda line: None,
) -> StudyResult:
    """Run this worker's trials of the study `cfg.tune` describes, then finalise the best."""
    if cfg.tune is None:
        raise ConfigError(
            "the config has no `tune:` section", fix="add tune.params (see `cotune tune --help`)"
        )
    if seed is not None:
        cfg = cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"seed": seed})})
    assert cfg.tune is not None
    tc = cfg.tune
    search = _Search(cfg, progress, echo)
    search.dir.mkdir(parents=True, exist_ok=True)
    storage = _storage(cfg, search.dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=tc.pruner_startup_trials, n_warmup_steps=tc.pruner_warmup_evals
        )
        if tc.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=search.name,
        storage=storage,
        direction=tc.direction,
        sampler=optuna.samplers.TPESampler(seed=tc.seed),
        pruner=pruner,
        load_if_exists=True,
    )
    parent = search.parent
    parent.start(
        f"{search.name}-study",
        tags={
            "cotune.kind": "study",
            "cotune.study": search.name,
            "cotune.metric": search.metric,
            "optuna.storage": storage,
        },
    )
    parent.log_params(flatten(tc.model_dump(mode="json"), "tune."))
    t0 = time.perf_counter()
    try:
        study.optimize(
            search.objective,
            n_trials=trials or tc.trials,
            timeout=tc.timeout_s,
            callbacks=[search.after_trial],
            gc_after_trial=True,
        )
        result = _finalise(search, study, storage, time.perf_counter() - t0, register)
    except BaseException as e:
        parent.set_tags({"cotune.error": f"{type(e).__name__}: {e}"[:5000]})
        parent.end(status_of(e))
        raise
    parent.end("FINISHED")
    return result


def _finalise(
    search: _Search, study: optuna.Study, storage: str, wall: float, register: bool | None
) -> StudyResult:
    tc, parent = search.tune, search.parent
    best = _best(study)
    if best is None or best.value is None:
        raise ArtifactError(
            f"no trial of study {search.name!r} finished: nothing to keep",
            fix="see the trial errors above; widen the search space or run more trials",
        )
    folder = Path(best.user_attrs["folder"])
    notes: list[str] = []
    test: dict[str, Any] = {}
    registered = None
    if (folder / "metrics.json").is_file():
        test = evaluate_best_on_test(folder)
        if best.user_attrs.get("run_id") and parent.backend != "none":
            trial_run = open_tracker(search.cfg.tracking)
            trial_run.attach(best.user_attrs["run_id"])
            trial_run.log_metrics(numeric(test, "test_"))
        parent.log_metrics({"best_value": best.value, **numeric(test, "test_")})
        if register if register is not None else tc.register_best:
            registered = _register(search, best, folder, notes)
    else:
        notes.append(f"best trial's folder {folder} is not on this machine: not finalised here")
    if tc.keep == "best":
        search.drop_losers(study)
    plots = write_plots(study, search.dir, search.metric)
    result = StudyResult(
        study_name=search.name,
        storage=storage,
        metric=search.metric,
        direction=tc.direction,
        best_trial=best.number,
        best_value=float(best.value),
        best_params=dict(best.params),
        best_folder=str(folder),
        test=numeric(test),
        registered=registered,
        trials=_trial_rows(study),
        plots=plots,
        wall_s=round(wall, 1),
        folder=str(search.dir.resolve()),
        study_run_id=parent.run_id,
        notes=notes,
    )
    atomic_write_text(search.dir / STUDY_FILE, json.dumps(result.to_dict(), indent=2))
    parent.set_tags({"cotune.best_trial": str(best.number), "cotune.artifact_path": str(folder)})
    parent.log_file(search.dir / STUDY_FILE)
    for path in plots.values():
        if path.endswith(".png"):
            parent.log_file(Path(path))
    return result


def _register(
    search: _Search, best: optuna.trial.FrozenTrial, folder: Path, notes: list[str]
) -> str | None:
    """Register the best trial's folder (once: a folder already registered is not re-added)."""
    tracking = search.cfg.tracking
    if not mlflow_installed():
        notes.append("not registered: the registry needs mlflow")
        return None
    from cotune.registry import ModelRegistry

    uri = tracking.uri if resolve_backend(tracking.backend) == "mlflow" else None
    registry = ModelRegistry(uri)
    name = search.tune.model_name or search.name
    try:
        for v in registry.versions(name):
            if v.source == str(folder):
                return v.ref
    except ArtifactError:
        pass  # a new model name
    run_id = best.user_attrs.get("run_id") if search.parent.backend == "mlflow" else None
    info = registry.add(
        name,
        folder,
        run_id=run_id,
        description=f"best of study {search.name}: trial {best.number}, "
        f"dev {search.metric} {best.value:.4f}",
        tags={"cotune.study": search.name, "cotune.trial": str(best.number)},
    )
    return info.ref
