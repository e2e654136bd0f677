from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routing.classification import (
    DEFAULT_NOTE,
    classifier_activate,
    classifier_install_default,
    classifier_version_create,
    model_from_bytes,
)
from routing.models import ClassifierVersion


class Command(BaseCommand):
    help = (
        "Make sure a classifier is active: install the model shipped in the repository when "
        "none is, and move to a newer shipped model when the active one is an older shipped "
        "one (a version retrained on your own data is never replaced)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(settings.CLASSIFIER_DEFAULT_ARTIFACT))

    def handle(self, *args, path, **options):
        artifact = Path(path)
        if not artifact.exists():
            raise CommandError(f"{artifact} does not exist: run `make model` to build it.")
        active = ClassifierVersion.objects.filter(active=True).first()
        if active is None:
            version = classifier_install_default(artifact)
            self.stdout.write(f"installed and activated classifier {version.version}")
            return
        data = artifact.read_bytes()
        model = model_from_bytes(data)
        if active.version == model.version:
            self.stdout.write(f"classifier {active.version} is active (the shipped model)")
        elif active.notes.startswith(DEFAULT_NOTE):
            version = classifier_version_create(
                model=model, artifact=data, notes=f"{DEFAULT_NOTE} {artifact.name}"
            )
            classifier_activate(version=version)
            self.stdout.write(f"upgraded shipped classifier {active.version} -> {version.version}")
        else:
            self.stdout.write(f"classifier {active.version} is active (trained here; kept)")
