"""Loading the active classifier version, once per process, and noticing a new one.

Every routing batch asks the database which version is active (one indexed query); when it
changed, the worker loads the new artifact. So activating or rolling back a version takes
effect on all workers within one batch, without a restart.
"""

import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from routing.classifier import DepartmentModel
from routing.models import ClassifierVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveClassifier:
    pk: int
    version: str
    model: DepartmentModel


DEFAULT_NOTE = "default artifact"
_lock = threading.Lock()
_loaded: ActiveClassifier | None = None


def model_from_bytes(data: bytes) -> DepartmentModel:
    return DepartmentModel.load(io.BytesIO(bytes(data)))


class ClassifierUnusable(Exception):
    """A stored version that workers could not route with; the message says why."""


# Scored once by check_classifier_loads: any post will do, it only has to go through.
_PROBE_POST = "The app crashes every time I open my order history"


def check_classifier_loads(*, version: ClassifierVersion) -> None:
    """Load `version`'s artifact and score one post with it, as a worker will after the
    switch. Raises ClassifierUnusable when that fails (no artifact, a truncated or foreign
    file, a format this code cannot read): activating such a version would make every
    routing batch fail until someone rolled back. Takes about half a second."""
    data = ClassifierVersion.objects.filter(pk=version.pk).values_list("artifact", flat=True).get()
    if not data:
        raise ClassifierUnusable(f"Version {version.version} has no artifact.")
    try:
        model_from_bytes(data).score_batch([_PROBE_POST])
    except Exception as exc:
        raise ClassifierUnusable(
            f"The artifact of version {version.version} does not load: {type(exc).__name__}: {exc}"
        ) from exc


def classifier_version_create(
    *, model: DepartmentModel, artifact: bytes, notes: str = "", metrics: dict | None = None
) -> ClassifierVersion:
    """Store a trained model (not active). The same artifact twice is the same version."""
    version, _ = ClassifierVersion.objects.get_or_create(
        version=model.version,
        defaults={
            "artifact": artifact,
            "labels": list(model.labels),
            "thresholds": {k: float(v) for k, v in model.thresholds.items()},
            "metrics": metrics if metrics is not None else model.metrics,
            "training_summary": model.training_summary,
            "notes": notes,
        },
    )
    return version


def classifier_activate(*, version: ClassifierVersion) -> None:
    """Make `version` the one workers use. Both flips happen in one transaction, so there is
    never a moment with two active versions (a partial unique index enforces it).

    After commit the open triage inbox is re-scored in the background (routing.tasks.
    rescore_triage), so what the new version is sure about leaves the inbox."""
    with transaction.atomic():
        ClassifierVersion.objects.filter(active=True).exclude(pk=version.pk).update(active=False)
        ClassifierVersion.objects.filter(pk=version.pk).update(
            active=True, activated_at=timezone.now()
        )
        transaction.on_commit(_enqueue_rescore, robust=True)


def _enqueue_rescore() -> None:
    from routing.tasks import rescore_triage

    try:
        rescore_triage.delay()
    except Exception:  # a broker outage must not undo an activation
        logger.warning("could not enqueue the triage re-score", exc_info=True)


def classifier_install_default(path: Path | None = None) -> ClassifierVersion:
    """Register and activate the model shipped in the repository when none is active."""
    path = path or Path(settings.CLASSIFIER_DEFAULT_ARTIFACT)
    if not path.exists():
        raise FileNotFoundError(
            f"No active classifier and no default artifact at {path}: run `make model`."
        )
    data = path.read_bytes()
    model = model_from_bytes(data)
    try:
        with transaction.atomic():
            version = classifier_version_create(
                model=model, artifact=data, notes=f"{DEFAULT_NOTE} {path.name}"
            )
            if not ClassifierVersion.objects.filter(active=True).exists():
                classifier_activate(version=version)
    except IntegrityError:  # another process installed it at the same moment
        pass
    return ClassifierVersion.objects.get(active=True)


def classifier_active() -> ActiveClassifier:
    """The active model, loaded at most once per version per process."""
    global _loaded
    row = ClassifierVersion.objects.filter(active=True).values("pk", "version").first()
    if row is None:
        installed = classifier_install_default()
        row = {"pk": installed.pk, "version": installed.version}
    current = _loaded
    if current is not None and current.pk == row["pk"]:
        return current
    with _lock:
        if _loaded is None or _loaded.pk != row["pk"]:
            data = (
                ClassifierVersion.objects.filter(pk=row["pk"])
                .values_list("artifact", flat=True)
                .get()
            )
            _loaded = ActiveClassifier(row["pk"], row["version"], model_from_bytes(data))
            logger.info("loaded classifier version %s", row["version"])
        return _loaded
